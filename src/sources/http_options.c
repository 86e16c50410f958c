/*-------------------------------------------------------------------------
 *
 * http_options.c
 *	  The options of an HTTP source (contrib-docs/http.md), checked in full
 *	  when the source is declared, and again each time it is ingested.
 *
 * Nothing of the options is handed to libcurl as an option of its own:
 * http_transport.c sets a fixed set of libcurl options (the protocols to
 * http and https, redirects, timeouts, TLS verification, a CA bundle) from
 * the checked values below.  What goes on the wire is checked here:
 *	- URLs (url, token_url) are http:// or https:// and hold no spaces or
 *	  control characters;
 *	- header names are HTTP tokens, header values hold no CR, LF, NUL or
 *	  other control character (no header injection), and headers that
 *	  lakehouse or libcurl manage (Host, Content-Length, Transfer-Encoding,
 *	  Connection, and Authorization, which must come from "auth" so that
 *	  its credentials live in a secret) are refused;
 *	- the basic-auth username holds no ':' and no control character, an
 *	  API key's header or parameter name is a token, client ids and scopes
 *	  hold no control character;
 *	- a CA bundle names a server file: roles with pg_read_server_files.
 * Secrets are named, never given: the pipeline's owner must hold usage on
 * each (src/security/secrets.c), checked here and again at each ingest.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_authid.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "sources/http.h"

static const char *const http_option_keys[] = {
	"url", "method", "headers", "query", "body", "records_path", "id_field",
	"incremental", "pagination", "auth", "connect_timeout_ms", "timeout_ms",
	"retries", "retry_backoff_ms", "max_retry_wait_ms", "max_redirects",
	"max_response_bytes", "verify_tls", "ca_bundle", "poll_interval", NULL
};


/* Headers lakehouse or libcurl manage: a source cannot set them. */
static const char *const http_managed_headers[] = {
	"host", "content-length", "transfer-encoding", "connection", "authorization",
	"proxy-authorization", "te", "upgrade", "expect", NULL
};

/* Is s an HTTP token (RFC 9110: tchar)? */
static bool
is_token(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (const char *p = s; *p; p++)
		if (!(isalnum((unsigned char) *p) || strchr("!#$%&'*+-.^_`|~", *p)))
			return false;
	return true;
}

/* Raise an error if s holds a control character (tab too unless tab_ok). */
static void
check_no_controls(const char *s, const char *what, bool tab_ok)
{
	if (s == NULL)
		return;
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		if ((*p < 0x20 && !(tab_ok && *p == '\t')) || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s must not contain control characters", what),
					 errdetail("Carriage returns, line feeds and other control characters would change the request sent.")));
}

/* One header of option "headers": its name, then its value. */
static void
check_header(const char *key, const char *value, void *arg)
{
	if (!is_token(key))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid HTTP header name \"%s\"", key),
				 errdetail("Header names are tokens: letters, digits and !#$%%&'*+-.^_`|~.")));
	for (int i = 0; http_managed_headers[i]; i++)
		if (pg_strcasecmp(key, http_managed_headers[i]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("HTTP header \"%s\" cannot be set in option \"headers\"", key),
					 pg_strcasecmp(key, "authorization") == 0 ?
					 errhint("Use option \"auth\", whose credentials come from a secret.") :
					 errhint("lakehouse and libcurl set it.")));
	if (value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("value of HTTP header \"%s\" must be a string, number or boolean", key)));
	check_no_controls(value, psprintf("value of HTTP header \"%s\"", key), true);
}

/* The names and values of option "headers". */
static void
check_headers(Jsonb *headers)
{
	lh_option_pairs(headers, check_header, NULL);
}

static void
bad_option(const char *fmt, const char *arg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg(fmt, arg),
			 errhint("See contrib-docs/http.md for the options of an http source.")));
}

/* A dotted path ("data", "result.items"); "" or "$" is the root (NIL). */
static List *
parse_path(const char *s, const char *option)
{
	List	   *path = NIL;
	char	   *copy;
	char	   *tok;
	char	   *save;

	if (s == NULL || s[0] == '\0' || strcmp(s, "$") == 0)
		return NIL;
	if (strncmp(s, "$.", 2) == 0)
		s += 2;
	copy = pstrdup(s);
	for (tok = strtok_r(copy, ".", &save); tok; tok = strtok_r(NULL, ".", &save))
		path = lappend(path, pstrdup(tok));
	if (path == NIL || strstr(s, "..") != NULL || s[strlen(s) - 1] == '.')
		bad_option("invalid path \"%s\"", s);
	(void) option;
	return path;
}

