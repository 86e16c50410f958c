/*-------------------------------------------------------------------------
 *
 * erase.c
 *	  lh_forget: GDPR/CCPA erasure of a data subject.
 *
 * lh_forget(subject_key_column, value, pipeline) deletes the subject's rows
 * from every bronze table (payload key at the top level, or at the path a
 * silver column of that name maps), silver and gold table that has the
 * column, of the pipeline or of every pipeline, and from quarantine and
 * dead letters; one set-based DELETE per table.  The audit record keeps a
 * salted hash of the value, never the value.  It returns the count per
 * table: bronze tables by source, then silver and gold tables in
 * declaration order, then quarantine and dead letters.  The capture
 * triggers record the deletes in lakehouse.change_log like any other; the
 * subject's images are then erased from the change log too, and the
 * readers of those tables refresh fully at their next run
 * (changes_forget_subject, src/transform/changes.c).
 *
 * Rights and identity.  Only lakehouse administrators may erase.  Each
 * DELETE on a data table runs as that table's pipeline owner, under
 * SECURITY_RESTRICTED_OPERATION with the pinned search_path
 * (lh_owner_begin): triggers and rules the owner put on the table run as
 * the owner, never as the administrator.  Quarantine and dead letters are
 * catalog tables, changed through catalog_exec.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "security/security.h"
#include "transform/changes.h"

PG_FUNCTION_INFO_V1(lh_forget);

/* One table to erase from. */
typedef struct EraseTarget
{
	const char *layer;
	char	   *schema;
	char	   *table;
	Oid			owner;
	char	   *paths;			/* bronze: JSON array of mapped paths */
} EraseTarget;

/* The JSON paths (as a JSON array of arrays) mapped to column name in silver. */
static char *
mapped_paths(List *silver_tables, int32 source_id, const char *column)
{
	StringInfoData buf;
	ListCell   *lc;
	List	   *seen = NIL;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, silver_tables)
	{
		LhTable    *t = lfirst(lc);
		ListCell   *cc;

		if (source_id != 0 && t->source_id != source_id)
			continue;
		foreach(cc, catalog_silver_columns(t->table_id))
		{
			LhSilverColumn *col = lfirst(cc);
			StringInfoData one;
			ListCell   *pc;

			if (strcmp(col->name, column) != 0)
				continue;
			initStringInfo(&one);
			appendStringInfoChar(&one, '[');
			foreach(pc, col->path)
			{
				if (foreach_current_index(pc) > 0)
					appendStringInfoChar(&one, ',');
				escape_json(&one, lfirst(pc));
			}
			appendStringInfoChar(&one, ']');
			if (lh_name_in_list(seen, one.data))
				continue;
			seen = lappend(seen, one.data);
			appendStringInfo(&buf, "%s%s", list_length(seen) > 1 ? "," : "", one.data);
		}
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/* Does relation schema.table have a column name of type typid (any: 0)? */
static bool
has_column(const char *schema, const char *table, const char *name, Oid typid)
{
	Oid			relid = lh_table_oid(schema, table, true);
	AttrNumber	att;

	if (!OidIsValid(relid))
		return false;
	att = get_attnum(relid, name);
	if (att <= 0)
		return false;
	return typid == InvalidOid || get_atttype(relid, att) == typid;
}

/* DELETE the subject from one data table, as its owner; the row count. */
static int64
erase_from(EraseTarget *t, const char *column, const char *value)
{
	LhIdentity	id;
	uint64		n;
	char	   *rel = lh_qualified_name(t->schema, t->table);

	lh_owner_begin(t->owner, &id);
	if (t->paths)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, JSONBOID};
		Datum		values[3];

		values[0] = CStringGetTextDatum(column);
		values[1] = CStringGetTextDatum(value);
		values[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(t->paths));
		n = lh_spi_exec(psprintf("DELETE FROM %s b WHERE b.payload->>$1 = $2"
								 " OR EXISTS (SELECT 1 FROM jsonb_array_elements($3) p"
								 " WHERE b.payload #>> ARRAY(SELECT jsonb_array_elements_text(p)) = $2)",
								 rel),
						3, types, values, NULL, SPI_OK_DELETE, "erase from a bronze table");
	}
	else
	{
		Oid			types[1] = {TEXTOID};
		Datum		values[1];

		values[0] = CStringGetTextDatum(value);
		n = lh_spi_exec(psprintf("DELETE FROM %s WHERE %s::text = $1", rel,
								 quote_identifier(column)),
						1, types, values, NULL, SPI_OK_DELETE, "erase from a table");
	}
	lh_owner_end(&id);
	/* the change log keeps no image of the subject (src/transform/changes.c) */
	if (!t->paths)
		changes_forget_subject(lh_table_oid(t->schema, t->table, false), column, value);
	return (int64) n;
}

/* The salted hash the audit log keeps instead of a value (lh_mask_hash). */
static char *
value_hash(const char *value)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(value)};

	catalog_exec("SELECT lakehouse.lh_mask_hash($1)", 1, types, values, NULL,
				 SPI_OK_SELECT);
	return catalog_text(0, 1);
}

