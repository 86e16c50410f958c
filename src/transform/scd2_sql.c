/*-------------------------------------------------------------------------
 *
 * scd2_sql.c
 *	  The statements of an SCD2 merge: the duplicate-key check, the
 *	  placement of late-arriving versions and the main statement.
 *
 * Keys are NULL-safe: two NULLs are the same key.  The join is split in
 * two branches: rows whose keys have no NULL join on plain equality (a
 * hash join with good estimates, or the key index for small sources), rows
 * with a NULL in a key join as whole records (ROW(k1, k2) values compared
 * with record_eq, where NULLs are equal, also hashable).  The unique
 * partial index of scd2_table.c keeps one current row per key.
 * When the source is a table with a btree index on exactly the keys, both
 * sides can be read in key order and the main statement runs without hash
 * joins: a merge join over the two index scans (see scd2_merge).
 * Duplicate keys in the source are looked for first (GROUP BY keys, which
 * groups NULLs together), unless a unique index of the source relation
 * already rules them out.
 *
 * Change detection (check strategy) compares the tracked values as records,
 * that is with each column type's default equality (compare_cast in
 * scd2.c): equal
 * values that print differently are not a change, as with dbt's "!=".  The
 * row_hash column is still written but decides nothing.
 *
 * The generated SQL names its own columns with a leading underscore (_k,
 * _u, _a, ...); source columns may not use those names (scd2.c refuses
 * them).  Every identifier goes through
 * quote_identifier; the run time and the valid_to of current rows are
 * the parameters $1 and $2.  Caller is connected to SPI and holds the
 * merge's locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "transform/scd2.h"

/* ----------------------------------------------------------------------
 * SQL generation
 * ----------------------------------------------------------------------
 */

/* "p.a, p.b" (prefix may be NULL) */
char *
scd2_col_list(const char *prefix, List *cols)
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
					 o->dup_latest ? scd2_col_list("q", keys) : "",
					 o->dup_latest ? ")" : "",
					 scd2_col_list("q", src->names), scd2_col_list("q", keys));
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
						 scd2_col_list("q", keys), quote_identifier(o->updated_at));
	appendStringInfoString(sql, ")");
}

/*
 * Refuse duplicate keys before anything is written, listing up to ten.
 *
 * XXX This is its own statement, so under READ COMMITTED a concurrent
 * writer of the source could add a duplicate before the merge reads it.
 * The unique index still keeps one current row per key (two new versions
 * of a key fail the merge), but the error is then the index's.
 */
void
scd2_check_duplicates(const char *qname, const char *source_sql, List *keys)
{
	StringInfoData sql;
	StringInfoData detail;
	int64		total = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT ROW(%s)::text, count(*), count(*) OVER ()"
					 " FROM (\n%s\n) AS q GROUP BY %s HAVING count(*) > 1"
					 " ORDER BY 1 LIMIT 10",
					 scd2_col_list("q", keys), source_sql, scd2_col_list("q", keys));
	if (lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_SELECT,
					"check an SCD2 source for duplicate keys") == 0)
		return;

	initStringInfo(&detail);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		appendStringInfo(&detail, "%sKey (%s)=%s appears %s times.",
						 i ? " " : "", scd2_col_list(NULL, keys),
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
	appendStringInfo(sql, "INSERT INTO %s (%s", qname, scd2_col_list(NULL, src->names));
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
void
scd2_merge_late(const char *qname, const char *source_sql, Scd2Source *src,
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
					 scd2_col_list("t", keys), quote_identifier(o->meta[M_UPDATED_AT]), qname,
					 cur, del,
					 scd2_col_list("t", keys), vf, vt, cur, qname,
					 qname, vt);
	append_insert_head(&sql, qname, src, o);
	appendStringInfo(&sql,
					 " SELECT %s, p._u, p._next, false,"
					 " md5(ROW(%s, extract(epoch FROM p._u))::text), p._u, false,"
					 " md5(ROW(%s)::text)"
					 " FROM p WHERE NOT p._dup RETURNING 1)"
					 " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM p WHERE p._dup)",
					 scd2_col_list("p", src->names), scd2_col_list("p", keys),
					 scd2_col_list("p", src->tracked));
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
					 key_aliases("t", keys, "_ck"), scd2_col_list("t", keys),
					 scd2_meta_time(o, "t", M_VALID_FROM), scd2_meta_time(o, "t", M_UPDATED_AT),
					 scd2_meta_deleted(o, "t"),
					 o->timestamp ? "NULL::text" : tracked_row("t", src, src->tgt_cast),
					 qname, scd2_meta_current(o, "t"));
	if (need_last)
		appendStringInfo(sql,
						 ", h AS (SELECT ROW(%s) AS _hk, max(%s) AS _last"
						 " FROM %s t WHERE NOT %s GROUP BY %s)",
						 scd2_col_list("t", keys), scd2_meta_time(o, "t", M_VALID_TO), qname,
						 scd2_meta_current(o, "t"), scd2_col_list("t", keys));
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
						 scd2_col_list("s", src->names),
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
					 scd2_col_list("j0", src->names));

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
		appendStringInfo(sql, ", %s", scd2_col_list("j", src->names));
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
						 scd2_col_list("x", keys), scd2_col_list("x", src->tracked));
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
	appendStringInfo(sql, " SELECT %s, ", scd2_col_list("x", src->names));
	append_new_meta(sql, keys, src, o);
	appendStringInfo(sql,
					 " FROM (SELECT %s, %s, j._nupd, false AS _ndel%s"
					 " FROM %s"
					 " UNION ALL SELECT %s, cl._nvf, cl._nupd, %s%s"
					 " FROM cl WHERE cl._a IN ('change', 'reinsert', 'delete')) x)",
					 scd2_col_list("j", src->names),
					 need_last ? "greatest(j._nvf, h._last) AS _nvf" : "j._nvf",
					 oid ? ", NULL::text AS _oid" : "",
					 need_last ?
					 psprintf("(SELECT j0.*, ROW(%s) AS _jk FROM j j0 WHERE j0._a = 'insert') j"
							  " LEFT JOIN h ON h._hk = j._jk", scd2_col_list("j0", keys)) :
					 "j WHERE j._a = 'insert'",
					 scd2_col_list("cl", src->names),
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
void
scd2_merge_main(const char *qname, const char *source_sql, Scd2Source *src,
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
