/*-------------------------------------------------------------------------
 *
 * http_transport.c
 *	  HTTP sources: requests with libcurl, retries, authentication, and
 *	  the redaction of secrets in everything an ingest shows.
 *
 * Requests.  libcurl runs in the backend's thread (CURLOPT_NOSIGNAL; no
 * alarm signals); its progress callback aborts a transfer when a cancel or
 * termination is pending, so the backend stays interruptible.  Only http
 * and https are allowed, for redirects too.  Responses are bounded by
 * max_response_bytes; network errors, 5xx, 408 and 429 are retried with
 * exponential backoff and jitter, honouring Retry-After.
 *
 * Secrets.  The source's secret (bearer token, password, API key, client
 * secret) is read as the pipeline's owner when the ingest starts, only if
 * that owner holds usage on it, and is only ever put in request headers
 * or, for API keys in the query, in the URL handed to libcurl.  Every text
 * an ingest shows (errors, quoted response bodies, URLs in the status) is
 * passed through http_redact, which hides the secret in every form an API
 * could echo it (src/security/redact.c): raw, percent-encoded,
 * JSON-escaped, base64, base64 of "user:password", and an OAuth2 access
 * token once obtained; API keys sent in the query are hidden by name too.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "sources/http.h"

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


/*
 * http_open
 *		Start an ingest of src: check its options and the owner's rights,
 *		read its secret as the owner, register what must be hidden, and
 *		make a libcurl handle.  The caller calls http_close at the end, on
 *		error too.
 */
void
http_open(HttpIngest *h, LhSource *src)
{
	memset(h, 0, sizeof(HttpIngest));
	h->src = src;
	http_parse_options(src->options, &h->o);
	http_check_rights(&h->o, false);
	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			elog(ERROR, "could not initialize libcurl");
		curl_initialized = true;
	}
	if (h->o.auth != AUTH_NONE)
	{
		h->secret = security_secret_value(h->o.auth_secret, GetUserId(),
										  TopTransactionContext);
		if (h->o.auth == AUTH_BASIC)
			lh_redact_add_basic(&h->redactor, h->o.username, h->secret);
		else
			lh_redact_add(&h->redactor, h->secret);
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		elog(ERROR, "could not create a libcurl handle");
}

/* End an ingest: the libcurl handle goes. */
void
http_close(HttpIngest *h)
{
	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
}

/*
 * http_redact
 *		s as it may be shown: every form of the source's secrets, and the
 *		value of an API key parameter in any URL, replaced by "***".
 */
char *
http_redact(HttpIngest *h, const char *s)
{
	StringInfoData buf;
	char	   *r = lh_redact(&h->redactor, s);

	if (r == NULL || !(h->o.auth == AUTH_API_KEY && h->o.key_in_query))
		return r;
	{
		char	   *pat = psprintf("%s=", h->o.key_name);
		int			plen = strlen(pat);
		int			len = strlen(r);
		int			i = 0;

		initStringInfo(&buf);
		while (i < len)
		{
			if ((i > 0 && (r[i - 1] == '?' || r[i - 1] == '&')) &&
				strncmp(r + i, pat, plen) == 0)
			{
				appendStringInfoString(&buf, pat);
				appendStringInfoString(&buf, "***");
				i += plen;
				while (i < len && r[i] != '&' && r[i] != '#' && r[i] != '"' && r[i] != ' ')
					i++;
			}
			else
				appendStringInfoChar(&buf, r[i++]);
		}
	}
	return buf.data;
}

/* ----------------------------------------------------------------
 * URLs
 * ----------------------------------------------------------------
 */

/*
 * Remove the parameter name from the query of url (an API key the API
 * echoed in a next link: it is added again, and must not be stored).
 */
char *
http_url_remove_param(const char *url, const char *name)
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
char *
http_url_add_param(const char *url, const char *name, const char *value)
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
char *
http_url_resolve(const char *base, const char *ref)
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
add_param_pair(const char *key, const char *text, void *arg)
{
	char	  **url = (char **) arg;

	if (text)
		*url = http_url_add_param(*url, key, text);
}

