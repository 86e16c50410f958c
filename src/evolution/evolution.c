/*-------------------------------------------------------------------------
 *
 * evolution.c
 *	  Schema evolution of silver tables: each registered silver table has a
 *	  policy (strict, additive, permissive) and a snapshot of its columns;
 *	  DDL is checked against both.
 *
 * The snapshot (lakehouse.silver_schema_columns) holds, per column, its
 * attnum, name, type, NOT NULL flag, default and position in the primary
 * key.  lh_define_silver takes it when it registers the table and
 * refreshes it after its own changes; every allowed change refreshes it.
 *
 * Three ways to change a silver table, one comparison:
 *
 *	- plain DDL: the event trigger lh_silver_schema_guard runs at
 *	  ddl_command_end of every ALTER TABLE.  A table that is not a registered
 *	  silver table costs one catalog lookup.  Otherwise the table's actual
 *	  columns are compared with the snapshot (by name, and by attnum to tell
 *	  a rename from a drop and an add), each difference is classified as
 *	  safe or breaking, and what the policy does not allow raises an error,
 *	  which rolls the DDL back;
 *	- lh_evolve(table, ddl, allow_breaking, reason): the explicit migration
 *	  (evolution_migrate.c).  The statement must be one ALTER TABLE of that
 *	  very table.  It runs with the guard turned off for that table, then
 *	  the same comparison applies its own rule (breaking changes need
 *	  allow_breaking, whatever the policy), and the gold tables that read
 *	  the table are planned again;
 *	- config: lh_define_silver(..., replace => true) of a registered table
 *	  whose mapping gained columns or changed types alters the table itself
 *	  (evolution_apply_mapping) when the policy allows it.
 *
 * Every change that goes through is recorded in lakehouse.schema_history
 * (who, when, how, policy, kind, column, old and new definition), mapped
 * columns follow a rename or a type change (lakehouse.silver_columns and
 * the table's keys/order_by), and the snapshot is refreshed.  Dropping a
 * mapped column is refused under every policy: the silver stage would fail.
 *
 * The guard flag (guard_relid) is backend-local and reset in PG_FINALLY, so
 * an error never leaves the guard off.  Everything here runs in the
 * caller's transaction; the DDL already holds its AccessExclusiveLock on
 * the table when the comparison runs.  The event trigger does its catalog
 * work as the owner of the catalog, so that table owners without rights on
 * the lakehouse schema can still alter their own tables.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "tcop/tcopprot.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "evolution/evolution.h"
#include "security/security.h"
#include "transform/transform.h"

PG_FUNCTION_INFO_V1(lh_set_schema_policy);
PG_FUNCTION_INFO_V1(lh_silver_schema_guard);

/* One column, from the snapshot or from the table itself. */
typedef struct EvoColumn
{
	int			attnum;
	char	   *name;
	Oid			typid;
	int32		typmod;
	char	   *type_name;
	bool		notnull;
	char	   *defexpr;		/* NULL: no default */
	int			pkpos;			/* 0: not in the primary key */
	struct EvoColumn *partner;	/* the same column on the other side */
} EvoColumn;

static const char *const via_names[] = {"ddl", "lh_evolve", "config"};

/* The table whose DDL the extension itself is running, if any. */
static Oid	guard_relid = InvalidOid;

#define EVO_COLUMNS_SQL \
	"SELECT a.attnum::integer, a.attname::text, a.atttypid, a.atttypmod," \
	" pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull," \
	" CASE WHEN a.attidentity <> '' THEN 'generated as identity'" \
	"      ELSE pg_catalog.pg_get_expr(d.adbin, d.adrelid) END," \
	" coalesce((SELECT k.n FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(att, n)" \
	"           WHERE k.att = a.attnum), 0)::integer" \
	" FROM pg_catalog.pg_attribute a" \
	" LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum" \
	" LEFT JOIN pg_catalog.pg_index i ON i.indrelid = a.attrelid AND i.indisprimary" \
	" WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped"

/* ----------------------------------------------------------------
 * Catalog access (caller connected to SPI)
 * ----------------------------------------------------------------
 */

void
evolution_check_policy(const char *policy)
{
	if (strcmp(policy, "strict") != 0 && strcmp(policy, "additive") != 0 &&
		strcmp(policy, "permissive") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized schema policy: \"%s\"", policy),
				 errhint("Valid policies are \"strict\", \"additive\" and \"permissive\".")));
}

