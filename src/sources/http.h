/*-------------------------------------------------------------------------
 *
 * http.h
 *	  The HTTP source kind: its options, one ingest's state, and the
 *	  functions its three files share (http_options.c: options;
 *	  http_transport.c: requests, retries, authentication, redaction;
 *	  http.c: pages, cursors, landing, the kind's routine).  The polling
 *	  worker (src/worker/http_worker.c) uses http_poll_interval.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_HTTP_H
#define LH_HTTP_H

#include <curl/curl.h>

#include "lakehouse.h"
#include "security/security.h"
#include "sources/sources.h"

/* first bytes of a bad body quoted in errors */
#define HTTP_QUOTE_BYTES 200

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
	LhRedactor	redactor;		/* every form of the secrets, to hide */
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

/* src/sources/http_options.c */
extern void http_parse_options(Jsonb *options, HttpOptions *o);
extern void http_validate_options(Jsonb *options);
extern void http_check_rights(HttpOptions *o, bool declaring);
extern bool http_polls(Jsonb *options);
extern int	http_poll_interval(Jsonb *options);

/* src/sources/http_transport.c */
extern void http_open(HttpIngest *h, LhSource *src);
extern void http_close(HttpIngest *h);
extern Jsonb *http_fetch(HttpIngest *h, const char *url, HttpResponse *r);
extern char *http_redact(HttpIngest *h, const char *s);
extern char *http_url_remove_param(const char *url, const char *name);
extern char *http_url_add_param(const char *url, const char *name,
								const char *value);
extern char *http_url_resolve(const char *base, const char *ref);
extern void http_add_object_params(char **url, Jsonb *obj);

#endif							/* LH_HTTP_H */
