/*-------------------------------------------------------------------------
 *
 * sources.c
 *	  Catalog access to sources, their marks and their dead letters
 *	  (lakehouse.sources, lakehouse.source_marks, lakehouse.dead_letters).
 *
 * A source's owner is its pipeline's owner.  Marks (offsets, cursors,
 * watermarks) are written in the caller's transaction, together with the
 * rows they account for.  All statements go through catalog_exec.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

#define SOURCE_COLUMNS \
	"s.source_id, s.pipeline_id, s.name, s.kind, s.options, s.bronze_schema," \
	" s.bronze_table, p.owner, s.enabled, s.updated_at" \
	" FROM lakehouse.sources s JOIN lakehouse.pipelines p USING (pipeline_id)"

static LhSource *
source_from_row(int row)
{
	LhSource   *src = palloc(sizeof(LhSource));
	char	   *owner;

	src->source_id = catalog_int32(row, 1, 0);
	src->pipeline_id = catalog_int32(row, 2, 0);
	src->name = catalog_text(row, 3);
	src->kind = catalog_text(row, 4);
	src->options = catalog_jsonb(row, 5);
	src->bronze_schema = catalog_text(row, 6);
	src->bronze_table = catalog_text(row, 7);
	owner = catalog_text(row, 8);
	src->owner = owner ? get_role_oid(owner, true) : InvalidOid;
	src->enabled = catalog_bool(row, 9, false);
	src->updated_at = catalog_timestamptz(row, 10, 0);
	return src;
}

LhSource *
catalog_source_by_name(const char *name, bool missing_ok)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source name must not be null")));
	values[0] = CStringGetTextDatum(name);
	catalog_exec("SELECT " SOURCE_COLUMNS " WHERE s.name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		char	   *hint;

		if (missing_ok)
			return NULL;
		hint = catalog_suggest_source(name);
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", name),
				 hint ? errhint("%s", hint) : 0));
	}
	return source_from_row(0);
}

LhSource *
catalog_source_by_id(int32 source_id, bool missing_ok)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT " SOURCE_COLUMNS " WHERE s.source_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0 && missing_ok)
		return NULL;
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source with id %d does not exist", source_id)));
	return source_from_row(0);
}

/* The source that lands in schema.table, or NULL. */
LhSource *
catalog_source_by_bronze(const char *schema, const char *table)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	catalog_exec("SELECT " SOURCE_COLUMNS
				 " WHERE s.bronze_schema = $1 AND s.bronze_table = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? source_from_row(0) : NULL;
}

/* Every source of the database, by id. */
List *
catalog_all_sources(void)
{
	List	   *result = NIL;

	catalog_exec("SELECT " SOURCE_COLUMNS " ORDER BY s.source_id",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, source_from_row(i));
	return result;
}

/* A pipeline's sources in declaration order. */
List *
catalog_pipeline_sources(int32 pipeline_id, bool enabled_only)
{
	Oid			types[2] = {INT4OID, BOOLOID};
	Datum		values[2];
	List	   *result = NIL;

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = BoolGetDatum(enabled_only);
	catalog_exec("SELECT " SOURCE_COLUMNS
				 " WHERE s.pipeline_id = $1 AND (s.enabled OR NOT $2)"
				 " ORDER BY s.position, s.source_id",
				 2, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, source_from_row(i));
	return result;
}

/*
 * The names of a pipeline's sources, sorted; unreferenced_only: only those
 * no silver table reads.
 */
List *
catalog_pipeline_source_names(int32 pipeline_id, bool unreferenced_only)
{
	Oid			types[2] = {INT4OID, BOOLOID};
	Datum		values[2];
	List	   *result = NIL;

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = BoolGetDatum(unreferenced_only);
	catalog_exec("SELECT s.name FROM lakehouse.sources s"
				 " WHERE s.pipeline_id = $1"
				 "   AND NOT ($2 AND EXISTS (SELECT 1 FROM lakehouse.tables t"
				 "                            WHERE t.source_id = s.source_id))"
				 " ORDER BY s.name",
				 2, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, catalog_text(i, 1));
	return result;
}

