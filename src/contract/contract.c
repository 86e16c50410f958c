/*-------------------------------------------------------------------------
 *
 * contract.c
 *	  The SQL API of gold data contracts and their catalog:
 *	  lh_attach_contract, lh_detach_contract, lh_contract_diff, and the
 *	  event triggers that guard contracted tables against breaking DDL
 *	  (lh_export_contract is in contract_export.c).
 *
 * lakehouse.contracts holds one row per table: the ODCS document as
 * given (jsonb), its compiled rules (jsonb, for people and tools), the
 * violation mode.  lakehouse.contract_columns holds one row per contract
 * property, with its classification (for row-level security later).
 * Tables are named by (schema, table), never by OID, so that pg_dump keeps
 * the catalog meaningful.
 *
 * Attaching validates the document (contract_odcs.c), checks it against
 * the table (every property is a column of a compatible type, every bound
 * and allowed value fits the column's type, every pattern compiles, every
 * relationship's target exists), stores it, and creates two triggers:
 * lh_contract_check (BEFORE INSERT OR UPDATE FOR EACH ROW) and
 * lh_contract_flush (AFTER INSERT OR UPDATE FOR EACH STATEMENT), see
 * contract_trigger.c.  It then invalidates the table's relcache entry, so
 * every backend recompiles its cached rules.  All of this happens in the
 * caller's transaction; CREATE TRIGGER takes a SHARE ROW EXCLUSIVE lock on
 * the table, held to the end of it.  Attaching the contract in force
 * again (an exported one, say) does none of it and takes no lock.
 *
 * The DDL guard (ddl_command_end, ALTER TABLE only) looks at the tables the
 * command touched that carry our row trigger, and refuses the command if
 * the table no longer matches its contract: a contract column dropped or
 * renamed, its type changed to one the logical/physical type does not
 * allow, or the table renamed or moved.  A second event trigger (sql_drop)
 * removes the contract of a table that is dropped.  For DDL on any other
 * table the guard costs one catalog query.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "lakehouse.h"
#include "contract/contract.h"
#include "security/security.h"

PG_FUNCTION_INFO_V1(lh_attach_contract);
PG_FUNCTION_INFO_V1(lh_detach_contract);
PG_FUNCTION_INFO_V1(lh_contract_diff);
PG_FUNCTION_INFO_V1(lh_contract_ddl_guard);
PG_FUNCTION_INFO_V1(lh_contract_sql_drop);

/* One difference between a contract and its table. */
typedef struct DiffRow
{
	char	   *column;
	char	   *issue;
	char	   *contract;
	char	   *actual;
	bool		breaking;		/* refused by the DDL guard */
} DiffRow;

static char *
text_arg(FunctionCallInfo fcinfo, int n, const char *what)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", what)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

/*
 * contract_load
 *		The contract of schema.table, parsed, or NULL if it has none.
 *		*on_violation and *table_id (0 if not a lakehouse table) are set
 *		when found.  Caller is connected to SPI.
 */
ContractDef *
contract_load(const char *schema, const char *table, char **on_violation,
			  int32 *table_id)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	Jsonb	   *doc;

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);

	/*
	 * lakehouse.tables is joined only to find the table_id of the contract's
	 * table, in the same statement: the row read is the subsystem's own,
	 * lakehouse.contracts.
	 */
	catalog_exec("SELECT c.document, c.on_violation,"
				 " (SELECT t.table_id FROM lakehouse.tables t"
				 "   WHERE t.schema_name = c.schema_name"
				 "     AND t.table_name = c.table_name)"
				 " FROM lakehouse.contracts c"
				 " WHERE c.schema_name = $1 AND c.table_name = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	doc = catalog_jsonb(0, 1);
	*on_violation = catalog_text(0, 2);
	*table_id = catalog_int32(0, 3, 0);
	return contract_parse(doc, table);
}

