/*-------------------------------------------------------------------------
 *
 * scd2.c
 *	  Slowly changing dimensions, type 2: lh_scd2_merge() and the gold
 *	  stage kind "scd2".
 *
 * A merge compares a source (table, view or query) with the current rows
 * of a history table and, in one set-based statement built here (data-
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
 * Keys are NULL-safe: two NULLs are the same key.  The join is split in
 * two branches: rows whose keys have no NULL join on plain equality (a
 * hash join with good estimates, or the key index for small sources), rows
 * with a NULL in a key join as whole records (ROW(k1, k2) values compared
 * with record_eq, where NULLs are equal, also hashable).  A unique partial
 * index on (keys) NULLS NOT DISTINCT WHERE is_current is created when
 * missing: it enforces "exactly one current row per key" whatever happens.
 * When the source is a table with a btree index on exactly the keys, both
 * sides can be read in key order and the main statement runs without hash
 * joins: a merge join over the two index scans (see scd2_merge).
 * Duplicate keys in the source are looked for first (GROUP BY keys, which
 * groups NULLs together), unless a unique index of the source relation
 * already rules them out.
 *
 * Change detection (check strategy) compares the tracked values as records,
 * that is with each column type's default equality (compare_cast): equal
 * values that print differently are not a change, as with dbt's "!=".  The
 * row_hash column is still written but decides nothing.
 *
 * A dbt snapshot (option dbt_compat, or a table with dbt's meta columns) is
 * continued in its own layout: no is_current (current rows have valid_to
 * NULL or valid_to_current), dbt_scd_id built as dbt's macros build it, the
 * table's own time type, dbt_is_deleted 'True'/'False'.  The meta_* helpers
 * hide the difference from the SQL generation.
 *
 * The generated SQL names its own columns with a leading underscore (_k,
 * _u, _a, ...); source columns may not use those names.
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
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "parser/parse_coerce.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/plancache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "lakehouse.h"
#include "transform/transform.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_scd2_merge);

/* Advisory-lock class of SCD2 merges: "SCD2". */
#define SCD2_LOCK_CLASS 0x53434432

/* Meta columns, indexes into Scd2Options.meta. */
enum
{
	M_VALID_FROM,
	M_VALID_TO,
	M_IS_CURRENT,
	M_VERSION_ID,
	M_UPDATED_AT,
	M_IS_DELETED,
	M_ROW_HASH,
	M_COUNT
};

static const char *const meta_option[M_COUNT] = {
	"valid_from_column", "valid_to_column", "is_current_column",
	"version_id_column", "updated_at_column", "is_deleted_column",
	"row_hash_column"
};

static const char *const meta_default[M_COUNT] = {
	"valid_from", "valid_to", "is_current", "version_id",
	"version_updated_at", "is_deleted", "row_hash"
};

/*
 * The meta columns of a dbt snapshot (dbt-adapters, snapshots/helpers.sql,
 * get_snapshot_table_column_names): a dbt table has no is_current and no
 * row hash; dbt_scd_id plays version_id's part.
 */
static const char *const meta_dbt_default[M_COUNT] = {
	"dbt_valid_from", "dbt_valid_to", NULL, "dbt_scd_id",
	"dbt_updated_at", "dbt_is_deleted", NULL
};

static const Oid meta_type[M_COUNT] = {
	TIMESTAMPTZOID, TIMESTAMPTZOID, BOOLOID, TEXTOID,
	TIMESTAMPTZOID, BOOLOID, TEXTOID
};

static const char *const scd2_option_keys[] = {
	"strategy", "updated_at", "check_cols", "valid_to_current",
	"hard_deletes", "duplicates", "late_arriving", "as_of", "dbt_compat",
	"valid_from_column", "valid_to_column", "is_current_column",
	"version_id_column", "updated_at_column", "is_deleted_column",
	"row_hash_column", NULL
};

typedef enum
{
	DEL_IGNORE, DEL_INVALIDATE, DEL_NEW_RECORD
} Scd2Deletes;

static char *col_list(const char *prefix, List *cols);

/* Column names the generated SQL uses for itself. */
static const char *const internal_names[] = {
	"_k", "_h", "_u", "_sp", "_ctid", "_ck", "_vf", "_upd", "_del", "_ch",
	"_hk", "_last", "_jk", "_n", "_nvf", "_nupd", "_a", "_oh", "_ndel", "_nh",
	"_hctid", "_hvf", "_hvt", "_hcur", "_sk", "_nk", "_next", "_dup", NULL
};

typedef struct Scd2Options
{
	bool		timestamp;		/* strategy timestamp (else check) */
	char	   *updated_at;		/* source column, or NULL */
	List	   *check_cols;		/* NIL: all non-key columns */
	bool		vtc_null;		/* valid_to of current rows is NULL */
	Datum		vtc;
	Scd2Deletes deletes;
	bool		dup_latest;
	bool		late_insert;
	bool		as_of_null;
	Datum		as_of;
	int			dbt_compat;		/* option: -1 not given, 0 false, 1 true */
	bool		dbt;			/* the target is (or becomes) a dbt snapshot */
	bool		dbt_deleted_col;	/* dbt: the table has dbt_is_deleted */
	char	   *dbt_time_type;	/* dbt: type of the three time columns */
	char	   *dbt_vtc_lit;	/* dbt: valid_to_current as a literal of it */
	const char *meta_given[M_COUNT];	/* names given as options, or NULL */
	const char *meta[M_COUNT];	/* names in use (NULL: no such column) */
} Scd2Options;

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

/*
 * scd2_set_layout
 *		Choose lakehouse's meta columns or a dbt snapshot's (dbt), fill in
 *		o->meta and refuse what that layout cannot do.
 */
