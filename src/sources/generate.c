/*-------------------------------------------------------------------------
 *
 * generate.c
 *	  The "generate" source: numbered rows from generate_series, for tests
 *	  and demonstrations.  It is also the smallest complete source kind,
 *	  and shows what adding one takes: this file, and its name in the list
 *	  of kinds in registry.c.
 *
 * Options: {"rows": 10, "total": null}.  Each ingest lands the next "rows"
 * payloads {"n": <number>} (numbers from 1), stopping at "total" when
 * given.  The mark "next" (the next number) moves in the ingest's
 * transaction, so a run that rolls back lands the same numbers again and
 * two runs never land one twice.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "lakehouse.h"
#include "sources/sources.h"

static const char *const generate_option_keys[] = {"rows", "total", NULL};

typedef struct GenerateOptions
{
	int64		rows;			/* per ingest */
	int64		total;			/* 0: no end */
} GenerateOptions;

static void
generate_parse_options(Jsonb *options, GenerateOptions *o)
{
	lh_check_option_keys(options, generate_option_keys, "a generate source");
	o->rows = lh_option_int(options, "rows", 10);
	if (o->rows < 1 || o->rows > 1000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"rows\" must be between 1 and 1000000")));
	o->total = lh_option_int(options, "total", 0);
	if (o->total < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"total\" must not be negative")));
}

static void
generate_validate(Jsonb *options)
{
	GenerateOptions o;

	generate_parse_options(options, &o);
}

/* Land the next numbers; the caller holds SPI and the source's row lock. */
static void
generate_ingest(LhSource *src, int64 run_id, LhStageCounts *counts)
{
	GenerateOptions o;
	char	   *mark = catalog_get_source_mark(src->source_id, "next");
	int64		first = mark ? pg_strtoint64(mark) : 1;
	int64		last;
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2];
	uint64		n;
	List	   *payloads = NIL;
	ListCell   *lc;
	BronzeWriter *w;

	generate_parse_options(src->options, &o);
	last = first + o.rows - 1;
	if (o.total > 0)
		last = Min(last, o.total);
	if (last < first)
		return;
	lh_progress_total(last - first + 1, -1);
	values[0] = Int64GetDatum(first);
	values[1] = Int64GetDatum(last);
	n = lh_spi_exec("SELECT pg_catalog.jsonb_build_object('n', g)"
					" FROM pg_catalog.generate_series($1::int8, $2::int8) AS g",
					2, types, values, NULL, SPI_OK_SELECT, "generate rows");
	/* copied out first: the writer runs statements of its own */
	for (uint64 i = 0; i < n; i++)
		payloads = lappend(payloads, catalog_jsonb(i, 1));
	w = bronze_writer_open(src, run_id);
	foreach(lc, payloads)
		bronze_writer_add(w, psprintf(INT64_FORMAT, first + foreach_current_index(lc)),
						  lfirst(lc));
	counts->rows_read += n;
	counts->rows_written += bronze_writer_close(w);
	catalog_set_source_mark(src->source_id, "next", psprintf(INT64_FORMAT, last + 1));
}

/*
 * Nothing outside: the dataset is named after the source, in namespace
 * "generate", which is no URI (so its data source has none).
 */
static void
generate_dataset(LhSource *src, SourceDataset *ds)
{
	ds->ns = pstrdup("generate");
	ds->name = pstrdup(src->name);
}

const SourceRoutine generate_routine = {
	.name = "generate",
	.what = "generated rows",
	.validate = generate_validate,
	.ingest = generate_ingest,
	.dataset = generate_dataset,
};
