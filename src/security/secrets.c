/*-------------------------------------------------------------------------
 *
 * secrets.c
 *	  Secrets that sources reference by name, encrypted at rest.
 *
 * lakehouse.secrets holds, per name, either a value encrypted with
 * AES-256-GCM (OpenSSL EVP) or a reference ("env:NAME", "file:/path") that
 * is resolved each time a source needs it.  The 256-bit key lives in a file
 * on the server: lakehouse.secret_key_file, or, when that setting is empty,
 * "lakehouse_secret.key" in the data directory, created (mode 0600) the
 * first time a value is stored.  A key file must be a regular file owned by
 * the server's user with no group or other permissions; anything else is
 * refused.  The stored text is "lh1:" followed by base64 of
 *
 *		key fingerprint (8 bytes) | IV (12 bytes) | tag (16 bytes) | ciphertext
 *
 * with the secret's name as additional authenticated data, so a ciphertext
 * copied to another name does not decrypt.  The fingerprint (the first 8
 * bytes of SHA-256 of the key) lets a wrong key be named as such.
 *
 * Permissions.  A secret belongs to the role that set it.  Only that
 * owner (or a member of it) may replace it, grant or revoke its use
 * (lh_grant_secret, lh_revoke_secret, kept in lakehouse.secret_grants); a
 * superuser may do anything; lakehouse_admin may drop any secret but not
 * grant itself another's.  A source may use a secret only if its
 * pipeline's owner holds usage: it owns the secret, is a member of its
 * owner, or has the privileges of a role it was granted to.  That is
 * checked when the source is declared and again every time the secret is
 * resolved (security_secret_value), so a revoked grant stops the source.
 *
 * Nobody reads lakehouse.secrets through SQL except the catalog owner; the
 * functions here check the caller and then run their fixed, parameterised
 * SQL through catalog_exec, as the catalog owner.
 * Values are never put in an error message, a log line, a view or the audit
 * log; errors name the secret only.  Every message raised here hides the
 * statement (errhidestmt): lh_set_secret's statement holds the value, and
 * log_min_error_statement would otherwise copy it into the server log (a
 * LOG message counts, so the "created secret key file" line would too).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/base64.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "lakehouse.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_set_secret);
PG_FUNCTION_INFO_V1(lh_set_secret_from_file);
PG_FUNCTION_INFO_V1(lh_set_secret_reference);
PG_FUNCTION_INFO_V1(lh_drop_secret);
PG_FUNCTION_INFO_V1(lh_rotate_secret_key);
PG_FUNCTION_INFO_V1(lh_check_secret);
PG_FUNCTION_INFO_V1(lh_grant_secret);
PG_FUNCTION_INFO_V1(lh_revoke_secret);

#define SECRET_KEY_LEN		32
#define SECRET_FP_LEN		8
#define SECRET_IV_LEN		12
#define SECRET_TAG_LEN		16
#define SECRET_PREFIX		"lh1:"
#define SECRET_MAX_LEN		65536
#define SECRET_DEFAULT_KEY	"lakehouse_secret.key"

char	   *lh_secret_key_file = NULL;

typedef struct SecretKey
{
	unsigned char key[SECRET_KEY_LEN];
	unsigned char fp[SECRET_FP_LEN];
} SecretKey;

void
security_define_gucs(void)
{
	DefineCustomStringVariable("lakehouse.secret_key_file",
							   "File holding the key that encrypts lakehouse secrets.",
							   "64 hexadecimal digits (256 bits), in a file owned by the server's "
							   "user with mode 0600 or stricter.  Empty means lakehouse_secret.key "
							   "in the data directory, created on first use.",
							   &lh_secret_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);
}

/*
 * The owner of secret name (a role name), or NULL if there is none.  The
 * caller is connected to SPI.
 */
