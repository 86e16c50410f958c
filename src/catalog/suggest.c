/*-------------------------------------------------------------------------
 *
 * suggest.c
 *	  "Did you mean ...?" hints for pipeline, source and table names that
 *	  do not exist.
 *
 * A name that does not exist is compared with the names of its kind in
 * the catalog by Levenshtein distance (varstr_levenshtein_less_equal), the
 * way PostgreSQL suggests a column for a misspelled one
 * (parse_relation.c): a candidate qualifies at distance at most
 * LH_SUGGEST_MAX_DISTANCE and at most half the length of the name given;
 * the closest wins; two at the same distance are both named, more than
 * two none.  A table name given without a schema is compared with the
 * table part of each registered table, and suggested qualified.
 *
 * Only names the caller could list anyway are suggested: the hint is
 * given when the caller may read the catalog table that holds them
 * (lakehouse_operator, lakehouse_engineer and above), never to a role that
 * could only learn a name from it.  Everything runs in the caller's
 * transaction through catalog_exec; callers are connected to SPI and are
 * about to raise the error the hint goes with.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/varlena.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

/* PostgreSQL's MAX_FUZZY_DISTANCE for column names */
#define LH_SUGGEST_MAX_DISTANCE	3

/* The best candidates so far. */
typedef struct Suggestion
{
	int			distance;		/* of first (and second) */
	const char *first;
	const char *second;
} Suggestion;

/* May the current user read catalog table relname? */
static bool
suggest_may_read(const char *relname)
{
	Oid			nspid = get_namespace_oid(LH_SCHEMA, true);
	Oid			relid;

	if (!OidIsValid(nspid))
		return false;
	relid = get_relname_relid(relname, nspid);
	return OidIsValid(relid) &&
		pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK;
}

/*
 * Consider candidate, compared as compare with given (the name that does
 * not exist), as parse_relation.c's updateFuzzyAttrMatchState does.
 */
static void
suggest_consider(Suggestion *s, const char *given, const char *compare,
				 const char *candidate)
{
	int			len = strlen(given);
	int			max = Min(LH_SUGGEST_MAX_DISTANCE, len / 2);
	int			d;

	if (strcmp(given, compare) == 0)
		return;					/* the name itself (another layer, say) */
	if (s->first != NULL && strcmp(s->first, candidate) == 0)
		return;					/* listed twice */
	d = varstr_levenshtein_less_equal(given, len, compare, strlen(compare),
									  1, 1, 1, max, true);
	if (d > max || d > s->distance)
		return;
	if (d < s->distance)
	{
		s->distance = d;
		s->first = candidate;
		s->second = NULL;
	}
	else if (s->first != NULL && s->second == NULL)
		s->second = candidate;
	else
	{
		/* three at one distance: none is a good guess, only closer ones */
		s->first = s->second = NULL;
	}
}

/* The hint text of a suggestion, or NULL. */
static char *
suggest_hint(Suggestion *s, const char *what)
{
	if (s->first == NULL)
		return NULL;
	if (s->second == NULL)
		return psprintf("Did you mean %s %s?", what, s->first);
	return psprintf("Did you mean %s %s or %s?", what, s->first, s->second);
}

static void
suggest_init(Suggestion *s)
{
	s->distance = LH_SUGGEST_MAX_DISTANCE + 1;
	s->first = s->second = NULL;
}

/*
 * lh_suggest_name
 *		The hint for name among candidates (a List of char *), or NULL;
 *		what says what they are ("pipeline").  For names that do not come
 *		from the catalog alone (a YAML stream's pipelines).
 */
char *
lh_suggest_name(const char *name, List *candidates, const char *what)
{
	Suggestion	s;
	ListCell   *lc;

	suggest_init(&s);
	foreach(lc, candidates)
	{
		const char *c = lfirst(lc);

		suggest_consider(&s, name, c, psprintf("\"%s\"", c));
	}
	return suggest_hint(&s, what);
}

/* Every value of the first column of a catalog query (no parameters). */
static List *
suggest_names(const char *sql)
{
	List	   *names = NIL;

	catalog_exec(sql, 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, catalog_text((int) i, 1));
	return names;
}

/*
 * catalog_pipeline_names
 *		The names of every pipeline, when the caller may read them (else
 *		NIL): the candidates of a "did you mean" hint.
 */
List *
catalog_pipeline_names(void)
{
	if (!suggest_may_read("pipelines"))
		return NIL;
	return suggest_names("SELECT name FROM lakehouse.pipelines ORDER BY name");
}

/* catalog_suggest_pipeline: the hint for a pipeline name, or NULL. */
char *
catalog_suggest_pipeline(const char *name)
{
	return lh_suggest_name(name, catalog_pipeline_names(), "pipeline");
}

/* catalog_suggest_source: the hint for a source name, or NULL. */
char *
catalog_suggest_source(const char *name)
{
	if (!suggest_may_read("sources"))
		return NULL;
	return lh_suggest_name(name,
						   suggest_names("SELECT name FROM lakehouse.sources ORDER BY name"),
						   "source");
}

/*
 * catalog_suggest_table
 *		The hint for a table name as the user gave it (qualified or not),
 *		among the registered tables of layer ("silver", "gold"; NULL:
 *		both), or NULL.
 */
char *
catalog_suggest_table(const char *name, const char *layer)
{
	Suggestion	s;
	bool		qualified = lh_name_is_qualified(name);
	char	   *schema;
	char	   *table;
	char	   *given;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	char		nulls[1];

	if (!suggest_may_read("tables"))
		return NULL;
	lh_parse_table_name(name, "silver", &schema, &table);
	given = qualified ? psprintf("%s.%s", schema, table) : table;
	values[0] = layer ? CStringGetTextDatum(layer) : (Datum) 0;
	nulls[0] = layer ? ' ' : 'n';
	catalog_exec("SELECT schema_name, table_name FROM lakehouse.tables"
				 " WHERE layer = $1 OR $1 IS NULL ORDER BY layer DESC, schema_name, table_name",
				 1, types, values, nulls, SPI_OK_SELECT);
	suggest_init(&s);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *sch = catalog_text((int) i, 1);
		char	   *tab = catalog_text((int) i, 2);

		suggest_consider(&s, given,
						 qualified ? psprintf("%s.%s", sch, tab) : tab,
						 lh_qualified_name(sch, tab));
	}
	return suggest_hint(&s, "table");
}

/*
 * catalog_table_oid
 *		lh_table_oid for a table a user named (given, as written): a table
 *		that does not exist is an error with a "did you mean" hint among
 *		the registered tables of layer (NULL: silver and gold).
 */
Oid
catalog_table_oid(const char *given, const char *schema, const char *table,
				  const char *layer)
{
	Oid			relid = lh_table_oid(schema, table, true);
	char	   *hint;

	if (OidIsValid(relid))
		return relid;
	/* (a nested connection when the caller has one) */
	SPI_connect();
	hint = catalog_suggest_table(given, layer);
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_TABLE),
			 errmsg("relation \"%s\" does not exist",
					lh_qualified_name(schema, table)),
			 hint ? errhint("%s", hint) : 0));
	return InvalidOid;			/* keep compiler quiet */
}
