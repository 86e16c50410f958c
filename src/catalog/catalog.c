/*-------------------------------------------------------------------------
 *
 * catalog.c
 *	  Reading and writing the lakehouse catalog (schema "lakehouse").
 *
 * All access goes through SPI with parameters; callers must be connected
 * to SPI.  Results are palloc'd in the current memory context (SPI's
 * procedure context while connected), so they live until SPI_finish.  Marks are written with
 * INSERT ... ON CONFLICT in the caller's transaction: that is what makes a
 * mark move together with the rows it accounts for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "lakehouse.h"
#include "security/security.h"

/*
 * catalog_exec
 *		Run a parameterised statement, checking the expected result code.
 *
 * Never read_only: a read-only SPI query runs with the calling statement's
 * snapshot and would not see what earlier stages of the same run wrote.
 */
void
catalog_exec(const char *sql, int nargs, Oid *types, Datum *values,
			 const char *nulls, int expected)
{
	int			rc;

	rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);
	if (rc != expected)
		elog(ERROR, "catalog query failed (SPI result %d): %s", rc, sql);
}

/*
 * Text of a result column, or NULL.  SPI_getvalue already pallocs the copy
 * in the current memory context, which outlives the tuple table.
 */
static char *
copy_text(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

static int32
get_int32(int row, int col, int32 defval)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? defval : DatumGetInt32(d);
}

static Jsonb *
copy_jsonb(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);
	Jsonb	   *jb;
	Jsonb	   *copy;

	if (isnull)
		return NULL;
	jb = DatumGetJsonbP(d);
	copy = palloc(VARSIZE(jb));
	memcpy(copy, jb, VARSIZE(jb));
	return copy;
}

/* A text[] column as a List of palloc'd strings. */
static List *
copy_text_array(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	List	   *result = NIL;

	if (isnull)
		return NIL;
	deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		result = lappend(result, TextDatumGetCString(elems[i]));
	return result;
}

int32
catalog_pipeline_id(const char *name, bool missing_ok)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];

	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pipeline name must not be null")));
	values[0] = CStringGetTextDatum(name);
	catalog_exec("SELECT pipeline_id FROM lakehouse.pipelines WHERE name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return 0;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("pipeline \"%s\" does not exist", name),
				 errhint("Declare it with lakehouse.lh_create_pipeline() or lakehouse.lh_apply_config().")));
	}
	return get_int32(0, 1, 0);
}

#define SOURCE_COLUMNS \
	"source_id, pipeline_id, name, kind, options, bronze_schema, bronze_table"

static LhSource *
source_from_row(int row)
{
	LhSource   *src = palloc(sizeof(LhSource));

	src->source_id = get_int32(row, 1, 0);
	src->pipeline_id = get_int32(row, 2, 0);
	src->name = copy_text(row, 3);
	src->kind = copy_text(row, 4);
	src->options = copy_jsonb(row, 5);
	src->bronze_schema = copy_text(row, 6);
	src->bronze_table = copy_text(row, 7);
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
	catalog_exec("SELECT " SOURCE_COLUMNS " FROM lakehouse.sources WHERE name = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		if (missing_ok)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source \"%s\" does not exist", name)));
	}
	return source_from_row(0);
}

LhSource *
catalog_source_by_id(int32 source_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT " SOURCE_COLUMNS " FROM lakehouse.sources WHERE source_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("source with id %d does not exist", source_id)));
	return source_from_row(0);
}

List *
catalog_pipeline_sources(int32 pipeline_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(pipeline_id)};
	List	   *result = NIL;

	catalog_exec("SELECT " SOURCE_COLUMNS " FROM lakehouse.sources"
				 " WHERE pipeline_id = $1 AND enabled ORDER BY position, source_id",
				 1, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		result = lappend(result, source_from_row(i));
	return result;
}

