/*-------------------------------------------------------------------------
 *
 * quarantine.c
 *	  Catalog access to lakehouse.quarantine: rows the silver stage could
 *	  not project, and rows a gold data contract diverted.
 *
 * One quarantine row per refused input row.  It keeps every rule the row
 * breaks in "violations", a jsonb array of {"column", "rule", "value",
 * "reason"} objects; column_name, value, reason and rule repeat the first
 * of them.  "rule" names the kind of rule without the value (LhViolation in
 * catalog.h), so lakehouse.quarantine_summary groups by table, column and
 * rule, and one bad row is one row whatever it breaks: replaying,
 * discarding and counting work on rows, and control totals sum each
 * payload once.
 *
 * Writers buffer rows (src/transform/silver.c,
 * src/contract/contract_quarantine.c) and write a batch with one multi-row
 * INSERT of arrays, through catalog_exec: the rows are the owner's data,
 * the table is the catalog's.  A replay (lh_replay_quarantine) reads the
 * rows of a table in batches, locked, and then deletes the ones that
 * landed and updates the reasons of the others, one statement each.
 *
 * Lifetime: a row belongs to its table's registration.  table_id
 * references lakehouse.tables ON DELETE CASCADE, so unregistering a table
 * (lh_drop_table, lh_drop_pipeline, a YAML document without it) removes
 * its rows, and a table registered again starts without the rows of the
 * old registration, which its new stage projects again.  A full refresh
 * of a silver table, and a gold stage that rewrites its whole table,
 * replace the rows of earlier runs (catalog_quarantine_clear).  Rows of a
 * table that is dropped with DROP TABLE or DROP SCHEMA go with it
 * (lh_quarantine_sql_drop, an event trigger).
 *
 * Data-quality control totals read the sum of a quarantined value here,
 * apart from the statement that sums the owner's silver and bronze
 * tables, which runs as the owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

PG_FUNCTION_INFO_V1(lh_quarantine_sql_drop);

/* element type of each column of a batch, in LhQuarantineCol order */
static const Oid quarantine_types[LHQ_NCOLS] = {
	INT8OID, INT4OID, INT4OID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID
};

/* the columns a replay updates, in LhQuarantineCol order */
static const LhQuarantineCol quarantine_reason_cols[5] = {
	LHQ_COLUMN, LHQ_VALUE, LHQ_REASON, LHQ_RULE, LHQ_VIOLATIONS
};

/*
 * lh_violation
 *		A broken rule, copied into the current memory context.
 */
LhViolation *
lh_violation(const char *column, const char *rule, const char *value,
			 const char *reason)
{
	LhViolation *v = palloc(sizeof(LhViolation));

	v->column = column ? pstrdup(column) : NULL;
	v->rule = pstrdup(rule);
	v->value = value ? pstrdup(value) : NULL;
	v->reason = pstrdup(reason);
	return v;
}

/*
 * catalog_quarantine_clip
 *		A value as a quarantine row stores it: at most
 *		LH_QUARANTINE_VALUE_MAX bytes, cut at a character boundary (the
 *		payload has the rest).  NULL stays NULL.
 */
char *
catalog_quarantine_clip(const char *value)
{
	if (value == NULL)
		return NULL;
	return pnstrdup(value, pg_mbcliplen(value, strlen(value),
										LH_QUARANTINE_VALUE_MAX));
}

/* Push "key": text (or null) into an object being built. */
static void
push_text_pair(JsonbParseState **state, const char *key, const char *text)
{
	JsonbValue	k;
	JsonbValue	v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(state, WJB_KEY, &k);
	if (text == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) text;
		v.val.string.len = strlen(text);
	}
	(void) pushJsonbValue(state, WJB_VALUE, &v);
}

/*
 * catalog_quarantine_violations
 *		The violations column of a row: a jsonb array with one object
 *		{"column", "rule", "value", "reason"} per LhViolation, in order,
 *		values clipped.  palloc'd in the current memory context.
 */
