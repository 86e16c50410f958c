/*-------------------------------------------------------------------------
 *
 * http.c
 *	  HTTP/REST sources: paginated, authenticated API pulls into bronze
 *	  with a durable cursor.
 *
 * Options are documented in contrib-docs/http.md; http_parse_options
 * checks them all when the source is declared.  An ingest:
 *
 *	1. starts where the last one left: a stored "resume" mark (a pagination
 *	   interrupted by a failure, with the incremental value it started
 *	   with) or else a fresh pagination from the stored "watermark";
 *	2. for each page, up to max_pages: builds the request (query, paging,
 *	   incremental and API-key parameters, headers, auth), performs it with
 *	   retries (network errors, 5xx, 429; Retry-After honoured; exponential
 *	   backoff with jitter), parses the body, and, in a subtransaction of
 *	   its own, lands the records (a record without its id becomes a dead
 *	   letter), and moves the marks: watermark = the largest incremental
 *	   value landed, resume = where the next page starts;
 *	3. after the last page removes "resume".
 *
 * A page that fails after its retries does not undo the pages before it:
 * the ingest returns with counts->partial_error set, so the run keeps them
 * and records the stage as failed, and the next ingest continues from
 * "resume".  Per-source status (last request, HTTP status, pages, records,
 * retries, last error) goes to lakehouse.http_state at the end.
 *
 * Secrets (tokens, passwords, API keys, client secrets) are read from
 * lakehouse.secrets when the ingest starts and are only ever put in
 * request headers or, for API keys in the query, in the URL handed to
 * libcurl; every URL shown in an error or stored in the status has them
 * replaced by "***".
 *
 * libcurl runs in the backend's thread (CURLOPT_NOSIGNAL; no alarm
 * signals), and its progress callback aborts a transfer when a cancel or
 * termination is pending, so the backend stays interruptible.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>
#include <math.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "pgstat.h"

#include "sources/http.h"
#include "lakehouse.h"

/* first bytes of a bad body quoted in errors */
#define HTTP_QUOTE_BYTES 200

static const char *const http_option_keys[] = {
	"url", "method", "headers", "query", "body", "records_path", "id_field",
	"incremental", "pagination", "auth", "connect_timeout_ms", "timeout_ms",
	"retries", "retry_backoff_ms", "max_retry_wait_ms", "max_redirects",
	"max_response_bytes", "verify_tls", "ca_bundle", "poll_interval", NULL
};

typedef enum HttpPaging
{
	PAGING_NONE,
	PAGING_PAGE,
	PAGING_OFFSET,
	PAGING_CURSOR,
	PAGING_NEXT_URL,
	PAGING_LINK
} HttpPaging;

typedef enum HttpAuth
{
	AUTH_NONE,
	AUTH_BEARER,
	AUTH_BASIC,
	AUTH_API_KEY,
	AUTH_OAUTH2
} HttpAuth;

typedef struct HttpOptions
{
	char	   *url;
	bool		post;
	Jsonb	   *headers;
	Jsonb	   *query;
	char	   *body;			/* JSON text for POST, or NULL */
	List	   *records_path;	/* NIL: the body is the array */
	List	   *id_path;		/* NIL: no id check */
	List	   *inc_path;		/* NIL: not incremental */
	char	   *inc_param;
	HttpPaging	paging;
	char	   *page_param;
	int64		page_start;
	char	   *size_param;
	int64		page_size;		/* 0: unknown */
	List	   *cursor_path;
	bool		cursor_last_id;
	List	   *has_more_path;
	List	   *next_url_path;
	int			max_pages;
	HttpAuth	auth;
	char	   *auth_secret;	/* name of the secret */
	char	   *username;
	bool		key_in_query;
	char	   *key_name;
	char	   *token_url;
	char	   *client_id;
	char	   *scope;
	int			connect_timeout_ms;
	int			timeout_ms;
	int			retries;
	int			retry_backoff_ms;
	int			max_retry_wait_ms;
	int			max_redirects;
	int64		max_response_bytes;
	bool		verify_tls;
	char	   *ca_bundle;
	int			poll_interval_s;
} HttpOptions;

/* One response. */
typedef struct HttpResponse
{
	long		status;
	StringInfoData body;
	bool		too_big;
	char	   *link_next;		/* Link: rel="next", or NULL */
	double		retry_after;	/* seconds; < 0: none */
	char		errbuf[CURL_ERROR_SIZE];
	int64		max_bytes;
} HttpResponse;

/* What an ingest keeps while it runs. */
#define HTTP_MAX_STATUS_KINDS 32

typedef struct HttpIngest
{
	LhSource   *src;
	HttpOptions o;
	CURL	   *curl;
	char	   *secret;			/* bearer token, password, API key or client secret */
	char	   *access_token;	/* OAuth2 */
	TimestampTz token_expires;
	/* status */
	char	   *last_url;
	long		last_status;
	int			pages;
	int64		records;
	int			retries;
	/* requests per HTTP status (0: no answer), for lakehouse_http_requests_total */
	int			nstatus;
	int32		status_code[HTTP_MAX_STATUS_KINDS];
	int64		status_requests[HTTP_MAX_STATUS_KINDS];
} HttpIngest;

/* Pagination state: what the "resume" mark holds. */
typedef struct HttpCursor
{
	int64		page;
	int64		offset;
	char	   *cursor;			/* cursor / starting_after value */
	char	   *next_url;		/* next_url / link styles */
	char	   *since;			/* incremental value sent, JSON text, or NULL */
	bool		started;
} HttpCursor;

/*
 * OAuth2 tokens of this backend (or worker), kept across ingests until
 * they expire: one per token URL, client and scope.
 */