List *
catalog_pipeline_tables(int32 pipeline_id, const char *layer)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	List	   *result = NIL;
	uint64		n;

	values[0] = Int32GetDatum(pipeline_id);
	values[1] = CStringGetTextDatum(layer);
	catalog_exec("SELECT table_id, pipeline_id, layer, schema_name, table_name,"
				 " source_id, keys, order_by, gold_kind, sql, options"
				 " FROM lakehouse.tables WHERE pipeline_id = $1 AND layer = $2"
				 " ORDER BY position, table_id",
				 2, types, values, NULL, SPI_OK_SELECT);
	n = SPI_processed;
	for (uint64 i = 0; i < n; i++)
	{
		LhTable    *t = palloc(sizeof(LhTable));

		t->table_id = get_int32(i, 1, 0);
		t->pipeline_id = get_int32(i, 2, 0);
		t->layer = copy_text(i, 3);
		t->schema_name = copy_text(i, 4);
		t->table_name = copy_text(i, 5);
		t->source_id = get_int32(i, 6, 0);
		t->keys = copy_text_array(i, 7);
		t->order_by = copy_text(i, 8);
		t->gold_kind = copy_text(i, 9);
		t->sql = copy_text(i, 10);
		t->options = copy_jsonb(i, 11);
		result = lappend(result, t);
	}
	return result;
}

char *
catalog_get_source_mark(int32 source_id, const char *key)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(source_id);
	values[1] = CStringGetTextDatum(key);
	catalog_exec("SELECT mark_value FROM lakehouse.source_marks"
				 " WHERE source_id = $1 AND mark_key = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return copy_text(0, 1);
}

void
catalog_set_source_mark(int32 source_id, const char *key, const char *value)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int32GetDatum(source_id);
	values[1] = CStringGetTextDatum(key);
	if (value)
		values[2] = CStringGetTextDatum(value);
	else
		nulls[2] = 'n';
	catalog_exec("INSERT INTO lakehouse.source_marks AS m"
				 " (source_id, mark_key, mark_value, updated_at)"
				 " VALUES ($1, $2, $3, now())"
				 " ON CONFLICT (source_id, mark_key) DO UPDATE"
				 " SET mark_value = excluded.mark_value, updated_at = now()",
				 3, types, values, nulls, SPI_OK_INSERT);
}

char *
catalog_get_stage_mark(int32 table_id, const char *key)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(table_id);
	values[1] = CStringGetTextDatum(key);
	catalog_exec("SELECT mark_value FROM lakehouse.stage_marks"
				 " WHERE table_id = $1 AND mark_key = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return copy_text(0, 1);
}

void
catalog_set_stage_mark(int32 table_id, const char *key, const char *value)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int32GetDatum(table_id);
	values[1] = CStringGetTextDatum(key);
	if (value)
		values[2] = CStringGetTextDatum(value);
	else
		nulls[2] = 'n';
	catalog_exec("INSERT INTO lakehouse.stage_marks AS m"
				 " (table_id, mark_key, mark_value, updated_at)"
				 " VALUES ($1, $2, $3, now())"
				 " ON CONFLICT (table_id, mark_key) DO UPDATE"
				 " SET mark_value = excluded.mark_value, updated_at = now()",
				 3, types, values, nulls, SPI_OK_INSERT);
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
	if (position)
		values[3] = CStringGetTextDatum(position);
	else
		nulls[3] = 'n';
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
	if (sqlerrcode)
		values[6] = CStringGetTextDatum(unpack_sql_state(sqlerrcode));
	else
		nulls[6] = 'n';
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
 * catalog_secret
 *		The value of a secret (lakehouse.secrets), allocated in mcxt; an
 *		error naming the secret (never a value) if it does not exist.
 *		Decryption and env:/file: references: src/security/secrets.c.
 */
char *
catalog_secret(const char *name, MemoryContext mcxt)
{
	return security_secret_value(name, mcxt);
}

/*
 * catalog_owner
 *		The role that owns the catalog (the one that created the extension).
 *		Triggers and event triggers that fire for users who cannot read the
 *		catalog switch to it for their fixed, parameterized catalog SQL.
 */
Oid
catalog_owner(void)
{
	Oid			relid = lh_table_oid(LH_SCHEMA, "pipelines", false);
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}