/*
 * Look a registered silver table up by name, or by table_id if non-zero:
 * the table from the catalog (src/catalog/), its policy from
 * lakehouse.silver_schemas.  NULL if it is not registered, or has no
 * policy.
 */
static EvoTable *
evo_lookup(const char *schema, const char *table, int32 table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1];
	LhTable    *lt;
	EvoTable   *t;

	if (table_id != 0)
		lt = catalog_table(table_id);
	else
	{
		lt = catalog_table_by_name(schema, table);
		if (lt != NULL && strcmp(lt->layer, "silver") != 0)
			lt = NULL;
	}
	if (lt == NULL)
		return NULL;
	values[0] = Int32GetDatum(lt->table_id);
	catalog_exec("SELECT policy FROM lakehouse.silver_schemas WHERE table_id = $1",
				 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	t = palloc0(sizeof(EvoTable));
	t->table_id = lt->table_id;
	t->policy = catalog_text(0, 1);
	t->schema = lt->schema_name;
	t->table = lt->table_name;
	t->qname = lh_qualified_name(t->schema, t->table);
	t->relid = lh_table_oid(t->schema, t->table, true);
	return t;
}

/* Read columns from a query shaped like EVO_COLUMNS_SQL. */
static List *
evo_read_columns(const char *sql, Oid argtype, Datum arg)
{
	List	   *result = NIL;

	catalog_exec(sql, 1, &argtype, &arg, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		EvoColumn  *c = palloc0(sizeof(EvoColumn));
		bool		isnull;

		c->attnum = DatumGetInt32(SPI_getbinval(tup, desc, 1, &isnull));
		c->name = SPI_getvalue(tup, desc, 2);
		c->typid = DatumGetObjectId(SPI_getbinval(tup, desc, 3, &isnull));
		c->typmod = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		c->type_name = SPI_getvalue(tup, desc, 5);
		c->notnull = DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull));
		c->defexpr = SPI_getvalue(tup, desc, 7);
		c->pkpos = DatumGetInt32(SPI_getbinval(tup, desc, 8, &isnull));
		result = lappend(result, c);
	}
	return result;
}

static List *
evo_actual_columns(Oid relid)
{
	return evo_read_columns(EVO_COLUMNS_SQL " ORDER BY a.attnum", OIDOID,
							ObjectIdGetDatum(relid));
}

static List *
evo_snapshot_columns(int32 table_id)
{
	return evo_read_columns("SELECT attnum::integer, column_name, type_oid, typmod,"
							" type_name, not_null, default_expr,"
							" coalesce(pk_position, 0)::integer"
							" FROM lakehouse.silver_schema_columns"
							" WHERE table_id = $1 ORDER BY attnum",
							INT4OID, Int32GetDatum(table_id));
}

/* Replace the snapshot of a table with its current columns. */
static void
evo_write_snapshot(int32 table_id, Oid relid)
{
	Oid			types[2] = {OIDOID, INT4OID};
	Datum		values[2] = {ObjectIdGetDatum(relid), Int32GetDatum(table_id)};

	catalog_exec("DELETE FROM lakehouse.silver_schema_columns WHERE table_id = $2",
				 2, types, values, NULL, SPI_OK_DELETE);
	catalog_exec("INSERT INTO lakehouse.silver_schema_columns"
				 " (attnum, column_name, type_oid, typmod, type_name, not_null,"
				 " default_expr, pk_position, table_id)"
				 " SELECT c.*, $2 FROM (" EVO_COLUMNS_SQL ") c",
				 2, types, values, NULL, SPI_OK_INSERT);
	catalog_exec("UPDATE lakehouse.silver_schemas SET snapshot_at = now()"
				 " WHERE table_id = $2",
				 2, types, values, NULL, SPI_OK_UPDATE);
}

/* ----------------------------------------------------------------
 * Classification
 * ----------------------------------------------------------------
 */

static char *
evo_col_def(EvoColumn *c)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, c->type_name);
	if (c->notnull)
		appendStringInfoString(&buf, " NOT NULL");
	if (c->defexpr)
		appendStringInfo(&buf, " DEFAULT %s", c->defexpr);
	return buf.data;
}

static bool
evo_same_type(EvoColumn *a, EvoColumn *b)
{
	return (a->typid == b->typid && a->typmod == b->typmod) ||
		strcmp(a->type_name, b->type_name) == 0;
}

