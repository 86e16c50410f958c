/*-------------------------------------------------------------------------
 *
 * names.c
 *	  Parsing, quoting and checking of the object names users hand us.
 *
 * Users name tables as text ('silver.orders', '"Mixed Case".t').  Those
 * strings are parsed with the server's own identifier rules
 * (stringToQualifiedNameList), stored unquoted in the catalog as a
 * (schema, table) pair, and quoted again with quote_identifier whenever
 * they go back into SQL.  Nothing here keeps state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/schemacmds.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/scansup.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/varlena.h"

#include "lakehouse.h"

/*
 * Split a dotted name into identifiers the way the SQL parser reads them
 * (quoted parts kept as written with "" unescaped, unquoted parts folded
 * to lower case), but without truncating long parts: SplitIdentifierString
 * would silently cut them at NAMEDATALEN and two names could collide.
 * Returns NIL on a syntax error.
 */
static List *
split_name(const char *name)
{
	List	   *result = NIL;
	const char *p = name;

	for (;;)
	{
		StringInfoData part;

		initStringInfo(&part);
		while (scanner_isspace(*p))
			p++;
		if (*p == '"')
		{
			p++;
			for (;;)
			{
				if (*p == '\0')
					return NIL;
				if (*p == '"')
				{
					if (p[1] != '"')
						break;
					p++;
				}
				appendStringInfoChar(&part, *p++);
			}
			p++;
			if (part.len == 0)
				return NIL;
		}
		else
		{
			const char *start = p;
			char	   *down;

			while (*p && *p != '.' && !scanner_isspace(*p) && *p != '"')
				p++;
			if (p == start)
				return NIL;
			down = downcase_identifier(start, p - start, false, false);
			appendStringInfoString(&part, down);
		}
		result = lappend(result, part.data);
		while (scanner_isspace(*p))
			p++;
		if (*p == '\0')
			return result;
		if (*p != '.')
			return NIL;
		p++;
	}
}

/*
 * lh_parse_table_name
 *		Split a possibly qualified, possibly quoted table name.
 *
 * An unqualified name goes into default_schema.  Raises an error for
 * anything that is not one or two identifiers, or for a part too long to be
 * an identifier.
 */
void
lh_parse_table_name(const char *name, const char *default_schema,
					char **schema, char **table)
{
	List	   *names;

	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("table name must not be empty")));

	names = split_name(name);
	if (list_length(names) < 1 || list_length(names) > 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid table name: \"%s\"", name),
				 errhint("Write the name as table or schema.table; quote identifiers that contain dots or upper-case letters.")));

	if (list_length(names) == 2)
	{
		*schema = linitial(names);
		*table = lsecond(names);
	}
	else
	{
		*schema = pstrdup(default_schema);
		*table = linitial(names);
	}
	lh_check_name("schema", *schema);
	lh_check_name("table", *table);
}

/*
 * lh_name_is_qualified
 *		Does the (valid) name have a schema part?
 */
bool
lh_name_is_qualified(const char *name)
{
	return list_length(split_name(name)) == 2;
}

/*
 * lh_qualified_name
 *		schema.table, each part quoted only where needed.
 */
char *
lh_qualified_name(const char *schema, const char *table)
{
	return quote_qualified_identifier(schema, table);
}


/*
 * lh_layer_table_name
 *		The name of a table of a layer ("bronze", "silver", "gold") the way
 *		lineage jobs and metric labels write it: without the layer's own
 *		schema, which is where an unqualified name of that layer goes
 *		("silver.orders" -> "orders"), else qualified ("sales.orders").
 *		qualified is lh_qualified_name's form.  The layer schemas never
 *		need quoting, so a quoted schema never matches the prefix, and the
 *		result names the same table when read back with the layer as the
 *		default schema (lh_parse_table_name).
 */
char *
lh_layer_table_name(const char *layer, const char *qualified)
{
	size_t		n = strlen(layer);

	if (strncmp(qualified, layer, n) == 0 && qualified[n] == '.')
		return pstrdup(qualified + n + 1);
	return pstrdup(qualified);
}
/*
 * lh_table_oid
 *		Look up a table by its unquoted parts.
 */
Oid
lh_table_oid(const char *schema, const char *table, bool missing_ok)
{
	Oid			nspid = get_namespace_oid(schema, true);
	Oid			relid = InvalidOid;

	if (OidIsValid(nspid))
		relid = get_relname_relid(table, nspid);
	if (!OidIsValid(relid) && !missing_ok)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"%s\" does not exist",
						lh_qualified_name(schema, table))));
	return relid;
}

/*
 * lh_stage_table_oid
 *		The relation of a registered silver or gold table, for its stage;
 *		a table dropped behind lakehouse's back is an error that says how
 *		to recover.  Needs no SPI connection.
 */