typedef struct HttpToken
{
	char	   *key;			/* token_url \n client_id \n scope */
	char	   *token;
	TimestampTz expires;
} HttpToken;

static List *http_tokens = NIL;

/* Backoff timing of the whole backend (shared by all HTTP sources). */
static pg_prng_state http_prng;
static bool http_prng_seeded = false;
static bool curl_initialized = false;

/* ----------------------------------------------------------------
 * Options
 * ----------------------------------------------------------------
 */

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

/*
 * http_parse_options
 *		Check every option of an http source and fill *o.
 */
static void
http_parse_options(Jsonb *options, HttpOptions *o)
{
	char	   *s;
	Jsonb	   *obj;
	JsonbValue	v;

	memset(o, 0, sizeof(HttpOptions));
	lh_check_option_keys(options, http_option_keys, "an http source");

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
		{
			char	   *from = lh_option_text(obj, "cursor_from");
			char	   *cpath = lh_option_text(obj, "cursor_path");

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
		}
		else
			bad_option("invalid auth type \"%s\" (use none, bearer, basic, api_key or oauth2_client_credentials)",
					   type);
	}

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
 * http_validate_options
 *		Definition-time check; also the declaring role's right to name a
 *		server file (ca_bundle).
 */
void
http_validate_options(Jsonb *options)
{
	HttpOptions o;

	http_parse_options(options, &o);
	if (o.ca_bundle && !has_privs_of_role(GetUserId(), ROLE_PG_READ_SERVER_FILES))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to use \"ca_bundle\" \"%s\"", o.ca_bundle),
				 errhint("Only superusers and members of pg_read_server_files may name server files.")));
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

/* ----------------------------------------------------------------
 * JSON helpers
 * ----------------------------------------------------------------
 */

/* Follow a path from a container; false if absent or JSON null. */
static bool
jb_path(JsonbContainer *root, List *path, JsonbValue *out)
{
	JsonbContainer *c = root;
	ListCell   *lc;

	if (path == NIL)
	{
		out->type = jbvBinary;
		out->val.binary.data = root;
		out->val.binary.len = 0;
		return true;
	}
	foreach(lc, path)
	{
		const char *key = lfirst(lc);

		if (!JsonContainerIsObject(c) ||
			getKeyJsonValueFromContainer(c, key, strlen(key), out) == NULL)
			return false;
		if (lnext(path, lc) != NULL)
		{
			if (out->type != jbvBinary)
				return false;
			c = out->val.binary.data;
		}
	}
	return out->type != jbvNull;
}

/* A path as the user wrote it ("$" for the root). */
static char *
path_text(List *path)
{
	StringInfoData b;
	ListCell   *lc;

	if (path == NIL)
		return "$";
	initStringInfo(&b);
	foreach(lc, path)
		appendStringInfo(&b, "%s%s", foreach_current_index(lc) ? "." : "",
						 (char *) lfirst(lc));
	return b.data;
}

/* A scalar as JSON text (for marks). */
static char *
jbv_json_text(JsonbValue *v)
{
	if (v->type == jbvBinary)
		return JsonbToCString(NULL, v->val.binary.data, -1);
	return JsonbToCString(NULL, &JsonbValueToJsonb(v)->root, -1);
}

/* Compare two scalars for the watermark: numbers numerically, else text. */
static int
jbv_compare(JsonbValue *a, JsonbValue *b)
{
	char	   *ta;
	char	   *tb;

	if (a->type == jbvNumeric && b->type == jbvNumeric)
		return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
												 NumericGetDatum(a->val.numeric),
												 NumericGetDatum(b->val.numeric)));
	ta = lh_jsonb_scalar_text(a);
	tb = lh_jsonb_scalar_text(b);
	if (ta == NULL || tb == NULL)
		return (ta != NULL) - (tb != NULL);
	return strcmp(ta, tb);
}

/* Parse JSON text into a scalar JsonbValue (for a stored watermark). */
static bool
json_scalar(const char *text, JsonbValue *out)
{
	Jsonb	   *jb;

	if (text == NULL)
		return false;
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	if (!JB_ROOT_IS_SCALAR(jb))
		return false;
	return JsonbExtractScalar(&jb->root, out) && out->type != jbvNull;
}

/* ----------------------------------------------------------------
 * Secrets and URLs
 * ----------------------------------------------------------------
 */

/* Replace every case-insensitive occurrence of needle in *buf by ***. */
static void
replace_ci(StringInfo buf, const char *needle)
{
	int			nlen = strlen(needle);
	StringInfoData out;
	int			i = 0;

	if (nlen == 0)
		return;
	initStringInfo(&out);
	while (i < buf->len)
	{
		if (i + nlen <= buf->len && pg_strncasecmp(buf->data + i, needle, nlen) == 0)
		{
			appendStringInfoString(&out, "***");
			i += nlen;
		}
		else
			appendStringInfoChar(&out, buf->data[i++]);
	}
	*buf = out;
}

/*
 * Hide the secret in a text shown to anyone: the raw value, its
 * URL-encoded forms (any case of the escapes), and, for an API key sent in
 * the query, the value of that parameter in any URL.
 */
