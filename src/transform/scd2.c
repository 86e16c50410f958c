/*-------------------------------------------------------------------------
 *
 * scd2.c
 *	  Slowly changing dimensions, type 2: lh_scd2_merge(), the gold stage
 *	  kind "scd2", the options of a merge and its order of steps.
 *
 * A merge compares a source (table, view or query) with the current rows
 * of a history table and, in one set-based statement (scd2_sql.c; data-
 * modifying CTEs: one FULL/LEFT JOIN of the source with the current rows,
 * one UPDATE that closes rows, one INSERT of new versions), writes:
 *	- a new current row for every new key, every changed key and every key
 *	  that comes back after a delete;
 *	- valid_to = the new version's valid_from on the row it replaces, so the
 *	  ranges of a key are gap-free and never overlap;
 *	- for keys missing from the source, depending on hard_deletes: nothing,
 *	  the current row closed at the run's time (invalidate), or that plus a
 *	  current "deleted" version (new_record).
 * Late-arriving versions (timestamp strategy, updated_at older than the
 * current version) are counted, or with late_arriving = insert placed into
 * history by a second statement that splits the interval they fall into.
 *
 * The files: this one parses the options, describes the source and runs
 * the steps of a merge (lock, prepare the table, check duplicates, place
 * late rows, the main statement); scd2_table.c owns the history table and
 * its two layouts (lakehouse's, a dbt snapshot's); scd2_sql.c builds and
 * runs the statements.  scd2.h holds what they share.
 *
 * Locking: an advisory transaction lock per target name (class
 * SCD2_LOCK_CLASS), then SHARE ROW EXCLUSIVE on the target.  Both conflict
 * with themselves, so two merges into one target serialize; readers are
 * never blocked.  Under READ COMMITTED each statement after the lock takes
 * a fresh snapshot and sees the previous merge's rows.
 *
 * Time: every timestamp written is timestamptz.  One run timestamp per
 * merge: the "as_of" option, else the transaction's start time (now()).
 * The merge runs with TimeZone = UTC and DateStyle = ISO set locally
 * (restored afterwards), so the row hashes and version ids, which are
 * md5 over the text form of values, do not depend on the session.  A
 * version never ends before it starts (greatest(run time, valid_from)).  JIT
 * is off for the merge's statements, and so are hash joins for the main
 * statement when the source is read in key order (see scd2_merge).
 *
 * Every identifier goes through quote_identifier; the run time and the
 * valid_to of current rows are parameters.  The source query is the user's
 * own SQL (checked to be one SELECT) and runs with the caller's rights.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "lakehouse.h"
#include "transform/scd2.h"
#include "transform/transform.h"

PG_FUNCTION_INFO_V1(lh_scd2_merge);

/* Advisory-lock class of SCD2 merges: "SCD2". */
#define SCD2_LOCK_CLASS 0x53434432


static const char *const scd2_option_keys[] = {
	"strategy", "updated_at", "check_cols", "valid_to_current",
	"hard_deletes", "duplicates", "late_arriving", "as_of", "dbt_compat",
	"valid_from_column", "valid_to_column", "is_current_column",
	"version_id_column", "updated_at_column", "is_deleted_column",
	"row_hash_column", NULL
};

/* Column names the generated SQL uses for itself. */
static const char *const internal_names[] = {
	"_k", "_h", "_u", "_sp", "_ctid", "_ck", "_vf", "_upd", "_del", "_ch",
	"_hk", "_last", "_jk", "_n", "_nvf", "_nupd", "_a", "_oh", "_ndel", "_nh",
	"_hctid", "_hvf", "_hvt", "_hcur", "_sk", "_nk", "_next", "_dup", NULL
};

/* ----------------------------------------------------------------------
 * Options
 * ----------------------------------------------------------------------
 */

static void
bad_option(const char *key, const char *value, const char *valid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for SCD2 option \"%s\": \"%s\"", key, value),
			 errhint("Valid values are %s.", valid)));
}

