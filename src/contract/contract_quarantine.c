/*-------------------------------------------------------------------------
 *
 * contract_quarantine.c
 *	  The buffer of rows a data contract diverts (on_violation
 *	  'quarantine'), written to lakehouse.quarantine in batches.
 *
 * The row trigger (contract_trigger.c) appends each diverted row -- the
 * whole row as jsonb and every rule it breaks (column, value, reason and
 * rule "contract:<rule>") -- to a backend-local buffer.  The buffer is written with one multi-row INSERT
 * (unnest of arrays) when lakehouse.max_quarantine_buffer rows wait, at the
 * end of every statement that writes a contracted table (the trigger
 * lh_contract_flush, AFTER INSERT OR UPDATE FOR EACH STATEMENT), and at the
 * end of each gold stage (contract_table.c), never one INSERT per row.
 *
 * Transactions: the buffer follows the transaction.  Each entry remembers
 * the subtransaction that added it; when a subtransaction aborts, its
 * entries (and those of its children) are dropped, and at the end of the
 * transaction the buffer is emptied.  The rows are written in the
 * transaction of the statement that diverted them, so they commit or roll
 * back with it.  Memory: a context under TopMemoryContext, reset whenever
 * the buffer is emptied.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "lakehouse.h"
#include "contract/contract.h"

PG_FUNCTION_INFO_V1(lh_contract_statement_end);

/* One buffered row. */
typedef struct QuarantineEntry
{
	SubTransactionId subxid;
	int64		run_id;			/* 0: none */
	int32		pipeline_id;	/* 0: none */
	int32		table_id;		/* 0: none */
	char	   *target;
	char	   *column;
	char	   *value;			/* NULL: the value was null */
	char	   *reason;
	char	   *rule;
	Datum		payload;		/* jsonb */
	Datum		violations;		/* jsonb: every rule broken */
} QuarantineEntry;

static MemoryContext quarantine_cxt = NULL;
static QuarantineEntry *qbuf = NULL;
static int	qbuf_n = 0;
static int	qbuf_max = 0;

static void
quarantine_reset(void)
{
	qbuf_n = 0;
	if (quarantine_cxt)
		MemoryContextReset(quarantine_cxt);
	qbuf = NULL;
	qbuf_max = 0;
}

static void
contract_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		if (qbuf_n > 0 && event != XACT_EVENT_ABORT &&
			event != XACT_EVENT_PARALLEL_ABORT)
			elog(WARNING, "%d quarantined rows were not written", qbuf_n);
		quarantine_reset();
	}
}

/* Drop entries added inside an aborted subtransaction (or its children). */
static void
contract_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	int			keep = 0;

	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	for (int i = 0; i < qbuf_n; i++)
		if (qbuf[i].subxid < mySubid)
			qbuf[keep++] = qbuf[i];
	qbuf_n = keep;
}

/*
 * contract_quarantine_init
 *		Register the transaction callbacks (from _PG_init).
 */
void
contract_quarantine_init(void)
{
	RegisterXactCallback(contract_xact_callback, NULL);
	RegisterSubXactCallback(contract_subxact_callback, NULL);
}

/*
 * contract_flush_quarantine
 *		Write the buffered quarantined rows with one INSERT.  Connects to
 *		SPI itself.
 */