static char *
secret_owner(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	catalog_exec("SELECT owner FROM lakehouse.secrets WHERE name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? catalog_text(0, 1) : NULL;
}

/* Has roleid the privileges of the role named owner? */
static bool
has_privs_of_name(Oid roleid, const char *owner)
{
	Oid			o = get_role_oid(owner, true);

	return OidIsValid(o) && has_privs_of_role(roleid, o);
}

/*
 * May the current user replace, grant or revoke secret name (owned by
 * owner)?  Its owner and superusers; with admin_ok, lakehouse_admin too.
 */
static void
require_secret_owner(const char *name, const char *owner, const char *what,
					 bool admin_ok)
{
	Oid			me = GetUserId();

	if (superuser() || has_privs_of_name(me, owner) ||
		(admin_ok && security_is_admin(me)))
		return;
	ereport(ERROR,
			(errhidestmt(true), errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s secret \"%s\"", what, name),
			 errdetail("Secret \"%s\" is owned by role \"%s\".", name, owner),
			 errhint("Only its owner, members of its owner and superusers may do this.")));
}

static void
require_server_files(const char *what)
{
	if (!has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errdetail("Only superusers and members of pg_read_server_files can make the server read its files or environment.")));
}

static void
check_secret_name(const char *name)
{
	if (name[0] == '\0' || strlen(name) > 200)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid secret name"),
				 errhint("A secret name is 1 to 200 characters.")));
}

/*
 * A file the server trusts with a key or a secret: a regular file owned by
 * the server's user, not readable or writable by group or others.
 */
static void
check_private_file(int fd, const char *path, const char *what)
{
	struct stat st;

	if (fstat(fd, &st) != 0)
		ereport(ERROR,
				(errhidestmt(true), errcode_for_file_access(),
				 errmsg("could not stat %s \"%s\": %m", what, path)));
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is not a regular file", what, path)));
	if (st.st_uid != geteuid())
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" is not owned by the server's user", what, path),
				 errhint("Change its owner to the user the server runs as.")));
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("%s \"%s\" has group or world access", what, path),
				 errdetail("Its permissions are %04o.", (unsigned) (st.st_mode & 07777)),
				 errhint("Run chmod 0600 on it.")));
}

/* Read at most SECRET_MAX_LEN bytes of an open file. */
static char *
read_fd(int fd, const char *path, const char *what, int *len)
{
	char	   *buf = palloc(SECRET_MAX_LEN + 1);
	int			n = 0;

	for (;;)
	{
		ssize_t		r = read(fd, buf + n, SECRET_MAX_LEN + 1 - n);

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR,
					(errhidestmt(true), errcode_for_file_access(),
					 errmsg("could not read %s \"%s\": %m", what, path)));
		}
		if (r == 0)
			break;
		n += r;
		if (n > SECRET_MAX_LEN)
			ereport(ERROR,
					(errhidestmt(true), errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("%s \"%s\" is too large", what, path),
					 errdetail("The limit is %d bytes.", SECRET_MAX_LEN)));
	}
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void
fingerprint(SecretKey *k)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;

	if (EVP_Digest(k->key, SECRET_KEY_LEN, md, &mdlen, EVP_sha256(), NULL) != 1)
		elog(ERROR, "could not compute a key fingerprint");
	memcpy(k->fp, md, SECRET_FP_LEN);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Load the key from path, or from the default file.  With create, a missing
 * default file is created with a fresh random key.
 */