int32
catalog_source_create(int32 pipeline_id, const char *name, const char *kind,
					  Jsonb *options, const char *bronze_schema,
					  const char *bronze_table)
{
	Oid			types[6] = {INT4OID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID};
	Datum		values[6];

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(name);
	values[2] = CStringGetTextDatum(kind);
	values[3] = JsonbPGetDatum(options);
	values[4] = CStringGetTextDatum(bronze_schema);
	values[5] = CStringGetTextDatum(bronze_table);
	catalog_exec("INSERT INTO lakehouse.sources"
				 " (pipeline_id, name, kind, options, bronze_schema, bronze_table,"
				 " position)"
				 " SELECT $1, $2, $3, $4, $5, $6,"
				 " coalesce(max(position) + 1, 0) FROM lakehouse.sources"
				 " WHERE pipeline_id = $1"
				 " RETURNING source_id",
				 6, types, values, NULL, SPI_OK_INSERT_RETURNING);
	return catalog_int32(0, 1, 0);
}

/* A new kind or options for a source (only written when they differ). */
void
catalog_source_update(int32 source_id, const char *kind, Jsonb *options)
{
	Oid			types[3] = {INT4OID, TEXTOID, JSONBOID};
	Datum		values[3];

	values[0] = Int32GetDatum(source_id);
	values[1] = CStringGetTextDatum(kind);
	values[2] = JsonbPGetDatum(options);
	catalog_exec("UPDATE lakehouse.sources"
				 " SET kind = $2, options = $3, updated_at = now()"
				 " WHERE source_id = $1 AND (kind, options) IS DISTINCT FROM ($2, $3)",
				 3, types, values, NULL, SPI_OK_UPDATE);
}