static Datum
timestamptz_option(const char *key, const char *value)
{
	Datum		d = (Datum) 0;

	PG_TRY();
	{
		d = DirectFunctionCall3(timestamptz_in, CStringGetDatum(value),
								ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	}
	PG_CATCH();
	{
		FlushErrorState();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_DATETIME_FORMAT),
				 errmsg("invalid value for SCD2 option \"%s\": \"%s\"", key, value),
				 errhint("Write a timestamp with time zone, for example \"2024-01-01 00:00:00+00\".")));
	}
	PG_END_TRY();
	return d;
}

/* check_cols: a JSON array of column names, or the string "all". */
static List *
check_cols_option(Jsonb *options)
{
	JsonbValue	v;
	JsonbValue *found;
	List	   *result = NIL;

	if (options == NULL)
		return NIL;
	found = getKeyJsonValueFromContainer(&options->root, "check_cols",
										 strlen("check_cols"), &v);
	if (found == NULL || v.type == jbvNull)
		return NIL;
	if (v.type == jbvString)
	{
		char	   *s = pnstrdup(v.val.string.val, v.val.string.len);

		if (strcmp(s, "all") != 0)
			bad_option("check_cols", s, "\"all\" or an array of column names");
		return NIL;
	}
	if (v.type == jbvBinary && JsonContainerIsArray(v.val.binary.data))
	{
		JsonbIterator *it = JsonbIteratorInit(v.val.binary.data);
		JsonbValue	e;
		JsonbIteratorToken tok;

		while ((tok = JsonbIteratorNext(&it, &e, true)) != WJB_DONE)
		{
			if (tok != WJB_ELEM)
				continue;
			if (e.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("SCD2 option \"check_cols\" must list column names as strings")));
			result = lappend(result, pnstrdup(e.val.string.val, e.val.string.len));
		}
		if (result == NIL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("SCD2 option \"check_cols\" must not be an empty array"),
					 errhint("Use \"all\" to track every column.")));
		return result;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("SCD2 option \"check_cols\" must be \"all\" or an array of column names")));
	return NIL;					/* keep compiler quiet */
}

static void
scd2_parse_options(Jsonb *options, List *keys, Scd2Options *o)
{
	char	   *s;

	memset(o, 0, sizeof(*o));
	lh_check_option_keys(options, scd2_option_keys, "an SCD2 merge");

	if (keys == NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an SCD2 merge requires keys"),
				 errhint("Pass keys => ARRAY['column', ...] naming the columns that identify a row.")));

	s = lh_option_text(options, "strategy");
	if (s == NULL || strcmp(s, "timestamp") == 0)
		o->timestamp = (s != NULL);
	else if (strcmp(s, "check") != 0)
		bad_option("strategy", s, "\"timestamp\" and \"check\"");
	o->updated_at = lh_option_text(options, "updated_at");
	/* without a strategy, an updated_at column means timestamp */
	if (s == NULL && o->updated_at != NULL)
		o->timestamp = true;
	if (o->timestamp && o->updated_at == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 strategy \"timestamp\" requires option \"updated_at\""),
				 errhint("Name the source column that holds each row's last change time.")));
	o->check_cols = check_cols_option(options);
	if (o->timestamp && o->check_cols != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 option \"check_cols\" requires strategy \"check\"")));

	s = lh_option_text(options, "valid_to_current");
	o->vtc_null = (s == NULL);
	if (s != NULL)
		o->vtc = timestamptz_option("valid_to_current", s);

	s = lh_option_text(options, "hard_deletes");
	if (s == NULL || strcmp(s, "ignore") == 0)
		o->deletes = DEL_IGNORE;
	else if (strcmp(s, "invalidate") == 0)
		o->deletes = DEL_INVALIDATE;
	else if (strcmp(s, "new_record") == 0)
		o->deletes = DEL_NEW_RECORD;
	else
		bad_option("hard_deletes", s, "\"ignore\", \"invalidate\" and \"new_record\"");

	s = lh_option_text(options, "duplicates");
	if (s != NULL && strcmp(s, "latest") == 0)
		o->dup_latest = true;
	else if (s != NULL && strcmp(s, "error") != 0)
		bad_option("duplicates", s, "\"error\" and \"latest\"");
	if (o->dup_latest && o->updated_at == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 option \"duplicates\" = \"latest\" requires option \"updated_at\"")));

	s = lh_option_text(options, "late_arriving");
	if (s != NULL && strcmp(s, "insert") == 0)
		o->late_insert = true;
	else if (s != NULL && strcmp(s, "ignore") != 0)
		bad_option("late_arriving", s, "\"ignore\" and \"insert\"");
	if (o->late_insert && !o->timestamp)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 option \"late_arriving\" = \"insert\" requires strategy \"timestamp\"")));

	s = lh_option_text(options, "as_of");
	o->as_of_null = (s == NULL);
	if (s != NULL)
		o->as_of = timestamptz_option("as_of", s);

	s = lh_option_text(options, "dbt_compat");
	o->dbt_compat = (s == NULL) ? -1 : lh_option_bool(options, "dbt_compat", false);

	for (int i = 0; i < M_COUNT; i++)
	{
		s = lh_option_text(options, scd2_meta_option[i]);
		o->meta_given[i] = s;
		if (s != NULL)
			lh_check_name("column", s);
	}
	/* without a table to look at, dbt_compat alone decides the layout */
	scd2_set_layout(o, o->dbt_compat == 1);
	{
		ListCell   *lc;

		foreach(lc, keys)
			for (ListCell *lc2 = lnext(keys, lc); lc2; lc2 = lnext(keys, lc2))
				if (strcmp(lfirst(lc), lfirst(lc2)) == 0)
					ereport(ERROR,
							(errcode(ERRCODE_DUPLICATE_COLUMN),
							 errmsg("key column \"%s\" is listed more than once",
									(char *) lfirst(lc))));
	}
}