static void
load_key(const char *path_arg, bool create, SecretKey *k)
{
	const char *path = path_arg;
	bool		is_default = false;
	int			fd;
	char	   *buf;
	int			len;
	int			i;

	if (path == NULL || path[0] == '\0')
	{
		path = psprintf("%s/%s", DataDir, SECRET_DEFAULT_KEY);
		is_default = true;
	}
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0 && errno == ENOENT && create && is_default)
	{
		unsigned char raw[SECRET_KEY_LEN];
		char		hex[SECRET_KEY_LEN * 2 + 2];

		if (!pg_strong_random(raw, sizeof(raw)))
			ereport(ERROR,
					(errhidestmt(true), errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a secret key")));
		for (i = 0; i < SECRET_KEY_LEN; i++)
			snprintf(hex + 2 * i, 3, "%02x", raw[i]);
		hex[SECRET_KEY_LEN * 2] = '\n';
		hex[SECRET_KEY_LEN * 2 + 1] = '\0';
		fd = OpenTransientFilePerm(path, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, 0600);
		if (fd >= 0)
		{
			if (write(fd, hex, SECRET_KEY_LEN * 2 + 1) != SECRET_KEY_LEN * 2 + 1 ||
				pg_fsync(fd) != 0)
			{
				int			save = errno;

				CloseTransientFile(fd);
				unlink(path);
				errno = save;
				ereport(ERROR,
						(errhidestmt(true), errcode_for_file_access(),
						 errmsg("could not write secret key file \"%s\": %m", path)));
			}
			CloseTransientFile(fd);
			ereport(LOG,
					(errhidestmt(true), errmsg("created secret key file \"%s\"", path),
					 errhint("Back it up: the lakehouse secrets cannot be decrypted without it.")));
		}
		else if (errno != EEXIST)
			ereport(ERROR,
					(errhidestmt(true), errcode_for_file_access(),
					 errmsg("could not create secret key file \"%s\": %m", path)));
		fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	}
	if (fd < 0)
		ereport(ERROR,
				(errhidestmt(true), errcode_for_file_access(),
				 errmsg("could not open secret key file \"%s\": %m", path),
				 errhint(is_default ? "Store a secret first, or set lakehouse.secret_key_file."
						 : "Check lakehouse.secret_key_file.")));
	/* transient files are closed at abort: no PG_TRY needed */
	check_private_file(fd, path, "secret key file");
	buf = read_fd(fd, path, "secret key file", &len);
	CloseTransientFile(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
					   buf[len - 1] == ' '))
		len--;
	if (len != SECRET_KEY_LEN * 2)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid secret key file \"%s\"", path),
				 errdetail("A key file holds 64 hexadecimal digits.")));
	for (i = 0; i < SECRET_KEY_LEN; i++)
	{
		int			hi = hexval(buf[2 * i]);
		int			lo = hexval(buf[2 * i + 1]);

		if (hi < 0 || lo < 0)
			ereport(ERROR,
					(errhidestmt(true), errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid secret key file \"%s\"", path),
					 errdetail("A key file holds 64 hexadecimal digits.")));
		k->key[i] = (unsigned char) (hi * 16 + lo);
	}
	explicit_bzero(buf, len);
	fingerprint(k);
}

static char *
encrypt_value(const SecretKey *k, const char *name, const char *plain, int plen)
{
	int			rawlen = SECRET_FP_LEN + SECRET_IV_LEN + SECRET_TAG_LEN + plen;
	unsigned char *raw = palloc(rawlen);
	unsigned char *iv = raw + SECRET_FP_LEN;
	unsigned char *tag = iv + SECRET_IV_LEN;
	unsigned char *ct = tag + SECRET_TAG_LEN;
	EVP_CIPHER_CTX *ctx;
	int			n,
				ok;
	char	   *out;
	int			outlen;

	memcpy(raw, k->fp, SECRET_FP_LEN);
	if (RAND_bytes(iv, SECRET_IV_LEN) != 1)
		elog(ERROR, "could not generate an IV");
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		ereport(ERROR, (errhidestmt(true), errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SECRET_IV_LEN, NULL) == 1 &&
		EVP_EncryptInit_ex(ctx, NULL, NULL, k->key, iv) == 1 &&
		EVP_EncryptUpdate(ctx, NULL, &n, (const unsigned char *) name, strlen(name)) == 1 &&
		EVP_EncryptUpdate(ctx, ct, &n, (const unsigned char *) plain, plen) == 1 &&
		EVP_EncryptFinal_ex(ctx, ct + n, &n) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SECRET_TAG_LEN, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not encrypt secret \"%s\"", name)));
	outlen = pg_b64_enc_len(rawlen);
	out = palloc(strlen(SECRET_PREFIX) + outlen + 1);
	strcpy(out, SECRET_PREFIX);
	n = pg_b64_encode((const char *) raw, rawlen, out + strlen(SECRET_PREFIX), outlen);
	if (n < 0)
		elog(ERROR, "could not encode secret");
	out[strlen(SECRET_PREFIX) + n] = '\0';
	return out;
}

/*
 * Decrypt a stored value.  With k NULL, load the configured key.  Returns
 * NULL when the value was encrypted with another key and other_key_ok.
 */