static void
scd2_set_layout(Scd2Options *o, bool dbt)
{
	o->dbt = dbt;
	for (int i = 0; i < M_COUNT; i++)
	{
		const char *def = dbt ? meta_dbt_default[i] : meta_default[i];

		if (def == NULL && o->meta_given[i] != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("SCD2 option \"%s\" cannot be used with a dbt snapshot",
							meta_option[i]),
					 errdetail("A dbt snapshot has no such column: its current rows are those whose valid_to is NULL (or valid_to_current)."),
					 errhint("Remove the option, or set \"dbt_compat\" to false.")));
		o->meta[i] = def ? (o->meta_given[i] ? o->meta_given[i] : def) : NULL;
		for (int j = 0; j < i && o->meta[i]; j++)
			if (o->meta[j] && strcmp(o->meta[i], o->meta[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("SCD2 meta columns \"%s\" and \"%s\" have the same name \"%s\"",
								meta_option[j], meta_option[i], o->meta[i])));
	}
	if (dbt && o->late_insert)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 option \"late_arriving\" = \"insert\" cannot be used with a dbt snapshot"),
				 errdetail("dbt snapshots have no way to place a late row into history."),
				 errhint("Leave \"late_arriving\" at \"ignore\", or set \"dbt_compat\" to false.")));
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
		s = lh_option_text(options, meta_option[i]);
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
 * Target table
 * ----------------------------------------------------------------------
 */

/* The source's columns: names and SQL types. */
typedef struct Scd2Source
{
	List	   *names;
	List	   *types;			/* format_type_with_typemod strings */
	List	   *tracked;		/* columns whose change makes a version */
	List	   *tracked_oids;	/* their types (Oids) */
	List	   *src_cast;		/* per tracked column: NULL, or a type to
								 * compare the source's value as */
	List	   *tgt_cast;		/* the same for the table's value */
	Oid			upd_type;		/* type of the updated_at column, if any */
} Scd2Source;

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
								 meta_option[m])));
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

static void
spi_utility(const char *sql)
{
	(void) lh_spi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "prepare an SCD2 table");
}

/*
 * The meta columns in the generated SQL: whether row p (an alias, or NULL
 * for an index predicate) is current, whether it is a deletion marker, and
 * its time column m as timestamptz.  A dbt table has no is_current: its
 * current rows are those whose valid_to is NULL or valid_to_current
 * (helpers.sql, snapshot_staging_table, snapshotted_data); its deletion
 * markers have dbt_is_deleted = 'True'; its times may be timestamps without
 * time zone, read as UTC like every such time in a merge.
 */
static char *
meta_current(Scd2Options *o, const char *p)
{
	const char *pre = p ? psprintf("%s.", p) : "";
	const char *vt = quote_identifier(o->meta[M_VALID_TO]);

	if (!o->dbt)
		return psprintf("%s%s", pre, quote_identifier(o->meta[M_IS_CURRENT]));
	if (o->dbt_vtc_lit == NULL)
		return psprintf("%s%s IS NULL", pre, vt);
	return psprintf("(%s%s IS NULL OR %s%s = %s)", pre, vt, pre, vt, o->dbt_vtc_lit);
}

static char *
meta_deleted(Scd2Options *o, const char *p)
{
	if (!o->dbt)
		return psprintf("%s.%s", p, quote_identifier(o->meta[M_IS_DELETED]));
	if (!o->dbt_deleted_col)
		return "false";
	return psprintf("coalesce(%s.%s = 'True', false)", p,
					quote_identifier(o->meta[M_IS_DELETED]));
}

static char *
meta_time(Scd2Options *o, const char *p, int m)
{
	return psprintf("%s.%s%s", p, quote_identifier(o->meta[m]),
					o->dbt ? "::pg_catalog.timestamptz" : "");
}

/*
 * scd2_resolve_layout
 *		Without option dbt_compat, an existing table that has a dbt
 *		snapshot's meta columns (dbt_scd_id, dbt_updated_at, dbt_valid_from,
 *		dbt_valid_to, or the names given as options) and no is_current column
 *		is a dbt snapshot: the merge continues it the way dbt would.
 */
static void
scd2_resolve_layout(const char *schema, const char *table, Scd2Options *o)
{
	Oid			relid = lh_table_oid(schema, table, true);
	static const int dbt_needs[] = {M_VALID_FROM, M_VALID_TO, M_VERSION_ID, M_UPDATED_AT};
	const char *cur;
	bool		dbt = true;

	if (o->dbt_compat != -1 || !OidIsValid(relid))
		return;
	for (int i = 0; i < lengthof(dbt_needs); i++)
	{
		int			m = dbt_needs[i];
		const char *name = o->meta_given[m] ? o->meta_given[m] : meta_dbt_default[m];

		if (get_attnum(relid, name) == InvalidAttrNumber)
			dbt = false;
	}
	cur = o->meta_given[M_IS_CURRENT] ? o->meta_given[M_IS_CURRENT] :
		meta_default[M_IS_CURRENT];
	if (get_attnum(relid, cur) != InvalidAttrNumber)
		dbt = false;
	if (dbt)
		scd2_set_layout(o, true);
}

/*
 * valid_to_current of a dbt table, as a literal of its time type: it is
 * compared with in the predicate of the current-row index, which takes
 * only immutable expressions.  Converted in the merge's time zone (UTC).
 */