/* The decimal digits every value of an integer type needs; 0: not one. */
static int
evo_integer_digits(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return 5;			/* -32768 .. 32767 */
		case INT4OID:
			return 10;			/* -2147483648 .. 2147483647 */
		case INT8OID:
			return 19;			/* -9223372036854775808 .. */
		default:
			return 0;
	}
}

/* The bits of mantissa an integer type needs to be exact; 0: not one. */
static int
evo_integer_bits(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
			return 15;
		case INT4OID:
			return 31;
		case INT8OID:
			return 63;
		default:
			return 0;
	}
}

/* Precision and scale of a numeric typmod (>= 0). */
static void
evo_numeric_typmod(int32 typmod, int *precision, int *scale)
{
	int32		t = typmod - VARHDRSZ;

	*precision = (t >> 16) & 0xffff;
	*scale = (((t & 0x7ff) ^ 1024) - 1024);
}

/*
 * Is old -> new a widening: does every value of the old type convert to the
 * new one without loss (and without error)?
 *
 * - an integer type to a wider one (int2 -> int4, int8; int4 -> int8), to
 *   real or double precision when its bits fit the mantissa (int2 -> real,
 *   double precision; int4 -> double precision), and to numeric when its
 *   digits fit: unconstrained numeric, or numeric(p,s) with s >= 0 and
 *   p - s >= 5 (int2), 10 (int4) or 19 (int8);
 * - real -> double precision;
 * - numeric(p,s) -> numeric(q,t) that keeps every integer digit and every
 *   fractional one: q - t >= p - s and t >= s (not both equal), or
 *   unconstrained numeric;
 * - varchar(n) -> varchar(m > n), unbounded varchar or text.
 */
static bool
evo_widening(Oid oldtyp, int32 oldmod, Oid newtyp, int32 newmod)
{
	int			digits = evo_integer_digits(oldtyp);

	if (digits > 0)
	{
		if (evo_integer_digits(newtyp) > digits)
			return true;
		if (newtyp == FLOAT4OID)
			return evo_integer_bits(oldtyp) <= 24;
		if (newtyp == FLOAT8OID)
			return evo_integer_bits(oldtyp) <= 53;
		if (newtyp == NUMERICOID)
		{
			int			prec;
			int			scale;

			if (newmod < 0)
				return true;
			evo_numeric_typmod(newmod, &prec, &scale);
			return scale >= 0 && prec - scale >= digits;
		}
		return false;
	}
	switch (oldtyp)
	{
		case FLOAT4OID:
			return newtyp == FLOAT8OID;
		case NUMERICOID:
			if (newtyp != NUMERICOID)
				return false;
			if (newmod < 0)
				return oldmod >= 0;
			if (oldmod < 0)
				return false;
			{
				int			oprec;
				int			oscale;
				int			nprec;
				int			nscale;

				evo_numeric_typmod(oldmod, &oprec, &oscale);
				evo_numeric_typmod(newmod, &nprec, &nscale);
				return nscale >= oscale && nprec - nscale >= oprec - oscale &&
					(nprec != oprec || nscale != oscale);
			}
		case VARCHAROID:
			if (newtyp == TEXTOID)
				return true;
			if (newtyp != VARCHAROID)
				return false;
			if (newmod < 0)
				return oldmod >= 0;
			return oldmod >= 0 && newmod > oldmod;
		default:
			return false;
	}
}

static EvoChange *
evo_change(List **changes, const char *kind, const char *column, bool breaking,
		   char *old_def, char *new_def, char *detail)
{
	EvoChange  *ch = palloc0(sizeof(EvoChange));

	ch->kind = kind;
	ch->column = column ? pstrdup(column) : NULL;
	ch->breaking = breaking;
	ch->old_def = old_def;
	ch->new_def = new_def;
	ch->detail = detail;
	*changes = lappend(*changes, ch);
	return ch;
}

/* Type and nullability differences of one column present on both sides. */
static void
evo_compare_pair(List **changes, EvoColumn *o, EvoColumn *n)
{
	if (!evo_same_type(o, n))
	{
		if (evo_widening(o->typid, o->typmod, n->typid, n->typmod))
			evo_change(changes, "widen_type", n->name, false,
					   evo_col_def(o), evo_col_def(n),
					   psprintf("The type of column \"%s\" would widen from %s to %s.",
								n->name, o->type_name, n->type_name));
		else
			evo_change(changes, "change_type", n->name, true,
					   evo_col_def(o), evo_col_def(n),
					   psprintf("The type of column \"%s\" would change from %s to %s, which is not a widening.",
								n->name, o->type_name, n->type_name));
	}
	if (o->notnull && !n->notnull)
		evo_change(changes, "drop_not_null", n->name, false,
				   evo_col_def(o), evo_col_def(n),
				   psprintf("Column \"%s\" would drop its NOT NULL constraint.",
							n->name));
	else if (!o->notnull && n->notnull)
		evo_change(changes, "set_not_null", n->name, true,
				   evo_col_def(o), evo_col_def(n),
				   psprintf("Column \"%s\" would become NOT NULL.",
							n->name));
}