static char *
redact(HttpIngest *h, const char *s)
{
	StringInfoData buf;

	if (s == NULL)
		return NULL;
	initStringInfo(&buf);
	appendStringInfoString(&buf, s);
	if (h->secret && h->secret[0])
	{
		replace_ci(&buf, h->secret);
		if (h->curl)
		{
			char	   *e = curl_easy_escape(h->curl, h->secret, 0);

			if (e)
			{
				replace_ci(&buf, e);
				curl_free(e);
			}
		}
	}
	if (h->o.auth == AUTH_API_KEY && h->o.key_in_query)
	{
		char	   *pat = psprintf("%s=", h->o.key_name);
		int			plen = strlen(pat);
		StringInfoData out;
		int			i = 0;

		initStringInfo(&out);
		while (i < buf.len)
		{
			if ((i > 0 && (buf.data[i - 1] == '?' || buf.data[i - 1] == '&')) &&
				strncmp(buf.data + i, pat, plen) == 0)
			{
				appendStringInfoString(&out, pat);
				appendStringInfoString(&out, "***");
				i += plen;
				while (i < buf.len && buf.data[i] != '&' && buf.data[i] != '#' &&
					   buf.data[i] != '"' && buf.data[i] != ' ')
					i++;
			}
			else
				appendStringInfoChar(&out, buf.data[i++]);
		}
		buf = out;
	}
	return buf.data;
}

/*
 * Remove the parameter name from the query of url (an API key the API
 * echoed in a next link: it is added again, and must not be stored).
 */
static char *
url_remove_param(const char *url, const char *name)
{
	CURLU	   *u = curl_url();
	char	   *query = NULL;
	char	   *out = NULL;
	char	   *result;
	StringInfoData kept;
	char	   *save;
	char	   *pair;
	int			nlen = strlen(name);

	if (u == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
	{
		curl_url_cleanup(u);
		return pstrdup(url);
	}
	if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK || query == NULL)
	{
		curl_url_cleanup(u);
		return pstrdup(url);
	}
	initStringInfo(&kept);
	for (pair = strtok_r(query, "&", &save); pair; pair = strtok_r(NULL, "&", &save))
	{
		if (strncmp(pair, name, nlen) == 0 && (pair[nlen] == '=' || pair[nlen] == '\0'))
			continue;
		appendStringInfo(&kept, "%s%s", kept.len ? "&" : "", pair);
	}
	curl_free(query);
	curl_url_set(u, CURLUPART_QUERY, kept.len ? kept.data : NULL, 0);
	if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
	{
		curl_url_cleanup(u);
		return pstrdup(url);
	}
	result = pstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return result;
}

/* Append name=value (URL-encoded) to the query of url. */
static char *
url_add_param(const char *url, const char *name, const char *value)
{
	CURLU	   *u = curl_url();
	char	   *pair;
	char	   *out = NULL;
	char	   *result;

	if (u == NULL)
		elog(ERROR, "out of memory");
	pair = psprintf("%s=%s", name, value);
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
		curl_url_set(u, CURLUPART_QUERY, pair, CURLU_APPENDQUERY | CURLU_URLENCODE) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
	{
		curl_url_cleanup(u);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid URL \"%s\"", url)));
	}
	result = pstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	return result;
}

/* Resolve a (possibly relative) URL against base. */
static char *
url_resolve(const char *base, const char *ref)
{
	CURLU	   *u = curl_url();
	char	   *out = NULL;
	char	   *result;

	if (u == NULL)
		elog(ERROR, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
		curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK ||
		curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
	{
		curl_url_cleanup(u);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid next URL \"%s\" in the response", ref)));
	}
	result = pstrdup(out);
	curl_free(out);
	curl_url_cleanup(u);
	if (pg_strncasecmp(result, "http://", 7) != 0 &&
		pg_strncasecmp(result, "https://", 8) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("next URL \"%s\" in the response is not http or https", ref)));
	return result;
}

static void
add_object_params(char **url, Jsonb *obj)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	if (obj == NULL)
		return;
	it = JsonbIteratorInit(&obj->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			char	   *val = lh_jsonb_scalar_text(&v);

			if (val)
				*url = url_add_param(*url, key, val);
		}
	}
}

/* ----------------------------------------------------------------
 * Requests
 * ----------------------------------------------------------------
 */

static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	HttpResponse *r = (HttpResponse *) userdata;
	size_t		n = size * nmemb;

	if ((int64) r->body.len + (int64) n > r->max_bytes)
	{
		r->too_big = true;
		return 0;
	}
	/* appendBinaryStringInfo can ereport on OOM: never longjmp out of curl */
	if (r->body.maxlen - r->body.len <= (int) n)
	{
		int			newlen = r->body.maxlen;

		while (newlen - r->body.len <= (int) n)
			newlen *= 2;
		r->body.data = repalloc_extended(r->body.data, newlen, MCXT_ALLOC_NO_OOM);
		if (r->body.data == NULL)
			return 0;
		r->body.maxlen = newlen;
	}
	memcpy(r->body.data + r->body.len, ptr, n);
	r->body.len += n;
	r->body.data[r->body.len] = '\0';
	return n;
}

/* Parse Retry-After: seconds or an HTTP date. */
static double
parse_retry_after(const char *v)
{
	char	   *end;
	double		secs = strtod(v, &end);
	time_t		t;

	if (end != v)
		return secs < 0 ? 0 : secs;
	t = curl_getdate(v, NULL);
	if (t < 0)
		return -1;
	secs = difftime(t, time(NULL));
	return secs < 0 ? 0 : secs;
}

/* Find <url>; rel="next" in a Link header value. */
static char *
parse_link_next(const char *v)
{
	const char *p = v;

	while ((p = strchr(p, '<')) != NULL)
	{
		const char *end = strchr(p, '>');
		const char *next_comma;
		const char *params;

		if (end == NULL)
			return NULL;
		params = end + 1;
		next_comma = strchr(params, '<');
		{
			char	   *seg = next_comma ? pnstrdup(params, next_comma - params) : pstrdup(params);
			char	   *q;

			for (q = seg; *q; q++)
				*q = pg_tolower((unsigned char) *q);
			if (strstr(seg, "rel=\"next\"") || strstr(seg, "rel=next") ||
				strstr(seg, "rel=\"next ") || strstr(seg, " next\""))
				return pnstrdup(p + 1, end - p - 1);
		}
		p = end + 1;
	}
	return NULL;
}