static void
dbt_vtc_literal(Scd2Options *o)
{
	Oid			types[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	char	   *sql;

	if (o->vtc_null)
		return;
	values[0] = o->vtc;
	sql = psprintf("SELECT ($1::pg_catalog.timestamptz)::%s::text", o->dbt_time_type);
	(void) lh_spi_exec(sql, 1, types, values, NULL, SPI_OK_SELECT,
					   "convert valid_to_current of an SCD2 table");
	o->dbt_vtc_lit = psprintf("%s::%s",
							  quote_literal_cstr(SPI_getvalue(SPI_tuptable->vals[0],
															  SPI_tuptable->tupdesc, 1)),
							  o->dbt_time_type);
}

/* Is typid one that a dbt snapshot's meta column m may have? */
static bool
dbt_meta_type_ok(int m, Oid typid)
{
	switch (m)
	{
		case M_VERSION_ID:
			return typid == TEXTOID || typid == VARCHAROID;
		case M_IS_DELETED:
			return typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID;
		default:
			return typid == TIMESTAMPOID || typid == TIMESTAMPTZOID || typid == DATEOID;
	}
}

/* The CREATE TABLE of a new history table, lakehouse's or dbt's layout. */
static void
create_target(StringInfo buf, const char *qname, Scd2Source *src, Scd2Options *o)
{
	ListCell   *ln,
			   *lt;

	appendStringInfo(buf, "CREATE TABLE %s (", qname);
	forboth(ln, src->names, lt, src->types)
		appendStringInfo(buf, "%s %s, ", quote_identifier(lfirst(ln)),
						 (char *) lfirst(lt));
	if (o->dbt)
	{
		/*
		 * As dbt's build_snapshot_table creates it (CREATE TABLE AS): the
		 * three times have the type of the updated_at expression, the source
		 * column or snapshot_get_time(), which is now()::timestamp without
		 * time zone on PostgreSQL; dbt_is_deleted is the text 'True' /
		 * 'False', present with hard_deletes new_record only.
		 */
		o->dbt_time_type = OidIsValid(src->upd_type) ?
			format_type_be(src->upd_type) : "timestamp without time zone";
		o->dbt_deleted_col = (o->deletes == DEL_NEW_RECORD);
		appendStringInfo(buf, "%s text, %s %s, %s %s, %s %s",
						 quote_identifier(o->meta[M_VERSION_ID]),
						 quote_identifier(o->meta[M_UPDATED_AT]), o->dbt_time_type,
						 quote_identifier(o->meta[M_VALID_FROM]), o->dbt_time_type,
						 quote_identifier(o->meta[M_VALID_TO]), o->dbt_time_type);
		if (o->dbt_deleted_col)
			appendStringInfo(buf, ", %s text", quote_identifier(o->meta[M_IS_DELETED]));
		appendStringInfoChar(buf, ')');
		return;
	}
	appendStringInfo(buf,
					 "%s timestamptz NOT NULL, %s timestamptz, %s boolean NOT NULL,"
					 " %s text NOT NULL, %s timestamptz, %s boolean NOT NULL DEFAULT false,"
					 " %s text)",
					 quote_identifier(o->meta[M_VALID_FROM]),
					 quote_identifier(o->meta[M_VALID_TO]),
					 quote_identifier(o->meta[M_IS_CURRENT]),
					 quote_identifier(o->meta[M_VERSION_ID]),
					 quote_identifier(o->meta[M_UPDATED_AT]),
					 quote_identifier(o->meta[M_IS_DELETED]),
					 quote_identifier(o->meta[M_ROW_HASH]));
}

/*
 * Check the meta columns of an existing table (and, for a dbt table, note
 * their types); a tracked column whose type differs from the source's is
 * compared by its text form.  Returns the table's column names.
 */
static List *
check_target(Oid relid, const char *qname, Scd2Source *src, Scd2Options *o)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	tdesc = RelationGetDescr(rel);
	List	   *have = NIL;
	Oid			time_type = InvalidOid;

	for (int j = 0; j < tdesc->natts; j++)
	{
		Form_pg_attribute att = TupleDescAttr(tdesc, j);
		const char *name = NameStr(att->attname);
		ListCell   *lc;

		if (att->attisdropped)
			continue;
		have = lappend(have, pstrdup(name));
		foreach(lc, src->tracked)
			if (strcmp(lfirst(lc), name) == 0 &&
				list_nth_oid(src->tracked_oids, foreach_current_index(lc)) != att->atttypid)
			{
				list_nth_cell(src->src_cast, foreach_current_index(lc))->ptr_value = "text";
				list_nth_cell(src->tgt_cast, foreach_current_index(lc))->ptr_value = "text";
			}
		for (int m = 0; m < M_COUNT; m++)
		{
			bool		ok;

			if (o->meta[m] == NULL || strcmp(name, o->meta[m]) != 0)
				continue;
			ok = o->dbt ? dbt_meta_type_ok(m, att->atttypid) : att->atttypid == meta_type[m];
			if (ok && o->dbt && m != M_VERSION_ID && m != M_IS_DELETED)
			{
				ok = !OidIsValid(time_type) || time_type == att->atttypid;
				time_type = att->atttypid;
			}
			if (!ok)
				ereport(ERROR,
						(errcode(ERRCODE_DATATYPE_MISMATCH),
						 errmsg("SCD2 meta column \"%s\" of table %s has type %s",
								o->meta[m], qname, format_type_be(att->atttypid)),
						 o->dbt ?
						 errdetail("In a dbt snapshot, %s, %s and %s have one type: timestamp, timestamp with time zone or date; %s and %s are text.",
								   o->meta[M_VALID_FROM], o->meta[M_VALID_TO],
								   o->meta[M_UPDATED_AT], o->meta[M_VERSION_ID],
								   o->meta[M_IS_DELETED]) :
						 errdetail("It must have type %s.", format_type_be(meta_type[m]))));
			if (m == M_IS_DELETED)
				o->dbt_deleted_col = true;
		}
	}
	table_close(rel, AccessShareLock);
	for (int m = 0; m < M_COUNT; m++)
		if (o->meta[m] && !lh_name_in_list(have, o->meta[m]) &&
			!(o->dbt && m == M_IS_DELETED))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("table %s has no SCD2 meta column \"%s\"", qname, o->meta[m]),
					 errhint("Name the existing column with option \"%s\", or merge into a new table.",
							 meta_option[m])));
	if (o->dbt)
		o->dbt_time_type = format_type_be(time_type);
	return have;
}

/*
 * Create the target when missing (source columns, then meta columns); else
 * check its meta columns and add the source columns it lacks (nullable),
 * and dbt_is_deleted to a dbt table merged with new_record (as dbt's
 * create_columns does).  Then make sure the unique index on the keys of
 * current rows exists.
 */