static void
json_str(StringInfo buf, const char *key, const char *val)
{
	if (val == NULL)
		return;
	appendStringInfoChar(buf, ',');
	escape_json(buf, key);
	appendStringInfoChar(buf, ':');
	escape_json(buf, val);
}

static void
json_names(StringInfo buf, List *names)
{
	ListCell   *lc;

	appendStringInfoChar(buf, '[');
	foreach(lc, names)
	{
		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(buf, ',');
		escape_json(buf, lfirst(lc));
	}
	appendStringInfoChar(buf, ']');
}

/*
 * contract_compiled_jsonb
 *		The rules of a definition in the flat form stored in
 *		lakehouse.contracts.compiled: what the triggers enforce.
 */
Jsonb *
contract_compiled_jsonb(ContractDef *def)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"object\":");
	escape_json(&buf, def->object_name);
	appendStringInfoString(&buf, ",\"columns\":[");
	foreach(lc, def->columns)
	{
		ContractColumn *c = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, "{\"name\":");
		escape_json(&buf, c->name);
		appendStringInfo(&buf, ",\"required\":%s", c->required ? "true" : "false");
		json_str(&buf, "logicalType", c->logical_type);
		json_str(&buf, "physicalType", c->physical_type);
		json_str(&buf, "minimum", c->minimum);
		json_str(&buf, "maximum", c->maximum);
		json_str(&buf, "exclusiveMinimum", c->exclusive_minimum);
		json_str(&buf, "exclusiveMaximum", c->exclusive_maximum);
		if (c->min_length >= 0)
			appendStringInfo(&buf, ",\"minLength\":%d", c->min_length);
		if (c->max_length >= 0)
			appendStringInfo(&buf, ",\"maxLength\":%d", c->max_length);
		json_str(&buf, "pattern", c->pattern);
		json_str(&buf, "format", c->format);
		if (c->valid_values)
		{
			appendStringInfoString(&buf, ",\"validValues\":");
			json_names(&buf, c->valid_values);
		}
		json_str(&buf, "classification", c->classification);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoString(&buf, "],\"primaryKey\":");
	json_names(&buf, def->primary_key);
	appendStringInfoString(&buf, ",\"unique\":[");
	{
		bool		first = true;

		foreach(lc, def->columns)
		{
			ContractColumn *c = lfirst(lc);

			if (!c->unique)
				continue;
			if (!first)
				appendStringInfoChar(&buf, ',');
			first = false;
			json_names(&buf, list_make1(c->name));
		}
		foreach(lc, def->uniques)
		{
			if (!first)
				appendStringInfoChar(&buf, ',');
			first = false;
			json_names(&buf, lfirst(lc));
		}
	}
	appendStringInfoString(&buf, "],\"relationships\":[");
	foreach(lc, def->relationships)
	{
		ContractRelationship *r = lfirst(lc);

		if (foreach_current_index(lc) > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, "{\"from\":");
		json_names(&buf, r->from);
		appendStringInfoString(&buf, ",\"table\":");
		escape_json(&buf, r->to_table);
		appendStringInfoString(&buf, ",\"to\":");
		json_names(&buf, r->to);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	if (def->has_row_count)
	{
		appendStringInfoString(&buf, ",\"rowCount\":{\"operator\":");
		escape_json(&buf, def->row_count_op);
		appendStringInfo(&buf, ",\"value\":%.17g", def->row_count_a);
		if (strstr(def->row_count_op, "Between"))
			appendStringInfo(&buf, ",\"upper\":%.17g", def->row_count_b);
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, '}');
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

static void
attach_error_callback(void *arg)
{
	errcontext("data contract for table %s", (const char *) arg);
}

/*
 * The table a relationship points to: in the contracted table's schema,
 * else in silver, else in gold.
 */
static Oid
relationship_target(const char *schema, const char *table, char **qualname)
{
	const char *schemas[3] = {schema, "silver", "gold"};

	for (int i = 0; i < 3; i++)
	{
		Oid			relid = lh_table_oid(schemas[i], table, true);

		if (OidIsValid(relid))
		{
			if (qualname)
				*qualname = lh_qualified_name(schemas[i], table);
			return relid;
		}
	}
	return InvalidOid;
}

/* One difference between a contract and its table. */
static void
add_diff(List **rows, const char *column, const char *issue,
		 const char *contract, const char *actual, bool breaking)
{
	DiffRow    *d = palloc(sizeof(DiffRow));

	d->column = (char *) column;
	d->issue = (char *) issue;
	d->contract = (char *) contract;
	d->actual = (char *) actual;
	d->breaking = breaking;
	*rows = lappend(*rows, d);
}

/* The names of a list of columns, quoted and comma-separated. */
static char *
column_list(List *columns)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, columns)
		appendStringInfo(&buf, "%s%s", foreach_current_index(lc) ? ", " : "",
						 quote_identifier(lfirst(lc)));
	return buf.data;
}