static EvoColumn *
evo_find(List *cols, const char *name, int attnum)
{
	ListCell   *lc;

	foreach(lc, cols)
	{
		EvoColumn  *c = lfirst(lc);

		if (name ? strcmp(c->name, name) == 0 : c->attnum == attnum)
			return c;
	}
	return NULL;
}

/* The primary key as "(a, b)", or "none"; rename maps old names to new. */
static char *
evo_pk_text(List *cols, bool rename)
{
	StringInfoData buf;
	int			npk = 0;

	initStringInfo(&buf);
	for (int pos = 1;; pos++)
	{
		ListCell   *lc;
		bool		found = false;

		foreach(lc, cols)
		{
			EvoColumn  *c = lfirst(lc);

			if (c->pkpos == pos)
			{
				const char *name = (rename && c->partner) ? c->partner->name : c->name;

				appendStringInfo(&buf, "%s%s", npk++ ? ", " : "(",
								 quote_identifier(name));
				found = true;
			}
		}
		if (!found)
			break;
	}
	if (npk == 0)
		return pstrdup("none");
	appendStringInfoChar(&buf, ')');
	return buf.data;
}

/*
 * Classify the differences between the snapshot (old) and the table (cur).
 * Columns are matched by name; an unmatched old column whose attnum an
 * unmatched new column carries was renamed.
 */
static List *
evo_diff(List *old, List *cur)
{
	List	   *changes = NIL;
	ListCell   *lc;

	foreach(lc, old)
	{
		EvoColumn  *o = lfirst(lc);
		EvoColumn  *n = evo_find(cur, o->name, 0);

		if (n)
		{
			o->partner = n;
			n->partner = o;
		}
	}
	foreach(lc, old)
	{
		EvoColumn  *o = lfirst(lc);
		EvoColumn  *n;

		if (o->partner)
			continue;
		n = evo_find(cur, NULL, o->attnum);
		if (n && n->partner == NULL)
		{
			EvoChange  *ch;

			o->partner = n;
			n->partner = o;
			ch = evo_change(&changes, "rename_column", o->name, true,
							pstrdup(o->name), pstrdup(n->name),
							psprintf("Column \"%s\" would be renamed to \"%s\".",
									 o->name,
									 n->name));
			ch->new_column = pstrdup(n->name);
		}
		else
			evo_change(&changes, "drop_column", o->name, true,
					   evo_col_def(o), NULL,
					   psprintf("Column \"%s\" (%s) would be dropped.",
								o->name, evo_col_def(o)));
	}
	foreach(lc, old)
	{
		EvoColumn  *o = lfirst(lc);

		if (o->partner)
			evo_compare_pair(&changes, o, o->partner);
	}
	foreach(lc, cur)
	{
		EvoColumn  *n = lfirst(lc);

		if (n->partner)
			continue;
		if (n->notnull && n->defexpr == NULL)
			evo_change(&changes, "add_column", n->name, true, NULL, evo_col_def(n),
					   psprintf("Column \"%s\" would be added as %s without a default.",
								n->name, evo_col_def(n)));
		else
			evo_change(&changes, "add_column", n->name, false, NULL, evo_col_def(n),
					   psprintf("Column \"%s\" would be added as %s.",
								n->name, evo_col_def(n)));
	}
	{
		char	   *oldpk = evo_pk_text(old, true);
		char	   *newpk = evo_pk_text(cur, false);

		if (strcmp(oldpk, newpk) != 0)
			evo_change(&changes, "change_primary_key", NULL, true,
					   evo_pk_text(old, false), newpk,
					   psprintf("The primary key would change from %s to %s.",
								evo_pk_text(old, false), newpk));
	}
	return changes;
}

/* ----------------------------------------------------------------
 * Enforcement and recording
 * ----------------------------------------------------------------
 */

/*
 * Raise the error the policy calls for, if any.  Under "strict" only
 * lh_evolve changes anything; under "additive" breaking changes need
 * lh_evolve or config with allow_breaking; "permissive" allows everything
 * except that lh_evolve always wants allow_breaking for breaking changes.
 */
