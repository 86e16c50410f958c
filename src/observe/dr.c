/*-------------------------------------------------------------------------
 *
 * dr.c
 *	  lakehouse.lh_dr_node(): the facts about this node that
 *	  lakehouse.dr_status and the disaster-recovery metrics show.
 *
 * Role (primary, or standby while the server is in recovery), the WAL
 * timeline this node writes (a primary) or replays (a standby), and on a
 * standby the WAL receiver's state, the last WAL location received and
 * flushed, the last one replayed and the commit time of the last
 * transaction replayed.  All of it comes from shared memory, as
 * pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn() and
 * pg_last_xact_replay_timestamp() read it.  The timeline is the current
 * one: pg_control_checkpoint() shows the timeline of the last checkpoint,
 * which after a promotion stays the old one until the next checkpoint.  A
 * role that may read dr_status needs EXECUTE on this function only: no
 * SECURITY DEFINER, no privileged function in the view.  Nothing is
 * written: it works on a hot standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "access/xlogrecovery.h"
#include "fmgr.h"
#include "funcapi.h"
#include "replication/walreceiver.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

PG_FUNCTION_INFO_V1(lh_dr_node);

/* the WAL receiver's state, as pg_stat_wal_receiver names it */
static const char *
dr_walrcv_state(void)
{
	WalRcvState state;

	SpinLockAcquire(&WalRcv->mutex);
	state = WalRcv->walRcvState;
	SpinLockRelease(&WalRcv->mutex);
	switch (state)
	{
		case WALRCV_STOPPED:
			return "stopped";
		case WALRCV_STARTING:
			return "starting";
		case WALRCV_STREAMING:
			return "streaming";
		case WALRCV_WAITING:
			return "waiting";
		case WALRCV_RESTARTING:
			return "restarting";
		case WALRCV_STOPPING:
			return "stopping";
	}
	return "unknown";
}

/*
 * lh_dr_node(OUT role text, OUT timeline integer, OUT wal_receiver text,
 *			  OUT receive_lsn pg_lsn, OUT replay_lsn pg_lsn,
 *			  OUT last_replay_at timestamptz) returns record
 *
 * The standby columns are NULL on a primary, and receive_lsn also on a
 * standby that has received nothing by streaming (archive recovery).
 */
Datum
lh_dr_node(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, true, true, true, true};
	TimeLineID	tli;

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	desc = BlessTupleDesc(desc);

	if (!RecoveryInProgress())
	{
		values[0] = CStringGetTextDatum("primary");
		tli = GetWALInsertionTimeLine();
	}
	else
	{
		XLogRecPtr	replayed = GetXLogReplayRecPtr(&tli);
		XLogRecPtr	received = GetWalRcvFlushRecPtr(NULL, NULL);
		TimestampTz last_xact = GetLatestXTime();

		values[0] = CStringGetTextDatum("standby");
		values[2] = CStringGetTextDatum(dr_walrcv_state());
		nulls[2] = false;
		if (!XLogRecPtrIsInvalid(received))
		{
			values[3] = LSNGetDatum(received);
			nulls[3] = false;
		}
		if (!XLogRecPtrIsInvalid(replayed))
		{
			values[4] = LSNGetDatum(replayed);
			nulls[4] = false;
		}
		if (last_xact != 0)
		{
			values[5] = TimestampTzGetDatum(last_xact);
			nulls[5] = false;
		}
	}
	values[1] = Int32GetDatum((int32) tli);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
