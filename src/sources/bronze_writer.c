/*-------------------------------------------------------------------------
 *
 * bronze_writer.c
 *	  Bronze tables: creating and checking them, and landing records in
 *	  them in bulk, the way COPY FROM does.
 *
 * A bronze table is append-only and permissive: every record a source
 * delivers lands as one jsonb payload with its provenance (source name,
 * run id, position in the source, time of landing).  Its shape:
 *
 *	  _lh_id          bigint GENERATED ALWAYS AS IDENTITY (INCREMENT BY 1024)
 *	  _lh_source      text NOT NULL
 *	  _lh_run_id      bigint
 *	  _lh_position    text
 *	  _lh_ingested_at timestamptz NOT NULL DEFAULT now()
 *	  payload         jsonb NOT NULL
 *
 * plus a BRIN index on _lh_id (ids grow with the physical order, so BRIN
 * is nearly free to maintain and lets the silver stage find new rows).
 * Users may add columns of their own; they get their defaults.
 *
 * The writer (bronze_writer_open/add/close) is the hot path of every
 * record-at-a-time source.  It does what COPY FROM does for a plain table:
 * rows are buffered in slots and written with table_multi_insert through a
 * BulkInsertState, and index entries are made with ExecInsertIndexTuples
 * through an EState and ResultRelInfo.  A batch is flushed when it holds
 * lakehouse.batch_size rows or BRONZE_MAX_BATCH_BYTES bytes of payload.
 * _lh_id comes from the column's sequence, one nextval per block of
 * 1024 ids handed out in the order records were added (bronze_id_block),
 * and _lh_ingested_at is the transaction's start time, like now().
 *
 * Transactions and locks.  The writer works inside the caller's
 * transaction: rows become visible when it commits, together with the
 * source marks the caller writes, and vanish with them on abort.  Opening
 * takes RowExclusiveLock on the table (held to the end of the transaction,
 * like any INSERT) and checks INSERT privilege.  Because rows bypass the
 * executor's INSERT, the writer refuses tables whose semantics it could
 * not honour: partitioned tables, tables with INSERT triggers (including
 * foreign keys and deferrable constraints, which are triggers) and tables
 * whose row-level security policies apply to the current user.  CHECK and
 * NOT NULL constraints are checked, stored generated columns computed.
 *
 * Memory and cleanup.  The writer lives in the memory context current at
 * bronze_writer_open.  Values of the rows being buffered live in a batch
 * context that is reset after each flush.  bronze_writer_close flushes,
 * releases the BulkInsertState, slots and executor state and returns the
 * number of rows written.  If an error interrupts a writer, the caller's
 * (sub)transaction must be aborted: that releases the relation, buffer
 * pins and memory, and discards the rows already written.
 *
 * Each batch written counts as rows done for lakehouse.run_progress (a
 * no-op outside a run).
 *
 * bronze_create_table and bronze_check_table run DDL / catalog lookups
 * and may be called outside a run; bronze_create_table connects to SPI
 * itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/nodeModifyTable.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "rewrite/rewriteHandler.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "sources/sources.h"
#include "security/security.h"

/* ids reserved per nextval in the bronze tables we create (see bronze_id_block) */
#define BRONZE_ID_BLOCK 1024

/*
 * Flush a batch once its payloads reach this many bytes, whatever
 * lakehouse.batch_size says, to bound the memory a batch of large
 * documents takes.
 */
#define BRONZE_MAX_BATCH_BYTES (1024 * 1024)

/* The columns every bronze table has, in creation order. */
typedef enum BronzeColumnId
{
	BC_ID,
	BC_SOURCE,
	BC_RUN_ID,
	BC_POSITION,
	BC_INGESTED_AT,
	BC_PAYLOAD,
	/* Kafka sources only */
	BC_TOPIC,
	BC_PARTITION,
	BC_OFFSET,
	BC_KEY,
	BC_HEADERS,
	BC_TIMESTAMP,
	BC_NCOLUMNS
} BronzeColumnId;

/* columns every bronze table has */
#define BC_NCOMMON (BC_PAYLOAD + 1)

