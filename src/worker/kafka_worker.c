/*-------------------------------------------------------------------------
 *
 * kafka_worker.c
 *	  The background worker that streams one Kafka source into bronze.
 *
 * Started by its database launcher (launcher.c) in a shared-memory slot.
 * The main loop:
 *
 *	1. every 10 s (and when the assignment must be made again) ask the
 *	   brokers for the topic's partitions; new partitions are picked up;
 *	2. when needed, plan the assignment: read the marks, resolve reset
 *	   requests and start positions with the broker (no transaction open),
 *	   then store the resolved offsets in a transaction that locks the
 *	   source row and checks that the marks did not move meanwhile, and
 *	   assign the partitions at those offsets;
 *	3. collect a batch: wait on the latch and on the consumer queue's
 *	   wake-up pipe (never blocking in librdkafka), then keep taking
 *	   messages until batch_size or max_wait_ms after the first one;
 *	4. land it: in one transaction, lock the source row, check that the
 *	   source is still enabled and unchanged and that the stored offsets
 *	   are where this consumer stands (if not: drop the batch and plan
 *	   again), write rows and dead letters, store the new offsets, commit.
 *
 * A crash at any point loses only uncommitted work: the next worker starts
 * from the stored offsets.  SIGTERM (disable, drop, restart, shutdown) is
 * handled at the next CHECK_FOR_INTERRUPTS, within max_wait_ms or a second.
 * Broker trouble is not an error of the worker: librdkafka keeps
 * reconnecting, and the slot shows state "error" with the last message
 * until data or metadata flow again.  A PostgreSQL error (bronze table
 * dropped, say) ends the worker; the launcher starts it again with backoff.
 *
 * The worker connects as the pipeline's owner (lh_worker_start), and lands
 * each batch as that owner under SECURITY_RESTRICTED_OPERATION with the
 * pinned search_path (lh_owner_begin): a default, trigger or index
 * expression the owner put on the bronze table runs with the owner's rights
 * and no more.  Its librdkafka configuration is checked again as that
 * owner when it connects (kafka_options.c), secrets included.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <unistd.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "sources/kafka.h"
#include "lakehouse.h"
#include "security/security.h"
#include "sources/sources.h"
#include "observe/observe.h"
#include "worker/worker.h"

/* how often the topic's partitions are listed again (ms) */
#define WORKER_DISCOVER_MS	10000
/* how often an idle worker looks for reset requests (ms) */
#define WORKER_MARKS_MS		1000
/* wait before retrying after broker trouble (ms) */
#define WORKER_RETRY_MS		1000
/* how long a batch waits for a source row someone else holds */
#define WORKER_BUSY_MS		200
/* timeout of the worker's broker requests (ms) */
#define WORKER_REQUEST_MS	2000

static LhWorkerSlot *my_slot = NULL;
/* start of the open window of batches for OpenLineage (0: none) */
static TimestampTz lineage_window = 0;

static char my_state[LH_STATE_LEN];

typedef enum WorkerStep
{
	STEP_OK,
	STEP_RETRY,					/* broker trouble or a race: try again */
	STEP_BUSY,					/* the source row is locked: wait, then again */
	STEP_EXIT					/* source disabled, dropped or changed */
} WorkerStep;

static void
worker_state(const char *state, const char *error)
{
	if (error == NULL && strcmp(state, my_state) == 0)
		return;
	strlcpy(my_state, state, sizeof(my_state));
	lh_slot_set_state(my_slot, state, error);
}

/*
 * Show what librdkafka last complained about, once.  Returns whether there
 * was something new to show.
 */
static bool
worker_report(KafkaConn *c)
{
	if (!c->error_new)
		return false;
	c->error_new = false;
	worker_state("error", c->error);
	ereport(LOG,
			(errmsg("Kafka source \"%s\": %s", c->src->name, c->error)));
	return true;
}

