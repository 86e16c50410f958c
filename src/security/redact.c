/*-------------------------------------------------------------------------
 *
 * redact.c
 *	  Hiding secrets in text that anyone may read: errors, run stages,
 *	  run summaries, status views.
 *
 * A secret can come back from an API in more than its raw form: an API
 * that echoes the request quotes the Authorization header, base64 of
 * "user:password" for basic auth; a URL carries it percent-encoded; a JSON
 * error body carries it JSON-escaped.  lh_redact_add registers a secret in
 * every such form (raw; percent-encoded with either hex case and with '+'
 * for spaces; JSON-escaped, also with "\/" for '/'; base64), and
 * lh_redact_add_basic the base64 of "user:password" too.  lh_redact
 * replaces each occurrence, case-insensitively and longest form first, by
 * "***".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "lib/stringinfo.h"
#include "utils/json.h"

#include "security/security.h"

/* Add one form of a secret, once. */
static void
add_needle(LhRedactor *r, char *needle)
{
	ListCell   *lc;

	if (needle == NULL || needle[0] == '\0')
		return;
	foreach(lc, r->needles)
		if (strcmp((char *) lfirst(lc), needle) == 0)
			return;
	r->needles = lappend(r->needles, needle);
}

/* RFC 3986 percent-encoding; space as "+" when plus. */
static char *
percent_encode(const char *s, bool plus)
{
	StringInfoData buf;
	static const char hex[] = "0123456789ABCDEF";

	initStringInfo(&buf);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
	{
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			appendStringInfoChar(&buf, (char) *p);
		else if (*p == ' ' && plus)
			appendStringInfoChar(&buf, '+');
		else
		{
			appendStringInfoChar(&buf, '%');
			appendStringInfoChar(&buf, hex[*p >> 4]);
			appendStringInfoChar(&buf, hex[*p & 0x0f]);
		}
	}
	return buf.data;
}

static char *
base64_of(const char *s)
{
	int			len = strlen(s);
	char	   *out = palloc(pg_b64_enc_len(len) + 1);
	int			n = pg_b64_encode(s, len, out, pg_b64_enc_len(len));

	if (n < 0)
		return NULL;
	out[n] = '\0';
	return out;
}

/* JSON string contents (no quotes); with "\/" for '/' when solidus. */
static char *
json_escaped(const char *s, bool solidus)
{
	StringInfoData buf;
	StringInfoData out;

	initStringInfo(&buf);
	escape_json(&buf, s);
	/* drop the quotes escape_json adds */
	buf.data[buf.len - 1] = '\0';
	if (!solidus)
		return buf.data + 1;
	initStringInfo(&out);
	for (const char *p = buf.data + 1; *p; p++)
	{
		if (*p == '/')
			appendStringInfoString(&out, "\\/");
		else
			appendStringInfoChar(&out, *p);
	}
	return out.data;
}

/*
 * lh_redact_add
 *		Register a secret, in every form it may come back in.  The strings
 *		are allocated in the current memory context.
 */
void
lh_redact_add(LhRedactor *r, const char *secret)
{
	if (secret == NULL || secret[0] == '\0')
		return;
	add_needle(r, pstrdup(secret));
	add_needle(r, percent_encode(secret, false));
	add_needle(r, percent_encode(secret, true));
	add_needle(r, json_escaped(secret, false));
	add_needle(r, json_escaped(secret, true));
	add_needle(r, base64_of(secret));
}

/*
 * lh_redact_add_basic
 *		Register the credentials of HTTP basic authentication: the password
 *		(lh_redact_add) and "user:password", raw and in base64.
 */
void
lh_redact_add_basic(LhRedactor *r, const char *user, const char *password)
{
	char	   *pair;

	if (password == NULL || password[0] == '\0')
		return;
	lh_redact_add(r, password);
	pair = psprintf("%s:%s", user ? user : "", password);
	add_needle(r, pair);
	add_needle(r, base64_of(pair));
}

/* Longest needle first, so that a form never leaves a piece of a longer one. */
static int
needle_cmp(const ListCell *a, const ListCell *b)
{
	size_t		la = strlen((char *) lfirst(a));
	size_t		lb = strlen((char *) lfirst(b));

	return (la < lb) - (la > lb);
}

/*
 * lh_redact
 *		s with every registered form of every secret replaced by "***"
 *		(case-insensitively); a new string.  NULL stays NULL.
 */
char *
lh_redact(LhRedactor *r, const char *s)
{
	StringInfoData buf;
	ListCell   *lc;

	if (s == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, s);
	if (r == NULL || r->needles == NIL)
		return buf.data;
	list_sort(r->needles, needle_cmp);
	foreach(lc, r->needles)
	{
		const char *needle = lfirst(lc);
		int			nlen = strlen(needle);
		StringInfoData out;
		int			i = 0;

		if (nlen > buf.len)
			continue;
		initStringInfo(&out);
		while (i < buf.len)
		{
			if (i + nlen <= buf.len && pg_strncasecmp(buf.data + i, needle, nlen) == 0)
			{
				appendStringInfoString(&out, "***");
				i += nlen;
			}
			else
				appendStringInfoChar(&out, buf.data[i++]);
		}
		pfree(buf.data);
		buf = out;
	}
	return buf.data;
}