static const struct
{
	const char *name;
	Oid			typid;
	const char *typname;
}			bronze_columns[BC_NCOLUMNS] =
{
	{"_lh_id", INT8OID, "bigint"},
	{"_lh_source", TEXTOID, "text"},
	{"_lh_run_id", INT8OID, "bigint"},
	{"_lh_position", TEXTOID, "text"},
	{"_lh_ingested_at", TIMESTAMPTZOID, "timestamp with time zone"},
	{"payload", JSONBOID, "jsonb"},	/* or the source's payload type */
	{"_lh_topic", TEXTOID, "text"},
	{"_lh_partition", INT4OID, "integer"},
	{"_lh_offset", INT8OID, "bigint"},
	{"_lh_key", BYTEAOID, "bytea"},
	{"_lh_headers", JSONBOID, "jsonb"},
	{"_lh_timestamp", TIMESTAMPTZOID, "timestamp with time zone"},
};

struct BronzeWriter
{
	MemoryContext cxt;			/* holds the writer and its slots */
	MemoryContext batchcxt;		/* values of the rows buffered now */
	char	   *relname;		/* qualified name, for messages */
	BronzeShape shape;
	MemoryContext rowoldcxt;	/* between bronze_writer_begin/end_row */
	int64		run_id;
	bool		run_id_null;
	Datum		source_name;	/* text datum of the source's name */
	Datum		topic;			/* Kafka: text datum of the topic */
	TimestampTz ingested_at;

	EState	   *estate;
	ResultRelInfo *rri;
	Relation	rel;
	BulkInsertState bistate;
	CommandId	cid;
	AttrNumber	attnums[BC_NCOLUMNS];	/* where our columns are */
	Oid			seqid;			/* sequence behind _lh_id */
	bool		seq_check_perms;	/* serial (not identity): check USAGE */
	int64		id_block;		/* ids one nextval reserves (its increment) */
	int64		id_next;		/* next id of the reserved block */
	int64		id_end;			/* end of the reserved block (exclusive) */
	ExprState **defaults;		/* per attribute: default of a user column */
	bool		has_constraints;
	bool		has_generated;

	TupleTableSlot **slots;
	TupleDesc	slot_desc;		/* the slots' descriptor: a copy of the
								 * table's that is not reference-counted,
								 * so that making a slot costs no resource
								 * owner work */
	int			nslots;			/* slots created so far */
	int			slots_alloc;	/* length of the slots array */
	int			nused;			/* slots holding buffered rows */
	int			max_rows;
	Size		bytes;			/* payload bytes buffered */
	int64		rows_written;
};

static void bronze_writer_flush(BronzeWriter *w);

/*
 * Find the sequence that feeds a column: the identity sequence, or a
 * sequence owned by the column (bigserial).  InvalidOid if none.
 */
static Oid
bronze_column_sequence(Relation rel, AttrNumber attnum, bool *is_identity)
{
	Form_pg_attribute att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	List	   *seqs;
	ListCell   *lc;

	*is_identity = (att->attidentity != '\0');
	if (*is_identity)
		return getIdentitySequence(RelationGetRelid(rel), attnum, false);

	seqs = getOwnedSequences(RelationGetRelid(rel));
	foreach(lc, seqs)
	{
		Oid			seqid = lfirst_oid(lc);
		Oid			tableid;
		int32		colid;

		if (sequenceIsOwned(seqid, DEPENDENCY_AUTO, &tableid, &colid) &&
			colid == attnum)
			return seqid;
	}
	return InvalidOid;
}

/* The shape of the bronze tables of sources that deliver jsonb records. */
static const BronzeShape bronze_records_shape = {false, JSONBOID};

/*
 * Check that an open relation has the shape of a bronze table.  Fills
 * attnums (may be NULL) with the attribute numbers of the bronze columns
 * (InvalidAttrNumber for the Kafka columns of other shapes) and returns
 * the sequence behind _lh_id.
 */