static void
evo_enforce(EvoTable *t, List *changes, EvoVia via, bool allow_breaking)
{
	EvoChange  *first = NULL;
	EvoChange  *breaking = NULL;
	ListCell   *lc;
	char	   *lit = quote_literal_cstr(t->qname);

	foreach(lc, changes)
	{
		EvoChange  *ch = lfirst(lc);

		if (first == NULL)
			first = ch;
		if (ch->breaking && breaking == NULL)
			breaking = ch;
	}
	if (first == NULL)
		return;

	if (strcmp(t->policy, "strict") == 0 && via != EVO_VIA_EVOLVE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("cannot change silver table %s outside a migration", t->qname),
				 errdetail("%s The schema policy of the table is \"strict\": every change needs an explicit migration.",
						   (breaking ? breaking : first)->detail),
				 errhint("Make the change with lakehouse.lh_evolve(%s, '<ALTER TABLE statement>'%s), which records it and re-checks the gold tables that read the table.",
						 lit, breaking ? ", allow_breaking => true" : "")));

	if (breaking == NULL || allow_breaking)
		return;
	if (via == EVO_VIA_EVOLVE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("cannot apply a breaking change to silver table %s", t->qname),
				 errdetail("%s A migration makes a breaking change only when asked to; the schema policy of the table is \"%s\".",
						   breaking->detail, t->policy),
				 errhint("Pass allow_breaking => true to make this change.")));
	if (strcmp(t->policy, "permissive") == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
			 errmsg("cannot apply a breaking change to silver table %s", t->qname),
			 errdetail("%s The schema policy of the table is \"%s\", which allows only safe changes: adding a nullable column or one with a default, widening a type, dropping NOT NULL.",
					   breaking->detail, t->policy),
			 via == EVO_VIA_DDL ?
			 errhint("Make the change with lakehouse.lh_evolve(%s, '<ALTER TABLE statement>', allow_breaking => true), which records it and re-checks the gold tables that read the table.",
					 lit) :
			 errhint("Set allow_breaking: true on the silver table in the configuration (allow_breaking => true in lh_define_silver), or make the change with lakehouse.lh_evolve(%s, '<ALTER TABLE statement>', allow_breaking => true).",
					 lit)));
}

/* A mapped column cannot be dropped: the silver stage reads it. */
static void
evo_check_mapped(EvoTable *t, List *changes)
{
	List	   *mapping = NIL;	/* read when a column is dropped */
	ListCell   *lc;

	foreach(lc, changes)
	{
		EvoChange  *ch = lfirst(lc);
		ListCell   *lm;

		if (strcmp(ch->kind, "drop_column") != 0)
			continue;
		if (mapping == NIL)
			mapping = catalog_silver_columns(t->table_id);
		foreach(lm, mapping)
		{
			LhSilverColumn *col = lfirst(lm);
			StringInfoData path;
			ListCell   *lp;

			if (strcmp(col->name, ch->column) != 0)
				continue;
			initStringInfo(&path);
			foreach(lp, col->path)
				appendStringInfo(&path, "%s%s", foreach_current_index(lp) > 0 ? "." : "",
								 (char *) lfirst(lp));
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop column \"%s\" of silver table %s",
							ch->column, t->qname),
					 errdetail("The column is mapped from the bronze payload path \"%s\".",
							   path.data),
					 errhint("Remove the column from the mapping first (lh_define_silver with replace => true), then drop it.")));
		}
	}
}