static int
int_option(Jsonb *options, const char *key, int64 def, int64 min, int64 max)
{
	int64		v = lh_option_int(options, key, def);

	if (v < min || v > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"%s\" must be between " INT64_FORMAT " and " INT64_FORMAT,
						key, min, max)));
	return (int) v;
}

static char *
required_text(Jsonb *obj, const char *key, const char *where)
{
	char	   *s = lh_option_text(obj, key);

	if (s == NULL || s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s needs \"%s\"", where, key),
				 errhint("See contrib-docs/http.md for the options of an http source.")));
	return s;
}

static void
check_url(const char *url, const char *what)
{
	if (pg_strncasecmp(url, "http://", 7) != 0 &&
		pg_strncasecmp(url, "https://", 8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be an http:// or https:// URL", what)));
	check_no_controls(url, what, false);
	if (strchr(url, ' ') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not contain spaces", what),
				 errhint("Percent-encode them as %%20.")));
}

/* An interval option ("30s", "5min", 60) in seconds. */
static int
interval_seconds(const char *s)
{
	Interval   *iv;
	float8		secs;
	char	   *end;
	long		n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno == 0 && *end == '\0' && end != s)
		secs = n;
	else
	{
		iv = DatumGetIntervalP(DirectFunctionCall3(interval_in, CStringGetDatum(s),
												   ObjectIdGetDatum(InvalidOid),
												   Int32GetDatum(-1)));
		secs = (float8) iv->time / USECS_PER_SEC + iv->day * SECS_PER_DAY +
			(float8) iv->month * DAYS_PER_MONTH * SECS_PER_DAY;
	}
	if (secs < 1 || secs > 7 * SECS_PER_DAY)
		bad_option("option \"poll_interval\" must be between 1 second and 7 days, not \"%s\"", s);
	return (int) secs;
}

/* The request options: url, method, headers, query and body. */
static void
parse_request(Jsonb *options, HttpOptions *o)
{
	char	   *s;
	JsonbValue	v;

	o->url = lh_option_text(options, "url");
	if (o->url == NULL || o->url[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("http source needs option \"url\""),
				 errhint("See contrib-docs/http.md for the options of an http source.")));
	check_url(o->url, "option \"url\"");

	s = lh_option_text(options, "method");
	if (s == NULL || pg_strcasecmp(s, "GET") == 0)
		o->post = false;
	else if (pg_strcasecmp(s, "POST") == 0)
		o->post = true;
	else
		bad_option("invalid method \"%s\" for an http source (use GET or POST)", s);

	o->headers = lh_option_object(options, "headers", "an http source");
	check_headers(o->headers);
	o->query = lh_option_object(options, "query", "an http source");
	if (lh_option_lookup(options, "body", &v))
	{
		if (!o->post)
			bad_option("option \"%s\" needs method POST", "body");
		if (v.type == jbvString)
			o->body = pnstrdup(v.val.string.val, v.val.string.len);
		else
			o->body = JsonbToCString(NULL, &JsonbValueToJsonb(&v)->root, -1);
	}
}

/*
 * Pagination style "cursor": the cursor comes from a path of the response
 * or is the last record's id (id_field, so o->id_path must be set).
 */
static void
parse_cursor_paging(Jsonb *obj, HttpOptions *o)
{
	char	   *from = lh_option_text(obj, "cursor_from");
	char	   *cpath = lh_option_text(obj, "cursor_path");
	char	   *s;

	o->paging = PAGING_CURSOR;
	o->page_param = required_text(obj, "param", "pagination style \"cursor\"");
	if ((from == NULL) == (cpath == NULL))
		bad_option("pagination style \"cursor\" needs one of %s",
				   "\"cursor_path\" and \"cursor_from\"");
	if (from && strcmp(from, "last_id") != 0)
		bad_option("invalid \"cursor_from\" \"%s\" (the only value is \"last_id\")", from);
	if (from && o->id_path == NIL)
		bad_option("\"cursor_from\": \"last_id\" needs option \"%s\"", "id_field");
	o->cursor_last_id = (from != NULL);
	o->cursor_path = cpath ? parse_path(cpath, "cursor_path") : NIL;
	s = lh_option_text(obj, "has_more_path");
	o->has_more_path = s ? parse_path(s, "has_more_path") : NIL;
}