static size_t
header_cb(char *buffer, size_t size, size_t nitems, void *userdata)
{
	HttpResponse *r = (HttpResponse *) userdata;
	size_t		n = size * nitems;
	char		line[4096];
	char	   *colon;
	char	   *value;
	size_t		len = Min(n, sizeof(line) - 1);

	memcpy(line, buffer, len);
	line[len] = '\0';
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
		line[--len] = '\0';
	/* a new response (redirect, 100-continue) starts with a status line */
	if (strncmp(line, "HTTP/", 5) == 0)
	{
		r->link_next = NULL;
		r->retry_after = -1;
		return n;
	}
	colon = strchr(line, ':');
	if (colon == NULL)
		return n;
	*colon = '\0';
	value = colon + 1;
	while (*value == ' ' || *value == '\t')
		value++;
	/* the only allocation in a callback: a small palloc */
	if (pg_strcasecmp(line, "Link") == 0)
		r->link_next = parse_link_next(value);
	else if (pg_strcasecmp(line, "Retry-After") == 0)
		r->retry_after = parse_retry_after(value);
	return n;
}

/* Abort a transfer when the backend is asked to stop. */
static int
progress_cb(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	return (InterruptPending && (QueryCancelPending || ProcDiePending)) ? 1 : 0;
}

/* Sleep ms, interruptibly. */
static void
http_sleep(long ms)
{
	TimestampTz deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);

	/* a latch set by someone else ends WaitLatch early: wait again */
	for (;;)
	{
		long		left;

		CHECK_FOR_INTERRUPTS();
		left = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(left, 1000L), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}

/* Backoff before retry number attempt (1, 2, ...), with jitter. */
static long
backoff_ms(HttpOptions *o, int attempt)
{
	double		base = (double) o->retry_backoff_ms * pow(2.0, attempt - 1);
	double		jitter;

	if (!http_prng_seeded)
	{
		pg_prng_seed(&http_prng, (uint64) MyProcPid ^ (uint64) GetCurrentTimestamp());
		http_prng_seeded = true;
	}
	jitter = 0.5 + pg_prng_double(&http_prng);
	return (long) Min(base * jitter, (double) o->max_retry_wait_ms);
}

/*
 * Perform one request (no retries).  Returns the CURLcode; fills r.
 */
static CURLcode
http_perform(HttpIngest *h, const char *url, bool post, const char *body,
			 struct curl_slist *headers, HttpResponse *r, const char *userpwd)
{
	CURL	   *c = h->curl;
	CURLcode	rc;

	curl_easy_reset(c);
	resetStringInfo(&r->body);
	r->too_big = false;
	r->link_next = NULL;
	r->retry_after = -1;
	r->status = 0;
	r->errbuf[0] = '\0';
	r->max_bytes = h->o.max_response_bytes;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, h->o.max_redirects > 0 ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long) h->o.max_redirects);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long) h->o.connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) h->o.timeout_ms);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->o.verify_tls ? 1L : 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->o.verify_tls ? 2L : 0L);
	if (h->o.ca_bundle)
		curl_easy_setopt(c, CURLOPT_CAINFO, h->o.ca_bundle);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "lakehouse/0.1 (PostgreSQL extension)");
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress_cb);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	if (userpwd)
	{
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
		/* credentials are not sent to another host after a redirect */
		curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
	}
	if (post)
	{
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
	}

	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	rc = curl_easy_perform(c);
	pgstat_report_wait_end();
	CHECK_FOR_INTERRUPTS();
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	{
		int			i;

		for (i = 0; i < h->nstatus; i++)
			if (h->status_code[i] == (int32) r->status)
				break;
		if (i == h->nstatus && i < HTTP_MAX_STATUS_KINDS)
		{
			h->status_code[i] = (int32) r->status;
			h->status_requests[i] = 0;
			h->nstatus++;
		}
		if (i < HTTP_MAX_STATUS_KINDS)
			h->status_requests[i]++;
	}
	return rc;
}

static char *
quote_body(StringInfo body)
{
	int			n = Min(body->len, HTTP_QUOTE_BYTES);
	char	   *s = pnstrdup(body->data, n);

	/* keep the quote printable and valid in the server encoding */
	for (int i = 0; i < n; i++)
		if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
			s[i] = '?';
	return n < body->len ? psprintf("%s...", s) : s;
}

static char *
token_key(HttpIngest *h)
{
	return psprintf("%s\n%s\n%s", h->o.token_url, h->o.client_id,
					h->o.scope ? h->o.scope : "");
}

/* Take a cached token for this source's client, if one is still valid. */
static void
token_lookup(HttpIngest *h)
{
	char	   *key = token_key(h);
	ListCell   *lc;

	foreach(lc, http_tokens)
	{
		HttpToken  *t = lfirst(lc);

		if (strcmp(t->key, key) == 0 && GetCurrentTimestamp() < t->expires)
		{
			h->access_token = t->token;
			h->token_expires = t->expires;
		}
	}
}