void
catalog_source_drop(int32 source_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("DELETE FROM lakehouse.sources WHERE source_id = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
}

/*
 * Enable or disable a source; reason says why it was disabled (NULL: by
 * a user).  Returns whether anything changed.
 */
bool
catalog_source_set_enabled(int32 source_id, bool enabled, const char *reason)
{
	Oid			types[3] = {INT4OID, BOOLOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int32GetDatum(source_id);
	values[1] = BoolGetDatum(enabled);
	values[2] = catalog_text_or_null(enabled ? NULL : reason, &nulls[2]);
	catalog_exec("UPDATE lakehouse.sources SET enabled = $2, disabled_reason = $3"
				 " WHERE source_id = $1"
				 " AND (enabled, disabled_reason) IS DISTINCT FROM ($2, $3)",
				 3, types, values, nulls, SPI_OK_UPDATE);
	return SPI_processed > 0;
}

/*
 * Lock a source's row (FOR NO KEY UPDATE) for the rest of the transaction,
 * so that two ingests never read from the same mark.  False if it is gone.
 */
bool
catalog_source_lock(int32 source_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT 1 FROM lakehouse.sources"
				 " WHERE source_id = $1 FOR NO KEY UPDATE",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * Lock a source's row like catalog_source_lock, without waiting: LH_LOCK_BUSY
 * when another transaction holds it, LH_LOCK_GONE when the source is gone.
 */
LhLockResult
catalog_source_try_lock(int32 source_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT 1 FROM lakehouse.sources"
				 " WHERE source_id = $1 FOR NO KEY UPDATE SKIP LOCKED",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed > 0)
		return LH_LOCK_TAKEN;
	catalog_exec("SELECT 1 FROM lakehouse.sources WHERE source_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? LH_LOCK_BUSY : LH_LOCK_GONE;
}

bool
catalog_pipeline_has_kind(int32 pipeline_id, const char *kind)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(kind);
	catalog_exec("SELECT 1 FROM lakehouse.sources WHERE pipeline_id = $1 AND kind = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/*
 * The keys of a source's marks that start with prefix (NULL: all), in key
 * order; their values in *values (same order).
 */
List *
catalog_source_marks(int32 source_id, const char *prefix, List **values_out)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	List	   *keys = NIL;

	char		nulls[2] = {' ', ' '};

	values[0] = Int32GetDatum(source_id);
	values[1] = catalog_text_or_null(prefix, &nulls[1]);
	catalog_exec("SELECT mark_key, mark_value FROM lakehouse.source_marks"
				 " WHERE source_id = $1 AND ($2 IS NULL OR starts_with(mark_key, $2))"
				 " ORDER BY mark_key",
				 2, types, values, nulls, SPI_OK_SELECT);
	*values_out = NIL;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		keys = lappend(keys, catalog_text(i, 1));
		*values_out = lappend(*values_out, catalog_text(i, 2));
	}
	return keys;
}

/*
 * catalog_add_dead_letter
 *		Record a source record that could not land in bronze.
 *
 * Dead letters are rare, so one parameterised INSERT each is fine here.
 */
void
catalog_add_dead_letter(LhSource *src, const char *position,
						const char *raw, int rawlen,
						const char *reason, int sqlerrcode, Jsonb *metadata)
{
	Oid			types[8] = {INT8OID, INT4OID, TEXTOID, TEXTOID, BYTEAOID,
	TEXTOID, TEXTOID, JSONBOID};
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *b;

	if (lh_current_run)
		values[0] = Int64GetDatum(lh_current_run->run_id);
	else
		nulls[0] = 'n';
	values[1] = Int32GetDatum(src->source_id);
	values[2] = CStringGetTextDatum(src->name);
	values[3] = catalog_text_or_null(position, &nulls[3]);
	if (raw)
	{
		b = palloc(VARHDRSZ + rawlen);
		SET_VARSIZE(b, VARHDRSZ + rawlen);
		memcpy(VARDATA(b), raw, rawlen);
		values[4] = PointerGetDatum(b);
	}
	else
		nulls[4] = 'n';
	values[5] = CStringGetTextDatum(reason);
	values[6] = catalog_text_or_null(sqlerrcode ? unpack_sql_state(sqlerrcode) : NULL,
									 &nulls[6]);
	if (metadata)
		values[7] = JsonbPGetDatum(metadata);
	else
		nulls[7] = 'n';
	catalog_exec("INSERT INTO lakehouse.dead_letters"
				 " (run_id, source_id, source_name, source_position, raw, reason,"
				 " error_sqlstate, metadata) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
				 8, types, values, nulls, SPI_OK_INSERT);
}

/*
 * Set several marks of a source in one statement (keys and values are
 * lists of strings of the same length).
 */
void
catalog_set_source_marks(int32 source_id, List *keys, List *values_list)
{
	Oid			types[3] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[3];

	if (keys == NIL)
		return;
	values[0] = Int32GetDatum(source_id);
	values[1] = lh_text_array(keys);
	values[2] = lh_text_array(values_list);
	catalog_exec("INSERT INTO lakehouse.source_marks AS m"
				 " (source_id, mark_key, mark_value, updated_at)"
				 " SELECT $1, k, v, now() FROM unnest($2::text[], $3::text[]) AS u(k, v)"
				 " ON CONFLICT (source_id, mark_key) DO UPDATE"
				 " SET mark_value = excluded.mark_value, updated_at = now()",
				 3, types, values, NULL, SPI_OK_INSERT);
}

/* Delete one mark of a source if it still has this value. */
void
catalog_delete_source_mark_if(int32 source_id, const char *key, const char *value)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = Int32GetDatum(source_id);
	values[1] = CStringGetTextDatum(key);
	values[2] = CStringGetTextDatum(value);
	catalog_exec("DELETE FROM lakehouse.source_marks"
				 " WHERE source_id = $1 AND mark_key = $2 AND mark_value = $3",
				 3, types, values, NULL, SPI_OK_DELETE);
}

/*
 * A source's dead letters (all, or those whose ids are in the int8 array
 * ids), oldest first, locked FOR UPDATE for the caller's transaction.
 */
List *
catalog_dead_letters(int32 source_id, Datum ids, bool ids_null)
{
	Oid			types[2] = {INT4OID, INT8ARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	List	   *result = NIL;

	values[0] = Int32GetDatum(source_id);
	values[1] = ids;
	nulls[1] = ids_null ? 'n' : ' ';
	catalog_exec("SELECT dead_letter_id, raw, metadata FROM lakehouse.dead_letters"
				 " WHERE source_id = $1 AND ($2 IS NULL OR dead_letter_id = ANY ($2))"
				 " ORDER BY dead_letter_id FOR UPDATE",
				 2, types, values, nulls, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		LhDeadLetter *dl = palloc0(sizeof(LhDeadLetter));
		bool		isnull;
		Datum		raw = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
										2, &isnull);

		dl->dead_letter_id = catalog_int64(i, 1, 0);
		if (!isnull)
		{
			bytea	   *b = DatumGetByteaPCopy(raw);

			dl->raw = VARDATA(b);
			dl->rawlen = VARSIZE(b) - VARHDRSZ;
		}
		dl->metadata = catalog_jsonb(i, 3);
		result = lappend(result, dl);
	}
	return result;
}

/* A dead letter landed after all: it goes. */
void
catalog_dead_letter_delete(int64 dead_letter_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(dead_letter_id)};

	catalog_exec("DELETE FROM lakehouse.dead_letters WHERE dead_letter_id = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
}

/* A dead letter that still cannot land: its new reason. */
void
catalog_dead_letter_set_reason(int64 dead_letter_id, const char *reason,
							   int sqlerrcode)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3];

	values[0] = Int64GetDatum(dead_letter_id);
	values[1] = CStringGetTextDatum(reason);
	values[2] = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
	catalog_exec("UPDATE lakehouse.dead_letters SET reason = $2, error_sqlstate = $3"
				 " WHERE dead_letter_id = $1",
				 3, types, values, NULL, SPI_OK_UPDATE);
}