Oid
lh_stage_table_oid(const LhTable *t)
{
	Oid			relid = lh_table_oid(t->schema_name, t->table_name, true);
	char	   *qname;

	if (OidIsValid(relid))
		return relid;
	qname = lh_qualified_name(t->schema_name, t->table_name);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("%s table %s does not exist", t->layer, qname),
			 errdetail("It is registered in lakehouse.tables, but the table itself was dropped."),
			 errhint("%s", lh_stage_table_hint(t->layer, qname))));
	return InvalidOid;			/* keep compiler quiet */
}

/*
 * lh_stage_table_hint
 *		What to do about a registered table that was dropped (layer
 *		"silver" or "gold", qname its quoted qualified name).
 */
char *
lh_stage_table_hint(const char *layer, const char *qname)
{
	return psprintf("Create it again with lakehouse.lh_define_%s(..., replace => true) or by applying the pipeline's configuration again (the next run fills it), or unregister it with lakehouse.lh_drop_table(%s).",
					layer, quote_literal_cstr(qname));
}

/*
 * lh_ensure_schema
 *		Create a schema if it does not exist yet.  Caller is connected to SPI.
 */
void
lh_ensure_schema(const char *schema)
{
	StringInfoData sql;

	if (OidIsValid(get_namespace_oid(schema, true)))
		return;
	initStringInfo(&sql);
	appendStringInfo(&sql, "CREATE SCHEMA IF NOT EXISTS %s",
					 quote_identifier(schema));
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "create a schema");
	pfree(sql.data);
}

/*
 * lh_check_name
 *		Reject names PostgreSQL could not store as an identifier.
 *
 * Any character is allowed (names are always quoted), but a name must be
 * non-empty and fit in NAMEDATALEN, otherwise the server would silently
 * truncate it and two different names could collide.
 */
void
lh_check_name(const char *what, const char *name)
{
	if (name == NULL || name[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("%s name must not be empty", what)));
	if (strlen(name) >= NAMEDATALEN)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s name \"%s\" is too long", what, name),
				 errdetail("Names are limited to %d bytes.", NAMEDATALEN - 1)));
}

/*
 * lh_unique_index_on
 *		Does the table have a plain unique index on exactly these columns
 *		(in any order)?  ON CONFLICT needs one.  Caller is connected to SPI.
 */
bool
lh_unique_index_on(Oid relid, List *columns)
{
	Oid			types[2] = {OIDOID, TEXTARRAYOID};
	Datum		values[2];
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(columns), 1));
	ListCell   *lc;

	foreach(lc, columns)
		elems[foreach_current_index(lc)] = CStringGetTextDatum(lfirst(lc));
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(elems, list_length(columns),
												TEXTOID, -1, false, TYPALIGN_INT));
	return lh_spi_exec("SELECT 1 FROM pg_catalog.pg_index i"
							   " WHERE i.indrelid = $1 AND i.indisunique"
							   " AND i.indpred IS NULL AND i.indexprs IS NULL"
							   " AND (SELECT array_agg(a.attname::text ORDER BY a.attname)"
							   "      FROM unnest(i.indkey) k JOIN pg_catalog.pg_attribute a"
							   "      ON a.attrelid = i.indrelid AND a.attnum = k)"
							   "   = (SELECT array_agg(x ORDER BY x) FROM unnest($2) x)"
							   " LIMIT 1",
							   2, types, values, NULL, SPI_OK_SELECT,
							   "read the indexes of a table") > 0;
}

/*
 * A one-dimensional text[] Datum from a list of C strings; NULL entries
 * become NULL elements.  An empty list gives an empty array.
 */
Datum
lh_text_array(List *items)
{
	int			n = list_length(items);
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));
	bool	   *nulls = palloc(sizeof(bool) * Max(n, 1));
	int			dims[1] = {n};
	int			lbs[1] = {1};
	ListCell   *lc;

	if (n == 0)
		return PointerGetDatum(construct_empty_array(TEXTOID));
	foreach(lc, items)
	{
		int			i = foreach_current_index(lc);

		nulls[i] = lfirst(lc) == NULL;
		elems[i] = nulls[i] ? (Datum) 0 : CStringGetTextDatum((char *) lfirst(lc));
	}
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/* SQL text without trailing semicolons and white space (palloc'd). */
char *
lh_trim_sql(const char *sql)
{
	char	   *q = pstrdup(sql);
	char	   *end = q + strlen(q);

	while (end > q && (isspace((unsigned char) end[-1]) || end[-1] == ';'))
		end--;
	*end = '\0';
	return q;
}

/* Is name one of the strings in list? */
bool
lh_name_in_list(List *list, const char *name)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp((char *) lfirst(lc), name) == 0)
			return true;
	return false;
}