static char *
decrypt_value(const SecretKey *k, const char *name, const char *stored,
			  bool other_key_ok)
{
	SecretKey	own;
	const char *b64;
	int			rawlen,
				ctlen,
				n,
				ok;
	unsigned char *raw;
	char	   *plain;
	EVP_CIPHER_CTX *ctx;

	if (strncmp(stored, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("secret \"%s\" is not in a recognized format", name),
				 errhint("Set it again with lakehouse.lh_set_secret.")));
	if (k == NULL)
	{
		load_key(lh_secret_key_file, false, &own);
		k = &own;
	}
	b64 = stored + strlen(SECRET_PREFIX);
	raw = palloc(pg_b64_dec_len(strlen(b64)) + 1);
	rawlen = pg_b64_decode(b64, strlen(b64), (char *) raw, pg_b64_dec_len(strlen(b64)));
	if (rawlen < SECRET_FP_LEN + SECRET_IV_LEN + SECRET_TAG_LEN)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("secret \"%s\" is not in a recognized format", name),
				 errhint("Set it again with lakehouse.lh_set_secret.")));
	if (memcmp(raw, k->fp, SECRET_FP_LEN) != 0)
	{
		if (other_key_ok)
			return NULL;
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INVALID_PASSWORD),
				 errmsg("could not decrypt secret \"%s\"", name),
				 errdetail("It was encrypted with a different key."),
				 errhint("Restore the key file it was stored with, or set the secret again.")));
	}
	ctlen = rawlen - SECRET_FP_LEN - SECRET_IV_LEN - SECRET_TAG_LEN;
	plain = palloc(ctlen + 1);
	ctx = EVP_CIPHER_CTX_new();
	if (ctx == NULL)
		ereport(ERROR, (errhidestmt(true), errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SECRET_IV_LEN, NULL) == 1 &&
		EVP_DecryptInit_ex(ctx, NULL, NULL, k->key, raw + SECRET_FP_LEN) == 1 &&
		EVP_DecryptUpdate(ctx, NULL, &n, (const unsigned char *) name, strlen(name)) == 1 &&
		EVP_DecryptUpdate(ctx, (unsigned char *) plain, &n,
						  raw + SECRET_FP_LEN + SECRET_IV_LEN + SECRET_TAG_LEN,
						  ctlen) == 1 &&
		EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SECRET_TAG_LEN,
							raw + SECRET_FP_LEN + SECRET_IV_LEN) == 1 &&
		EVP_DecryptFinal_ex(ctx, (unsigned char *) plain + n, &n) == 1;
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("could not decrypt secret \"%s\"", name),
				 errdetail("The stored value does not authenticate under the current key and this name.")));
	plain[ctlen] = '\0';
	return plain;
}

/*
 * Store a secret (value or reference) under name, owned by the current
 * user; replacing an existing one needs its ownership (kept).
 */
static void
store_secret(const char *name, const char *value, const char *reference,
			 const char *how)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, NAMEOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	JsonbParseState *st = NULL;
	JsonbValue	k,
				v;
	char	   *owner;

	SPI_connect();
	owner = secret_owner(name);
	if (owner)
		require_secret_owner(name, owner, "replace", false);
	values[0] = CStringGetTextDatum(name);
	values[1] = catalog_text_or_null(value, &nulls[1]);
	values[2] = catalog_text_or_null(reference, &nulls[2]);
	values[3] = CStringGetDatum(GetUserNameFromId(GetUserId(), false));
	catalog_exec("INSERT INTO lakehouse.secrets AS s (name, value, reference, owner)"
				 " VALUES ($1, $2, $3, $4) ON CONFLICT ON CONSTRAINT secrets_pkey"
				 " DO UPDATE SET value = excluded.value,"
				 " reference = excluded.reference, updated_at = now()",
				 4, types, values, nulls, SPI_OK_INSERT);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "source";
	k.val.string.len = 6;
	pushJsonbValue(&st, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) how;
	v.val.string.len = strlen(how);
	pushJsonbValue(&st, WJB_VALUE, &v);
	security_audit("set", "secret", name,
				   JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
	SPI_finish();
}

/*
 * lh_set_secret(name text, value text) returns void
 *		Store a value, encrypted.  The value is in the statement's text: see
 *		contrib-docs/security.md for ways to keep it out of logs.
 */