/* Delete a source's dead letters (all, or those ids); returns how many. */
int64
catalog_dead_letters_discard(int32 source_id, Datum ids, bool ids_null)
{
	Oid			types[2] = {INT4OID, INT8ARRAYOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	values[0] = Int32GetDatum(source_id);
	values[1] = ids;
	nulls[1] = ids_null ? 'n' : ' ';
	catalog_exec("DELETE FROM lakehouse.dead_letters"
				 " WHERE source_id = $1 AND ($2 IS NULL OR dead_letter_id = ANY ($2))",
				 2, types, values, nulls, SPI_OK_DELETE);
	return (int64) SPI_processed;
}

/* An int4[] of a List of ints. */
static Datum
int_array(List *ids)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(ids), 1));
	ListCell   *lc;

	foreach(lc, ids)
		elems[foreach_current_index(lc)] = Int32GetDatum(lfirst_int(lc));
	return PointerGetDatum(construct_array(elems, list_length(ids), INT4OID, 4,
										   true, TYPALIGN_INT));
}

/*
 * Erase a data subject from quarantine (lh_forget): rows of the pipelines
 * (and, when all, of no pipeline) whose payload has column = value at the
 * top level or at one of paths (a JSON array of key arrays), or whose
 * quarantined column and value are the subject's.  Returns the count.
 */
int64
catalog_erase_quarantine(List *pipeline_ids, bool all, const char *column,
						 const char *value, const char *paths)
{
	Oid			types[5] = {INT4ARRAYOID, BOOLOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		values[5];

	values[0] = int_array(pipeline_ids);
	values[1] = BoolGetDatum(all);
	values[2] = CStringGetTextDatum(column);
	values[3] = CStringGetTextDatum(value);
	values[4] = DirectFunctionCall1(jsonb_in, CStringGetDatum(paths));
	catalog_exec("DELETE FROM lakehouse.quarantine q"
				 " WHERE (q.pipeline_id = ANY ($1) OR q.table_id IN (SELECT lt.table_id"
				 " FROM lakehouse.tables lt WHERE lt.pipeline_id = ANY ($1))"
				 " OR ($2 AND q.pipeline_id IS NULL))"
				 " AND (q.payload->>$3 = $4 OR (q.column_name = $3 AND q.value = $4)"
				 " OR EXISTS (SELECT 1 FROM jsonb_array_elements($5) p"
				 " WHERE q.payload #>> ARRAY(SELECT jsonb_array_elements_text(p)) = $4))",
				 5, types, values, NULL, SPI_OK_DELETE);
	return (int64) SPI_processed;
}

/*
 * Erase a data subject from the dead letters of the pipelines' sources:
 * records that never parsed, matched by the value in their raw bytes.
 */
int64
catalog_erase_dead_letters(List *pipeline_ids, const char *value)
{
	Oid			types[2] = {INT4ARRAYOID, TEXTOID};
	Datum		values[2];

	values[0] = int_array(pipeline_ids);
	values[1] = CStringGetTextDatum(value);
	catalog_exec("DELETE FROM lakehouse.dead_letters d"
				 " WHERE d.source_id IN (SELECT s.source_id FROM lakehouse.sources s"
				 " WHERE s.pipeline_id = ANY ($1))"
				 " AND position(convert_to($2, 'UTF8') IN d.raw) > 0",
				 2, types, values, NULL, SPI_OK_DELETE);
	return (int64) SPI_processed;
}