/*
 * Publish the partitions' positions and rates in the slot.  Rates are
 * smoothed over the intervals between calls of at least a second.
 */
static void
worker_publish(KafkaConn *c, bool force)
{
	static TimestampTz last = 0;
	static int64 *last_landed = NULL;
	static int	last_n = 0;
	static double *rates = NULL;
	TimestampTz now = GetCurrentTimestamp();
	double		secs;
	int			n = Min(c->npart, LH_MAX_PART_STATS);

	if (!force && last != 0 && !TimestampDifferenceExceeds(last, now, 1000))
		return;
	kafka_refresh_watermarks(c);
	if (n != last_n)
	{
		last_landed = last_landed ? repalloc(last_landed, sizeof(int64) * Max(n, 1)) :
			MemoryContextAllocZero(TopMemoryContext, sizeof(int64) * Max(n, 1));
		rates = rates ? repalloc(rates, sizeof(double) * Max(n, 1)) :
			MemoryContextAllocZero(TopMemoryContext, sizeof(double) * Max(n, 1));
		for (int i = last_n; i < n; i++)
		{
			last_landed[i] = c->parts[i].landed;
			rates[i] = 0;
		}
		last_n = n;
	}
	secs = last == 0 ? 0 : (double) (now - last) / 1000000.0;
	for (int i = 0; i < n; i++)
	{
		if (secs > 0)
		{
			double		inst = (c->parts[i].landed - last_landed[i]) / secs;

			rates[i] = 0.5 * rates[i] + 0.5 * inst;
		}
		last_landed[i] = c->parts[i].landed;
	}
	last = now;

	LWLockAcquire(lh_shared->lock, LW_EXCLUSIVE);
	my_slot->nparts = n;
	for (int i = 0; i < n; i++)
	{
		LhPartStat *ps = &my_slot->parts[i];

		ps->partition = c->parts[i].partition;
		ps->next = c->parts[i].next;
		ps->high = c->parts[i].high;
		ps->last_message_at = c->parts[i].last_message_at;
		ps->rate = rates[i];
	}
	LWLockRelease(lh_shared->lock);
}

static void
worker_begin(void)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
}