/* Each column the contract describes: present, of its type, nullability, unique. */
static void
diff_columns(ContractDef *def, TupleDesc desc, Oid relid, List **rows)
{
	ListCell   *lc;

	foreach(lc, def->columns)
	{
		ContractColumn *cc = lfirst(lc);
		Form_pg_attribute att = NULL;
		char	   *actual;

		for (int i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), cc->name) == 0)
				att = TupleDescAttr(desc, i);
		if (att == NULL)
		{
			add_diff(rows, cc->name, "missing column",
					 cc->physical_type ? cc->physical_type :
					 cc->logical_type ? cc->logical_type : "column", NULL, true);
			continue;
		}
		actual = format_type_with_typemod(att->atttypid, att->atttypmod);
		if (cc->logical_type && !contract_type_compatible(cc->logical_type, att->atttypid))
			add_diff(rows, cc->name, "type mismatch",
					 psprintf("logicalType %s", cc->logical_type), actual, true);
		if (cc->physical_type)
		{
			Oid			ptyp;
			int32		pmod;

			if (!contract_physical_type(cc->physical_type, &ptyp, &pmod) ||
				ptyp != att->atttypid || (pmod != -1 && pmod != att->atttypmod))
				add_diff(rows, cc->name, "type mismatch",
						 psprintf("physicalType %s", cc->physical_type), actual, true);
		}
		if ((cc->required || cc->pk_position > 0) && !att->attnotnull)
			add_diff(rows, cc->name, "nullability mismatch", "required", "nullable", false);
		if (cc->unique && !lh_unique_index_on(relid, list_make1(cc->name)))
			add_diff(rows, cc->name, "unique mismatch", "unique", "no unique index", false);
	}
}

/* The primary key and the unique keys of the contract. */
static void
diff_keys(ContractDef *def, Relation rel, Oid relid, List **rows)
{
	TupleDesc	desc = RelationGetDescr(rel);
	List	   *pk_actual = NIL;
	bool		same;
	ListCell   *lc;

	foreach(lc, RelationGetIndexList(rel))
	{
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(lfirst_oid(lc)));
		Form_pg_index idx;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (idx->indisprimary)
			for (int k = 0; k < idx->indnkeyatts; k++)
				pk_actual = lappend(pk_actual,
									pstrdup(NameStr(TupleDescAttr(desc, idx->indkey.values[k] - 1)->attname)));
		ReleaseSysCache(tup);
	}
	same = list_length(pk_actual) == list_length(def->primary_key);
	for (int i = 0; same && i < list_length(pk_actual); i++)
		same = strcmp(list_nth(pk_actual, i), list_nth(def->primary_key, i)) == 0;
	if (!same)
	{
		char	   *k = column_list(def->primary_key);
		char	   *a = column_list(pk_actual);

		add_diff(rows, NULL, "primary key mismatch", k[0] ? k : NULL,
				 a[0] ? a : NULL, false);
	}
	foreach(lc, def->uniques)
	{
		List	   *cols = lfirst(lc);

		if (!lh_unique_index_on(relid, cols))
			add_diff(rows, NULL, "unique mismatch",
					 psprintf("unique (%s)", column_list(cols)),
					 "no unique index", false);
	}
}