/*
 * scd2_validate_options
 *		Check SCD2 options and keys without touching any table (lh_define_gold).
 */
static void
scd2_validate_options(Jsonb *options, List *keys)
{
	Scd2Options o;

	scd2_parse_options(options, keys, &o);
}

/* ----------------------------------------------------------------------
 * Source
 * ----------------------------------------------------------------------
 */

/*
 * Change detection compares values with each type's own equality (the
 * default btree or hash opclass, as record_eq does), so that equal values
 * whose text forms differ (numeric 1.0 and 1.00, -0 and 0, '1 day' and
 * '24 hours', jsonb with other whitespace, citext in another case) are not
 * a change.  Types without an equality (json, xml, point, ...) are compared
 * by their text form.  Returns the type name to cast to, or NULL.
 */
static char *
compare_cast(Oid typid)
{
	TypeCacheEntry *tce = lookup_type_cache(typid, TYPECACHE_EQ_OPR);

	return OidIsValid(tce->eq_opr) ? NULL : "text";
}

static Scd2Source *
describe_source(const char *sql, List *keys, Scd2Options *o)
{
	SPIPlanPtr	plan = lh_spi_prepare(sql, "analyse an SCD2 source");
	CachedPlanSource *ps;
	TupleDesc	desc;
	Scd2Source *src = palloc0(sizeof(Scd2Source));
	ListCell   *lc;

	ps = lh_spi_plan_source(plan);
	desc = ps->resultDesc;
	if (desc == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 source must return rows")));

	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		char	   *name = pstrdup(NameStr(att->attname));

		for (int n = 0; internal_names[n]; n++)
			if (strcmp(name, internal_names[n]) == 0 ||
				(strncmp(name, "_ck_", 4) == 0))
				ereport(ERROR,
						(errcode(ERRCODE_RESERVED_NAME),
						 errmsg("SCD2 source column name \"%s\" is reserved", name),
						 errhint("Rename the column in the source with AS.")));
		if (lh_name_in_list(src->names, name))
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_COLUMN),
					 errmsg("SCD2 source returns column \"%s\" more than once", name),
					 errhint("Give each output column its own name with AS.")));
		for (int m = 0; m < M_COUNT; m++)
			if (o->meta[m] && strcmp(name, o->meta[m]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("SCD2 source column \"%s\" has the name of a meta column", name),
						 errhint("Rename the column in the source, or set option \"%s\" to another name.",
								 scd2_meta_option[m])));
		if (o->updated_at && strcmp(name, o->updated_at) == 0 &&
			att->atttypid != TIMESTAMPTZOID && att->atttypid != TIMESTAMPOID &&
			att->atttypid != DATEOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("updated_at column \"%s\" has type %s", name,
							format_type_be(att->atttypid)),
					 errhint("Use a column of type timestamp with time zone.")));
		src->names = lappend(src->names, name);
		src->types = lappend(src->types,
							 format_type_with_typemod(att->atttypid, att->atttypmod));
		if (o->updated_at && strcmp(name, o->updated_at) == 0)
			src->upd_type = att->atttypid;
		if (!lh_name_in_list(keys, name) &&
			(o->check_cols == NIL || lh_name_in_list(o->check_cols, name)))
		{
			char	   *cast = compare_cast(att->atttypid);

			src->tracked = lappend(src->tracked, name);
			src->tracked_oids = lappend_oid(src->tracked_oids, att->atttypid);
			src->src_cast = lappend(src->src_cast, cast);
			src->tgt_cast = lappend(src->tgt_cast, cast);
		}
	}

	foreach(lc, keys)
		if (!lh_name_in_list(src->names, lfirst(lc)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("key column \"%s\" is not a column of the SCD2 source",
							(char *) lfirst(lc))));
	if (o->updated_at && !lh_name_in_list(src->names, o->updated_at))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("updated_at column \"%s\" is not a column of the SCD2 source",
						o->updated_at)));
	foreach(lc, o->check_cols)
		if (!lh_name_in_list(src->names, lfirst(lc)))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("check column \"%s\" is not a column of the SCD2 source",
							(char *) lfirst(lc))));
	return src;
}