static void
prepare_target(const char *schema, const char *table, Scd2Source *src,
			   List *keys, Scd2Options *o)
{
	char	   *qname = lh_qualified_name(schema, table);
	Oid			relid = lh_table_oid(schema, table, true);
	StringInfoData buf;
	ListCell   *ln,
			   *lt;
	char		idxname[NAMEDATALEN];
	int			len;

	scd2_resolve_layout(schema, table, o);
	initStringInfo(&buf);
	if (!OidIsValid(relid))
	{
		lh_ensure_schema(schema);
		create_target(&buf, qname, src, o);
		spi_utility(buf.data);
		security_grant_readers(qname, true);
		relid = lh_table_oid(schema, table, false);
	}
	else
	{
		List	   *have = check_target(relid, qname, src, o);

		forboth(ln, src->names, lt, src->types)
		{
			if (lh_name_in_list(have, lfirst(ln)))
				continue;
			resetStringInfo(&buf);
			appendStringInfo(&buf, "ALTER TABLE %s ADD COLUMN %s %s", qname,
							 quote_identifier(lfirst(ln)), (char *) lfirst(lt));
			spi_utility(buf.data);
		}
		if (o->dbt && !o->dbt_deleted_col && o->deletes == DEL_NEW_RECORD)
		{
			resetStringInfo(&buf);
			appendStringInfo(&buf, "ALTER TABLE %s ADD COLUMN %s text", qname,
							 quote_identifier(o->meta[M_IS_DELETED]));
			spi_utility(buf.data);
			o->dbt_deleted_col = true;
		}
	}
	if (o->dbt)
		dbt_vtc_literal(o);

	/* <table>_scd2_current, the table part clipped to fit NAMEDATALEN */
	len = pg_mbcliplen(table, strlen(table), NAMEDATALEN - 1 - strlen("_scd2_current"));
	snprintf(idxname, sizeof(idxname), "%.*s_scd2_current", len, table);
	if (!OidIsValid(get_relname_relid(idxname, get_rel_namespace(relid))))
	{
		resetStringInfo(&buf);
		appendStringInfo(&buf, "CREATE UNIQUE INDEX %s ON %s (",
						 quote_identifier(idxname), qname);
		appendStringInfoString(&buf, col_list(NULL, keys));
		appendStringInfo(&buf, ") NULLS NOT DISTINCT WHERE %s",
						 meta_current(o, NULL));
		spi_utility(buf.data);
	}
}

/* ----------------------------------------------------------------------
 * SQL generation
 * ----------------------------------------------------------------------
 */

/* "p.a, p.b" (prefix may be NULL) */
static char *
col_list(const char *prefix, List *cols)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, cols)
		appendStringInfo(&buf, "%s%s%s%s", foreach_current_index(lc) ? ", " : "",
						 prefix ? prefix : "", prefix ? "." : "",
						 quote_identifier(lfirst(lc)));
	return buf.data;
}

/* "p.a AS x_1, p.b AS x_2" */
static char *
key_aliases(const char *prefix, List *keys, const char *alias)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, keys)
		appendStringInfo(&buf, "%s%s.%s AS %s_%d", foreach_current_index(lc) ? ", " : "",
						 prefix, quote_identifier(lfirst(lc)), alias,
						 foreach_current_index(lc) + 1);
	return buf.data;
}

/* the key column i of p: p.name, or p.alias_i when alias is given */
static char *
key_ref(const char *prefix, const char *alias, List *keys, int i)
{
	if (alias)
		return psprintf("%s.%s_%d", prefix, alias, i + 1);
	return psprintf("%s.%s", prefix, quote_identifier(list_nth(keys, i)));
}

/* every key NOT NULL (nn), or some key NULL */
static char *
key_filter(const char *prefix, List *keys, const char *alias, bool nn)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < list_length(keys); i++)
		appendStringInfo(&buf, "%s%s IS %sNULL", i ? (nn ? " AND " : " OR ") : "",
						 key_ref(prefix, alias, keys, i), nn ? "NOT " : "");
	return buf.data;
}

/* a.k1 = b.k1 AND ... */
static char *
key_equal(const char *pa, const char *aa, const char *pb, const char *ab, List *keys)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < list_length(keys); i++)
		appendStringInfo(&buf, "%s%s = %s", i ? " AND " : "",
						 key_ref(pa, aa, keys, i), key_ref(pb, ab, keys, i));
	return buf.data;
}

/*
 * "ROW(p.a, p.b::text, ...)": the tracked columns of p, each cast as casts
 * says (see compare_cast).  Two such records compare with record_eq, that
 * is with each column type's default equality, NULLs equal.
 */
static char *
tracked_row(const char *prefix, Scd2Source *src, List *casts)
{
	StringInfoData buf;
	ListCell   *lc,
			   *lcast;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "ROW(");
	forboth(lc, src->tracked, lcast, casts)
	{
		appendStringInfo(&buf, "%s%s.%s", foreach_current_index(lc) ? ", " : "",
						 prefix, quote_identifier(lfirst(lc)));
		if (lfirst(lcast))
			appendStringInfo(&buf, "::%s", (char *) lfirst(lcast));
	}
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * The source CTE "s": its columns, _k (key record), _h (the tracked values,
 * check strategy), _u (updated_at), _sp.
 */