/* Return one row (layer, table_name, rows_deleted) of lh_forget. */
static void
put_count(ReturnSetInfo *rsinfo, const char *layer, const char *table_name,
		  int64 n)
{
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(layer);
	values[1] = CStringGetTextDatum(table_name);
	values[2] = Int64GetDatum(n);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The tables of pipelines pids to erase from, in the order they are
 * reported: bronze tables with a jsonb payload (by source), then silver
 * and then gold tables that have the column.  *all_silver gets every
 * silver table of those pipelines (their mapped paths reach quarantine).
 */
static List *
collect_targets(List *pids, const char *column, List **all_silver)
{
	List	   *bronze = NIL;
	List	   *silver_targets = NIL;
	List	   *gold_targets = NIL;
	ListCell   *lc;

	foreach(lc, pids)
	{
		int32		pid = lfirst_int(lc);
		List	   *silver = catalog_pipeline_tables(pid, "silver");
		ListCell   *sc;

		*all_silver = list_concat(*all_silver, silver);
		foreach(sc, catalog_pipeline_sources(pid, false))
		{
			LhSource   *s = lfirst(sc);
			EraseTarget *t;

			if (!has_column(s->bronze_schema, s->bronze_table, "payload", JSONBOID))
				continue;
			t = palloc0(sizeof(EraseTarget));
			t->layer = "bronze";
			t->schema = s->bronze_schema;
			t->table = s->bronze_table;
			t->owner = s->owner;
			t->paths = mapped_paths(silver, s->source_id, column);
			bronze = lappend(bronze, t);
		}
		foreach(sc, list_concat(list_copy(silver), catalog_pipeline_tables(pid, "gold")))
		{
			LhTable    *lt = lfirst(sc);
			EraseTarget *t;

			if (!has_column(lt->schema_name, lt->table_name, column, InvalidOid))
				continue;
			t = palloc0(sizeof(EraseTarget));
			t->layer = lt->layer;
			t->schema = lt->schema_name;
			t->table = lt->table_name;
			t->owner = lt->owner;
			if (strcmp(lt->layer, "silver") == 0)
				silver_targets = lappend(silver_targets, t);
			else
				gold_targets = lappend(gold_targets, t);
		}
	}
	return list_concat(bronze, list_concat(silver_targets, gold_targets));
}

/*
 * Erase the subject from every target, returning a row per table and
 * adding "table": count to the JSON object being built in counts.
 */
static void
erase_targets(ReturnSetInfo *rsinfo, List *targets, const char *column,
			  const char *value, StringInfo counts)
{
	ListCell   *lc;

	foreach(lc, targets)
	{
		EraseTarget *t = lfirst(lc);
		int64		n = erase_from(t, column, value);
		char	   *qname = lh_qualified_name(t->schema, t->table);

		put_count(rsinfo, t->layer, qname, n);
		if (counts->len > 1)
			appendStringInfoString(counts, ", ");
		escape_json(counts, qname);
		appendStringInfo(counts, ": " INT64_FORMAT, n);
	}
}

/*
 * Erase the subject from quarantine (by value and mapped paths of
 * all_silver; every row's pipeline when all_pipelines) and dead letters of
 * pipelines pids, returning a row each and adding them to counts.
 */
static void
erase_catalog_rows(ReturnSetInfo *rsinfo, List *pids, bool all_pipelines,
				   List *all_silver, const char *column, const char *value,
				   StringInfo counts)
{
	int64		q = catalog_erase_quarantine(pids, all_pipelines, column, value,
											 mapped_paths(all_silver, 0, column));
	int64		d = catalog_erase_dead_letters(pids, value);

	put_count(rsinfo, "quarantine", "lakehouse.quarantine", q);
	put_count(rsinfo, "dead_letters", "lakehouse.dead_letters", d);
	if (counts->len > 1)
		appendStringInfoString(counts, ", ");
	appendStringInfo(counts, "\"lakehouse.quarantine\": " INT64_FORMAT
					 ", \"lakehouse.dead_letters\": " INT64_FORMAT, q, d);
}

/*
 * Record the erasure in the audit log: the value's salted hash (never the
 * value), the pipeline (null: all) and the counts per table.
 */
static void
audit_erasure(const char *column, const char *value, const char *pipeline,
			  const char *counts)
{
	char	   *hash = value_hash(value);
	StringInfoData details;

	initStringInfo(&details);
	appendStringInfoString(&details, "{\"value_hash\": ");
	escape_json(&details, hash);
	appendStringInfoString(&details, ", \"pipeline\": ");
	if (pipeline)
		escape_json(&details, pipeline);
	else
		appendStringInfoString(&details, "null");
	appendStringInfo(&details, ", \"rows\": %s}", counts);
	security_audit("erase", "subject", column,
				   DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													  CStringGetDatum(details.data))));
}

/*
 * lh_forget(subject_key_column, value, pipeline)
 *		RETURNS TABLE(layer text, table_name text, rows_deleted bigint)
 */
Datum
lh_forget(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *column;
	char	   *value;
	char	   *pipeline = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	List	   *pids = NIL;
	List	   *targets;
	List	   *all_silver = NIL;
	StringInfoData counts;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) ||
		VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0 ||
		VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(1)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("subject key column and value must not be null or empty")));
	column = text_to_cstring(PG_GETARG_TEXT_PP(0));
	value = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (!security_is_admin(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to erase a data subject"),
				 errdetail("Only lakehouse administrators can erase data subjects.")));
	InitMaterializedSRF(fcinfo, 0);
	SPI_connect();

	if (pipeline)
		pids = list_make1_int(catalog_pipeline_id(pipeline, false));
	else
		pids = catalog_pipeline_ids();

	/* what to erase from: bronze with a jsonb payload, tables with the column */
	targets = collect_targets(pids, column, &all_silver);

	initStringInfo(&counts);
	appendStringInfoChar(&counts, '{');
	erase_targets(rsinfo, targets, column, value, &counts);
	/* quarantine and dead letters */
	erase_catalog_rows(rsinfo, pids, pipeline == NULL, all_silver, column,
					   value, &counts);
	appendStringInfoChar(&counts, '}');

	audit_erasure(column, value, pipeline, counts.data);
	SPI_finish();
	return (Datum) 0;
}