/* Cache the token h just obtained (replacing an older one). */
static void
token_remember(HttpIngest *h)
{
	char	   *key = token_key(h);
	ListCell   *lc;
	HttpToken  *t = NULL;
	MemoryContext old;

	foreach(lc, http_tokens)
		if (strcmp(((HttpToken *) lfirst(lc))->key, key) == 0)
			t = lfirst(lc);
	old = MemoryContextSwitchTo(TopMemoryContext);
	if (t == NULL)
	{
		t = palloc0(sizeof(HttpToken));
		t->key = pstrdup(key);
		http_tokens = lappend(http_tokens, t);
	}
	t->token = h->access_token;
	t->expires = h->token_expires;
	MemoryContextSwitchTo(old);
}

/* Forget the cached token (the API refused it). */
static void
token_forget(HttpIngest *h)
{
	char	   *key = token_key(h);
	ListCell   *lc;

	foreach(lc, http_tokens)
		if (strcmp(((HttpToken *) lfirst(lc))->key, key) == 0)
			((HttpToken *) lfirst(lc))->expires = 0;
	h->access_token = NULL;
}

static void
oauth2_token(HttpIngest *h)
{
	HttpResponse r;
	char	   *form;
	char	   *idenc;
	char	   *secenc;
	struct curl_slist *hdrs = NULL;
	CURLcode	rc;
	Jsonb	   *jb;
	JsonbValue	v;
	int			expires = 3600;

	memset(&r, 0, sizeof(r));
	initStringInfo(&r.body);
	idenc = curl_easy_escape(h->curl, h->o.client_id, 0);
	secenc = curl_easy_escape(h->curl, h->secret, 0);
	form = psprintf("grant_type=client_credentials&client_id=%s&client_secret=%s%s%s",
					idenc, secenc, h->o.scope ? "&scope=" : "", "");
	curl_free(idenc);
	curl_free(secenc);
	if (h->o.scope)
	{
		char	   *sc = curl_easy_escape(h->curl, h->o.scope, 0);

		form = psprintf("%s%s", form, sc);
		curl_free(sc);
	}
	hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	rc = http_perform(h, h->o.token_url, true, form, hdrs, &r, NULL);
	curl_slist_free_all(hdrs);
	h->last_url = redact(h, h->o.token_url);
	h->last_status = r.status;
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("OAuth2 token request to \"%s\" failed: %s",
						redact(h, h->o.token_url),
						redact(h, r.errbuf[0] ? r.errbuf : curl_easy_strerror(rc)))));
	if (r.status != 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("OAuth2 token request to \"%s\" returned status %ld",
						redact(h, h->o.token_url), r.status),
				 errdetail("Response begins: %s", redact(h, quote_body(&r.body)))));
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(r.body.data)));
	if (!JB_ROOT_IS_OBJECT(jb) ||
		getKeyJsonValueFromContainer(&jb->root, "access_token", 12, &v) == NULL ||
		v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("OAuth2 token response from \"%s\" has no access_token",
						redact(h, h->o.token_url))));
	h->access_token = MemoryContextStrdup(TopMemoryContext,
										  pnstrdup(v.val.string.val, v.val.string.len));
	if (getKeyJsonValueFromContainer(&jb->root, "expires_in", 10, &v) != NULL &&
		v.type == jbvNumeric)
		expires = DatumGetInt32(DirectFunctionCall1(numeric_int4,
													NumericGetDatum(v.val.numeric)));
	h->token_expires = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   (int64) Max(expires - 30, 1) * 1000);
	token_remember(h);
}

/*
 * Fetch url with retries; returns the parsed JSON body.  Errors name the
 * URL (secrets redacted).
 */
