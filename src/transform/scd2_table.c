/*-------------------------------------------------------------------------
 *
 * scd2_table.c
 *	  The history table of an SCD2 merge: its meta columns in lakehouse's
 *	  layout or a dbt snapshot's, its creation or check, and its current-
 *	  row index.
 *
 * A dbt snapshot (option dbt_compat, or a table with dbt's meta columns) is
 * continued in its own layout: no is_current (current rows have valid_to
 * NULL or valid_to_current), dbt_scd_id built as dbt's macros build it, the
 * table's own time type, dbt_is_deleted 'True'/'False'.  The meta_* helpers
 * hide the difference from the SQL generation.
 *
 * The history table is created from the source's columns when missing, or
 * checked (meta column names and types) and completed with the source
 * columns it lacks.  A unique partial index on (keys) NULLS NOT DISTINCT
 * WHERE <current> is created when missing: it enforces "exactly one
 * current row per key" whatever happens.  Runs inside scd2_merge() (after
 * its advisory lock) or when an scd2 gold stage is defined; caller is
 * connected to SPI.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "lakehouse.h"
#include "security/security.h"
#include "transform/scd2.h"

const char *const scd2_meta_option[M_COUNT] = {
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

/*
 * scd2_set_layout
 *		Choose lakehouse's meta columns or a dbt snapshot's (dbt), fill in
 *		o->meta and refuse what that layout cannot do.
 */
void
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
							scd2_meta_option[i]),
					 errdetail("A dbt snapshot has no such column: its current rows are those whose valid_to is NULL (or valid_to_current)."),
					 errhint("Remove the option, or set \"dbt_compat\" to false.")));
		o->meta[i] = def ? (o->meta_given[i] ? o->meta_given[i] : def) : NULL;
		for (int j = 0; j < i && o->meta[i]; j++)
			if (o->meta[j] && strcmp(o->meta[i], o->meta[j]) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_DUPLICATE_COLUMN),
						 errmsg("SCD2 meta columns \"%s\" and \"%s\" have the same name \"%s\"",
								scd2_meta_option[j], scd2_meta_option[i], o->meta[i])));
	}
	if (dbt && o->late_insert)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("SCD2 option \"late_arriving\" = \"insert\" cannot be used with a dbt snapshot"),
				 errdetail("dbt snapshots have no way to place a late row into history."),
				 errhint("Leave \"late_arriving\" at \"ignore\", or set \"dbt_compat\" to false.")));
}

void
scd2_spi_utility(const char *sql)
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
char *
scd2_meta_current(Scd2Options *o, const char *p)
{
	const char *pre = p ? psprintf("%s.", p) : "";
	const char *vt = quote_identifier(o->meta[M_VALID_TO]);

	if (!o->dbt)
		return psprintf("%s%s", pre, quote_identifier(o->meta[M_IS_CURRENT]));
	if (o->dbt_vtc_lit == NULL)
		return psprintf("%s%s IS NULL", pre, vt);
	return psprintf("(%s%s IS NULL OR %s%s = %s)", pre, vt, pre, vt, o->dbt_vtc_lit);
}

char *
scd2_meta_deleted(Scd2Options *o, const char *p)
{
	if (!o->dbt)
		return psprintf("%s.%s", p, quote_identifier(o->meta[M_IS_DELETED]));
	if (!o->dbt_deleted_col)
		return "false";
	return psprintf("coalesce(%s.%s = 'True', false)", p,
					quote_identifier(o->meta[M_IS_DELETED]));
}

char *
scd2_meta_time(Scd2Options *o, const char *p, int m)
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
							 scd2_meta_option[m])));
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
void
scd2_prepare_target(const char *schema, const char *table, Scd2Source *src,
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
		scd2_spi_utility(buf.data);
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
			scd2_spi_utility(buf.data);
		}
		if (o->dbt && !o->dbt_deleted_col && o->deletes == DEL_NEW_RECORD)
		{
			resetStringInfo(&buf);
			appendStringInfo(&buf, "ALTER TABLE %s ADD COLUMN %s text", qname,
							 quote_identifier(o->meta[M_IS_DELETED]));
			scd2_spi_utility(buf.data);
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
		appendStringInfoString(&buf, scd2_col_list(NULL, keys));
		appendStringInfo(&buf, ") NULLS NOT DISTINCT WHERE %s",
						 scd2_meta_current(o, NULL));
		scd2_spi_utility(buf.data);
	}
}