/*
 * The differences between a contract and its table (see lh_contract_diff).
 * Caller is connected to SPI.
 */
static List *
contract_diff_rows(ContractDef *def, const char *schema, const char *table,
				   Oid relid)
{
	List	   *rows = NIL;
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;

	diff_columns(def, desc, relid, &rows);
	diff_keys(def, rel, relid, &rows);
	foreach(lc, def->relationships)
	{
		ContractRelationship *r = lfirst(lc);

		if (!OidIsValid(relationship_target(schema, r->to_table, NULL)))
			add_diff(&rows, linitial(r->from), "missing relationship target",
					 psprintf("%s.%s", r->to_table, (char *) linitial(r->to)), NULL, false);
	}
	/* columns the contract does not describe */
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		bool		found = false;

		if (att->attisdropped)
			continue;
		foreach(lc, def->columns)
			if (strcmp(((ContractColumn *) lfirst(lc))->name, NameStr(att->attname)) == 0)
				found = true;
		if (!found)
			add_diff(&rows, pstrdup(NameStr(att->attname)), "extra column", NULL,
					 format_type_with_typemod(att->atttypid, att->atttypmod), false);
	}
	table_close(rel, AccessShareLock);
	return rows;
}

/* Relationship targets must exist with the named columns. */
static void
check_relationships(ContractDef *def, const char *schema, const char *qualname)
{
	ListCell   *lc;

	foreach(lc, def->relationships)
	{
		ContractRelationship *r = lfirst(lc);
		char	   *target;
		Oid			relid = relationship_target(schema, r->to_table, &target);
		ListCell   *lc2;

		if (!OidIsValid(relid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relationship target table \"%s\" of data contract \"%s\" does not exist",
							r->to_table, def->name),
					 errdetail("A relationship's table is looked up in the schema of %s, then in silver, then in gold.",
							   qualname)));
		foreach(lc2, r->to)
			if (get_attnum(relid, lfirst(lc2)) == InvalidAttrNumber)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_COLUMN),
						 errmsg("column \"%s\" of relationship target %s does not exist",
								(char *) lfirst(lc2), target)));
		foreach(lc2, r->from)
		{
			ListCell   *lc3;
			bool		found = false;

			foreach(lc3, def->columns)
				if (strcmp(((ContractColumn *) lfirst(lc3))->name, lfirst(lc2)) == 0)
					found = true;
			if (!found)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("relationship of data contract \"%s\" starts from \"%s\", which is not a property",
								def->name, (char *) lfirst(lc2))));
		}
	}
}