Datum
lh_set_secret(PG_FUNCTION_ARGS)
{
	char	   *name;
	text	   *value;
	SecretKey	k;

	if (PG_ARGISNULL(0))
		check_secret_name("");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("secret value must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_secret_name(name);
	value = PG_GETARG_TEXT_PP(1);
	load_key(lh_secret_key_file, true, &k);
	store_secret(name, encrypt_value(&k, name, VARDATA_ANY(value),
									 VARSIZE_ANY_EXHDR(value)),
				 NULL, "value");
	explicit_bzero(k.key, sizeof(k.key));
	PG_RETURN_VOID();
}

/*
 * lh_set_secret_from_file(name text, path text) returns void
 *		Store the contents of a server file (one trailing newline dropped),
 *		encrypted: the value never appears in a statement.
 */
Datum
lh_set_secret_from_file(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *path;
	char	   *buf;
	int			len;
	int			fd;
	SecretKey	k;

	require_server_files("read a secret from a server file");
	if (PG_ARGISNULL(0))
		check_secret_name("");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("secret file path must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_secret_name(name);
	path = text_to_cstring(PG_GETARG_TEXT_PP(1));
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (fd < 0)
		ereport(ERROR,
				(errhidestmt(true), errcode_for_file_access(),
				 errmsg("could not open secret file \"%s\": %m", path)));
	buf = read_fd(fd, path, "secret file", &len);
	CloseTransientFile(fd);
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	pg_verifymbstr(buf, len, false);
	load_key(lh_secret_key_file, true, &k);
	store_secret(name, encrypt_value(&k, name, buf, len), NULL, "file contents");
	explicit_bzero(buf, len);
	explicit_bzero(k.key, sizeof(k.key));
	PG_RETURN_VOID();
}

static void
check_reference(const char *ref)
{
	if (strncmp(ref, "env:", 4) == 0)
	{
		const char *p = ref + 4;

		if (*p == '\0' || strlen(p) > 200)
			goto bad;
		for (; *p; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
				  (*p >= '0' && *p <= '9') || *p == '_'))
				goto bad;
		return;
	}
	if (strncmp(ref, "file:", 5) == 0 && ref[5] == '/' && strlen(ref) <= 1024 + 5)
		return;
bad:
	ereport(ERROR,
			(errhidestmt(true), errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid secret reference \"%s\"", ref),
			 errhint("Use env:NAME (letters, digits, underscores) or file:/absolute/path.")));
}

/*
 * lh_set_secret_reference(name text, reference text) returns void
 *		Store "env:NAME" or "file:/path", resolved whenever a source needs
 *		the secret.
 */
