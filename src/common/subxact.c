/*-------------------------------------------------------------------------
 *
 * subxact.c
 *	  Running a piece of work in a subtransaction and keeping its error.
 *
 * A stage of a run, the re-planning of a gold query after a schema change
 * and the analysis of a gold query for column lineage all do the same
 * thing: run something that may fail, keep the surrounding transaction
 * (and its SPI connection, as a PL/pgSQL exception block does), and look at
 * the error afterwards.  lh_try_subxact is that, once.
 *
 * A cancel, a shutdown or running out of memory is never a result: those
 * errors are thrown again after the rollback, so the caller's transaction
 * ends as the user asked.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "lakehouse.h"

/*
 * lh_try_subxact
 *		Call fn(arg) in a subtransaction.  On success the subtransaction is
 *		committed and NULL returned; on error it is rolled back and the
 *		error returned, copied into the caller's memory context.
 */
ErrorData *
lh_try_subxact(void (*fn) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		if (edata->sqlerrcode == ERRCODE_QUERY_CANCELED ||
			edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
			edata->sqlerrcode == ERRCODE_OUT_OF_MEMORY)
			ReThrowError(edata);
	}
	PG_END_TRY();
	return edata;
}