/* Add each scalar pair of obj to the URL's query (null and the rest: skipped). */
void
http_add_object_params(char **url, Jsonb *obj)
{
	lh_option_pairs(obj, add_param_pair, url);
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
	curl_easy_setopt(c, CURLOPT_USERAGENT, "lakehouse/" LH_EXTVERSION " (PostgreSQL extension)");
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

/*
 * The beginning of a response body for a message: credentials redacted in
 * the whole body first (so that the cut cannot leave part of one), then
 * cut and made printable.
 */
static char *
quote_body(HttpIngest *h, StringInfo body)
{
	char	   *red = http_redact(h, body->data);
	int			len = strlen(red);
	int			n = Min(len, HTTP_QUOTE_BYTES);
	char	   *s = pnstrdup(red, n);

	/* keep the quote printable and valid in the server encoding */
	for (int i = 0; i < n; i++)
		if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] >= 0x7f)
			s[i] = '?';
	return n < len ? psprintf("%s...", s) : s;
}

/*
 * A cached token is for one client of one token endpoint, obtained with one
 * secret by one role (the pipeline's owner): another owner's source with
 * the same endpoint, client and scope gets its own.
 */
static char *
token_key(HttpIngest *h)
{
	return psprintf("%u\n%s\n%s\n%s\n%s", GetUserId(), h->o.auth_secret,
					h->o.token_url, h->o.client_id, h->o.scope ? h->o.scope : "");
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
	h->last_url = http_redact(h, h->o.token_url);
	h->last_status = r.status;
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("OAuth2 token request to \"%s\" failed: %s",
						http_redact(h, h->o.token_url),
						http_redact(h, r.errbuf[0] ? r.errbuf : curl_easy_strerror(rc)))));
	if (r.status != 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("OAuth2 token request to \"%s\" returned status %ld",
						http_redact(h, h->o.token_url), r.status),
				 errdetail("Response begins: %s", quote_body(h, &r.body))));
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(r.body.data)));
	if (!JB_ROOT_IS_OBJECT(jb) ||
		getKeyJsonValueFromContainer(&jb->root, "access_token", 12, &v) == NULL ||
		v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("OAuth2 token response from \"%s\" has no access_token",
						http_redact(h, h->o.token_url))));
	h->access_token = MemoryContextStrdup(TopMemoryContext,
										  pnstrdup(v.val.string.val, v.val.string.len));
	lh_redact_add(&h->redactor, h->access_token);
	if (getKeyJsonValueFromContainer(&jb->root, "expires_in", 10, &v) != NULL &&
		v.type == jbvNumeric)
		expires = DatumGetInt32(DirectFunctionCall1(numeric_int4,
													NumericGetDatum(v.val.numeric)));
	h->token_expires = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   (int64) Max(expires - 30, 1) * 1000);
	token_remember(h);
}

/* What a request's outcome asks of http_fetch. */
typedef enum HttpOutcome
{
	HTTP_OUTCOME_DONE,			/* a 2xx answer: parse its body */
	HTTP_OUTCOME_NEW_TOKEN,		/* 401 with OAuth2: get a new token, again */
	HTTP_OUTCOME_FAILED			/* retry if *retry and retries are left */
} HttpOutcome;

/*
 * The request headers of one attempt: Accept, Content-Type for POST, the
 * source's headers, then the credentials (an OAuth2 token is taken from
 * the cache or obtained first).  Basic auth goes in *userpwd instead.  The
 * caller frees the list with curl_slist_free_all.
 */
static struct curl_slist *
http_request_headers(HttpIngest *h, char **userpwd)
{
	struct curl_slist *hdrs = NULL;

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
	{
		token_lookup(h);
		lh_redact_add(&h->redactor, h->access_token);
	}
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
		*userpwd = psprintf("%s:%s", h->o.username, h->secret);
	return hdrs;
}

/*
 * Judge one attempt's result (rc and r) for the URL shown in messages.
 * Raises the errors that no retry can help (a body too large, too many
 * redirects, a 4xx answer).  A failure sets *retry (a network error, 5xx,
 * 408 or 429), *wait_s (Retry-After of a 429 or 503, else left alone) and
 * *why.  refreshed: a new OAuth2 token was already tried.
 */