/* Insert the changes into lakehouse.schema_history with one statement. */
static void
evo_record(EvoTable *t, List *changes, const char *via, bool allow_breaking,
		   const char *reason, const char *statement, Oid user)
{
	Oid			types[13] = {INT4OID, TEXTOID, NAMEOID, TEXTOID, TEXTOID, BOOLOID,
		TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
	TEXTARRAYOID};
	Datum		values[13];
	char		nulls[13];
	List	   *kinds = NIL,
			   *cols = NIL,
			   *olds = NIL,
			   *news = NIL,
			   *brks = NIL;
	ListCell   *lc;

	if (changes == NIL)
		return;
	foreach(lc, changes)
	{
		EvoChange  *ch = lfirst(lc);

		kinds = lappend(kinds, (char *) ch->kind);
		cols = lappend(cols, ch->column);
		olds = lappend(olds, ch->old_def);
		news = lappend(news, ch->new_def);
		brks = lappend(brks, ch->breaking ? "true" : "false");
	}
	memset(nulls, ' ', sizeof(nulls));
	values[0] = Int32GetDatum(t->table_id);
	values[1] = CStringGetTextDatum(t->qname);
	values[2] = DirectFunctionCall1(namein,
									CStringGetDatum(GetUserNameFromId(user, false)));
	values[3] = CStringGetTextDatum(via);
	values[4] = CStringGetTextDatum(t->policy);
	values[5] = BoolGetDatum(allow_breaking);
	if (reason)
		values[6] = CStringGetTextDatum(reason);
	else
		nulls[6] = 'n';
	if (statement)
		values[7] = CStringGetTextDatum(statement);
	else
		nulls[7] = 'n';
	values[8] = lh_text_array(kinds);
	values[9] = lh_text_array(cols);
	values[10] = lh_text_array(olds);
	values[11] = lh_text_array(news);
	values[12] = lh_text_array(brks);
	catalog_exec("INSERT INTO lakehouse.schema_history"
				 " (table_id, table_name, changed_by, via, policy, allow_breaking,"
				 " reason, statement, change_kind, column_name, old_definition,"
				 " new_definition, breaking)"
				 " SELECT $1, $2, $3, $4, $5, $6, $7, $8,"
				 " u.kind, u.col, u.old, u.new, u.brk::boolean"
				 " FROM unnest($9, $10, $11, $12, $13) WITH ORDINALITY"
				 " AS u(kind, col, old, new, brk, n) ORDER BY u.n",
				 13, types, values, nulls, SPI_OK_INSERT);
}

/*
 * Keep the mapping in step: a renamed mapped column keeps its JSON path
 * under its new name (and in keys/order_by); a mapped column whose type
 * changed gets the new type name.  Returns descriptions for the summary.
 */
static List *
evo_update_mapping(EvoTable *t, List *changes)
{
	List	   *done = NIL;
	ListCell   *lc;

	foreach(lc, changes)
	{
		EvoChange  *ch = lfirst(lc);
		const char *column = ch->column ? ch->column : "";

		if (strcmp(ch->kind, "rename_column") == 0)
		{
			if (catalog_silver_column_rename(t->table_id, column, ch->new_column))
				done = lappend(done, psprintf("mapped column \"%s\" renamed to \"%s\"",
											  ch->column,
											  ch->new_column));
		}
		else if (strcmp(ch->kind, "widen_type") == 0 ||
				 strcmp(ch->kind, "change_type") == 0)
		{
			EvoColumn  *c = NULL;
			List	   *cur = evo_actual_columns(t->relid);

			c = evo_find(cur, ch->column, 0);
			if (c == NULL)
				continue;
			if (catalog_silver_column_set_type(t->table_id, column, c->type_name))
				done = lappend(done, psprintf("mapped column \"%s\" now has type %s",
											  ch->column,
											  c->type_name));
		}
	}
	return done;
}

/*
 * Compare a registered table with its snapshot; enforce, record, follow
 * with the mapping, refresh the snapshot.  Returns the changes (NIL: none).
 */
List *
evolution_reconcile(EvoTable *t, EvoVia via, bool allow_breaking, const char *reason,
			  const char *statement, Oid user, List **mapping_updates)
{
	List	   *old = evo_snapshot_columns(t->table_id);
	List	   *cur;
	List	   *changes;
	List	   *updates;

	if (!OidIsValid(t->relid))
		return NIL;
	cur = evo_actual_columns(t->relid);
	if (old == NIL)
	{
		/* registered before snapshots existed: take one now */
		evo_write_snapshot(t->table_id, t->relid);
		return NIL;
	}
	changes = evo_diff(old, cur);
	if (changes == NIL)
		return NIL;
	evo_enforce(t, changes, via, allow_breaking);
	evo_check_mapped(t, changes);
	evo_record(t, changes, via_names[via], allow_breaking, reason, statement, user);
	updates = evo_update_mapping(t, changes);
	if (mapping_updates)
		*mapping_updates = updates;
	evo_write_snapshot(t->table_id, t->relid);
	return changes;
}

/*
 * Run DDL against one table with the guard off for that table (the
 * extension's own changes are checked by their caller, not the trigger).
 * Caller is connected to SPI.
 */
void
evolution_execute_ddl(Oid relid, const char *sql)
{
	Oid			save = guard_relid;

	guard_relid = relid;
	PG_TRY();
	{
		(void) lh_spi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "change the table");
	}
	PG_FINALLY();
	{
		guard_relid = save;
	}
	PG_END_TRY();
}