Datum
catalog_quarantine_violations(List *violations)
{
	JsonbParseState *state = NULL;
	JsonbValue *res;
	ListCell   *lc;

	(void) pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, violations)
	{
		LhViolation *v = lfirst(lc);

		(void) pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
		push_text_pair(&state, "column", v->column);
		push_text_pair(&state, "rule", v->rule);
		push_text_pair(&state, "value", catalog_quarantine_clip(v->value));
		push_text_pair(&state, "reason", v->reason);
		(void) pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/* An array of n Datums of type typid (nulls may be NULL: none null). */
static Datum
quarantine_array(int n, Datum *elems, bool *nulls, Oid typid)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(typid, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, typid,
											  typlen, typbyval, typalign));
}

/*
 * catalog_quarantine_insert
 *		Insert n quarantine rows given column-wise: cols[k][i] (with
 *		nulls[k][i]) is column k of row i; cols[k] NULL makes column k null
 *		in every row.  A table_id that is no longer registered is stored as
 *		null (a contract's rule cache may outlive the table's registration).
 *		The caller is connected to SPI.
 */
void
catalog_quarantine_insert(int n, Datum **cols, bool **nulls)
{
	Oid			types[LHQ_NCOLS];
	Datum		values[LHQ_NCOLS];
	bool	   *allnull;

	if (n == 0)
		return;
	allnull = palloc(sizeof(bool) * n);
	for (int i = 0; i < n; i++)
		allnull[i] = true;
	for (int k = 0; k < LHQ_NCOLS; k++)
	{
		Datum	   *elems = cols[k];

		if (elems == NULL)
			elems = palloc0(sizeof(Datum) * n);
		types[k] = get_array_type(quarantine_types[k]);
		values[k] = quarantine_array(n, elems, cols[k] ? nulls[k] : allnull,
									 quarantine_types[k]);
	}
	catalog_exec("INSERT INTO lakehouse.quarantine"
				 " (run_id, pipeline_id, table_id, target_table, bronze_table,"
				 " bronze_id, source_position, column_name, value, reason, rule, payload,"
				 " violations)"
				 " SELECT u.run_id, u.pipeline_id,"
				 "  (SELECT t.table_id FROM lakehouse.tables t WHERE t.table_id = u.table_id),"
				 "  u.target_table, u.bronze_table, u.bronze_id, u.source_position,"
				 "  u.column_name, u.value, u.reason, u.rule, u.payload, u.violations"
				 " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
				 "  AS u(run_id, pipeline_id, table_id, target_table, bronze_table,"
				 "  bronze_id, source_position, column_name, value, reason, rule, payload,"
				 "  violations)",
				 LHQ_NCOLS, types, values, NULL, SPI_OK_INSERT);
}

/*
 * Forget a table's quarantined rows: a full refresh of a silver table
 * projects them again; a gold stage whose kind offers all its rows on
 * every write diverts them again (runs_only: only the rows runs diverted,
 * not those of other writers of the table).
 */
void
catalog_quarantine_clear(int32 table_id, bool runs_only)
{
	Oid			types[2] = {INT4OID, BOOLOID};
	Datum		values[2] = {Int32GetDatum(table_id), BoolGetDatum(runs_only)};

	catalog_exec("DELETE FROM lakehouse.quarantine"
				 " WHERE table_id = $1 AND (NOT $2 OR run_id IS NOT NULL)",
				 2, types, values, NULL, SPI_OK_DELETE);
}

/*
 * catalog_quarantine_total
 *		The sum (numeric) of the values at path (a list of keys) in the
 *		payloads of a table's quarantined rows, counting values that do not
 *		read as numbers as nothing; one_run: only the rows of run run_id.
 *		0 when there are none.  For control totals (src/quality/check.c).
 */
Datum
catalog_quarantine_total(int32 table_id, List *path, bool one_run, int64 run_id)
{
	Oid			types[4] = {INT4OID, TEXTARRAYOID, BOOLOID, INT8OID};
	Datum		values[4];
	bool		isnull;
	Datum		total;

	values[0] = Int32GetDatum(table_id);
	values[1] = lh_text_array(path);
	values[2] = BoolGetDatum(one_run);
	values[3] = Int64GetDatum(run_id);
	catalog_exec("SELECT coalesce(sum(" CATALOG_SQL_NUMERIC_OF_V "), 0)"
				 " FROM lakehouse.quarantine q,"
				 "  LATERAL (SELECT q.payload #>> $2 AS v) j"
				 " WHERE q.table_id = $1 AND (NOT $3 OR q.run_id = $4)",
				 4, types, values, NULL, SPI_OK_SELECT);
	total = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return PointerGetDatum(DatumGetNumericCopy(total));
}