void
contract_flush_quarantine(void)
{
	static const LhQuarantineCol order[] = {
		LHQ_RUN_ID, LHQ_PIPELINE_ID, LHQ_TABLE_ID, LHQ_TARGET, LHQ_COLUMN,
		LHQ_VALUE, LHQ_REASON, LHQ_RULE, LHQ_PAYLOAD, LHQ_VIOLATIONS
	};
	Datum	   *cols[LHQ_NCOLS] = {0};
	bool	   *nulls[LHQ_NCOLS] = {0};
	int			n = qbuf_n;
	MemoryContext cxt;
	MemoryContext old;

	if (n == 0)
		return;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "lakehouse quarantine flush",
								ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	for (int k = 0; k < lengthof(order); k++)
	{
		cols[order[k]] = palloc(sizeof(Datum) * n);
		nulls[order[k]] = palloc0(sizeof(bool) * n);
	}
	for (int i = 0; i < n; i++)
	{
		QuarantineEntry *e = &qbuf[i];

		cols[LHQ_RUN_ID][i] = Int64GetDatum(e->run_id);
		nulls[LHQ_RUN_ID][i] = e->run_id == 0;
		cols[LHQ_PIPELINE_ID][i] = Int32GetDatum(e->pipeline_id);
		nulls[LHQ_PIPELINE_ID][i] = e->pipeline_id == 0;
		cols[LHQ_TABLE_ID][i] = Int32GetDatum(e->table_id);
		nulls[LHQ_TABLE_ID][i] = e->table_id == 0;
		cols[LHQ_TARGET][i] = CStringGetTextDatum(e->target);
		cols[LHQ_COLUMN][i] = e->column ? CStringGetTextDatum(e->column) : (Datum) 0;
		nulls[LHQ_COLUMN][i] = e->column == NULL;
		cols[LHQ_VALUE][i] = e->value ? CStringGetTextDatum(e->value) : (Datum) 0;
		nulls[LHQ_VALUE][i] = e->value == NULL;
		cols[LHQ_REASON][i] = CStringGetTextDatum(e->reason);
		cols[LHQ_RULE][i] = CStringGetTextDatum(e->rule);
		cols[LHQ_PAYLOAD][i] = e->payload;
		cols[LHQ_VIOLATIONS][i] = e->violations;
	}
	/* the buffer is written: forget it before anything else can fail */
	quarantine_reset();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	catalog_quarantine_insert(n, cols, nulls);
	SPI_finish();
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}

/*
 * contract_quarantine_add
 *		Buffer one diverted row (as jsonb) with every rule it breaks
 *		(LhViolation, at least one); writes the buffer first when it is
 *		full.
 */
void
contract_quarantine_add(int32 table_id, const char *target, HeapTuple tuple,
						TupleDesc desc, List *violations)
{
	MemoryContext old;
	QuarantineEntry *e;
	LhViolation *first = linitial(violations);
	Datum		row;
	char	   *json;

	if (quarantine_cxt == NULL)
		quarantine_cxt = AllocSetContextCreate(TopMemoryContext,
											   "lakehouse contract quarantine",
											   ALLOCSET_DEFAULT_SIZES);
	if (qbuf_n >= Max(lh_max_quarantine_buffer, 1))
		contract_flush_quarantine();

	row = heap_copy_tuple_as_datum(tuple, desc);
	json = text_to_cstring(DatumGetTextPP(DirectFunctionCall1(row_to_json, row)));

	old = MemoryContextSwitchTo(quarantine_cxt);
	if (qbuf_n >= qbuf_max)
	{
		qbuf_max = qbuf_max ? qbuf_max * 2 : 64;
		qbuf = qbuf ? repalloc(qbuf, sizeof(QuarantineEntry) * qbuf_max) :
			palloc(sizeof(QuarantineEntry) * qbuf_max);
	}
	e = &qbuf[qbuf_n];
	e->subxid = GetCurrentSubTransactionId();
	e->run_id = lh_current_run ? lh_current_run->run_id : 0;
	e->pipeline_id = lh_current_run ? lh_current_run->pipeline_id : 0;
	e->table_id = table_id;
	e->target = pstrdup(target);
	e->column = first->column ? pstrdup(first->column) : NULL;
	e->value = catalog_quarantine_clip(first->value);
	e->reason = pstrdup(first->reason);
	e->rule = pstrdup(first->rule);
	e->payload = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
	e->violations = catalog_quarantine_violations(violations);
	qbuf_n++;
	MemoryContextSwitchTo(old);
}

/*
 * lh_contract_statement_end() RETURNS trigger
 *		AFTER INSERT OR UPDATE FOR EACH STATEMENT: write the quarantined rows
 *		of the statement.
 */
Datum
lh_contract_statement_end(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_contract_statement_end can only be called as a trigger")));
	contract_flush_quarantine();
	return PointerGetDatum(NULL);
}