static Jsonb *
http_fetch(HttpIngest *h, const char *url, HttpResponse *r)
{
	int			attempt = 0;
	bool		refreshed = false;
	char	   *shown = redact(h, url);

	h->last_url = shown;
	for (;;)
	{
		struct curl_slist *hdrs = NULL;
		char	   *userpwd = NULL;
		CURLcode	rc;
		bool		retry = false;
		double		wait_s = -1;
		char	   *why = NULL;

		hdrs = curl_slist_append(hdrs, "Accept: application/json");
		if (h->o.post)
			hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		if (h->o.headers)
		{
			JsonbIterator *it = JsonbIteratorInit(&h->o.headers->root);
			JsonbValue	v;
			JsonbIteratorToken tok;
			char	   *key = NULL;

			while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			{
				if (tok == WJB_KEY)
					key = pnstrdup(v.val.string.val, v.val.string.len);
				else if (tok == WJB_VALUE && lh_jsonb_scalar_text(&v))
					hdrs = curl_slist_append(hdrs, psprintf("%s: %s", key, lh_jsonb_scalar_text(&v)));
			}
		}
		if (h->o.auth == AUTH_OAUTH2 && h->access_token == NULL)
			token_lookup(h);
		if (h->o.auth == AUTH_OAUTH2 &&
			(h->access_token == NULL || GetCurrentTimestamp() >= h->token_expires))
			oauth2_token(h);
		if (h->o.auth == AUTH_BEARER)
			hdrs = curl_slist_append(hdrs, psprintf("Authorization: Bearer %s", h->secret));
		else if (h->o.auth == AUTH_OAUTH2)
			hdrs = curl_slist_append(hdrs, psprintf("Authorization: Bearer %s", h->access_token));
		else if (h->o.auth == AUTH_API_KEY && !h->o.key_in_query)
			hdrs = curl_slist_append(hdrs, psprintf("%s: %s", h->o.key_name, h->secret));
		else if (h->o.auth == AUTH_BASIC)
			userpwd = psprintf("%s:%s", h->o.username, h->secret);

		rc = http_perform(h, url, h->o.post, h->o.body, hdrs, r, userpwd);
		curl_slist_free_all(hdrs);
		h->last_status = r->status;

		if (rc == CURLE_WRITE_ERROR && r->too_big)
			ereport(ERROR,
					(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
					 errmsg("HTTP response from \"%s\" is larger than max_response_bytes (" INT64_FORMAT ")",
							shown, h->o.max_response_bytes)));
		if (rc == CURLE_TOO_MANY_REDIRECTS)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP request to \"%s\" failed: more than %d redirects",
							shown, h->o.max_redirects)));
		if (rc == CURLE_ABORTED_BY_CALLBACK)
			CHECK_FOR_INTERRUPTS();
		if (rc != CURLE_OK)
		{
			retry = (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
					 rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
					 rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
					 rc == CURLE_COULDNT_RESOLVE_HOST);
			why = rc == CURLE_PARTIAL_FILE ?
				psprintf("the response was truncated after %d bytes; it begins: %s",
						 r->body.len, quote_body(&r->body)) :
				pstrdup(r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		}
		else if (r->status == 401 && h->o.auth == AUTH_OAUTH2 && !refreshed)
		{
			/* the token expired early or was revoked: one new token */
			token_forget(h);
			refreshed = true;
			continue;
		}
		else if (r->status >= 500 || r->status == 429 || r->status == 408)
		{
			retry = true;
			why = psprintf("status %ld", r->status);
			if (r->status == 429 || r->status == 503)
				wait_s = r->retry_after;
		}
		else if (r->status < 200 || r->status >= 300)
			ereport(ERROR,
					(errcode(r->status == 401 || r->status == 403 ?
							 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION :
							 ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP request to \"%s\" returned status %ld", shown, r->status),
					 errdetail("Response begins: %s", redact(h, quote_body(&r->body)))));
		else
			break;

		if (!retry || attempt >= h->o.retries)
			ereport(ERROR,
					(errcode(ERRCODE_CONNECTION_FAILURE),
					 errmsg("HTTP request to \"%s\" failed: %s", shown, redact(h, why)),
					 attempt > 0 ? errdetail("Gave up after %d retries.", attempt) : 0));
		attempt++;
		h->retries++;
		http_sleep(wait_s >= 0 ? (long) Min(wait_s * 1000.0, (double) h->o.max_retry_wait_ms) :
				   backoff_ms(&h->o, attempt));
	}

	/* the body must be JSON */
	{
		LhTypeInput tin;
		Datum		d;
		ErrorData  *edata;
		char	   *reason;
		Jsonb	   *jb;

		if (lh_jsonb_parse_fast(r->body.data, r->body.len, &jb))
			return jb;
		if (r->body.len == 0 ||
			!lh_check_utf8(r->body.data, r->body.len, &reason) ||
			lh_json_too_deep(r->body.data, r->body.len))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("HTTP response from \"%s\" is not JSON", shown),
					 errdetail("Response begins: %s", quote_body(&r->body))));
		lh_type_input_init(&tin, JSONBOID, -1);
		if (!lh_type_input_safe(&tin, r->body.data, &d, &edata))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errmsg("HTTP response from \"%s\" is not JSON: %s", shown, edata->message),
					 errdetail("Response begins: %s", quote_body(&r->body))));
		return DatumGetJsonbP(d);
	}
}

/* ----------------------------------------------------------------
 * Marks and status
 * ----------------------------------------------------------------
 */

static char *
cursor_to_json(HttpCursor *c)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "{\"page\": " INT64_FORMAT ", \"offset\": " INT64_FORMAT,
					 c->page, c->offset);
	appendStringInfoString(&buf, ", \"cursor\": ");
	if (c->cursor)
		escape_json(&buf, c->cursor);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"next_url\": ");
	if (c->next_url)
		escape_json(&buf, c->next_url);
	else
		appendStringInfoString(&buf, "null");
	appendStringInfoString(&buf, ", \"since\": ");
	appendStringInfoString(&buf, c->since ? c->since : "null");
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

static void
cursor_from_json(const char *text, HttpCursor *c)
{
	Jsonb	   *jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
	JsonbValue	v;

	c->page = lh_option_int(jb, "page", 0);
	c->offset = lh_option_int(jb, "offset", 0);
	c->cursor = lh_option_text(jb, "cursor");
	c->next_url = lh_option_text(jb, "next_url");
	c->since = NULL;
	if (lh_option_lookup(jb, "since", &v))
		c->since = jbv_json_text(&v);
	c->started = true;
}