/*
 * The condition "the row belongs to the table of key": parameters $1
 * (table_id) and $2 (target).
 */
#define QUARANTINE_OF_KEY \
	"(($1 <> 0 AND q.table_id = $1)" \
	" OR ($1 = 0 AND q.table_id IS NULL AND q.target_table = $2))"

/*
 * catalog_quarantine_check_ids
 *		Refuse ids (an int8[]) of which some are not quarantined rows of the
 *		table: a null element, or an id the table has no row with (already
 *		replayed or discarded, or another table's).
 */
void
catalog_quarantine_check_ids(const LhQuarantineKey *key, Datum ids)
{
	Oid			types[3] = {INT4OID, TEXTOID, INT8ARRAYOID};
	Datum		values[3];
	int64		missing;
	char	   *list;

	if (array_contains_nulls(DatumGetArrayTypeP(ids)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("quarantine ids must not contain nulls"),
				 errhint("Pass the quarantine_id values of lakehouse.quarantine, or NULL for every row of the table.")));
	values[0] = Int32GetDatum(key->table_id);
	values[1] = CStringGetTextDatum(key->target);
	values[2] = ids;
	catalog_exec("SELECT count(*), string_agg(i::text, ', ' ORDER BY i)"
				 "  FILTER (WHERE n <= 10)"
				 " FROM (SELECT i, row_number() OVER (ORDER BY i) AS n"
				 "  FROM (SELECT DISTINCT u.i FROM unnest($3) AS u(i)"
				 "   WHERE NOT EXISTS (SELECT 1 FROM lakehouse.quarantine q"
				 "    WHERE q.quarantine_id = u.i AND " QUARANTINE_OF_KEY ")) x) m",
				 3, types, values, NULL, SPI_OK_SELECT);
	missing = catalog_int64(0, 1, 0);
	if (missing == 0)
		return;
	list = catalog_text(0, 2);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 missing == 1 ?
			 errmsg("table %s has no quarantined row with id %s", key->target, list) :
			 errmsg("table %s has no quarantined rows with ids %s%s", key->target, list,
					missing > 10 ? ", ..." : ""),
			 errdetail("A replayed or discarded row leaves lakehouse.quarantine; ids are those of lakehouse.quarantine.quarantine_id."),
			 errhint("Pass NULL to take every quarantined row of the table.")));
}

/*
 * catalog_quarantine_batch
 *		The next at most limit quarantined rows of the table (those ids, or
 *		all when ids_null) with an id above after_id, locked FOR UPDATE, as
 *		arrays in id order, copied into the current memory context.  False
 *		when there are none.
 */
bool
catalog_quarantine_batch(const LhQuarantineKey *key, Datum ids, bool ids_null,
						 int64 after_id, int limit, LhQuarantineBatch *batch)
{
	Oid			types[5] = {INT4OID, TEXTOID, INT8ARRAYOID, INT8OID, INT4OID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	values[0] = Int32GetDatum(key->table_id);
	values[1] = CStringGetTextDatum(key->target);
	values[2] = ids;
	nulls[2] = ids_null ? 'n' : ' ';
	values[3] = Int64GetDatum(after_id);
	values[4] = Int32GetDatum(Max(limit, 1));
	catalog_exec("SELECT count(*), array_agg(payload ORDER BY quarantine_id),"
				 " array_agg(bronze_id ORDER BY quarantine_id),"
				 " array_agg(quarantine_id ORDER BY quarantine_id), max(quarantine_id)"
				 " FROM (SELECT q.quarantine_id, q.payload, q.bronze_id"
				 "  FROM lakehouse.quarantine q"
				 "  WHERE " QUARANTINE_OF_KEY " AND q.quarantine_id > $4"
				 "   AND ($3 IS NULL OR q.quarantine_id = ANY ($3))"
				 "  ORDER BY q.quarantine_id LIMIT $5 FOR UPDATE OF q) b",
				 5, types, values, nulls, SPI_OK_SELECT);
	batch->n = (int) catalog_int64(0, 1, 0);
	if (batch->n == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return false;
	}
	batch->payloads = datumCopy(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 2, &isnull),
								false, -1);
	batch->bronze_ids = datumCopy(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 3, &isnull),
								  false, -1);
	batch->ids = datumCopy(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 4, &isnull),
						   false, -1);
	batch->last_id = catalog_int64(0, 5, 0);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * catalog_quarantine_update
 *		New reasons for n rows that a replay refused again: ids[i] gets
 *		cols[k][i] of the columns column_name, value, reason, rule and
 *		violations (indexed by LhQuarantineCol).
 */