static Oid
bronze_check_relation(Relation rel, const BronzeShape *shape,
					  AttrNumber *attnums, bool *is_identity)
{
	TupleDesc	tupdesc = RelationGetDescr(rel);
	char	   *relname;
	Oid			seqid;
	AttrNumber	found[BC_NCOLUMNS];
	int			ncolumns = shape->kafka ? BC_NCOLUMNS : BC_NCOMMON;
	bool		identity;

	relname = quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
										 RelationGetRelationName(rel));

	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("bronze table %s is not an ordinary table", relname),
				 errdetail("Bronze tables are written in bulk; partitioned tables, views and foreign tables are not supported."),
				 errhint("Choose another bronze_table, or drop this relation and add the source again.")));

	for (int c = 0; c < BC_NCOLUMNS; c++)
	{
		Oid			typid = (c == BC_PAYLOAD) ? shape->payload_type :
			bronze_columns[c].typid;

		found[c] = InvalidAttrNumber;
		if (c >= ncolumns)
			continue;
		for (int i = 0; i < tupdesc->natts; i++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);

			if (att->attisdropped ||
				strcmp(NameStr(att->attname), bronze_columns[c].name) != 0)
				continue;
			if (att->atttypid != typid)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
						 errmsg("table %s is not a bronze table of this source", relname),
						 errdetail("Column \"%s\" has type %s, but this source needs %s.",
								   bronze_columns[c].name,
								   format_type_be(att->atttypid),
								   format_type_be(typid)),
						 errhint("Choose another bronze_table, or drop this table and add the source again.")));
			if (att->attgenerated != '\0')
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
						 errmsg("table %s is not a bronze table", relname),
						 errdetail("Column \"%s\" is a generated column.",
								   bronze_columns[c].name),
						 errhint("Choose another bronze_table, or drop this table and add the source again.")));
			found[c] = att->attnum;
			break;
		}
		if (found[c] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("table %s is not a bronze table of this source", relname),
					 errdetail("Column \"%s\" is missing.", bronze_columns[c].name),
					 errhint("Choose another bronze_table, or drop this table and add the source again.")));
	}

	seqid = bronze_column_sequence(rel, found[BC_ID], &identity);
	if (!OidIsValid(seqid))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table %s is not a bronze table", relname),
				 errdetail("Column \"_lh_id\" is neither an identity column nor owned by a sequence."),
				 errhint("Choose another bronze_table, or drop this table and add the source again.")));

	if (attnums)
		memcpy(attnums, found, sizeof(found));
	if (is_identity)
		*is_identity = identity;
	pfree(relname);
	return seqid;
}

/*
 * bronze_check_table
 *		Lock an existing table with lockmode (a LOCKMODE) and check that it
 *		is a bronze table of the given shape (NULL: jsonb records).
 *		Returns its OID; raises an error if it does not exist.
 */
Oid
bronze_check_table(const char *schema, const char *table, int lockmode,
				   const BronzeShape *shape)
{
	Oid			relid;
	Relation	rel;

	relid = RangeVarGetRelid(makeRangeVar(pstrdup(schema), pstrdup(table), -1),
							 lockmode, true);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("bronze table %s does not exist",
						quote_qualified_identifier(schema, table)),
				 errhint("Add the source again with lakehouse.lh_add_source(..., replace => true) to create it.")));
	rel = table_open(relid, NoLock);
	(void) bronze_check_relation(rel, shape ? shape : &bronze_records_shape,
								 NULL, NULL);
	table_close(rel, NoLock);
	return relid;
}

/*
 * bronze_create_table
 *		Create the schema and the bronze table if they do not exist; check
 *		an existing table's shape.
 *
 * Runs in the caller's transaction.  Connects to SPI itself (nesting is
 * fine if the caller is connected already).
 */