/* Store the contract and its columns; replaces an earlier one. */
static void
store_contract(const char *schema, const char *table, ContractDef *def,
			   Jsonb *doc, const char *on_violation)
{
	Oid			types[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, JSONBOID, JSONBOID,
	TEXTOID, TEXTOID};
	Datum		values[8];
	int			n = list_length(def->columns);
	Datum	   *names = palloc(sizeof(Datum) * (n + 1));
	Datum	   *ltypes = palloc(sizeof(Datum) * (n + 1));
	bool	   *ltnulls = palloc(sizeof(bool) * (n + 1));
	Datum	   *required = palloc(sizeof(Datum) * (n + 1));
	Datum	   *pkpos = palloc(sizeof(Datum) * (n + 1));
	bool	   *pknulls = palloc(sizeof(bool) * (n + 1));
	Datum	   *classes = palloc(sizeof(Datum) * (n + 1));
	bool	   *clnulls = palloc(sizeof(bool) * (n + 1));
	bool	   *nonulls = palloc0(sizeof(bool) * (n + 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	ListCell   *lc;
	Oid			ctypes[7] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID,
	INT4ARRAYOID, TEXTARRAYOID};
	Datum		cvalues[7];

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	values[2] = CStringGetTextDatum(def->id);
	values[3] = CStringGetTextDatum(def->version);
	values[4] = JsonbPGetDatum(doc);
	values[5] = JsonbPGetDatum(contract_compiled_jsonb(def));
	values[6] = CStringGetTextDatum(on_violation);
	values[7] = CStringGetTextDatum(def->name);
	catalog_exec("INSERT INTO lakehouse.contracts AS c (schema_name, table_name,"
				 " contract_id, contract_version, document, compiled, on_violation,"
				 " contract_name)"
				 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
				 " ON CONFLICT (schema_name, table_name) DO UPDATE SET"
				 " contract_id = excluded.contract_id,"
				 " contract_version = excluded.contract_version,"
				 " document = excluded.document, compiled = excluded.compiled,"
				 " on_violation = excluded.on_violation,"
				 " contract_name = excluded.contract_name, attached_at = now()",
				 8, types, values, NULL, SPI_OK_INSERT);
	catalog_exec("DELETE FROM lakehouse.contract_columns"
				 " WHERE schema_name = $1 AND table_name = $2",
				 2, types, values, NULL, SPI_OK_DELETE);
	if (n == 0)
		return;
	foreach(lc, def->columns)
	{
		ContractColumn *c = lfirst(lc);
		int			i = foreach_current_index(lc);

		names[i] = CStringGetTextDatum(c->name);
		ltypes[i] = c->logical_type ? CStringGetTextDatum(c->logical_type) : (Datum) 0;
		ltnulls[i] = c->logical_type == NULL;
		required[i] = BoolGetDatum(c->required || c->pk_position > 0);
		pkpos[i] = Int32GetDatum(0);
		pknulls[i] = true;
		for (int k = 0; k < list_length(def->primary_key); k++)
			if (strcmp(list_nth(def->primary_key, k), c->name) == 0)
			{
				pkpos[i] = Int32GetDatum(k + 1);
				pknulls[i] = false;
			}
		classes[i] = c->classification ? CStringGetTextDatum(c->classification) : (Datum) 0;
		clnulls[i] = c->classification == NULL;
	}
	cvalues[0] = values[0];
	cvalues[1] = values[1];
	cvalues[2] = PointerGetDatum(construct_md_array(names, nonulls, 1, dims, lbs, TEXTOID,
													-1, false, TYPALIGN_INT));
	cvalues[3] = PointerGetDatum(construct_md_array(ltypes, ltnulls, 1, dims, lbs, TEXTOID,
													-1, false, TYPALIGN_INT));
	cvalues[4] = PointerGetDatum(construct_md_array(required, nonulls, 1, dims, lbs, BOOLOID,
													1, true, TYPALIGN_CHAR));
	cvalues[5] = PointerGetDatum(construct_md_array(pkpos, pknulls, 1, dims, lbs, INT4OID,
													4, true, TYPALIGN_INT));
	cvalues[6] = PointerGetDatum(construct_md_array(classes, clnulls, 1, dims, lbs, TEXTOID,
													-1, false, TYPALIGN_INT));
	catalog_exec("INSERT INTO lakehouse.contract_columns (schema_name, table_name,"
				 " ordinal, column_name, logical_type, required, primary_key_position,"
				 " classification)"
				 " SELECT $1, $2, u.ord, u.n, u.lt, u.req, u.pk, u.cl"
				 " FROM unnest($3, $4, $5, $6, $7) WITH ORDINALITY"
				 "   AS u(n, lt, req, pk, cl, ord)",
				 7, ctypes, cvalues, NULL, SPI_OK_INSERT);
}

static void
create_triggers(const char *qualname)
{
	char	   *sql;

	sql = psprintf("CREATE OR REPLACE TRIGGER lh_contract_check"
				   " BEFORE INSERT OR UPDATE ON %s FOR EACH ROW"
				   " EXECUTE FUNCTION lakehouse.lh_contract_row_check()", qualname);
	(void) lh_spi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "create the contract trigger");
	sql = psprintf("CREATE OR REPLACE TRIGGER lh_contract_flush"
				   " AFTER INSERT OR UPDATE ON %s FOR EACH STATEMENT"
				   " EXECUTE FUNCTION lakehouse.lh_contract_statement_end()", qualname);
	(void) lh_spi_exec(sql, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "create the contract trigger");
}