void
catalog_quarantine_update(int n, Datum *ids, Datum **cols, bool **nulls)
{
	Oid			types[6];
	Datum		values[6];

	if (n == 0)
		return;
	types[0] = INT8ARRAYOID;
	values[0] = quarantine_array(n, ids, NULL, INT8OID);
	for (int k = 0; k < lengthof(quarantine_reason_cols); k++)
	{
		LhQuarantineCol c = quarantine_reason_cols[k];

		types[k + 1] = get_array_type(quarantine_types[c]);
		values[k + 1] = quarantine_array(n, cols[c], nulls[c], quarantine_types[c]);
	}
	catalog_exec("UPDATE lakehouse.quarantine q"
				 " SET column_name = u.c, value = u.v, reason = u.r, rule = u.ru,"
				 " violations = u.vi"
				 " FROM unnest($1, $2, $3, $4, $5, $6) AS u(id, c, v, r, ru, vi)"
				 " WHERE q.quarantine_id = u.id",
				 6, types, values, NULL, SPI_OK_UPDATE);
}

/* Delete n rows by id (a replay landed them). */
void
catalog_quarantine_delete(int n, Datum *ids)
{
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];

	if (n == 0)
		return;
	values[0] = quarantine_array(n, ids, NULL, INT8OID);
	catalog_exec("DELETE FROM lakehouse.quarantine WHERE quarantine_id = ANY ($1)",
				 1, types, values, NULL, SPI_OK_DELETE);
}

/*
 * catalog_quarantine_discard
 *		Delete the table's quarantined rows (those ids, or all when
 *		ids_null); returns how many.
 */
int64
catalog_quarantine_discard(const LhQuarantineKey *key, Datum ids, bool ids_null)
{
	Oid			types[3] = {INT4OID, TEXTOID, INT8ARRAYOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int32GetDatum(key->table_id);
	values[1] = CStringGetTextDatum(key->target);
	values[2] = ids;
	nulls[2] = ids_null ? 'n' : ' ';
	catalog_exec("DELETE FROM lakehouse.quarantine q WHERE " QUARANTINE_OF_KEY
				 " AND ($3 IS NULL OR q.quarantine_id = ANY ($3))",
				 3, types, values, nulls, SPI_OK_DELETE);
	return (int64) SPI_processed;
}

/*
 * lh_quarantine_sql_drop() RETURNS event_trigger (sql_drop)
 *		The quarantined rows of dropped tables go with them: those of a
 *		registered table (by its registration's name) and those kept by
 *		name.  Runs as the catalog owner (catalog_exec), whoever drops.
 */
Datum
lh_quarantine_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_quarantine_sql_drop can only be called as an event trigger")));
	/* the catalog itself is being dropped */
	if (!OidIsValid(lh_table_oid(LH_SCHEMA, "quarantine", true)))
		PG_RETURN_VOID();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_exec("WITH d AS (SELECT o.schema_name, o.object_name"
				 "  FROM pg_catalog.pg_event_trigger_dropped_objects() o"
				 "  WHERE o.object_type = 'table')"
				 " DELETE FROM lakehouse.quarantine q"
				 " WHERE q.table_id IN (SELECT t.table_id FROM lakehouse.tables t"
				 "   JOIN d ON d.schema_name = t.schema_name AND d.object_name = t.table_name)"
				 "  OR (q.table_id IS NULL AND q.target_table IN"
				 "   (SELECT pg_catalog.quote_ident(d.schema_name) || '.'"
				 "     || pg_catalog.quote_ident(d.object_name) FROM d))",
				 0, NULL, NULL, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_VOID();
}