/* Option "pagination" (after id_field, which cursor paging may use). */
static void
parse_pagination(Jsonb *options, HttpOptions *o)
{
	Jsonb	   *obj;

	o->max_pages = 1000;
	obj = lh_option_object(options, "pagination", "an http source");
	o->paging = PAGING_NONE;
	if (obj)
	{
		char	   *style = required_text(obj, "style", "option \"pagination\"");

		o->max_pages = int_option(obj, "max_pages", 1000, 1, 1000000);
		o->page_size = int_option(obj, "page_size", 0, 0, 100000000);
		o->size_param = lh_option_text(obj, "page_size_param");
		if (o->size_param && o->page_size == 0)
			bad_option("option \"pagination\" has \"%s\" but no \"page_size\"", "page_size_param");
		if (strcmp(style, "none") == 0)
			o->paging = PAGING_NONE;
		else if (strcmp(style, "page") == 0)
		{
			o->paging = PAGING_PAGE;
			o->page_param = required_text(obj, "param", "pagination style \"page\"");
			o->page_start = lh_option_int(obj, "start", 1);
		}
		else if (strcmp(style, "offset") == 0)
		{
			o->paging = PAGING_OFFSET;
			o->page_param = required_text(obj, "param", "pagination style \"offset\"");
		}
		else if (strcmp(style, "cursor") == 0)
			parse_cursor_paging(obj, o);
		else if (strcmp(style, "next_url") == 0)
		{
			o->paging = PAGING_NEXT_URL;
			o->next_url_path = parse_path(required_text(obj, "next_url_path",
														"pagination style \"next_url\""),
										  "next_url_path");
		}
		else if (strcmp(style, "link_header") == 0)
			o->paging = PAGING_LINK;
		else
			bad_option("invalid pagination style \"%s\" (use none, page, offset, cursor, next_url or link_header)",
					   style);
	}
}

/* Option "auth": its type, and the secret and names each type needs. */
static void
parse_auth(Jsonb *options, HttpOptions *o)
{
	Jsonb	   *obj;

	o->auth = AUTH_NONE;
	obj = lh_option_object(options, "auth", "an http source");
	if (obj)
	{
		char	   *type = required_text(obj, "type", "option \"auth\"");

		if (strcmp(type, "none") == 0)
			o->auth = AUTH_NONE;
		else if (strcmp(type, "bearer") == 0)
		{
			o->auth = AUTH_BEARER;
			o->auth_secret = required_text(obj, "token_secret", "auth type \"bearer\"");
		}
		else if (strcmp(type, "basic") == 0)
		{
			o->auth = AUTH_BASIC;
			o->username = required_text(obj, "username", "auth type \"basic\"");
			check_no_controls(o->username, "\"username\"", false);
			if (strchr(o->username, ':') != NULL)
				bad_option("a basic-auth \"username\" cannot contain \"%s\"", ":");
			o->auth_secret = required_text(obj, "password_secret", "auth type \"basic\"");
		}
		else if (strcmp(type, "api_key") == 0)
		{
			char	   *in = required_text(obj, "in", "auth type \"api_key\"");

			o->auth = AUTH_API_KEY;
			if (strcmp(in, "header") != 0 && strcmp(in, "query") != 0)
				bad_option("invalid \"in\" \"%s\" for auth type api_key (use header or query)", in);
			o->key_in_query = (strcmp(in, "query") == 0);
			o->key_name = required_text(obj, "name", "auth type \"api_key\"");
			if (!is_token(o->key_name))
				bad_option("invalid API key name \"%s\" (a header or parameter name: letters, digits and !#$%%&'*+-.^_`|~)",
						   o->key_name);
			o->auth_secret = required_text(obj, "secret", "auth type \"api_key\"");
		}
		else if (strcmp(type, "oauth2_client_credentials") == 0)
		{
			o->auth = AUTH_OAUTH2;
			o->token_url = required_text(obj, "token_url", "auth type \"oauth2_client_credentials\"");
			check_url(o->token_url, "\"token_url\"");
			o->client_id = required_text(obj, "client_id", "auth type \"oauth2_client_credentials\"");
			o->auth_secret = required_text(obj, "client_secret_secret",
										   "auth type \"oauth2_client_credentials\"");
			o->scope = lh_option_text(obj, "scope");
			check_no_controls(o->client_id, "\"client_id\"", false);
			check_no_controls(o->scope, "\"scope\"", false);
		}
		else
			bad_option("invalid auth type \"%s\" (use none, bearer, basic, api_key or oauth2_client_credentials)",
					   type);
	}
}