/*
 * attach_unchanged
 *		Would attaching doc with mode on_violation (NULL: the current one)
 *		leave the contract of schema.table as it is?  True when the table
 *		has a contract with that mode, both triggers, and doc is its
 *		document as stored or the contract in force (contract_export.c:
 *		the stored document with the classifications recorded since, what
 *		lh_export_contract returns).  Any other document is stored, even
 *		one that differs only in classifications overridden now: it is what
 *		the contract says once those are removed.  *compiled is then the
 *		stored rules; *mode is the current mode (NULL: no contract).  A
 *		table that lost a contract trigger (DROP TRIGGER by hand) is not
 *		unchanged: attaching again repairs it.  Caller is connected to SPI.
 */
static bool
attach_unchanged(const char *schema, const char *table, Oid relid, Jsonb *doc,
				 const char *on_violation, char **mode, Jsonb **compiled)
{
	Jsonb	   *stored = contract_stored(schema, table, mode, compiled);
	Jsonb	   *in_force;
	Oid			types[1] = {OIDOID};
	Datum		values[1];

	if (stored == NULL)
	{
		*mode = NULL;
		return false;
	}
	if (on_violation != NULL && strcmp(on_violation, *mode) != 0)
		return false;
	values[0] = ObjectIdGetDatum(relid);
	if (lh_spi_exec("SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = $1"
					" AND t.tgname IN ('lh_contract_check', 'lh_contract_flush')",
					1, types, values, NULL, SPI_OK_SELECT,
					"look for the contract triggers") != 2)
		return false;
	if (compareJsonbContainers(&stored->root, &doc->root) == 0)
		return true;
	in_force = contract_in_force(stored, contract_parse(stored, table), schema, table);
	return compareJsonbContainers(&in_force->root, &doc->root) == 0;
}

/*
 * lh_attach_contract(table_name text, contract text,
 *					  on_violation text DEFAULT NULL) RETURNS jsonb
 *
 * Returns the compiled rules.  Attaching again replaces the contract; a
 * NULL mode keeps the mode of the contract replaced ('fail' for a new
 * one).  Attaching what is already in force (see attach_unchanged) writes
 * nothing, creates no trigger and invalidates nothing: no new
 * attached_at, no audit record, no recompilation in any backend.
 */
Datum
lh_attach_contract(PG_FUNCTION_ARGS)
{
	char	   *tname = text_arg(fcinfo, 0, "table name");
	char	   *doc_text = text_arg(fcinfo, 1, "contract");
	char	   *on_violation = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *schema;
	char	   *table;
	char	   *qualname;
	Oid			relid;
	Relation	rel;
	Jsonb	   *doc;
	Jsonb	   *compiled;
	ContractDef *def;
	ErrorContextCallback errcb;
	LhIdentity	id;
	char	   *mode;
	Datum		result;

	if (on_violation != NULL && strcmp(on_violation, "fail") != 0 &&
		strcmp(on_violation, "quarantine") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unrecognized on_violation mode: \"%s\"", on_violation),
				 errhint("Valid modes are \"fail\" and \"quarantine\".")));
	lh_parse_table_name(tname, "gold", &schema, &table);
	qualname = lh_qualified_name(schema, table);
	relid = catalog_table_oid(tname, schema, table, "gold");
	if (get_rel_relkind(relid) != RELKIND_RELATION &&
		get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s is not a table", qualname)));

	errcb.callback = attach_error_callback;
	errcb.arg = qualname;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	/* the right first: nothing is read, locked or compiled for others */
	SPI_connect();
	security_table_begin(schema, table, LH_RIGHT_ALTER,
						 "attach a data contract to table %s", &id);
	doc = contract_text_to_jsonb(doc_text);
	def = contract_parse(doc, table);
	if (attach_unchanged(schema, table, relid, doc, on_violation, &mode, &compiled))
	{
		error_context_stack = errcb.previous;
		security_table_end(&id);
		result = SPI_datumTransfer(JsonbPGetDatum(compiled), false, -1);
		SPI_finish();
		PG_RETURN_DATUM(result);
	}
	if (on_violation == NULL)
		on_violation = mode ? mode : "fail";
	rel = table_open(relid, ShareRowExclusiveLock);
	contract_check_compiles(def, rel, qualname);
	table_close(rel, NoLock);
	check_relationships(def, schema, qualname);
	error_context_stack = errcb.previous;
	store_contract(schema, table, def, doc, on_violation);
	create_triggers(qualname);
	security_table_end(&id);
	/* def lives in SPI's memory: the result is copied out before SPI_finish */
	result = SPI_datumTransfer(JsonbPGetDatum(contract_compiled_jsonb(def)), false, -1);
	SPI_finish();
	CacheInvalidateRelcacheByRelid(relid);
	PG_RETURN_DATUM(result);
}