/*
 * What the indexes of the source relation tell about its keys (all false
 * when the source is not a relation).  Sets:
 *	*unique		a valid, plain unique index covers a subset of the keys whose
 *				columns are NOT NULL (or the index treats NULLs as equal): the
 *				source cannot hold duplicate keys, the check is skipped;
 *	*ordered	a valid, plain btree index starts with exactly the keys, in
 *				their order: the source can be read in key order, like the
 *				current rows through <table>_scd2_current.
 */
static void
source_key_indexes(Oid relid, List *keys, bool *unique, bool *ordered)
{
	Oid			types[3] = {OIDOID, TEXTARRAYOID, INT4OID};
	Datum		values[3];
	Datum	   *elems = palloc(sizeof(Datum) * list_length(keys));
	ListCell   *lc;
	bool		isnull;

	*unique = false;
	*ordered = false;
	if (!OidIsValid(relid))
		return;
	foreach(lc, keys)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(elems, list_length(keys), TEXTOID,
												-1, false, TYPALIGN_INT));
	values[2] = Int32GetDatum(list_length(keys));
	(void) lh_spi_exec("SELECT coalesce(bool_or(i.indisunique AND NOT EXISTS (SELECT 1"
							   "   FROM unnest((i.indkey::pg_catalog.int2[])[0:i.indnkeyatts - 1]) k"
							   "   JOIN pg_catalog.pg_attribute a"
							   "     ON a.attrelid = i.indrelid AND a.attnum = k"
							   "  WHERE a.attname::text <> ALL ($2)"
							   "     OR NOT (a.attnotnull OR i.indnullsnotdistinct))), false),"
							   " coalesce(bool_or(c.relam = " CppAsString2(BTREE_AM_OID)
							   " AND i.indnkeyatts >= $3 AND ARRAY(SELECT a.attname::text"
							   "   FROM unnest((i.indkey::pg_catalog.int2[])[0:$3 - 1])"
							   "        WITH ORDINALITY k(attnum, ord)"
							   "   JOIN pg_catalog.pg_attribute a"
							   "     ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
							   "  ORDER BY k.ord) = $2), false)"
							   " FROM pg_catalog.pg_index i"
							   " JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
							   " WHERE i.indrelid = $1 AND i.indisvalid"
							   " AND i.indpred IS NULL AND i.indexprs IS NULL",
							   3, types, values, NULL, SPI_OK_SELECT,
							   "read the indexes of an SCD2 table");
	*unique = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										 SPI_tuptable->tupdesc, 1, &isnull));
	*ordered = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
										  SPI_tuptable->tupdesc, 2, &isnull));
}

