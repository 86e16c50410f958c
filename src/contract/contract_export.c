/*-------------------------------------------------------------------------
 *
 * contract_export.c
 *	  The data contract in force for a table, as one ODCS v3.1 document:
 *	  lh_export_contract, and what lh_attach_contract compares to decide
 *	  that attaching a document changes nothing.
 *
 * The contract in force is the document as attached
 * (lakehouse.contracts.document) with the classifications recorded later
 * for its columns (lh_classify or a silver mapping, in
 * lakehouse.column_classifications) written into the "classification" of
 * the property that describes each column.  Such a classification wins
 * over the document's own, as it does for masking (the view
 * lakehouse.column_masking); one that differs from the document's only in
 * case leaves the document's spelling.  Columns the contract does not
 * describe are not added: a new property would be a new promise, and it
 * would change what lh_contract_diff reports.  Nothing else about a
 * contract changes after it is attached (a new version, status, quality
 * rule or relationship is a new attach), so the rest is the document as
 * stored.  The violation mode is not part of ODCS; it stays an argument of
 * lh_attach_contract.
 *
 * The overlay is the one place that knows how the catalog adds to a
 * document: lh_export_contract returns it applied to the stored document,
 * and lh_attach_contract (contract.c) leaves everything as it is when the
 * new document is that result (or the stored document itself), so that
 * attaching an exported document again is a no-op.
 *
 * Read only; no locks beyond those of the catalog reads.  Callers are
 * connected to SPI, so results live in the SPI procedure context until
 * copied out (SPI_datumTransfer).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "lakehouse.h"
#include "contract/contract.h"

PG_FUNCTION_INFO_V1(lh_export_contract);

/*
 * contract_stored
 *		The document attached to schema.table as stored, or NULL if the
 *		table has no contract; *on_violation and *compiled (either may be
 *		NULL) are set when found.  Caller is connected to SPI.
 */
Jsonb *
contract_stored(const char *schema, const char *table, char **on_violation,
				Jsonb **compiled)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	catalog_exec("SELECT c.document, c.on_violation, c.compiled"
				 " FROM lakehouse.contracts c"
				 " WHERE c.schema_name = $1 AND c.table_name = $2",
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	if (on_violation)
		*on_violation = catalog_text(0, 2);
	if (compiled)
		*compiled = catalog_jsonb(0, 3);
	return catalog_jsonb(0, 1);
}

/* doc with $.schema[object].properties[property].classification = cls */
static Jsonb *
set_classification(Jsonb *doc, int object, int property, const char *cls)
{
	Datum		path[5];
	StringInfoData value;

	path[0] = CStringGetTextDatum("schema");
	path[1] = CStringGetTextDatum(psprintf("%d", object));
	path[2] = CStringGetTextDatum("properties");
	path[3] = CStringGetTextDatum(psprintf("%d", property));
	path[4] = CStringGetTextDatum("classification");
	initStringInfo(&value);
	escape_json(&value, cls);
	return DatumGetJsonbP(DirectFunctionCall4(jsonb_set,
											  JsonbPGetDatum(doc),
											  PointerGetDatum(construct_array(path, 5, TEXTOID, -1,
																			  false, TYPALIGN_INT)),
											  DirectFunctionCall1(jsonb_in,
																  CStringGetDatum(value.data)),
											  BoolGetDatum(true)));
}

/*
 * contract_in_force
 *		doc (attached to schema.table, parsed into def) with the
 *		classifications recorded for its columns since; doc itself when
 *		there are none.  Caller is connected to SPI.
 */
Jsonb *
contract_in_force(Jsonb *doc, ContractDef *def, const char *schema,
				  const char *table)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	uint64		n;

	values[0] = CStringGetTextDatum(schema);
	values[1] = CStringGetTextDatum(table);
	catalog_exec("SELECT k.column_name, k.classification"
				 " FROM lakehouse.column_classifications k"
				 " WHERE k.schema_name = $1 AND k.table_name = $2"
				 " ORDER BY k.column_name",
				 2, types, values, NULL, SPI_OK_SELECT);
	n = SPI_processed;
	/* no SPI call below: SPI_tuptable stays this result */
	for (uint64 i = 0; i < n; i++)
	{
		char	   *column = catalog_text(i, 1);
		char	   *cls = catalog_text(i, 2);
		ListCell   *lc;

		/* properties are parsed in order: the list index is the property's */
		foreach(lc, def->columns)
		{
			ContractColumn *c = lfirst(lc);

			if (strcmp(c->name, column) != 0)
				continue;
			if (c->classification == NULL ||
				pg_strcasecmp(c->classification, cls) != 0)
				doc = set_classification(doc, def->object_index,
										 foreach_current_index(lc), cls);
			break;
		}
	}
	return doc;
}

/*
 * lh_export_contract(table_name text) RETURNS jsonb
 *		The ODCS document in force for a table (see the file header).  A
 *		table without a contract is an error: an export never makes a
 *		contract up.
 */
Datum
lh_export_contract(PG_FUNCTION_ARGS)
{
	char	   *tname;
	char	   *schema;
	char	   *table;
	Jsonb	   *doc;
	Datum		result;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table name must not be null")));
	tname = text_to_cstring(PG_GETARG_TEXT_PP(0));
	lh_parse_table_name(tname, "gold", &schema, &table);
	SPI_connect();
	doc = contract_stored(schema, table, NULL, NULL);
	if (doc == NULL)
	{
		char	   *qualname = lh_qualified_name(schema, table);

		/* an unknown table says so, with a suggestion */
		(void) catalog_table_oid(tname, schema, table, "gold");
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has no data contract", qualname),
				 errhint("Attach an ODCS document with lakehouse.lh_attach_contract(%s, ...) first; only an attached contract is exported.",
						 quote_literal_cstr(qualname))));
	}
	doc = contract_in_force(doc, contract_parse(doc, table), schema, table);
	result = SPI_datumTransfer(JsonbPGetDatum(doc), false, -1);
	SPI_finish();
	PG_RETURN_DATUM(result);
}