/*
 * lh_detach_contract(table_name text, missing_ok boolean DEFAULT false)
 * RETURNS boolean: true if a contract was detached.
 */
Datum
lh_detach_contract(PG_FUNCTION_ARGS)
{
	char	   *tname = text_arg(fcinfo, 0, "table name");
	bool		missing_ok = PG_NARGS() > 1 && !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	char	   *schema;
	char	   *table;
	char	   *qualname;
	Oid			relid;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	bool		found;
	LhIdentity	id = {0};

	lh_parse_table_name(tname, "gold", &schema, &table);
	qualname = lh_qualified_name(schema, table);
	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	SPI_connect();
	if (OidIsValid(lh_table_oid(schema, table, true)) ||
		catalog_table_by_name(schema, table) != NULL)
		security_table_begin(schema, table, LH_RIGHT_ALTER,
							 "detach the data contract of table %s", &id);
	else if (!security_is_admin(GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to detach the data contract of table %s", qualname),
				 errdetail("The table no longer exists; only lakehouse administrators may remove its contract.")));
	catalog_exec("DELETE FROM lakehouse.contracts WHERE schema_name = $1 AND table_name = $2",
				 2, types, values, NULL, SPI_OK_DELETE);
	found = SPI_processed > 0;
	if (!found && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no data contract", qualname)));
	relid = lh_table_oid(schema, table, true);
	if (OidIsValid(relid))
	{
		(void) lh_spi_exec(psprintf("DROP TRIGGER IF EXISTS lh_contract_check ON %s",
									qualname), 0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "drop the contract trigger");
		(void) lh_spi_exec(psprintf("DROP TRIGGER IF EXISTS lh_contract_flush ON %s",
									qualname), 0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "drop the contract trigger");
		CacheInvalidateRelcacheByRelid(relid);
	}
	security_table_end(&id);
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/*
 * lh_contract_diff(table_name text)
 *		RETURNS TABLE(column_name text, issue text, contract text, actual text)
 */
Datum
lh_contract_diff(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *tname = text_arg(fcinfo, 0, "table name");
	char	   *schema;
	char	   *table;
	char	   *on_violation;
	int32		table_id;
	ContractDef *def;
	List	   *rows;
	ListCell   *lc;
	Oid			relid;

	InitMaterializedSRF(fcinfo, 0);
	lh_parse_table_name(tname, "gold", &schema, &table);
	SPI_connect();
	def = contract_load(schema, table, &on_violation, &table_id);
	if (def == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no data contract", lh_qualified_name(schema, table))));
	relid = lh_table_oid(schema, table, false);
	rows = contract_diff_rows(def, schema, table, relid);
	/* the rows live in SPI's memory: store them before SPI_finish */
	foreach(lc, rows)
	{
		DiffRow    *d = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {d->column == NULL, false, d->contract == NULL,
		d->actual == NULL};

		values[0] = d->column ? CStringGetTextDatum(d->column) : (Datum) 0;
		values[1] = CStringGetTextDatum(d->issue);
		values[2] = d->contract ? CStringGetTextDatum(d->contract) : (Datum) 0;
		values[3] = d->actual ? CStringGetTextDatum(d->actual) : (Datum) 0;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/*
 * lh_contract_ddl_guard() RETURNS event_trigger (ddl_command_end, ALTER TABLE)
 */
Datum
lh_contract_ddl_guard(PG_FUNCTION_ARGS)
{
	uint64		n;
	SPITupleTable *tt;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_contract_ddl_guard can only be called as an event trigger")));
	SPI_connect();
	catalog_exec("SELECT DISTINCT n.nspname::text, c.relname::text,"
					 "   (SELECT k.contract_name FROM lakehouse.contracts k"
					 "     JOIN pg_catalog.pg_class c2 ON c2.relname = k.table_name"
					 "     JOIN pg_catalog.pg_namespace n2 ON n2.oid = c2.relnamespace"
					 "      AND n2.nspname = k.schema_name"
					 "     WHERE c2.oid = c.oid)"
					 " FROM pg_catalog.pg_event_trigger_ddl_commands() d"
					 " JOIN pg_catalog.pg_class c ON c.oid = d.objid"
					 " JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
					 " WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass"
					 "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t"
					 "     WHERE t.tgrelid = c.oid AND t.tgname = 'lh_contract_check')",
					 0, NULL, NULL, NULL, SPI_OK_SELECT);
	n = SPI_processed;
	tt = SPI_tuptable;
	for (uint64 i = 0; i < n; i++)
	{
		char	   *schema = SPI_getvalue(tt->vals[i], tt->tupdesc, 1);
		char	   *table = SPI_getvalue(tt->vals[i], tt->tupdesc, 2);
		char	   *cname = SPI_getvalue(tt->vals[i], tt->tupdesc, 3);
		char	   *qualname = lh_qualified_name(schema, table);
		char	   *on_violation;
		int32		table_id;
		ContractDef *def;
		ListCell   *lc;

		if (cname == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot rename or move table to %s: it has a data contract", qualname),
					 errdetail("Data contracts are attached to a table by its schema and name."),
					 errhint("Detach the contract with lakehouse.lh_detach_contract first, and attach it again afterwards.")));
		def = contract_load(schema, table, &on_violation, &table_id);
		foreach(lc, contract_diff_rows(def, schema, table,
									   lh_table_oid(schema, table, false)))
		{
			DiffRow    *d = lfirst(lc);

			if (!d->breaking)
				continue;
			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot alter table %s: the change breaks data contract \"%s\"",
							qualname, def->name),
					 strcmp(d->issue, "missing column") == 0 ?
					 errdetail("Column \"%s\" is part of the contract, and the table would no longer have it.",
							   d->column) :
					 errdetail("Column \"%s\" would have type %s, which does not match %s of the contract.",
							   d->column, d->actual, d->contract),
					 errhint("Detach the contract with lakehouse.lh_detach_contract(%s) first, change the table, and attach an updated contract.",
							 quote_literal_cstr(qualname))));
		}
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * lh_contract_sql_drop() RETURNS event_trigger (sql_drop): forget the
 * contracts of dropped tables.
 */
Datum
lh_contract_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_contract_sql_drop can only be called as an event trigger")));
	SPI_connect();
	catalog_exec("DELETE FROM lakehouse.contracts c"
				 " USING pg_catalog.pg_event_trigger_dropped_objects() d"
				 " WHERE d.object_type = 'table'"
				 "   AND c.schema_name = d.schema_name"
				 "   AND c.table_name = d.object_name",
				 0, NULL, NULL, NULL, SPI_OK_DELETE);
	SPI_finish();
	PG_RETURN_VOID();
}