Datum
lh_set_secret_reference(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *ref;

	require_server_files("make a secret read the server's environment or files");
	if (PG_ARGISNULL(0))
		check_secret_name("");
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("secret reference must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	check_secret_name(name);
	ref = text_to_cstring(PG_GETARG_TEXT_PP(1));
	check_reference(ref);
	store_secret(name, NULL, ref, ref[0] == 'e' ? "environment" : "file");
	PG_RETURN_VOID();
}

/*
 * lh_drop_secret(name text) returns boolean
 *		Its owner, a superuser or lakehouse_admin.  Its grants go with it.
 */
Datum
lh_drop_secret(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char	   *name;
	char	   *owner;
	bool		found = false;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	values[0] = PG_GETARG_DATUM(0);
	SPI_connect();
	owner = secret_owner(name);
	if (owner)
	{
		require_secret_owner(name, owner, "drop", true);
		catalog_exec("DELETE FROM lakehouse.secrets WHERE name = $1",
					 1, types, values, NULL, SPI_OK_DELETE);
		found = SPI_processed > 0;
		security_audit("drop", "secret", name, NULL);
	}
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/*
 * lh_grant_secret(secret text, role text) / lh_revoke_secret(secret, role)
 *		Let the pipelines owned by role (and by roles with its privileges)
 *		use the secret, or no longer.  Only the secret's owner and
 *		superusers.  Returns whether anything changed.
 */
static Datum
grant_or_revoke(FunctionCallInfo fcinfo, bool grant)
{
	char	   *name;
	char	   *role;
	char	   *owner;
	Oid			types[3] = {TEXTOID, NAMEOID, NAMEOID};
	Datum		values[3];
	bool		changed;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("secret name and role must not be null")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	role = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (grant)
		(void) get_role_oid(role, false);
	SPI_connect();
	owner = secret_owner(name);
	if (owner == NULL)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret \"%s\" does not exist", name)));
	require_secret_owner(name, owner, grant ? "grant" : "revoke", false);
	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetDatum(role);
	values[2] = CStringGetDatum(GetUserNameFromId(GetUserId(), false));
	if (grant)
		catalog_exec("INSERT INTO lakehouse.secret_grants (secret_name, grantee, granted_by)"
					 " VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
					 3, types, values, NULL, SPI_OK_INSERT);
	else
		catalog_exec("DELETE FROM lakehouse.secret_grants"
					 " WHERE secret_name = $1 AND grantee = $2",
					 2, types, values, NULL, SPI_OK_DELETE);
	changed = SPI_processed > 0;
	if (changed)
	{
		JsonbParseState *st = NULL;
		JsonbValue	k,
					v;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		k.type = jbvString;
		k.val.string.val = "role";
		k.val.string.len = 4;
		pushJsonbValue(&st, WJB_KEY, &k);
		v.type = jbvString;
		v.val.string.val = role;
		v.val.string.len = strlen(role);
		pushJsonbValue(&st, WJB_VALUE, &v);
		security_audit(grant ? "grant" : "revoke", "secret", name,
					   JsonbValueToJsonb(pushJsonbValue(&st, WJB_END_OBJECT, NULL)));
	}
	SPI_finish();
	PG_RETURN_BOOL(changed);
}

Datum
lh_grant_secret(PG_FUNCTION_ARGS)
{
	return grant_or_revoke(fcinfo, true);
}

Datum
lh_revoke_secret(PG_FUNCTION_ARGS)
{
	return grant_or_revoke(fcinfo, false);
}

/*
 * secret_usable
 *		Whether user holds usage on the secret named (owned by owner): a
 *		superuser, its owner or a member of it, or a role with the
 *		privileges of a grantee.  The caller is connected to SPI.
 */
static bool
secret_usable(const char *name, const char *owner, Oid user)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	if (superuser_arg(user) || has_privs_of_name(user, owner))
		return true;
	catalog_exec("SELECT grantee FROM lakehouse.secret_grants WHERE secret_name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		if (has_privs_of_name(user, catalog_text(i, 1)))
			return true;
	return false;
}

/*
 * security_check_secret_usage
 *		Raise an error unless the secret exists and user may use it.  The
 *		caller is connected to SPI.  Names only, never values.  With
 *		missing_ok (a declaration naming a secret to be set later) a secret
 *		that does not exist yet passes: every use checks again.
 */
void
security_check_secret_usage(const char *name, Oid user, bool missing_ok)
{
	char	   *owner = secret_owner(name);

	if (owner == NULL && missing_ok)
		return;
	if (owner == NULL)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret \"%s\" does not exist", name),
				 errhint("Create it with lakehouse.lh_set_secret(name, value).")));
	if (!secret_usable(name, owner, user))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for secret \"%s\"", name),
				 errdetail("Role \"%s\" does not hold usage on it; it is owned by role \"%s\".",
						   GetUserNameFromId(user, false), owner),
				 errhint("Its owner can grant it with lakehouse.lh_grant_secret(secret, role).")));
}

/*
 * lh_rotate_secret_key(old_key_file text) returns integer
 *		Re-encrypt, with the current key, every value encrypted with the key
 *		in old_key_file.  Returns how many were re-encrypted.
 */