/* Change the policy of a registered table, recording it. */
static void
evo_set_policy(EvoTable *t, const char *policy)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	EvoChange	ch;
	const char *old = t->policy;

	evolution_check_policy(policy);
	if (strcmp(t->policy, policy) == 0)
		return;
	values[0] = Int32GetDatum(t->table_id);
	values[1] = CStringGetTextDatum(policy);
	catalog_exec("UPDATE lakehouse.silver_schemas SET policy = $2 WHERE table_id = $1",
				 2, types, values, NULL, SPI_OK_UPDATE);
	memset(&ch, 0, sizeof(ch));
	ch.kind = "set_policy";
	ch.old_def = pstrdup(old);
	ch.new_def = pstrdup(policy);
	t->policy = pstrdup(policy);
	evo_record(t, list_make1(&ch), "policy", false, NULL, NULL, GetUserId());
}

/* ----------------------------------------------------------------
 * Entry points for lh_define_silver (src/declare/declare.c)
 * ----------------------------------------------------------------
 */

/*
 * evolution_apply_mapping
 *		Called by lh_define_silver for a table already defined, before
 *		silver_prepare_table checks it: set the policy if given, then add the
 *		mapped columns the table lacks and change the types that differ,
 *		as the policy allows.  A table without a registered schema (adopted
 *		before it had one) is left to silver_prepare_table.
 */
void
evolution_apply_mapping(int32 table_id, const char *schema, const char *table,
						List *columns, const char *policy, bool allow_breaking)
{
	EvoTable   *t = evo_lookup(NULL, NULL, table_id);
	Relation	rel;
	TupleDesc	desc;
	StringInfoData sql;
	List	   *predicted = NIL;
	ListCell   *lc;

	if (t == NULL)
		return;
	if (policy)
		evo_set_policy(t, policy);
	if (!OidIsValid(t->relid) || strcmp(t->schema, schema) != 0 ||
		strcmp(t->table, table) != 0)
		return;

	initStringInfo(&sql);
	rel = table_open(t->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	foreach(lc, columns)
	{
		LhSilverColumn *col = lfirst(lc);
		Form_pg_attribute found = NULL;
		char	   *newtype = format_type_with_typemod(col->typid, col->typmod);

		for (int i = 0; i < desc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(desc, i);

			if (!att->attisdropped && strcmp(NameStr(att->attname), col->name) == 0)
				found = att;
		}
		if (found == NULL)
		{
			appendStringInfo(&sql, "%s ADD COLUMN %s %s", sql.len ? "," : "",
							 quote_identifier(col->name), newtype);
			evo_change(&predicted, "add_column", col->name, false, NULL, newtype,
					   psprintf("Column \"%s\" would be added as %s.",
								col->name, newtype));
		}
		else if (found->atttypid != col->typid ||
				 (col->typmod >= 0 && found->atttypmod != col->typmod))
		{
			char	   *oldtype = format_type_with_typemod(found->atttypid,
														   found->atttypmod);
			bool		widen = evo_widening(found->atttypid, found->atttypmod,
											 col->typid, col->typmod);

			appendStringInfo(&sql, "%s ALTER COLUMN %s TYPE %s USING %s::%s",
							 sql.len ? "," : "", quote_identifier(col->name),
							 newtype, quote_identifier(col->name), newtype);
			evo_change(&predicted, widen ? "widen_type" : "change_type",
					   col->name, !widen, oldtype, newtype,
					   widen ?
					   psprintf("The type of column \"%s\" would widen from %s to %s.",
								col->name, oldtype, newtype) :
					   psprintf("The type of column \"%s\" would change from %s to %s, which is not a widening.",
								col->name, oldtype, newtype));
		}
	}
	table_close(rel, AccessShareLock);
	if (predicted == NIL)
		return;

	/* refuse before running anything: a narrowing could fail on data */
	evo_enforce(t, predicted, EVO_VIA_CONFIG, allow_breaking);
	{
		char	   *stmt = psprintf("ALTER TABLE %s%s", t->qname, sql.data);
		List	   *changes;

		evolution_execute_ddl(t->relid, stmt);
		changes = evolution_reconcile(t, EVO_VIA_CONFIG, allow_breaking, NULL, stmt,
								GetUserId(), NULL);
		foreach(lc, changes)
		{
			EvoChange  *ch = lfirst(lc);

			ereport(NOTICE,
					(errmsg("silver table %s: %s \"%s\"", t->qname,
							strcmp(ch->kind, "add_column") == 0 ? "added column" :
							"changed the type of column",
							ch->column ? ch->column : ""),
					 ch->old_def ?
					 errdetail("It was %s and is now %s.", ch->old_def, ch->new_def) :
					 errdetail("Its definition is %s.", ch->new_def)));
		}
	}
}

/*
 * evolution_register
 *		Called by lh_define_silver once the table exists and its catalog row
 *		is stored: register its schema (policy "additive" unless given) and
 *		snapshot it.  The table was prepared by the extension itself, so a
 *		difference from an older snapshot (lineage columns added) is taken
 *		as is.
 */
void
evolution_register(int32 table_id, const char *schema, const char *table,
				   const char *policy)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};
	EvoTable   *t;
	Oid			relid = lh_table_oid(schema, table, false);

	values[0] = Int32GetDatum(table_id);
	if (policy)
		values[1] = CStringGetTextDatum(policy);
	else
		nulls[1] = 'n';
	catalog_exec("INSERT INTO lakehouse.silver_schemas (table_id, policy)"
				 " VALUES ($1, coalesce($2, 'additive'))"
				 " ON CONFLICT (table_id) DO NOTHING",
				 2, types, values, nulls, SPI_OK_INSERT);
	if (SPI_processed > 0)
	{
		evo_write_snapshot(table_id, relid);
		return;
	}
	t = evo_lookup(NULL, NULL, table_id);
	if (policy)
		evo_set_policy(t, policy);
	if (evo_diff(evo_snapshot_columns(table_id), evo_actual_columns(relid)) != NIL)
		evo_write_snapshot(table_id, relid);
}