static void
append_source_cte(StringInfo sql, const char *source_sql, Scd2Source *src,
				  List *keys, Scd2Options *o)
{
	appendStringInfo(sql, "s AS NOT MATERIALIZED (SELECT %s%s%s %s, ROW(%s) AS _k, ",
					 o->dup_latest ? "DISTINCT ON (" : "",
					 o->dup_latest ? col_list("q", keys) : "",
					 o->dup_latest ? ")" : "",
					 col_list("q", src->names), col_list("q", keys));
	/* the check strategy compares the tracked values */
	if (o->timestamp)
		appendStringInfoString(sql, "NULL::text AS _h, ");
	else
		appendStringInfo(sql, "%s AS _h, ", tracked_row("q", src, src->src_cast));
	if (o->updated_at)
		appendStringInfo(sql, "q.%s::timestamptz", quote_identifier(o->updated_at));
	else
		appendStringInfoString(sql, "NULL::timestamptz");
	appendStringInfo(sql, " AS _u, true AS _sp FROM (\n%s\n) AS q", source_sql);
	if (o->dup_latest)
		appendStringInfo(sql, " ORDER BY %s, q.%s DESC NULLS LAST",
						 col_list("q", keys), quote_identifier(o->updated_at));
	appendStringInfoString(sql, ")");
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

/*
 * Refuse duplicate keys before anything is written, listing up to ten.
 *
 * XXX This is its own statement, so under READ COMMITTED a concurrent
 * writer of the source could add a duplicate before the merge reads it.
 * The unique index still keeps one current row per key (two new versions
 * of a key fail the merge), but the error is then the index's.
 */
static void
check_duplicates(const char *qname, const char *source_sql, List *keys)
{
	StringInfoData sql;
	StringInfoData detail;
	int64		total = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT ROW(%s)::text, count(*), count(*) OVER ()"
					 " FROM (\n%s\n) AS q GROUP BY %s HAVING count(*) > 1"
					 " ORDER BY 1 LIMIT 10",
					 col_list("q", keys), source_sql, col_list("q", keys));
	if (lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					"check an SCD2 source for duplicate keys") == 0)
		return;

	initStringInfo(&detail);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		appendStringInfo(&detail, "%sKey (%s)=%s appears %s times.",
						 i ? " " : "", col_list(NULL, keys),
						 SPI_getvalue(tup, desc, 1), SPI_getvalue(tup, desc, 2));
		total = pg_strtoint64(SPI_getvalue(tup, desc, 3));
	}
	if (total > (int64) SPI_processed)
		appendStringInfo(&detail, " " INT64_FORMAT " more keys are duplicated.",
						 total - (int64) SPI_processed);
	ereport(ERROR,
			(errcode(ERRCODE_CARDINALITY_VIOLATION),
			 errmsg("source of SCD2 merge into %s has " INT64_FORMAT " duplicate key%s",
					qname, total, total == 1 ? "" : "s"),
			 errdetail("%s", detail.data),
			 errhint("Remove the duplicates from the source, or set option \"duplicates\" to \"latest\" to keep the row with the newest updated_at.")));
}

static int64
spi_int64(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc,
								  col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* The "INSERT INTO target (source cols, meta cols)" head. */
static void
append_insert_head(StringInfo sql, const char *qname, Scd2Source *src,
				   Scd2Options *o)
{
	appendStringInfo(sql, "INSERT INTO %s (%s", qname, col_list(NULL, src->names));
	if (o->dbt)
	{
		/* dbt writes dbt_is_deleted with new_record only */
		appendStringInfo(sql, ", %s, %s, %s, %s",
						 quote_identifier(o->meta[M_VERSION_ID]),
						 quote_identifier(o->meta[M_UPDATED_AT]),
						 quote_identifier(o->meta[M_VALID_FROM]),
						 quote_identifier(o->meta[M_VALID_TO]));
		if (o->deletes == DEL_NEW_RECORD)
			appendStringInfo(sql, ", %s", quote_identifier(o->meta[M_IS_DELETED]));
	}
	else
		for (int m = 0; m < M_COUNT; m++)
			appendStringInfo(sql, ", %s", quote_identifier(o->meta[m]));
	appendStringInfoString(sql, ")");
}

/*
 * Late-arriving versions (timestamp strategy, late_arriving = insert):
 * rows whose updated_at is older than the current row's.  Each is placed in
 * the closed interval that contains it, which is split in two; a version
 * already starting at that time was placed by an earlier run.  Only closed
 * rows change, so this runs before the main statement and does not disturb
 * it.  Sets *placed and *already.
 *
 * XXX Keys are joined as records here (NULL-safe, hashable, but no index
 * and rough estimates); fine while late rows are few.
 */
static void
merge_late(const char *qname, const char *source_sql, Scd2Source *src,
		   List *keys, Scd2Options *o, int64 *placed, int64 *already)
{
	StringInfoData sql;
	const char *vf = quote_identifier(o->meta[M_VALID_FROM]);
	const char *vt = quote_identifier(o->meta[M_VALID_TO]);
	const char *cur = quote_identifier(o->meta[M_IS_CURRENT]);
	const char *del = quote_identifier(o->meta[M_IS_DELETED]);

	initStringInfo(&sql);
	appendStringInfoString(&sql, "WITH ");
	append_source_cte(&sql, source_sql, src, keys, o);
	appendStringInfo(&sql,
					 ", c AS (SELECT ROW(%s) AS _ck, t.%s AS _upd FROM %s t"
					 " WHERE t.%s AND NOT t.%s)"
					 ", l AS (SELECT s.* FROM s JOIN c ON s._k = c._ck WHERE s._u < c._upd)"
					 ", hi AS (SELECT x.* FROM (SELECT t.ctid AS _hctid, ROW(%s) AS _hk,"
					 " t.%s AS _hvf, t.%s AS _hvt, t.%s AS _hcur FROM %s t) x"
					 " WHERE x._hk IN (SELECT l._k FROM l))"
					 ", sp AS (SELECT l._k AS _sk, h._hctid FROM l JOIN hi h ON h._hk = l._k"
					 " AND NOT h._hcur AND h._hvf < l._u AND h._hvt > l._u)"
					 ", nx AS (SELECT l._k AS _nk, min(h._hvf) FILTER (WHERE h._hvf > l._u) AS _next,"
					 " bool_or(h._hvf = l._u) AS _dup FROM l JOIN hi h ON h._hk = l._k GROUP BY l._k)"
					 ", p AS (SELECT l.*, sp._hctid, nx._next, nx._dup FROM l"
					 " JOIN nx ON nx._nk = l._k LEFT JOIN sp ON sp._sk = l._k)"
					 ", up AS (UPDATE %s t SET %s = p._u FROM p"
					 " WHERE t.ctid = p._hctid AND NOT p._dup RETURNING 1)"
					 ", ins AS (",
					 col_list("t", keys), quote_identifier(o->meta[M_UPDATED_AT]), qname,
					 cur, del,
					 col_list("t", keys), vf, vt, cur, qname,
					 qname, vt);
	append_insert_head(&sql, qname, src, o);
	appendStringInfo(&sql,
					 " SELECT %s, p._u, p._next, false,"
					 " md5(ROW(%s, extract(epoch FROM p._u))::text), p._u, false,"
					 " md5(ROW(%s)::text)"
					 " FROM p WHERE NOT p._dup RETURNING 1)"
					 " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM p WHERE p._dup)",
					 col_list("p", src->names), col_list("p", keys),
					 col_list("p", src->tracked));
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					   "place late-arriving rows into an SCD2 table");
	*placed = spi_int64(0, 1);
	*already = spi_int64(0, 2);
}