void
bronze_create_table(const char *schema, const char *table,
					const BronzeShape *shape)
{
	char	   *qname;
	StringInfoData sql;

	lh_check_name("schema", schema);
	lh_check_name("table", table);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	lh_ensure_schema(schema);
	if (OidIsValid(lh_table_oid(schema, table, true)))
	{
		(void) bronze_check_table(schema, table, AccessShareLock, shape);
		SPI_finish();
		return;
	}

	qname = quote_qualified_identifier(schema, table);
	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TABLE %s ("
					 " _lh_id pg_catalog.int8 GENERATED ALWAYS AS IDENTITY"
					 " (INCREMENT BY " CppAsString2(BRONZE_ID_BLOCK) "),"
					 " _lh_source pg_catalog.text NOT NULL,"
					 " _lh_run_id pg_catalog.int8,"
					 " _lh_position pg_catalog.text,"
					 " _lh_ingested_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),",
					 qname);
	if (shape->kafka)
		appendStringInfoString(&sql,
							   " _lh_topic pg_catalog.text NOT NULL,"
							   " _lh_partition pg_catalog.int4 NOT NULL,"
							   " _lh_offset pg_catalog.int8 NOT NULL,"
							   " _lh_key pg_catalog.bytea,"
							   " _lh_headers pg_catalog.jsonb,"
							   " _lh_timestamp pg_catalog.timestamptz,");
	appendStringInfo(&sql, " payload %s NOT NULL)",
					 format_type_be_qualified(shape->payload_type));
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "create a bronze table");

	resetStringInfo(&sql);
	appendStringInfo(&sql, "CREATE INDEX ON %s USING brin (_lh_id) WITH (autosummarize = on)", qname);
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "index a bronze table");

	resetStringInfo(&sql);
	appendStringInfo(&sql,
					 "COMMENT ON TABLE %s IS %s", qname,
					 quote_literal_cstr(shape->kafka ?
										"lakehouse bronze table: Kafka messages with "
										"their topic, partition, offset, key, headers "
										"and timestamp" :
										"lakehouse bronze table: raw source records "
										"as jsonb, with their source, run and position"));
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "comment on a bronze table");
	security_grant_readers(qname, false);

	SPI_finish();
}

/*
 * How many ids one nextval of the bronze sequence reserves.
 *
 * Bronze tables we create step their identity by BRONZE_ID_BLOCK: one
 * nextval gives the writer a block of that many ids, which it hands out
 * in order (a nextval per row costs as much as the BRIN index).  Ids stay
 * unique and increasing in the order rows are landed, which is all the
 * silver stage's mark needs: the silver stage holds SHARE lock on bronze
 * while it reads, so a block reserved later always lies above its mark.
 * SQL inserts into the table simply get sparse ids.  A sequence stepping
 * by 1 (a bronze table created by hand) gets one nextval per row.
 */
static int64
bronze_id_block(Oid seqid)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(seqid));
	int64		incr;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", seqid);
	incr = ((Form_pg_sequence) GETSTRUCT(tup))->seqincrement;
	ReleaseSysCache(tup);
	return incr > 1 ? incr : 1;
}

/*
 * bronze_writer_open
 *		Prepare to land records of src in its bronze table.
 *
 * run_id 0 means "not part of a run" (_lh_run_id stays NULL).
 */