/* ----------------------------------------------------------------
 * SQL-callable functions
 * ----------------------------------------------------------------
 */

/* A registered silver table named by a user; raises an error otherwise. */
EvoTable *
evolution_lookup_table(const char *tname)
{
	char	   *schema;
	char	   *table;
	EvoTable   *t;

	lh_parse_table_name(tname, "silver", &schema, &table);
	t = evo_lookup(schema, table, 0);
	if (t == NULL)
	{
		char	   *hint = catalog_suggest_table(tname, "silver");

		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table \"%s\" is not a silver table of any pipeline", tname),
				 hint ? errhint("%s", hint) :
				 errhint("See lakehouse.tables for the silver tables of each pipeline.")));
	}
	if (!OidIsValid(t->relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist", t->qname)));
	return t;
}

/*
 * lh_set_schema_policy(table_name, policy) returns void
 */
Datum
lh_set_schema_policy(PG_FUNCTION_ARGS)
{
	char	   *tname;
	char	   *policy;
	EvoTable   *t;
	LhIdentity	id;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name and policy must not be null")));
	tname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	policy = text_to_cstring(PG_GETARG_TEXT_PP(1));
	evolution_check_policy(policy);
	SPI_connect();
	t = evolution_lookup_table(tname);
	security_table_begin(t->schema, t->table, LH_RIGHT_ALTER,
						 "set the schema policy of table %s", &id);
	evo_set_policy(t, policy);
	security_table_end(&id);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * lh_silver_schema_guard() returns event_trigger
 *		ddl_command_end of ALTER TABLE: enforce the policy of a registered
 *		silver table.
 */
Datum
lh_silver_schema_guard(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Node	   *parsetree;
	RangeVar   *rv = NULL;
	Oid			relid;
	Oid			user = GetUserId();
	EvoTable   *t;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "lh_silver_schema_guard: not fired by event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;
	parsetree = trigdata->parsetree;

	if (IsA(parsetree, AlterTableStmt) &&
		((AlterTableStmt *) parsetree)->objtype == OBJECT_TABLE)
		rv = ((AlterTableStmt *) parsetree)->relation;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_COLUMN)
		rv = ((RenameStmt *) parsetree)->relation;
	if (rv == NULL)
		PG_RETURN_VOID();
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid) || relid == guard_relid ||
		(get_rel_relkind(relid) != RELKIND_RELATION &&
		 get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE))
		PG_RETURN_VOID();

	/* catalog statements switch to the catalog owner themselves */
	SPI_connect();
	t = evo_lookup(get_namespace_name(get_rel_namespace(relid)),
				   get_rel_name(relid), 0);
	if (t != NULL && t->relid == relid)
		(void) evolution_reconcile(t, EVO_VIA_DDL, false, NULL, debug_query_string,
								   user, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}