/*
 * The main statement's CTE "c", the current rows of the target, and with
 * need_last (invalidate, with updated_at) "h": a key back after a delete
 * starts after its last version ended (joined to new keys only, in ins).
 */
static void
append_current_ctes(StringInfo sql, const char *qname, List *keys,
					Scd2Source *src, Scd2Options *o, bool need_last)
{
	/*
	 * Current rows.  s and c (and h) are inlined into both branches of m
	 * below, so that each branch gets its own plan.  _ch: the tracked
	 * values, compared with the source's _h (check strategy).
	 */
	appendStringInfo(sql,
					 ", c AS NOT MATERIALIZED (SELECT t.ctid AS _ctid, %s, ROW(%s) AS _ck,"
					 " %s AS _vf, %s AS _upd, %s AS _del, %s AS _ch FROM %s t WHERE %s)",
					 key_aliases("t", keys, "_ck"), col_list("t", keys),
					 meta_time(o, "t", M_VALID_FROM), meta_time(o, "t", M_UPDATED_AT),
					 meta_deleted(o, "t"),
					 o->timestamp ? "NULL::text" : tracked_row("t", src, src->tgt_cast),
					 qname, meta_current(o, "t"));
	if (need_last)
		appendStringInfo(sql,
						 ", h AS (SELECT ROW(%s) AS _hk, max(%s) AS _last"
						 " FROM %s t WHERE NOT %s GROUP BY %s)",
						 col_list("t", keys), meta_time(o, "t", M_VALID_TO), qname,
						 meta_current(o, "t"), col_list("t", keys));
}

/*
 * The main statement's CTE "m": the source joined with the current rows.
 * Keys without NULLs join on plain equality (hash join, good estimates, the
 * index); keys with a NULL (usually few) join as records, where NULLs are
 * equal.  The timestamp strategy's NULL hashes are written here, not taken
 * from s and c, so that the join does not carry them for every row.
 */
static void
append_join_cte(StringInfo sql, Scd2Source *src, List *keys, Scd2Options *o)
{
	appendStringInfoString(sql, ", m AS (");
	for (int branch = 0; branch < 2; branch++)
	{
		bool		nn = (branch == 0);

		if (!nn)
			appendStringInfoString(sql, " UNION ALL ");
		appendStringInfo(sql,
						 "SELECT %s, %s AS _h, s._u, s._sp, c._ctid, c._vf, c._upd, c._del, %s AS _ch"
						 " FROM (SELECT * FROM s WHERE %s) s %s JOIN"
						 " (SELECT * FROM c WHERE %s) c ON %s",
						 col_list("s", src->names),
						 o->timestamp ? "NULL::text" : "s._h",
						 o->timestamp ? "NULL::text" : "c._ch",
						 key_filter("s", keys, NULL, nn),
						 o->deletes == DEL_IGNORE ? "LEFT" : "FULL",
						 key_filter("c", keys, "_ck", nn),
						 nn ? key_equal("s", NULL, "c", "_ck", keys) : "s._k = c._ck");
	}
	appendStringInfoString(sql, ")");
}

/*
 * The main statement's CTEs "n" (the number of source rows) and "j": the
 * joined rows with something to do (or to count apart), with their action
 * _a, the new version's valid_from _nvf (for a gone key: the end of its
 * current version) and its updated_at _nupd.
 */
static void
append_action_ctes(StringInfo sql, Scd2Options *o)
{
	const char *gone_action;
	char	   *nvf;
	char	   *nupd;

	gone_action = o->deletes == DEL_INVALIDATE ? "invalidate" :
		o->deletes == DEL_NEW_RECORD ? "delete" : "gone";

	/*
	 * The new version's valid_from: the source's updated_at when there is
	 * one (dbt's strategy.updated_at, for both strategies), else the run
	 * time.  A version never ends before it starts: when the updated_at is
	 * not after the current version's start (a key back after a delete, a
	 * check-strategy change without a newer updated_at), or the run time
	 * is before it (a version dated in the future, then deleted), the
	 * current version ends at the later of the run time and its own start.
	 */
	if (o->updated_at == NULL)
		nvf = "greatest($1, m._vf)";
	else
		nvf = "CASE WHEN m._sp IS NULL THEN greatest($1, m._vf)"
			" WHEN m._ctid IS NULL THEN m._u"
			" WHEN m._u > m._vf THEN m._u ELSE greatest($1, m._vf) END";
	nupd = o->updated_at ? "CASE WHEN m._sp IS NULL THEN $1 ELSE m._u END" : "$1";

	/*
	 * j: the rows with something to do (or to count apart), with their
	 * action.  j is read three times, so it is materialized; unchanged rows,
	 * usually the vast majority, are left out and counted as the source's
	 * rows minus the source rows in j that have something to do.
	 */
	appendStringInfoString(sql, ", n AS (SELECT count(*) AS _n FROM s)");
	appendStringInfo(sql,
					 ", j AS (SELECT * FROM (SELECT m.*, %s AS _nvf,"
					 " %s AS _nupd, CASE"
					 " WHEN m._sp IS NULL THEN CASE WHEN m._del THEN 'gone' ELSE '%s' END",
					 nvf, nupd, gone_action);
	if (o->timestamp)
		appendStringInfoString(sql,
							   " WHEN m._u IS NULL THEN 'reject'"
							   " WHEN m._ctid IS NULL THEN 'insert'"
							   " WHEN m._del THEN 'reinsert'"
							   " WHEN m._u > m._upd THEN 'change'"
							   " WHEN m._u < m._upd THEN 'late'");
	else
	{
		/*
		 * check: an unchanged row needs no updated_at; a row to write
		 * without one is rejected, as under the timestamp strategy
		 */
		appendStringInfoString(sql,
							   " WHEN m._ctid IS NOT NULL AND NOT m._del"
							   " AND m._h IS NOT DISTINCT FROM m._ch THEN 'same'");
		if (o->updated_at)
			appendStringInfoString(sql, " WHEN m._u IS NULL THEN 'reject'");
		appendStringInfoString(sql,
							   " WHEN m._ctid IS NULL THEN 'insert'"
							   " WHEN m._del THEN 'reinsert'");
	}
	appendStringInfo(sql, " ELSE '%s' END AS _a FROM m) x WHERE ",
					 o->timestamp ? "same" : "change");

	/*
	 * ... filtered, without comparing every joined row twice, on one test
	 * (one qual, so that the planner keeps its order): not an unchanged row
	 * (the vast majority: the first term decides for it), nor a key gone
	 * and already recorded as deleted.  A few rows whose action is 'same'
	 * may pass (NULL meta values); they are counted as unchanged below and
	 * ignored otherwise.
	 */
	appendStringInfo(sql, "(x.%s = x.%s AND NOT x._del%s) IS NOT TRUE)",
					 o->timestamp ? "_u" : "_h", o->timestamp ? "_upd" : "_ch",
					 o->deletes != DEL_IGNORE ? " OR x._sp IS NULL AND x._del" : "");
}