BronzeWriter *
bronze_writer_open(LhSource *src, int64 run_id)
{
	BronzeWriter *w;
	Oid			relid;
	Relation	rel;
	RangeTblEntry *rte;
	TriggerDesc *trigdesc;
	TupleDesc	tupdesc;
	AclResult	aclresult;
	bool		is_identity;

	w = palloc0(sizeof(BronzeWriter));
	w->cxt = CurrentMemoryContext;
	w->relname = quote_qualified_identifier(src->bronze_schema, src->bronze_table);
	w->run_id = run_id;
	w->run_id_null = (run_id == 0);
	w->source_name = CStringGetTextDatum(src->name);
	w->ingested_at = GetCurrentTransactionStartTimestamp();
	source_bronze_shape(src->kind, src->options, &w->shape);
	/* Kafka's provenance columns: the topic is the source's */
	if (w->shape.kafka)
		w->topic = CStringGetTextDatum(lh_option_text(src->options, "topic"));

	/* lock, then check privileges and shape */
	relid = bronze_check_table(src->bronze_schema, src->bronze_table,
							   RowExclusiveLock, &w->shape);
	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_INSERT);
	if (aclresult != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for bronze table %s", w->relname),
				 errdetail("Landing records of source \"%s\" needs INSERT privilege on its bronze table.",
						   src->name),
				 errhint("Grant INSERT on the table to the owner of the pipeline: runs write as that role.")));
	if (check_enable_rls(relid, InvalidOid, false) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot land records in bronze table %s: row-level security applies",
						w->relname),
				 errhint("Disable row-level security on the bronze table, or run the pipeline as its owner.")));

	rel = table_open(relid, NoLock);
	w->seqid = bronze_check_relation(rel, &w->shape, w->attnums, &is_identity);
	w->seq_check_perms = !is_identity;
	w->id_block = bronze_id_block(w->seqid);
	w->id_next = w->id_end = 0;

	/* executor state, as COPY FROM sets it up */
	w->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = rel->rd_rel->relkind;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_INSERT;
	ExecInitRangeTable(w->estate, list_make1(rte));
	w->rri = makeNode(ResultRelInfo);
	ExecInitResultRelation(w->estate, w->rri, 1);
	table_close(rel, NoLock);
	w->rel = w->rri->ri_RelationDesc;

	trigdesc = w->rri->ri_TrigDesc;
	if (trigdesc != NULL &&
		(trigdesc->trig_insert_before_row || trigdesc->trig_insert_after_row ||
		 trigdesc->trig_insert_instead_row ||
		 trigdesc->trig_insert_before_statement ||
		 trigdesc->trig_insert_after_statement ||
		 trigdesc->trig_insert_new_table))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot land records in bronze table %s: it has INSERT triggers",
						w->relname),
				 errdetail("Bronze tables are written in bulk, without firing triggers; foreign keys and deferrable constraints are triggers too."),
				 errhint("Move the trigger or constraint to the silver table.")));

	ExecOpenIndices(w->rri, false);
	w->cid = GetCurrentCommandId(true);
	w->estate->es_output_cid = w->cid;
	w->bistate = GetBulkInsertState();

	/* defaults of columns users added */
	tupdesc = RelationGetDescr(w->rel);
	w->defaults = palloc0(sizeof(ExprState *) * tupdesc->natts);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);
		bool		ours = false;
		Node	   *defexpr;

		for (int c = 0; c < BC_NCOLUMNS; c++)
			if (w->attnums[c] != InvalidAttrNumber &&
				w->attnums[c] == att->attnum)
				ours = true;
		if (ours || att->attisdropped || att->attgenerated != '\0')
			continue;
		defexpr = build_column_default(w->rel, att->attnum);
		if (defexpr != NULL)
			w->defaults[i] = ExecPrepareExpr((Expr *) defexpr, w->estate);
	}
	w->has_constraints = (tupdesc->constr != NULL);
	w->has_generated = (tupdesc->constr != NULL &&
						tupdesc->constr->has_generated_stored);

	w->max_rows = Max(lh_batch_size, 1);
	w->nslots = 0;
	w->slots_alloc = Min(w->max_rows, 64);
	w->slots = palloc0(sizeof(TupleTableSlot *) * w->slots_alloc);
	w->batchcxt = AllocSetContextCreate(w->cxt, "lakehouse bronze batch",
										ALLOCSET_DEFAULT_SIZES);
	return w;
}

/*
 * Start a row: a slot whose values are the defaults of the user's columns
 * and our provenance columns, except position, payload and the Kafka
 * columns, which are left NULL for the caller to fill.  Switches to the
 * batch context; bronze_writer_end_row switches back.
 */