Datum
lh_rotate_secret_key(PG_FUNCTION_ARGS)
{
	SecretKey	oldk,
				newk;
	char	   *oldpath;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	int			i,
				nrows,
				done = 0;
	char	  **names;
	char	  **stored;

	if (!superuser())
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to rotate the secret key"),
				 errdetail("Only superusers can read key files.")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("old key file must not be null")));
	oldpath = text_to_cstring(PG_GETARG_TEXT_PP(0));
	load_key(oldpath, false, &oldk);
	load_key(lh_secret_key_file, true, &newk);
	SPI_connect();
	catalog_exec("SELECT name, value FROM lakehouse.secrets"
				  " WHERE value IS NOT NULL ORDER BY name FOR UPDATE",
				  0, NULL, NULL, NULL, SPI_OK_SELECT);
	nrows = SPI_processed;
	names = palloc(sizeof(char *) * (nrows + 1));
	stored = palloc(sizeof(char *) * (nrows + 1));
	for (i = 0; i < nrows; i++)
	{
		names[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		stored[i] = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);
	}
	for (i = 0; i < nrows; i++)
	{
		char	   *plain = decrypt_value(&oldk, names[i], stored[i], true);

		if (plain == NULL)
			continue;
		values[0] = CStringGetTextDatum(names[i]);
		values[1] = CStringGetTextDatum(encrypt_value(&newk, names[i], plain,
													  strlen(plain)));
		explicit_bzero(plain, strlen(plain));
		catalog_exec("UPDATE lakehouse.secrets SET value = $2, updated_at = now()"
					  " WHERE name = $1", 2, types, values, NULL, SPI_OK_UPDATE);
		done++;
	}
	security_audit("rotate_key", "secret", "*", NULL);
	SPI_finish();
	explicit_bzero(oldk.key, sizeof(oldk.key));
	explicit_bzero(newk.key, sizeof(newk.key));
	PG_RETURN_INT32(done);
}

/*
 * security_secret_value
 *		The plaintext of a secret, allocated in mcxt, if user (a source's
 *		pipeline owner) holds usage on it.  The caller is inside SPI.
 *		Errors name the secret, never a value.
 */
char *
security_secret_value(const char *name, Oid user, MemoryContext mcxt)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	char	   *stored;
	char	   *ref;
	char	   *plain;

	security_check_secret_usage(name, user, false);
	catalog_exec("SELECT value, reference FROM lakehouse.secrets WHERE name = $1",
				  1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("secret \"%s\" does not exist", name),
				 errhint("Create it with lakehouse.lh_set_secret(name, value).")));
	stored = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	ref = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (stored != NULL)
		plain = decrypt_value(NULL, name, stored, false);
	else if (ref != NULL && strncmp(ref, "env:", 4) == 0)
	{
		const char *env = getenv(ref + 4);

		if (env == NULL)
			ereport(ERROR,
					(errhidestmt(true), errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("secret \"%s\" refers to environment variable \"%s\", which is not set",
							name, ref + 4),
					 errhint("Set it in the server's environment and restart the server.")));
		plain = pstrdup(env);
	}
	else if (ref != NULL && strncmp(ref, "file:", 5) == 0)
	{
		int			fd = OpenTransientFile(ref + 5, O_RDONLY | PG_BINARY);
		int			len;

		if (fd < 0)
			ereport(ERROR,
					(errhidestmt(true), errcode_for_file_access(),
					 errmsg("could not open secret file \"%s\" of secret \"%s\": %m",
							ref + 5, name)));
		check_private_file(fd, ref + 5, "secret file");
		plain = read_fd(fd, ref + 5, "secret file", &len);
		CloseTransientFile(fd);
		if (len > 0 && plain[len - 1] == '\n')
			plain[--len] = '\0';
		if (len > 0 && plain[len - 1] == '\r')
			plain[--len] = '\0';
	}
	else
		ereport(ERROR,
				(errhidestmt(true), errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("secret \"%s\" has neither a value nor a reference", name)));
	return MemoryContextStrdup(mcxt, plain);
}

/*
 * lh_check_secret(name text) returns boolean
 *		Resolve a secret the way a source would (decrypt it, read its
 *		environment variable or file) and return true, or raise the error a
 *		source would get.  The value itself is never returned.
 */
Datum
lh_check_secret(PG_FUNCTION_ARGS)
{
	char	   *plain;

	if (PG_ARGISNULL(0))
		check_secret_name("");
	SPI_connect();
	plain = security_secret_value(text_to_cstring(PG_GETARG_TEXT_PP(0)),
								  GetUserId(), CurrentMemoryContext);
	explicit_bzero(plain, strlen(plain));
	SPI_finish();
	PG_RETURN_BOOL(true);
}