/*
 * The main statement's CTE "cl": the UPDATE that closes the current rows
 * of changed, reinserted and gone keys, returning what ins needs.
 */
static void
append_close_cte(StringInfo sql, const char *qname, Scd2Source *src,
				 Scd2Options *o)
{
	const char *vt = quote_identifier(o->meta[M_VALID_TO]);
	ListCell   *lc;

	/*
	 * close rows: fetched by TID, in ctid order.  DISTINCT ON (_ctid) is a
	 * no-op (each current row matches at most one source row) that sorts
	 * the rows; without statistics on j the planner then expects few of
	 * them and picks a nested loop over TID scans, instead of hashing the
	 * ctid of every row of the target (most of the statement's time when
	 * few rows change).  XXX This leans on that estimate.  A dbt table has
	 * no is_current: setting valid_to closes the row.
	 */
	appendStringInfo(sql, ", cl AS (UPDATE %s t SET %s = j._nvf", qname, vt);
	if (o->dbt)
		appendStringInfo(sql, "::%s", o->dbt_time_type);
	else
		appendStringInfo(sql, ", %s = false", quote_identifier(o->meta[M_IS_CURRENT]));
	appendStringInfo(sql,
					 " FROM (SELECT DISTINCT ON (j0._ctid) j0._ctid, j0._a, j0._nvf,"
					 " j0._nupd, %s FROM j j0"
					 " WHERE j0._a IN ('change', 'reinsert', 'invalidate', 'delete')) j"
					 " WHERE t.ctid = j._ctid"
					 " RETURNING j._a, j._nvf, j._nupd",
					 col_list("j0", src->names));

	/*
	 * A deleted version (new_record) keeps the last values: the closed
	 * row's; dbt derives its id from the closed row's.  Other modes return
	 * the source's values without reading the row.
	 */
	if (o->deletes == DEL_NEW_RECORD)
	{
		if (o->dbt)
			appendStringInfo(sql, ", t.%s AS _oid",
							 quote_identifier(o->meta[M_VERSION_ID]));
		foreach(lc, src->names)
		{
			const char *qc = quote_identifier(lfirst(lc));

			appendStringInfo(sql, ", CASE WHEN j._a = 'delete' THEN t.%s ELSE j.%s END AS %s",
							 qc, qc, qc);
		}
	}
	else
		appendStringInfo(sql, ", %s", col_list("j", src->names));
	appendStringInfoString(sql, ")");
}

/*
 * The values of a new version's meta columns, from x (its source columns,
 * _nvf, _nupd, _ndel and, for dbt with new_record, _oid).  $1 is the run
 * time, $2 the valid_to of current rows.
 *
 * dbt's: dbt_scd_id as snapshot_hash_arguments([unique_key..., updated_at])
 * makes it (dbt-adapters, snapshots/strategies.sql and
 * BaseRelation.scd_args; postgres: default__snapshot_hash_arguments):
 * md5 of coalesce(cast(arg as varchar), '') joined with '|', where
 * updated_at is the source column (its own type) or snapshot_get_time(),
 * now()::timestamp without time zone; a deletion marker's id is the same
 * hash of the closed version's id and snapshot_get_time()
 * (helpers.sql, snapshot_staging_table, deletion_records).
 */
static void
append_new_meta(StringInfo sql, List *keys, Scd2Source *src, Scd2Options *o)
{
	ListCell   *lc;
	const char *T = o->dbt_time_type;

	if (!o->dbt)
	{
		appendStringInfo(sql,
						 "x._nvf, $2, true, md5(ROW(%s, extract(epoch FROM x._nvf))::text),"
						 " x._nupd, x._ndel, md5(ROW(%s)::text)",
						 col_list("x", keys), col_list("x", src->tracked));
		return;
	}
	appendStringInfoString(sql, "md5(");
	if (o->deletes == DEL_NEW_RECORD)
		appendStringInfoString(sql,
							   "CASE WHEN x._ndel THEN coalesce(CAST(x._oid AS varchar), '')"
							   " || '|' || coalesce(CAST($1::timestamp AS varchar), '') ELSE ");
	foreach(lc, keys)
		appendStringInfo(sql, "coalesce(CAST(x.%s AS varchar), '') || '|' || ",
						 quote_identifier(lfirst(lc)));
	appendStringInfo(sql, "coalesce(CAST(x._nvf::%s AS varchar), '')",
					 OidIsValid(src->upd_type) ? format_type_be(src->upd_type) :
					 "timestamp without time zone");
	if (o->deletes == DEL_NEW_RECORD)
		appendStringInfoString(sql, " END");
	appendStringInfo(sql, "), x._nupd::%s, x._nvf::%s, $2::%s", T, T, T);
	if (o->deletes == DEL_NEW_RECORD)
		appendStringInfoString(sql, ", CASE WHEN x._ndel THEN 'True' ELSE 'False' END");
}