static TupleTableSlot *
bronze_writer_begin_row(BronzeWriter *w)
{
	TupleTableSlot *slot;
	TupleDesc	tupdesc = RelationGetDescr(w->rel);
	MemoryContext oldcxt;
	Datum	   *values;
	bool	   *isnull;

	/* slots are made on demand and kept for the next batches */
	if (w->nused == w->nslots)
	{
		if (w->nslots == w->slots_alloc)
		{
			w->slots_alloc *= 2;
			w->slots = repalloc(w->slots,
								sizeof(TupleTableSlot *) * w->slots_alloc);
		}
		oldcxt = MemoryContextSwitchTo(w->cxt);
		if (w->slot_desc == NULL)
			w->slot_desc = CreateTupleDescCopy(tupdesc);
		w->slots[w->nslots++] = MakeSingleTupleTableSlot(w->slot_desc,
														 table_slot_callbacks(w->rel));
		MemoryContextSwitchTo(oldcxt);
	}
	slot = w->slots[w->nused];
	ExecClearTuple(slot);
	values = slot->tts_values;
	isnull = slot->tts_isnull;

	w->rowoldcxt = MemoryContextSwitchTo(w->batchcxt);
	for (int i = 0; i < tupdesc->natts; i++)
	{
		if (w->defaults[i] != NULL)
		{
			ExprContext *econtext = GetPerTupleExprContext(w->estate);
			Form_pg_attribute att = TupleDescAttr(tupdesc, i);
			Datum		d;

			d = ExecEvalExprSwitchContext(w->defaults[i], econtext, &isnull[i]);
			values[i] = isnull[i] ? (Datum) 0 :
				datumCopy(d, att->attbyval, att->attlen);
		}
		else
		{
			values[i] = (Datum) 0;
			isnull[i] = true;
		}
	}

	if (w->id_next >= w->id_end)
	{
		w->id_next = nextval_internal(w->seqid, w->seq_check_perms);
		w->id_end = w->id_next + w->id_block;
	}
	values[w->attnums[BC_ID] - 1] = Int64GetDatum(w->id_next++);
	isnull[w->attnums[BC_ID] - 1] = false;
	values[w->attnums[BC_SOURCE] - 1] = w->source_name;
	isnull[w->attnums[BC_SOURCE] - 1] = false;
	values[w->attnums[BC_RUN_ID] - 1] = Int64GetDatum(w->run_id);
	isnull[w->attnums[BC_RUN_ID] - 1] = w->run_id_null;
	values[w->attnums[BC_INGESTED_AT] - 1] = TimestampTzGetDatum(w->ingested_at);
	isnull[w->attnums[BC_INGESTED_AT] - 1] = false;
	return slot;
}

/* Set one of our columns of the row being built; value already copied. */
static inline void
bronze_set(BronzeWriter *w, TupleTableSlot *slot, BronzeColumnId c,
		   Datum value, bool isnull)
{
	slot->tts_values[w->attnums[c] - 1] = value;
	slot->tts_isnull[w->attnums[c] - 1] = isnull;
}

/* Finish the row begun by bronze_writer_begin_row; flush when full. */
static void
bronze_writer_end_row(BronzeWriter *w, TupleTableSlot *slot)
{
	ExecStoreVirtualTuple(slot);
	if (w->has_generated)
		ExecComputeStoredGenerated(w->rri, w->estate, slot, CMD_INSERT);
	if (w->has_constraints)
		ExecConstraints(w->rri, slot, w->estate);
	MemoryContextSwitchTo(w->rowoldcxt);

	w->nused++;
	if (w->nused >= w->max_rows || w->bytes >= BRONZE_MAX_BATCH_BYTES)
		bronze_writer_flush(w);
}

/*
 * bronze_writer_add
 *		Buffer one record; writes a batch when the buffer is full.
 *
 * position (may be NULL) and payload are copied, so the caller may free or
 * reset them as soon as this returns.
 */
void
bronze_writer_add(BronzeWriter *w, const char *position, Jsonb *payload)
{
	TupleTableSlot *slot;

	if (payload == NULL)
		elog(ERROR, "bronze payload must not be null");
	if (w->shape.kafka || w->shape.payload_type != JSONBOID)
		elog(ERROR, "bronze table %s is not a table of jsonb records",
			 w->relname);

	slot = bronze_writer_begin_row(w);
	if (position)
	{
		bronze_set(w, slot, BC_POSITION, CStringGetTextDatum(position), false);
		w->bytes += strlen(position);
	}
	bronze_set(w, slot, BC_PAYLOAD,
			   datumCopy(PointerGetDatum(payload), false, -1), false);
	w->bytes += VARSIZE_ANY(payload);
	bronze_writer_end_row(w, slot);
}

/*
 * bronze_writer_add_kafka
 *		Buffer one Kafka message: payload is a datum of the table's payload
 *		type (jsonb, text or bytea), headers a jsonb array or NULL.
 *
 * Everything is copied, as in bronze_writer_add.
 */