/* The transport's limits: timeouts, retries, redirects, size, TLS, polling. */
static void
parse_limits(Jsonb *options, HttpOptions *o)
{
	char	   *s;

	o->connect_timeout_ms = int_option(options, "connect_timeout_ms", 5000, 1, 600000);
	o->timeout_ms = int_option(options, "timeout_ms", 30000, 1, 3600000);
	o->retries = int_option(options, "retries", 3, 0, 100);
	o->retry_backoff_ms = int_option(options, "retry_backoff_ms", 200, 0, 600000);
	o->max_retry_wait_ms = int_option(options, "max_retry_wait_ms", 30000, 0, 3600000);
	o->max_redirects = int_option(options, "max_redirects", 5, 0, 100);
	o->max_response_bytes = lh_option_int(options, "max_response_bytes", 64 * 1024 * 1024);
	if (o->max_response_bytes < 1 || o->max_response_bytes > MaxAllocSize / 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"max_response_bytes\" must be between 1 and %d",
						(int) (MaxAllocSize / 2))));
	o->verify_tls = lh_option_bool(options, "verify_tls", true);
	o->ca_bundle = lh_option_text(options, "ca_bundle");
	s = lh_option_text(options, "poll_interval");
	o->poll_interval_s = s ? interval_seconds(s) : 0;
}

/*
 * http_parse_options
 *		Check every option of an http source and fill *o, in this order:
 *		the request, where the records are, incremental, pagination, auth,
 *		the limits.
 */
void
http_parse_options(Jsonb *options, HttpOptions *o)
{
	char	   *s;
	Jsonb	   *obj;

	memset(o, 0, sizeof(HttpOptions));
	lh_check_option_keys(options, http_option_keys, "an http source");

	parse_request(options, o);

	o->records_path = parse_path(lh_option_text(options, "records_path"), "records_path");
	s = lh_option_text(options, "id_field");
	o->id_path = s ? parse_path(s, "id_field") : NIL;

	obj = lh_option_object(options, "incremental", "an http source");
	if (obj)
	{
		o->inc_path = parse_path(required_text(obj, "field", "option \"incremental\""),
								 "incremental");
		o->inc_param = required_text(obj, "param", "option \"incremental\"");
	}

	parse_pagination(options, o);
	parse_auth(options, o);
	parse_limits(options, o);
}

/*
 * http_check_rights
 *		What the options need of the pipeline's owner (the current user):
 *		reading a server file for ca_bundle, usage on the secret.  A
 *		declaration may name a secret that is set later.
 */
void
http_check_rights(HttpOptions *o, bool declaring)
{
	if (o->ca_bundle && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use \"ca_bundle\" \"%s\"", o->ca_bundle),
				 errhint("Only superusers and members of pg_read_server_files may name server files.")));
	if (o->auth != AUTH_NONE)
		security_check_secret_usage(o->auth_secret, GetUserId(), declaring);
}

/*
 * http_validate_options
 *		Definition-time check, as the pipeline's owner.
 */
void
http_validate_options(Jsonb *options)
{
	HttpOptions o;

	http_parse_options(options, &o);
	http_check_rights(&o, true);
}

/* Does an http source with these options want a polling worker? */
bool
http_polls(Jsonb *options)
{
	char	   *s = lh_option_text(options, "poll_interval");

	return s != NULL;
}

/* Its poll interval in seconds. */
int
http_poll_interval(Jsonb *options)
{
	HttpOptions o;

	http_parse_options(options, &o);
	return o.poll_interval_s;
}