/*
 * The main statement's CTE "ins": the new versions, of new keys (from j)
 * and of keys whose current row cl closed.
 */
static void
append_insert_cte(StringInfo sql, const char *qname, Scd2Source *src,
				  List *keys, Scd2Options *o, bool need_last)
{
	bool		oid = (o->dbt && o->deletes == DEL_NEW_RECORD);

	appendStringInfoString(sql, ", ins AS (");
	append_insert_head(sql, qname, src, o);
	appendStringInfo(sql, " SELECT %s, ", col_list("x", src->names));
	append_new_meta(sql, keys, src, o);
	appendStringInfo(sql,
					 " FROM (SELECT %s, %s, j._nupd, false AS _ndel%s"
					 " FROM %s"
					 " UNION ALL SELECT %s, cl._nvf, cl._nupd, %s%s"
					 " FROM cl WHERE cl._a IN ('change', 'reinsert', 'delete')) x)",
					 col_list("j", src->names),
					 need_last ? "greatest(j._nvf, h._last) AS _nvf" : "j._nvf",
					 oid ? ", NULL::text AS _oid" : "",
					 need_last ?
					 psprintf("(SELECT j0.*, ROW(%s) AS _jk FROM j j0 WHERE j0._a = 'insert') j"
							  " LEFT JOIN h ON h._hk = j._jk", col_list("j0", keys)) :
					 "j WHERE j._a = 'insert'",
					 col_list("cl", src->names),
					 o->deletes == DEL_NEW_RECORD ? "cl._a = 'delete'" : "false",
					 oid ? ", cl._oid::text" : "");
}

/*
 * Add up the main statement's result (SPI_tuptable: an action and its
 * number of rows, and a NULL action with the number of source rows) into
 * counts.
 */
static void
count_actions(Scd2Counts *counts)
{
	/* 'same' and 'gone' count for nothing; unchanged is what is left */
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *a = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);
		int64		n = spi_int64((int) i, 2);

		if (a == NULL)
			counts->source_rows = n;
		else if (strcmp(a, "insert") == 0)
			counts->inserted += n;
		/* a revival (new_record) closes the deletion marker: a change */
		else if (strcmp(a, "change") == 0 || strcmp(a, "reinsert") == 0)
		{
			counts->inserted += n;
			counts->closed += n;
		}
		else if (strcmp(a, "late") == 0)
			counts->late += n;
		else if (strcmp(a, "reject") == 0)
			counts->rejected += n;
		else if (strcmp(a, "invalidate") == 0)
			counts->deleted += n;
		else if (strcmp(a, "delete") == 0)
		{
			counts->deleted += n;
			counts->versions_written += n;
		}
	}
	counts->versions_written += counts->inserted;
	counts->unchanged = counts->source_rows - counts->inserted - counts->late -
		counts->rejected;
}

/*
 * The main statement.  Actions per joined row (_a):
 *	insert		new key (no current row)
 *	change		tracked values or a newer updated_at: close, insert
 *	reinsert	key back after a new_record delete: close, insert
 *	same		nothing to do
 *	late		timestamp strategy, updated_at older than the current row
 *	reject		timestamp strategy, updated_at is NULL
 *	invalidate	key gone from the source: close at the run time
 *	delete		key gone (new_record): close, insert a deleted version
 *	gone		key gone, deletes ignored or already recorded
 *
 * It is one WITH statement: s (append_source_cte), c and h
 * (append_current_ctes), m (append_join_cte), n and j
 * (append_action_ctes), cl (append_close_cte), ins (append_insert_cte).
 * $1 is the run time, $2 the valid_to of current rows.
 */
static void
merge_main(const char *qname, const char *source_sql, Scd2Source *src,
		   List *keys, Scd2Options *o, Scd2Counts *counts)
{
	StringInfoData sql;
	bool		need_last = (o->updated_at && o->deletes == DEL_INVALIDATE);
	Oid			types[2] = {TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	initStringInfo(&sql);
	appendStringInfoString(&sql, "WITH ");
	append_source_cte(&sql, source_sql, src, keys, o);
	append_current_ctes(&sql, qname, keys, src, o, need_last);
	append_join_cte(&sql, src, keys, o);
	append_action_ctes(&sql, o);
	append_close_cte(&sql, qname, src, o);
	append_insert_cte(&sql, qname, src, keys, o, need_last);

	/*
	 * The result: the number of rows of j per action, and the source's rows.
	 * ins is not read: it runs to completion all the same, and writes one
	 * version per 'insert', 'change', 'reinsert' and 'delete' row.
	 */
	appendStringInfoString(&sql,
						   " SELECT _a, count(*) FROM j GROUP BY _a"
						   " UNION ALL SELECT NULL, _n FROM n");

	values[0] = o->as_of_null ? TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()) :
		o->as_of;
	if (o->vtc_null)
		nulls[1] = 'n';
	else
		values[1] = o->vtc;
	(void) lh_spi_exec(sql.data, 2, types, values, nulls, SPI_OK_SELECT,
					   "merge into an SCD2 table");
	count_actions(counts);
}

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
	prepare_target(schema, table, src, keys, &o);
	{
		StringInfoData buf;

		initStringInfo(&buf);
		appendStringInfo(&buf, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", qname);
		spi_utility(buf.data);
	}

	source_key_indexes(source_relid, keys, &unique, &ordered);
	if (!o.dup_latest && !unique)
		check_duplicates(qname, source_sql, keys);
	if (o.late_insert)
		merge_late(qname, source_sql, src, keys, &o, &placed, &already);

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
	merge_main(qname, source_sql, src, keys, &o, counts);
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
	prepare_target(schema, table, src, keys, &o);
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