/* ----------------------------------------------------------------------
 * The merge
 * ----------------------------------------------------------------------
 */

/*
 * Stable text forms for hashes and ids, and times without time zone read
 * as UTC; restored by AtEOXact_GUC(true, returned level), or on abort.
 */
static int
scd2_enter_settings(void)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("timezone", "UTC", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("datestyle", "ISO", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("intervalstyle", "postgres", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("extra_float_digits", "3", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * scd2_merge
 *		Merge the rows of source_sql (one SELECT) into schema.table.  Caller
 *		is connected to SPI.  Creates the table when missing.  source_relid
 *		is the relation source_sql reads in full, if it is one (its unique
 *		indexes can make the duplicate check unnecessary), else InvalidOid.
 */
void
scd2_merge(const char *schema, const char *table, const char *source_sql,
		   Oid source_relid, List *keys, Jsonb *options, Scd2Counts *counts)
{
	char	   *qname = lh_qualified_name(schema, table);
	Scd2Options o;
	Scd2Source *src;
	int			nestlevel;
	int64		placed = 0;
	int64		already = 0;
	bool		unique;
	bool		ordered;

	scd2_parse_options(options, keys, &o);
	memset(counts, 0, sizeof(*counts));

	nestlevel = scd2_enter_settings();

	/*
	 * The statements run once: compiling their many expressions with JIT
	 * (tens of milliseconds) costs more than it saves on the joined rows.
	 */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/* serialize merges into one target, even one that does not exist yet */
	{
		Oid			types[2] = {INT4OID, TEXTOID};
		Datum		values[2];

		values[0] = Int32GetDatum(SCD2_LOCK_CLASS);
		values[1] = CStringGetTextDatum(qname);
		(void) lh_spi_exec("SELECT pg_catalog.pg_advisory_xact_lock($1, pg_catalog.hashtext($2))",
						   2, types, values, NULL, SPI_OK_SELECT,
						   "lock an SCD2 target");
	}

	src = describe_source(source_sql, keys, &o);
	scd2_prepare_target(schema, table, src, keys, &o);
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", qname);
		scd2_spi_utility(buf.data);
	}

	source_key_indexes(source_relid, keys, &unique, &ordered);
	if (!o.dup_latest && !unique)
		scd2_check_duplicates(qname, source_sql, keys);
	if (o.late_insert)
		scd2_merge_late(qname, source_sql, src, keys, &o, &placed, &already);

	/*
	 * A source table with a btree index on exactly the keys and the current
	 * rows (through <table>_scd2_current) can both be read in key order: a
	 * merge join over the two index scans then costs much less than a hash
	 * table of every source row, each probe of which is a cache miss, yet
	 * the planner's cost model prefers the hash join.  So the main
	 * statement runs with hash joins off (restored with the other
	 * settings).  Its other joins do without them: the UPDATE fetches rows
	 * by TID, the new keys meet their last closed versions (h) in a nested
	 * loop or a merge join.  Any other source (a query, a view) keeps hash
	 * joins: sorting it would cost more than hashing it.
	 *
	 * XXX The index scans visit the heap in key order.  When the current
	 * rows are scattered over many pages (a long history, never clustered)
	 * that is random access; the planner prices it and may sort instead.
	 */
	if (ordered)
		(void) set_config_option("enable_hashjoin", "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	scd2_merge_main(qname, source_sql, src, keys, &o, counts);
	if (o.late_insert)
	{
		counts->late = placed;
		counts->unchanged += already;
	}

	AtEOXact_GUC(true, nestlevel);
}

/*
 * scd2_prepare_table
 *		Create (or complete) the history table of an scd2 gold stage when it
 *		is defined, so that it exists before the first run.  Caller is
 *		connected to SPI.
 */
static void
scd2_prepare_table(const char *schema, const char *table,
				   const char *source_sql, List *keys, Jsonb *options)
{
	Scd2Options o;
	Scd2Source *src;

	int			nestlevel;

	scd2_parse_options(options, keys, &o);
	nestlevel = scd2_enter_settings();
	src = describe_source(lh_trim_sql(source_sql), keys, &o);
	scd2_prepare_target(schema, table, src, keys, &o);
	AtEOXact_GUC(true, nestlevel);
}

/* A gold stage of kind scd2: the query is the source of one merge. */
static void
scd2_write(LhTable *table, const char *query, LhStageCounts *counts)
{
	Scd2Counts sc;

	scd2_merge(table->schema_name, table->table_name, query, InvalidOid,
			   table->keys, table->options, &sc);
	counts->rows_read = sc.source_rows;
	counts->rows_written = sc.inserted;
	counts->rows_skipped = sc.source_rows - sc.inserted;
}

const GoldKindRoutine gold_kind_scd2 = {
	.name = "scd2",
	.needs_keys = true,
	.takes_options = true,
	.rewrites = true,
	.validate = scd2_validate_options,
	.prepare = scd2_prepare_table,
	.write = scd2_write,
};

/* ----------------------------------------------------------------------
 * SQL-callable
 * ----------------------------------------------------------------------
 */

/* Does the text start like a query rather than a name? */
static bool
looks_like_query(const char *s)
{
	static const char *const words[] = {"select", "with", "values", "table", NULL};

	while (isspace((unsigned char) *s))
		s++;
	if (*s == '(')
		return true;
	for (int i = 0; words[i]; i++)
	{
		size_t		n = strlen(words[i]);

		if (pg_strncasecmp(s, words[i], n) == 0 &&
			(s[n] == '\0' || isspace((unsigned char) s[n]) || s[n] == '('))
			return true;
	}
	return false;
}

/*
 * lh_scd2_merge(target text, source text, keys text[], options jsonb)
 *		returns jsonb {inserted, closed, unchanged, deleted, late, rejected}
 */
Datum
lh_scd2_merge(PG_FUNCTION_ARGS)
{
	char	   *target;
	char	   *source;
	Jsonb	   *options = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	List	   *keys = NIL;
	RangeVar   *rv;
	Oid			relid;
	char	   *schema;
	char	   *table;
	char	   *source_sql;
	Oid			srcid = InvalidOid;
	Scd2Counts counts;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("target, source and keys of an SCD2 merge must not be null")));
	target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	source = text_to_cstring(PG_GETARG_TEXT_PP(1));
	{
		ArrayType  *arr = PG_GETARG_ARRAYTYPE_P(2);
		Datum	   *elems;
		bool	   *enulls;
		int			n;

		deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &enulls, &n);
		for (int i = 0; i < n; i++)
		{
			if (enulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("key column names must not be null")));
			keys = lappend(keys, TextDatumGetCString(elems[i]));
		}
	}

	/* target: an existing table (search_path), or where CREATE TABLE would go */
	rv = makeRangeVarFromNameList(stringToQualifiedNameList(target));
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (OidIsValid(relid))
	{
		schema = get_namespace_name(get_rel_namespace(relid));
		table = get_rel_name(relid);
	}
	else
	{
		schema = get_namespace_name(RangeVarGetCreationNamespace(rv));
		table = rv->relname;
	}

	/* source: a query, or a table or view name */
	if (looks_like_query(source))
	{
		gold_check_sql(source);
		source_sql = lh_trim_sql(source);
	}
	else
	{
		rv = makeRangeVarFromNameList(stringToQualifiedNameList(source));
		srcid = RangeVarGetRelid(rv, NoLock, false);
		source_sql = psprintf("SELECT * FROM %s",
							  quote_qualified_identifier(get_namespace_name(get_rel_namespace(srcid)),
														 get_rel_name(srcid)));
	}

	SPI_connect();
	scd2_merge(schema, table, source_sql, srcid, keys, options, &counts);
	SPI_finish();

	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(
			psprintf("{\"inserted\": " INT64_FORMAT ", \"closed\": " INT64_FORMAT
					 ", \"unchanged\": " INT64_FORMAT ", \"deleted\": " INT64_FORMAT
					 ", \"late\": " INT64_FORMAT ", \"rejected\": " INT64_FORMAT "}",
					 counts.inserted, counts.closed, counts.unchanged,
					 counts.deleted, counts.late, counts.rejected))));
}