void
bronze_writer_add_kafka(BronzeWriter *w, const BronzeKafkaRecord *rec)
{
	TupleTableSlot *slot;
	char		position[48];
	bytea	   *key = NULL;

	if (!w->shape.kafka)
		elog(ERROR, "bronze table %s is not a table of Kafka messages",
			 w->relname);

	slot = bronze_writer_begin_row(w);
	{
		int			l = pg_ltoa(rec->partition, position);

		position[l++] = ':';
		(void) pg_lltoa(rec->offset, position + l);
	}
	bronze_set(w, slot, BC_POSITION, CStringGetTextDatum(position), false);
	bronze_set(w, slot, BC_TOPIC, w->topic, false);
	bronze_set(w, slot, BC_PARTITION, Int32GetDatum(rec->partition), false);
	bronze_set(w, slot, BC_OFFSET, Int64GetDatum(rec->offset), false);
	if (rec->key)
	{
		key = palloc(VARHDRSZ + rec->keylen);
		SET_VARSIZE(key, VARHDRSZ + rec->keylen);
		memcpy(VARDATA(key), rec->key, rec->keylen);
		w->bytes += rec->keylen;
	}
	bronze_set(w, slot, BC_KEY, PointerGetDatum(key), key == NULL);
	if (rec->headers)
	{
		bronze_set(w, slot, BC_HEADERS,
				   datumCopy(PointerGetDatum(rec->headers), false, -1), false);
		w->bytes += VARSIZE_ANY(rec->headers);
	}
	bronze_set(w, slot, BC_TIMESTAMP, TimestampTzGetDatum(rec->timestamp),
			   !rec->has_timestamp);
	bronze_set(w, slot, BC_PAYLOAD, datumCopy(rec->payload, false, -1), false);
	w->bytes += VARSIZE_ANY(DatumGetPointer(rec->payload));
	bronze_writer_end_row(w, slot);
}

/*
 * Write the buffered rows and their index entries, then forget them.
 */
static void
bronze_writer_flush(BronzeWriter *w)
{
	MemoryContext oldcxt;

	if (w->nused == 0)
		return;

	/* table_multi_insert may leak memory: give it the per-tuple context */
	oldcxt = MemoryContextSwitchTo(GetPerTupleMemoryContext(w->estate));
	table_multi_insert(w->rel, w->slots, w->nused, w->cid, 0, w->bistate);
	MemoryContextSwitchTo(oldcxt);

	for (int i = 0; i < w->nused; i++)
	{
		if (w->rri->ri_NumIndices > 0)
		{
			List	   *recheck;

			recheck = ExecInsertIndexTuples(w->rri, w->slots[i], w->estate,
											false, false, NULL, NIL);
			list_free(recheck);
		}
		ExecClearTuple(w->slots[i]);
	}

	w->rows_written += w->nused;
	lh_progress_add_rows(w->nused);
	w->nused = 0;
	w->bytes = 0;
	ResetPerTupleExprContext(w->estate);
	MemoryContextReset(w->batchcxt);
}

/*
 * bronze_writer_close
 *		Write what is buffered, release everything and return the number of
 *		rows the writer landed.
 */
int64
bronze_writer_close(BronzeWriter *w)
{
	int64		rows;

	bronze_writer_flush(w);

	FreeBulkInsertState(w->bistate);
	table_finish_bulk_insert(w->rel, 0);
	for (int i = 0; i < w->nslots; i++)
		ExecDropSingleTupleTableSlot(w->slots[i]);
	if (w->slot_desc)
		FreeTupleDesc(w->slot_desc);
	ExecCloseResultRelations(w->estate);
	ExecCloseRangeTableRelations(w->estate);
	FreeExecutorState(w->estate);
	MemoryContextDelete(w->batchcxt);

	/* make the rows visible to the rest of the transaction */
	CommandCounterIncrement();

	rows = w->rows_written;
	pfree(w->slots);
	pfree(w->defaults);
	pfree(w->relname);
	pfree(w);
	return rows;
}