static HttpOutcome
http_classify_response(HttpIngest *h, CURLcode rc, HttpResponse *r,
					   const char *shown, bool refreshed, bool *retry,
					   double *wait_s, char **why)
{
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
		*retry = (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
				  rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR ||
				  rc == CURLE_GOT_NOTHING || rc == CURLE_PARTIAL_FILE ||
				  rc == CURLE_COULDNT_RESOLVE_HOST);
		*why = rc == CURLE_PARTIAL_FILE ?
			psprintf("the response was truncated after %d bytes; it begins: %s",
					 r->body.len, quote_body(h, &r->body)) :
			pstrdup(r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
		return HTTP_OUTCOME_FAILED;
	}
	if (r->status == 401 && h->o.auth == AUTH_OAUTH2 && !refreshed)
		return HTTP_OUTCOME_NEW_TOKEN;
	if (r->status >= 500 || r->status == 429 || r->status == 408)
	{
		*retry = true;
		*why = psprintf("status %ld", r->status);
		if (r->status == 429 || r->status == 503)
			*wait_s = r->retry_after;
		return HTTP_OUTCOME_FAILED;
	}
	if (r->status < 200 || r->status >= 300)
		ereport(ERROR,
				(errcode(r->status == 401 || r->status == 403 ?
						 ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION :
						 ERRCODE_CONNECTION_FAILURE),
				 errmsg("HTTP request to \"%s\" returned status %ld", shown, r->status),
				 errdetail("Response begins: %s", quote_body(h, &r->body))));
	return HTTP_OUTCOME_DONE;
}

static void http_give_up(HttpIngest *h, CURLcode rc, HttpResponse *r,
						 const char *shown, const char *why,
						 int attempt) pg_attribute_noreturn();

/*
 * Raise the error of a request that failed for good: why, the answer's
 * body if there was one (redacted: APIs echo requests), and the number of
 * retries made.
 */
static void
http_give_up(HttpIngest *h, CURLcode rc, HttpResponse *r, const char *shown,
			 const char *why, int attempt)
{
	StringInfoData detail;

	/* an answer's body says why (redacted: APIs echo requests) */
	initStringInfo(&detail);
	if (rc == CURLE_OK && r->body.len > 0)
		appendStringInfo(&detail, "Response begins: %s",
						 quote_body(h, &r->body));
	if (attempt > 0)
		appendStringInfo(&detail, "%sGave up after %d retries.",
						 detail.len > 0 ? "\n" : "", attempt);
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("HTTP request to \"%s\" failed: %s", shown, http_redact(h, why)),
			 detail.len > 0 ? errdetail_internal("%s", detail.data) : 0));
}

/* The body of a successful answer, which must be JSON, parsed. */
static Jsonb *
http_parse_body(HttpIngest *h, HttpResponse *r, const char *shown)
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
				 errdetail("Response begins: %s", quote_body(h, &r->body))));
	lh_type_input_init(&tin, JSONBOID, -1);
	if (!lh_type_input_safe(&tin, r->body.data, &d, &edata))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("HTTP response from \"%s\" is not JSON: %s", shown,
						http_redact(h, edata->message)),
				 errdetail("Response begins: %s", quote_body(h, &r->body))));
	return DatumGetJsonbP(d);
}

/*
 * Fetch url with retries; returns the parsed JSON body.  Errors name the
 * URL (secrets redacted).
 */
Jsonb *
http_fetch(HttpIngest *h, const char *url, HttpResponse *r)
{
	int			attempt = 0;
	bool		refreshed = false;
	char	   *shown = http_redact(h, url);

	h->last_url = shown;
	for (;;)
	{
		struct curl_slist *hdrs;
		char	   *userpwd = NULL;
		CURLcode	rc;
		bool		retry = false;
		double		wait_s = -1;
		char	   *why = NULL;
		HttpOutcome outcome;

		hdrs = http_request_headers(h, &userpwd);
		rc = http_perform(h, url, h->o.post, h->o.body, hdrs, r, userpwd);
		curl_slist_free_all(hdrs);
		h->last_status = r->status;

		outcome = http_classify_response(h, rc, r, shown, refreshed,
										 &retry, &wait_s, &why);
		if (outcome == HTTP_OUTCOME_DONE)
			break;
		if (outcome == HTTP_OUTCOME_NEW_TOKEN)
		{
			/* the token expired early or was revoked: one new token */
			token_forget(h);
			refreshed = true;
			continue;
		}

		if (!retry || attempt >= h->o.retries)
			http_give_up(h, rc, r, shown, why, attempt);
		attempt++;
		h->retries++;
		http_sleep(wait_s >= 0 ? (long) Min(wait_s * 1000.0, (double) h->o.max_retry_wait_ms) :
				   backoff_ms(&h->o, attempt));
	}

	/* the body must be JSON */
	return http_parse_body(h, r, shown);
}