static void
worker_commit(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/*
 * Is the source still there, enabled and as the worker knows it
 * (updated_at)?  With lock, its row is locked for the transaction.  When
 * *updated_at is 0 it is filled in.
 */
static bool
worker_source_ok(int32 source_id, TimestampTz *updated_at, bool lock)
{
	LhSource   *src;

	if (lock && !catalog_source_lock(source_id))
		return false;
	src = catalog_source_by_id(source_id, true);
	if (src == NULL)
		return false;
	if (*updated_at == 0)
		*updated_at = src->updated_at;
	return src->enabled && src->updated_at == *updated_at;
}

static bool
marks_equal(KafkaMarks *a, KafkaMarks *b)
{
	if (a->n != b->n || a->nresets != b->nresets)
		return false;
	for (int i = 0; i < a->n; i++)
	{
		bool		found = false;

		for (int j = 0; j < b->n; j++)
			if (a->partition[i] == b->partition[j] && a->offset[i] == b->offset[j])
				found = true;
		if (!found)
			return false;
	}
	for (int i = 0; i < a->nresets; i++)
	{
		bool		found = false;

		for (int j = 0; j < b->nresets; j++)
			if (strcmp(a->reset_key[i], b->reset_key[j]) == 0 &&
				strcmp(a->reset_value[i], b->reset_value[j]) == 0)
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* Step 2: decide where every partition starts, store it, assign. */
static WorkerStep
worker_plan(KafkaConn *c, TimestampTz *updated_at)
{
	MemoryContext cxt = AllocSetContextCreate(TopMemoryContext, "lakehouse kafka plan",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
	KafkaMarks	before;
	KafkaMarks	now;
	int64	   *targets = palloc(sizeof(int64) * Max(c->npart, 1));
	WorkerStep	result = STEP_OK;

	pgstat_report_activity(STATE_RUNNING, "planning the partition assignment");
	worker_begin();
	MemoryContextSwitchTo(cxt);
	kafka_read_marks(c->src->source_id, &before);
	worker_commit();
	MemoryContextSwitchTo(cxt);

	if (!kafka_resolve(c, &before, targets, WORKER_REQUEST_MS))
		result = STEP_RETRY;
	else
	{
		worker_begin();
		MemoryContextSwitchTo(cxt);
		if (!worker_source_ok(c->src->source_id, updated_at, true))
			result = STEP_EXIT;
		else
		{
			kafka_read_marks(c->src->source_id, &now);
			if (!marks_equal(&before, &now))
				result = STEP_RETRY;	/* moved meanwhile: plan again */
			else
				kafka_apply_marks(c, &now, targets);
		}
		worker_commit();
		MemoryContextSwitchTo(cxt);
		if (result == STEP_OK)
			kafka_assign(c);
	}
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/* Empty the wake-up pipe. */
static void
drain_pipe(KafkaConn *c)
{
	char		buf[64];

	while (read(c->wakefd[0], buf, sizeof(buf)) > 0)
		;
}

/*
 * Wait for the latch or for messages, at most timeout_ms.  Returns true if
 * the latch was set.
 */
static bool
worker_wait(KafkaConn *c, long timeout_ms)
{
	int			rc;

	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_SOCKET_READABLE | WL_TIMEOUT |
						   WL_EXIT_ON_PM_DEATH,
						   c->wakefd[0], timeout_ms, PG_WAIT_EXTENSION);
	if (rc & WL_SOCKET_READABLE)
		drain_pipe(c);
	if (rc & WL_LATCH_SET)
	{
		ResetLatch(MyLatch);
		return true;
	}
	return false;
}

/*
 * Step 3: collect up to max messages: wait up to a second for the first,
 * then up to max_wait_ms for more.  *woken: the latch was set.
 */
static int
worker_collect(KafkaConn *c, rd_kafka_message_t **msgs, int max, bool *woken)
{
	int			n;
	TimestampTz deadline;

	*woken = false;
	n = kafka_consume(c, msgs, max, 0);
	if (n == 0)
	{
		*woken = worker_wait(c, WORKER_MARKS_MS);
		CHECK_FOR_INTERRUPTS();
		n = kafka_consume(c, msgs, max, 0);
		if (n == 0)
			return 0;
	}
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), c->opts.max_wait_ms);
	while (n < max)
	{
		long		remaining = TimestampDifferenceMilliseconds(GetCurrentTimestamp(),
																deadline);

		if (remaining <= 0)
			break;
		if (worker_wait(c, remaining))
		{
			*woken = true;
			CHECK_FOR_INTERRUPTS();
		}
		n += kafka_consume(c, msgs + n, max - n, 0);
	}
	return n;
}

/* Step 4: land a batch in one transaction. */
static WorkerStep
worker_land(KafkaConn *c, rd_kafka_message_t **msgs, int n,
			TimestampTz *updated_at)
{
	KafkaMarks	m;
	WorkerStep	result = STEP_OK;

	pgstat_report_activity(STATE_RUNNING, "landing a batch of Kafka messages");
	worker_begin();

	/*
	 * The rows and the offsets commit together, so a batch lost in a crash
	 * is lost with its offsets and read again from the broker: the commit
	 * need not wait for the WAL flush (lakehouse.kafka_synchronous_commit).
	 */
	if (!lh_kafka_synchronous_commit)
		(void) set_config_option("synchronous_commit", "off", PGC_USERSET,
								 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);

	/*
	 * Lock bronze before the source row: if someone holds bronze (a long
	 * LOCK TABLE, say), the worker waits without holding the source row,
	 * so lh_disable_source and friends are never stuck behind it.  The
	 * source row is only tried: whoever holds it (a run's one-shot ingest,
	 * lh_reset_source) may go on to lock bronze, which the worker holds, so
	 * waiting for it could deadlock.  A busy row sends the batch back to
	 * the broker (its offsets are not stored) and the worker tries again
	 * shortly.
	 */
	{
		BronzeShape shape;

		source_bronze_shape(c->src->kind, c->src->options, &shape);
		(void) bronze_check_table(c->src->bronze_schema, c->src->bronze_table,
								  RowExclusiveLock, &shape);
	}
	switch (catalog_source_try_lock(c->src->source_id))
	{
		case LH_LOCK_TAKEN:
			if (!worker_source_ok(c->src->source_id, updated_at, false))
				result = STEP_EXIT;
			break;
		case LH_LOCK_BUSY:
			result = STEP_BUSY;
			break;
		case LH_LOCK_GONE:
			result = STEP_EXIT;
			break;
	}
	if (result == STEP_OK)
	{
		kafka_read_marks(c->src->source_id, &m);
		if (!kafka_marks_match(c, &m))
			result = STEP_RETRY;
		else
		{
			LhStageCounts counts = {0};
			TimestampTz started = GetCurrentTimestamp();
			LhIdentity	id;
			BronzeWriter *w;

			/* bronze's defaults, triggers and indexes are the owner's code */
			lh_owner_begin(c->src->owner, &id);
			w = bronze_writer_open(c->src, 0);
			kafka_land(c, w, msgs, n, 0, &counts);
			(void) bronze_writer_close(w);
			lh_owner_end(&id);
			kafka_store_marks(c);
			/* OpenLineage: batches are grouped into STREAMING runs */
			lineage_window = lineage_stream_batch(c->src, started, counts.rows_read,
												  counts.rows_written);
		}
	}
	worker_commit();
	kafka_batch_done(c, result == STEP_OK);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/* Are the marks still where this consumer stands?  (idle check) */
static WorkerStep
worker_check_marks(KafkaConn *c, TimestampTz *updated_at)
{
	KafkaMarks	m;
	WorkerStep	result = STEP_OK;

	worker_begin();
	if (!worker_source_ok(c->src->source_id, updated_at, false))
		result = STEP_EXIT;
	else
	{
		kafka_read_marks(c->src->source_id, &m);
		if (!kafka_marks_match(c, &m))
			result = STEP_RETRY;
	}
	worker_commit();
	return result;
}

/*
 * Connect the worker's consumer to the source, in a transaction; NULL when
 * the source is no longer there to stream (disabled, dropped, changed).
 * Sets *updated_at to the definition the worker runs.
 */
static KafkaConn *
worker_open(int32 source_id, TimestampTz *updated_at)
{
	KafkaConn  *c;
	LhSource   *src;

	worker_begin();
	if (!worker_source_ok(source_id, updated_at, false))
	{
		worker_commit();
		return NULL;
	}
	src = catalog_source_by_id(source_id, false);
	observe_worker_context(src, "Kafka");
	c = kafka_connect(src, true);
	/* a window of batches left open by an earlier run of the worker */
	lineage_window = lineage_stream_flush(src);
	worker_commit();
	return c;
}

/*
 * A collect that found nothing: check the marks when woken or every
 * WORKER_MARKS_MS (a moved mark sets *need_plan), report a quiet topic's
 * last batches to OpenLineage, publish the state.  Returns false when the
 * worker must exit.
 */
static bool
worker_idle(KafkaConn *c, bool woken, TimestampTz *last_marks,
			TimestampTz *updated_at, bool *need_plan)
{
	TimestampTz now = GetCurrentTimestamp();

	if (woken || TimestampDifferenceExceeds(*last_marks, now, WORKER_MARKS_MS))
	{
		WorkerStep	step = worker_check_marks(c, updated_at);

		if (step == STEP_EXIT)
			return false;
		if (step == STEP_RETRY)
			*need_plan = true;
		*last_marks = now;
	}
	/* a quiet topic: report the last batches without waiting for more */
	if (lineage_window != 0 &&
		TimestampDifferenceExceeds(lineage_window, now, lh_openlineage_stream_interval))
	{
		worker_begin();
		lineage_window = lineage_stream_flush(c->src);
		worker_commit();
	}
	worker_publish(c, false);
	return true;
}

/*
 * The worker's main loop (see the file header): discover, plan, collect,
 * land, until the source goes away.
 */
static void
worker_run(int32 source_id)
{
	KafkaConn  *c;
	rd_kafka_message_t **msgs;
	TimestampTz updated_at = 0;
	TimestampTz last_discover = 0;
	TimestampTz last_marks = 0;
	bool		need_plan = true;

	c = worker_open(source_id, &updated_at);
	if (c == NULL)
		return;

	msgs = MemoryContextAlloc(TopMemoryContext,
							  sizeof(rd_kafka_message_t *) * c->opts.batch_size);
	worker_state("connecting", NULL);

	for (;;)
	{
		TimestampTz now;
		bool		woken;
		bool		reported;
		int			n;
		WorkerStep	step;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		now = GetCurrentTimestamp();
		lh_crash_guard_healthy(my_slot->started_at);

		if (need_plan || TimestampDifferenceExceeds(last_discover, now, WORKER_DISCOVER_MS))
		{
			int			before = c->npart;

			if (!kafka_discover(c, WORKER_REQUEST_MS))
			{
				worker_report(c);
				(void) worker_wait(c, WORKER_RETRY_MS);
				continue;
			}
			last_discover = now;
			if (c->npart != before)
				need_plan = true;
			if (strcmp(my_state, "error") == 0 && !need_plan)
				worker_state("running", NULL);
		}
		if (need_plan)
		{
			step = worker_plan(c, &updated_at);
			if (step == STEP_EXIT)
				break;
			if (step == STEP_RETRY)
			{
				worker_report(c);
				(void) worker_wait(c, WORKER_RETRY_MS);
				continue;
			}
			need_plan = false;
			last_marks = now;
			worker_state("running", NULL);
			worker_publish(c, true);
		}

		n = worker_collect(c, msgs, c->opts.batch_size, &woken);
		reported = worker_report(c);
		if (n == 0)
		{
			if (!worker_idle(c, woken, &last_marks, &updated_at, &need_plan))
				break;
			continue;
		}

		/* an error here ends the worker: the messages go with the process */
		step = worker_land(c, msgs, n, &updated_at);
		for (int i = 0; i < n; i++)
			rd_kafka_message_destroy(msgs[i]);
		if (step == STEP_EXIT)
			break;
		if (step == STEP_BUSY)
		{
			/* the batch goes back to the broker: fetched again after the plan */
			need_plan = true;
			(void) worker_wait(c, WORKER_BUSY_MS);
			continue;
		}
		if (step == STEP_RETRY)
			need_plan = true;

		/*
		 * A batch landed: the worker is running again, unless the error
		 * came with this very batch (librdkafka queues a broker's failure
		 * behind the messages it had already fetched, and says it once).
		 */
		else if (!reported && strcmp(my_state, "running") != 0)
			worker_state("running", NULL);
		worker_publish(c, false);
	}

	kafka_disconnect(c);
}

/*
 * lh_kafka_worker_main
 *		Entry point; the argument is the slot number, bgw_extra holds the
 *		database and source ids the slot must belong to.
 */
void
lh_kafka_worker_main(Datum arg)
{
	int32		source_id;

	strlcpy(my_state, "connecting", sizeof(my_state));
	my_slot = lh_worker_start(arg, &source_id);

	PG_TRY();
	{
		worker_run(source_id);
	}
	PG_CATCH();
	{
		lh_worker_failed(my_slot);
	}
	PG_END_TRY();

	lh_worker_exit_clean(my_slot);
}