static void
write_status(HttpIngest *h, const char *error)
{
	Oid			types[8] = {INT4OID, TEXTOID, INT4OID, INT4OID, INT8OID, INT4OID,
	TEXTOID, TIMESTAMPTZOID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int32GetDatum(h->src->source_id);
	if (h->last_url)
		values[1] = CStringGetTextDatum(h->last_url);
	else
		nulls[1] = 'n';
	values[2] = Int32GetDatum((int32) h->last_status);
	nulls[2] = h->last_status == 0 ? 'n' : ' ';
	values[3] = Int32GetDatum(h->pages);
	values[4] = Int64GetDatum(h->records);
	values[5] = Int32GetDatum(h->retries);
	if (error)
		values[6] = CStringGetTextDatum(redact(h, error));
	else
		nulls[6] = 'n';
	values[7] = TimestampTzGetDatum(GetCurrentTimestamp());
	catalog_exec("INSERT INTO lakehouse.http_state AS s (source_id, last_url, last_http_status,"
				 " last_run_pages, last_run_records, last_run_retries, last_error,"
				 " last_request_at)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				 " ON CONFLICT (source_id) DO UPDATE SET last_url = excluded.last_url,"
				 " last_http_status = excluded.last_http_status,"
				 " last_run_pages = excluded.last_run_pages,"
				 " last_run_records = excluded.last_run_records,"
				 " last_run_retries = excluded.last_run_retries,"
				 " last_error = excluded.last_error,"
				 " last_request_at = excluded.last_request_at",
				 8, types, values, nulls, SPI_OK_INSERT);

	/* request counters (metrics), one statement for all statuses */
	if (h->nstatus > 0)
	{
		Oid			ctypes[3] = {INT4OID, INT4ARRAYOID, INT8ARRAYOID};
		Datum		cvalues[3];
		Datum	   *codes = palloc(sizeof(Datum) * h->nstatus);
		Datum	   *reqs = palloc(sizeof(Datum) * h->nstatus);

		for (int i = 0; i < h->nstatus; i++)
		{
			codes[i] = Int32GetDatum(h->status_code[i]);
			reqs[i] = Int64GetDatum(h->status_requests[i]);
		}
		cvalues[0] = Int32GetDatum(h->src->source_id);
		cvalues[1] = PointerGetDatum(construct_array(codes, h->nstatus, INT4OID, 4,
													 true, TYPALIGN_INT));
		cvalues[2] = PointerGetDatum(construct_array(reqs, h->nstatus, INT8OID, 8,
													 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		catalog_exec("INSERT INTO lakehouse.http_request_counts AS c"
					 " (source_id, http_status, requests)"
					 " SELECT $1, u.code, u.n FROM unnest($2, $3) AS u(code, n)"
					 " ON CONFLICT (source_id, http_status)"
					 " DO UPDATE SET requests = c.requests + excluded.requests",
					 3, ctypes, cvalues, NULL, SPI_OK_INSERT);
		h->nstatus = 0;
	}
}

/* ----------------------------------------------------------------
 * Pages
 * ----------------------------------------------------------------
 */

/* The URL of the next request. */
static char *
page_url(HttpIngest *h, HttpCursor *c)
{
	HttpOptions *o = &h->o;
	char	   *url;

	if ((o->paging == PAGING_NEXT_URL || o->paging == PAGING_LINK) && c->next_url)
		url = c->next_url;
	else
	{
		url = o->url;
		add_object_params(&url, o->query);
		if (o->inc_path && c->since)
		{
			JsonbValue	v;

			if (json_scalar(c->since, &v))
				url = url_add_param(url, o->inc_param, lh_jsonb_scalar_text(&v));
		}
		if (o->size_param)
			url = url_add_param(url, o->size_param, psprintf(INT64_FORMAT, o->page_size));
		if (o->paging == PAGING_PAGE)
			url = url_add_param(url, o->page_param, psprintf(INT64_FORMAT, c->page));
		else if (o->paging == PAGING_OFFSET)
			url = url_add_param(url, o->page_param, psprintf(INT64_FORMAT, c->offset));
		else if (o->paging == PAGING_CURSOR && c->cursor)
			url = url_add_param(url, o->page_param, c->cursor);
	}
	if (o->auth == AUTH_API_KEY && o->key_in_query)
		url = url_add_param(url, o->key_name, h->secret);
	return url;
}

static void
dead_letter_record(HttpIngest *h, const char *position, JsonbValue *rec,
				   const char *reason)
{
	char	   *raw = jbv_json_text(rec);

	catalog_add_dead_letter(h->src, position, raw, strlen(raw), reason,
							ERRCODE_NULL_VALUE_NOT_ALLOWED, NULL);
}

/*
 * Land the records of one page (in the caller's subtransaction); advance
 * the watermark *wm (JSON text).  Returns the number of records and the
 * last record's id (for cursor_from last_id).
 */
static int64
land_page(HttpIngest *h, Jsonb *body, int page_no, char **wm, char **last_id,
		  LhStageCounts *counts, int64 run_id)
{
	JsonbValue	arr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	BronzeWriter *w = NULL;
	int64		n = 0;
	JsonbValue	best;
	bool		have_best = json_scalar(*wm, &best);
	char	   *idfield = NULL;

	if (!jb_path(&body->root, h->o.records_path, &arr) || arr.type != jbvBinary ||
		!JsonContainerIsArray(arr.val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("HTTP response from \"%s\" has no array of records at \"%s\"",
						h->last_url, path_text(h->o.records_path))));
	if (h->o.id_path)
		idfield = path_text(h->o.id_path);

	it = JsonbIteratorInit(arr.val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		char	   *position;
		JsonbValue	idv;
		JsonbValue	incv;

		if (tok != WJB_ELEM)
			continue;
		n++;
		counts->rows_read++;
		position = psprintf("%d:" INT64_FORMAT, page_no, n);
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
		{
			dead_letter_record(h, position, &v, "record is not a JSON object");
			counts->rows_skipped++;
			continue;
		}
		if (h->o.id_path && !jb_path(v.val.binary.data, h->o.id_path, &idv))
		{
			dead_letter_record(h, position, &v,
							   psprintf("record has no id field \"%s\"", idfield));
			counts->rows_skipped++;
			continue;
		}
		if (h->o.id_path && last_id)
			*last_id = lh_jsonb_scalar_text(&idv);
		if (h->o.inc_path && jb_path(v.val.binary.data, h->o.inc_path, &incv) &&
			incv.type != jbvBinary)
		{
			if (!have_best || jbv_compare(&incv, &best) > 0)
			{
				best = incv;
				have_best = true;
			}
		}
		if (w == NULL)
			w = bronze_writer_open(h->src, run_id);
		bronze_writer_add(w, position, JsonbValueToJsonb(&v));
		counts->rows_written++;
	}
	if (w)
		(void) bronze_writer_close(w);
	if (have_best)
		*wm = jbv_json_text(&best);
	return n;
}

/*
 * Work out the next cursor from a page; false when the pagination ends.
 */
static bool
next_page(HttpIngest *h, HttpCursor *c, Jsonb *body, HttpResponse *r,
		  int64 nrecords, const char *last_id)
{
	HttpOptions *o = &h->o;
	JsonbValue	v;

	switch (o->paging)
	{
		case PAGING_NONE:
			return false;
		case PAGING_PAGE:
			c->page++;
			return nrecords > 0 && (o->page_size == 0 || nrecords >= o->page_size);
		case PAGING_OFFSET:
			c->offset += nrecords;
			return nrecords > 0 && (o->page_size == 0 || nrecords >= o->page_size);
		case PAGING_CURSOR:
			if (o->has_more_path &&
				(!jb_path(&body->root, o->has_more_path, &v) ||
				 v.type != jbvBool || !v.val.boolean))
				return false;
			if (o->cursor_last_id)
			{
				if (nrecords == 0 || last_id == NULL)
					return false;
				c->cursor = pstrdup(last_id);
				return true;
			}
			if (!jb_path(&body->root, o->cursor_path, &v) || lh_jsonb_scalar_text(&v) == NULL)
				return false;
			c->cursor = lh_jsonb_scalar_text(&v);
			return c->cursor[0] != '\0';
		case PAGING_NEXT_URL:
			if (!jb_path(&body->root, o->next_url_path, &v) || v.type != jbvString ||
				v.val.string.len == 0)
				return false;
			c->next_url = url_resolve(o->url, pnstrdup(v.val.string.val, v.val.string.len));
			if (o->auth == AUTH_API_KEY && o->key_in_query)
				c->next_url = url_remove_param(c->next_url, o->key_name);
			return true;
		case PAGING_LINK:
			if (r->link_next == NULL)
				return false;
			c->next_url = url_resolve(c->next_url ? c->next_url : o->url, r->link_next);
			if (o->auth == AUTH_API_KEY && o->key_in_query)
				c->next_url = url_remove_param(c->next_url, o->key_name);
			return true;
	}
	return false;
}

static void
http_cleanup(HttpIngest *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

/*
 * The pages of one ingest.  Each page in its own subtransaction; a failure
 * keeps the pages before it and is returned in counts->partial_error.
 */
static void
http_pages(HttpIngest *h, int64 run_id, LhStageCounts *counts)
{
	HttpCursor	c;
	char	   *resume = catalog_get_source_mark(h->src->source_id, "resume");
	char	   *wm = catalog_get_source_mark(h->src->source_id, "watermark");
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	HttpResponse r;

	memset(&c, 0, sizeof(c));
	memset(&r, 0, sizeof(r));
	initStringInfo(&r.body);
	if (resume)
		cursor_from_json(resume, &c);
	else
	{
		c.page = h->o.page_start;
		c.since = wm;
	}

	for (int page_no = 1; page_no <= h->o.max_pages; page_no++)
	{
		volatile bool more = false;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(outer);
		PG_TRY();
		{
			char	   *url = page_url(h, &c);
			Jsonb	   *body = http_fetch(h, url, &r);
			char	   *last_id = NULL;
			int64		n;

			n = land_page(h, body, page_no, &wm, &last_id, counts, run_id);
			h->pages++;
			h->records += n;
			more = next_page(h, &c, body, &r, n, last_id);
			if (wm && h->o.inc_path)
				catalog_set_source_mark(h->src->source_id, "watermark", wm);
			if (more)
				catalog_set_source_mark(h->src->source_id, "resume", cursor_to_json(&c));
			else
			{
				Oid			types[1] = {INT4OID};
				Datum		values[1] = {Int32GetDatum(h->src->source_id)};

				catalog_exec("DELETE FROM lakehouse.source_marks"
							 " WHERE source_id = $1 AND mark_key = 'resume'",
							 1, types, values, NULL, SPI_OK_DELETE);
			}
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(outer);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			/* the error outlives our SPI connection: keep it with the transaction */
			MemoryContextSwitchTo(TopTransactionContext);
			edata = CopyErrorData();
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			CurrentResourceOwner = owner;
			if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
				edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
				edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
				ReThrowError(edata);
			/* never let a secret out through the error */
			MemoryContextSwitchTo(TopTransactionContext);
			edata->message = redact(h, edata->message);
			edata->detail = redact(h, edata->detail);
			edata->context = NULL;
			MemoryContextSwitchTo(outer);
			counts->partial_error = edata;
			write_status(h, edata->message);
			return;
		}
		PG_END_TRY();
		if (!more)
			break;
		CHECK_FOR_INTERRUPTS();
	}
	write_status(h, NULL);
}

/*
 * http_ingest
 *		Land the pages an http source has for us, in the caller's
 *		transaction (ingest.c holds the source row lock).
 */
void
http_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	HttpIngest	h;

	memset(&h, 0, sizeof(h));
	h.src = src;
	http_parse_options(src->options, &h.o);
	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			elog(ERROR, "could not initialize libcurl");
		curl_initialized = true;
	}
	if (h.o.auth != AUTH_NONE)
		h.secret = catalog_secret(h.o.auth_secret, TopTransactionContext);
	h.curl = curl_easy_init();
	if (h.curl == NULL)
		elog(ERROR, "could not create a libcurl handle");
	PG_TRY();
	{
		http_pages(&h, run_id, counts);
	}
	PG_FINALLY();
	{
		http_cleanup(&h);
	}
	PG_END_TRY();
}
