/*-------------------------------------------------------------------------
 *
 * quarantine.c
 *	  Catalog access to lakehouse.quarantine: rows the silver stage could
 *	  not project, and rows a gold data contract diverted.
 *
 * Both write in batches, from buffers of their own (src/transform/silver.c,
 * src/contract/contract_quarantine.c), with one multi-row INSERT of arrays
 * per batch, through catalog_exec: the rows are the owner's data, the
 * table is the catalog's.  Data-quality control totals read the sum of a
 * quarantined value here, apart from the statement that sums the owner's
 * silver and bronze tables, which runs as the owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

/* element type of each column of a batch, in LhQuarantineCol order */
static const Oid quarantine_types[LHQ_NCOLS] = {
	INT8OID, INT4OID, INT4OID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, TEXTOID, JSONBOID
};

/*
 * catalog_quarantine_insert
 *		Insert n quarantine rows given column-wise: cols[k][i] (with
 *		nulls[k][i]) is column k of row i; cols[k] NULL makes column k null
 *		in every row.  The caller is connected to SPI.
 */
void
catalog_quarantine_insert(int n, Datum **cols, bool **nulls)
{
	Oid			types[LHQ_NCOLS];
	Datum		values[LHQ_NCOLS];
	int			dims[1] = {n};
	int			lbs[1] = {1};
	bool	   *allnull = palloc(sizeof(bool) * Max(n, 1));

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
		allnull[i] = true;
	for (int k = 0; k < LHQ_NCOLS; k++)
	{
		int16		typlen;
		bool		typbyval;
		char		typalign;
		Datum	   *elems = cols[k];

		if (elems == NULL)
			elems = palloc0(sizeof(Datum) * n);
		get_typlenbyvalalign(quarantine_types[k], &typlen, &typbyval, &typalign);
		types[k] = get_array_type(quarantine_types[k]);
		values[k] = PointerGetDatum(construct_md_array(elems,
													   cols[k] ? nulls[k] : allnull,
													   1, dims, lbs, quarantine_types[k],
													   typlen, typbyval, typalign));
	}
	catalog_exec("INSERT INTO lakehouse.quarantine"
				 " (run_id, pipeline_id, table_id, target_table, bronze_table,"
				 " bronze_id, source_position, column_name, value, reason, rule, payload)"
				 " SELECT * FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
				 LHQ_NCOLS, types, values, NULL, SPI_OK_INSERT);
}

/* Forget a table's quarantined rows (a full refresh projects them again). */
void
catalog_quarantine_clear(int32 table_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(table_id)};

	catalog_exec("DELETE FROM lakehouse.quarantine WHERE table_id = $1",
				 1, types, values, NULL, SPI_OK_DELETE);
}

/*
 * catalog_quarantine_total
 *		The sum (numeric) of the values at path (a list of keys) in the
 *		payloads of a table's quarantined rows, counting values that do not
 *		read as numbers as nothing; one_run: only the rows of run run_id.
 *		0 when there are none.  For control totals (src/quality/check.c).
 */
Datum
catalog_quarantine_total(int32 table_id, List *path, bool one_run, int64 run_id)
{
	Oid			types[4] = {INT4OID, TEXTARRAYOID, BOOLOID, INT8OID};
	Datum		values[4];
	bool		isnull;
	Datum		total;

	values[0] = Int32GetDatum(table_id);
	values[1] = lh_text_array(path);
	values[2] = BoolGetDatum(one_run);
	values[3] = Int64GetDatum(run_id);
	catalog_exec("SELECT coalesce(sum(" CATALOG_SQL_NUMERIC_OF_V "), 0)"
				 " FROM lakehouse.quarantine q,"
				 "  LATERAL (SELECT q.payload #>> $2 AS v) j"
				 " WHERE q.table_id = $1 AND (NOT $3 OR q.run_id = $4)",
				 4, types, values, NULL, SPI_OK_SELECT);
	total = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return PointerGetDatum(DatumGetNumericCopy(total));
}
