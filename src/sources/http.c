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
 * Options: http_options.c.  Requests, retries, authentication and the
 * redaction of secrets in everything shown: http_transport.c.  This file
 * holds the pages, the cursor, the landing, and the kind's routine.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "sources/http.h"

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
		values[6] = CStringGetTextDatum(http_redact(h, error));
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
		http_add_object_params(&url, o->query);
		if (o->inc_path && c->since)
		{
			JsonbValue	v;

			if (json_scalar(c->since, &v))
				url = http_url_add_param(url, o->inc_param, lh_jsonb_scalar_text(&v));
		}
		if (o->size_param)
			url = http_url_add_param(url, o->size_param, psprintf(INT64_FORMAT, o->page_size));
		if (o->paging == PAGING_PAGE)
			url = http_url_add_param(url, o->page_param, psprintf(INT64_FORMAT, c->page));
		else if (o->paging == PAGING_OFFSET)
			url = http_url_add_param(url, o->page_param, psprintf(INT64_FORMAT, c->offset));
		else if (o->paging == PAGING_CURSOR && c->cursor)
			url = http_url_add_param(url, o->page_param, c->cursor);
	}
	if (o->auth == AUTH_API_KEY && o->key_in_query)
		url = http_url_add_param(url, o->key_name, h->secret);
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
			c->next_url = http_url_resolve(o->url, pnstrdup(v.val.string.val, v.val.string.len));
			if (o->auth == AUTH_API_KEY && o->key_in_query)
				c->next_url = http_url_remove_param(c->next_url, o->key_name);
			return true;
		case PAGING_LINK:
			if (r->link_next == NULL)
				return false;
			c->next_url = http_url_resolve(c->next_url ? c->next_url : o->url, r->link_next);
			if (o->auth == AUTH_API_KEY && o->key_in_query)
				c->next_url = http_url_remove_param(c->next_url, o->key_name);
			return true;
	}
	return false;
}

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
				(void) catalog_delete_source_mark(h->src->source_id, "resume");
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
			edata->message = http_redact(h, edata->message);
			edata->detail = http_redact(h, edata->detail);
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
 *		transaction (registry.c holds the source row lock), as the
 *		pipeline's owner.
 */
static void
http_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	HttpIngest	h;

	http_open(&h, src);
	PG_TRY();
	{
		http_pages(&h, run_id, counts);
	}
	PG_FINALLY();
	{
		http_close(&h);
	}
	PG_END_TRY();
}

static LhWorkerMode
http_worker_mode(Jsonb *options)
{
	return http_polls(options) ? LH_WORKER_POLL : LH_WORKER_NONE;
}

/*
 * scheme://host:port and path of the URL (no user info, query or
 * fragment), OpenLineage's naming of an HTTP dataset; the namespace is
 * the data source's URI.
 */
static void
http_dataset(LhSource *src, SourceDataset *ds)
{
	char	   *url = lh_option_text(src->options, "url");
	const char *p;
	const char *hstart;
	const char *hend;
	const char *at;
	char	   *scheme;
	char	   *hostport;
	size_t		plen;

	url = url ? url : "";
	p = strstr(url, "://");
	if (p == NULL)
	{
		ds->ns = pstrdup("http://unknown:80");
		ds->name = pstrdup(url);
		ds->uri = ds->ns;
		return;
	}
	scheme = pnstrdup(url, p - url);
	hstart = p + 3;
	hend = hstart + strcspn(hstart, "/?#");
	at = memchr(hstart, '@', hend - hstart);
	if (at)
		hstart = at + 1;
	hostport = pnstrdup(hstart, hend - hstart);
	if (strchr(hostport, ':') == NULL || hostport[0] == '[')
	{
		if (hostport[0] != '[' || strstr(hostport, "]:") == NULL)
			hostport = psprintf("%s:%d", hostport,
								pg_strcasecmp(scheme, "https") == 0 ? 443 : 80);
	}
	ds->ns = psprintf("%s://%s", scheme, hostport);
	ds->uri = ds->ns;
	plen = strcspn(hend, "?#");
	ds->name = plen > 0 ? pnstrdup(hend, plen) : pstrdup("/");
}

const SourceRoutine http_routine = {
	.name = "http",
	.what = "HTTP API",
	.validate = http_validate_options,
	.ingest = http_ingest,
	.worker_mode = http_worker_mode,
	.worker_main = "lh_http_worker_main",
	.dataset = http_dataset,
};
