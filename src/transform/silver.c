/*-------------------------------------------------------------------------
 *
 * silver.c
 *	  The silver stage: typed projection of bronze payloads, cleaning,
 *	  de-duplication and quarantine.
 *
 * A silver table is declared as a list of column mappings (JSON path in
 * the bronze payload -> typed column, with transforms, a default, a
 * required flag and a value range).  The stage runs as ONE set-based
 * statement:
 *
 *	 INSERT INTO silver.t AS t (cols..., _lh_bronze_id, _lh_run_id)
 *	 SELECT DISTINCT ON (keys) (s.r).cols... FROM
 *	   (SELECT lakehouse.lh_silver_project(b.payload, b._lh_id,
 *				b._lh_position, NULL::silver.t, table_id) AS r
 *		  FROM bronze.x b WHERE b._lh_id > mark OFFSET 0) s
 *	 ORDER BY keys, order_by DESC, _lh_bronze_id DESC
 *	 ON CONFLICT (keys) DO UPDATE SET ... WHERE newer
 *
 * lh_silver_project is a C set-returning function that converts one
 * payload with the mapping compiled once per stage (type input functions,
 * range bounds, attribute numbers).  A row that cannot be converted
 * produces no output row; instead the function appends it, with every
 * rule it breaks (each column's type, required, min and max, then the
 * drop expectations of the row checks: LhViolation), to an in-memory
 * quarantine buffer that is written to lakehouse.quarantine in batches
 * (multi-row INSERT from arrays), during the statement when the buffer
 * fills up and at its end.  One bad value therefore never aborts the
 * batch.
 *
 * Replay (lh_replay_quarantine, src/transform/quarantine_ops.c): the same
 * statement reads a table's quarantined rows (their stored payloads and
 * bronze ids, in batches) instead of bronze; rows that now pass are
 * upserted with the stage's de-duplication and leave quarantine, the
 * others keep their row with their new rules.  The quarantine id travels
 * in the position argument, which a quarantined row already has.  A
 * replayed row never replaces a newer version of its key (order_by, then
 * landing order by bronze id).
 *
 * Transactions and locking: the stage runs in the caller's (sub)transaction.
 * It first takes SHARE lock on the bronze table, which waits for writers
 * that are still landing rows and keeps new ones out until the stage's
 * transaction ends; that way no bronze row with an id below the new mark
 * can commit later and be skipped.  The new mark (the highest bronze id
 * seen) is written to lakehouse.stage_marks in the same transaction as the
 * silver rows and the quarantine rows.
 *
 * Progress: after the lock, the bronze rows above the mark are counted
 * (only while a run is in flight); lh_silver_project reports each row it
 * reads against that total (lakehouse.run_progress).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/formatting.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

#include "lakehouse.h"
#include "pipeline/pipeline.h"
#include "sources/sources.h"
#include "transform/changes.h"
#include "transform/transform.h"

PG_FUNCTION_INFO_V1(lh_silver_project);

/* A column mapping compiled for execution. */
typedef struct CompiledColumn
{
	LhSilverColumn *def;
	int			attnum;			/* 0-based index in the output tuple */
	int			npath;
	char	  **path;
	int		   *pathlen;
	LhTypeInput input;
	bool		has_default;
	Datum		default_datum;
	FmgrInfo   *cmp;			/* btree comparison, when min/max given */
	bool		has_min;
	Datum		min_datum;
	bool		has_max;
	Datum		max_datum;
} CompiledColumn;

/* The silver stage currently executing in this backend. */
typedef struct SilverStage
{
	int32		table_id;
	int32		pipeline_id;
	char	   *target;			/* qualified silver table */
	char	   *bronze;			/* qualified bronze table */
	MemoryContext cxt;			/* lives for the stage */
	TupleDesc	tupdesc;		/* silver row type */
	int			ncolumns;
	CompiledColumn *columns;
	int			att_bronze_id;
	int			att_run_id;
	int64		run_id;
	StageRowChecks *checks;	/* the row checks (src/pipeline/checks.c) */

	bool	   *unknown;		/* per attribute: could not be typed */

	/* progress */
	int64		rows_read;
	int64		rows_quarantined;
	int64		max_bronze_id;

	/* quarantine buffer: one array per column (LhQuarantineCol) */
	int			nbuf;
	int			maxbuf;
	MemoryContext qcxt;			/* the buffered values, reset per flush */
	Datum	   *q_cols[LHQ_NCOLS];
	bool	   *q_nulls[LHQ_NCOLS];

	/* replay: ids of the rows that passed (the refused ones are buffered) */
	bool		replay;
	int			npassed;
	Datum	   *passed;
} SilverStage;

static SilverStage *active_stage = NULL;

/* Per-query state of lh_silver_project (fn_extra). */
typedef struct ProjectState
{
	bool		returned;		/* output row for the current input given */
} ProjectState;

/* ----------------------------------------------------------------
 * The stage
 * ----------------------------------------------------------------
 */

static void
compile_stage(SilverStage *st, Oid relid, List *columns)
{
	ListCell   *lc;
	int			i = 0;
	Relation	rel = table_open(relid, AccessShareLock);

	st->tupdesc = CreateTupleDescCopy(RelationGetDescr(rel));
	table_close(rel, AccessShareLock);
	st->ncolumns = list_length(columns);
	st->columns = palloc0(sizeof(CompiledColumn) * st->ncolumns);
	st->att_bronze_id = st->att_run_id = -1;
	for (int a = 0; a < st->tupdesc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(st->tupdesc, a);

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), "_lh_bronze_id") == 0)
			st->att_bronze_id = a;
		else if (strcmp(NameStr(att->attname), "_lh_run_id") == 0)
			st->att_run_id = a;
	}
	if (st->att_bronze_id < 0 || st->att_run_id < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("silver table %s lacks its lineage columns", st->target),
				 errhint("Redefine it with lakehouse.lh_define_silver(..., replace => true).")));

	foreach(lc, columns)
	{
		LhSilverColumn *def = lfirst(lc);
		CompiledColumn *cc = &st->columns[i++];
		ListCell   *p;
		int			j = 0;

		cc->def = def;
		cc->attnum = -1;
		for (int a = 0; a < st->tupdesc->natts; a++)
		{
			Form_pg_attribute att = TupleDescAttr(st->tupdesc, a);

			if (!att->attisdropped && strcmp(NameStr(att->attname), def->name) == 0)
			{
				cc->attnum = a;
				/* convert to the table's exact type */
				def->typid = att->atttypid;
				def->typmod = att->atttypmod;
			}
		}
		if (cc->attnum < 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" does not exist in silver table %s",
							def->name, st->target),
					 errhint("The table was altered after the mapping was declared; restore the column or redefine the mapping.")));
		cc->npath = list_length(def->path);
		cc->path = palloc(sizeof(char *) * cc->npath);
		cc->pathlen = palloc(sizeof(int) * cc->npath);
		foreach(p, def->path)
		{
			cc->path[j] = lfirst(p);
			cc->pathlen[j] = strlen(cc->path[j]);
			j++;
		}
		lh_type_input_init(&cc->input, def->typid, def->typmod);
		if (def->default_value)
		{
			cc->has_default = true;
			cc->default_datum = InputFunctionCall(&cc->input.inproc,
												  def->default_value,
												  cc->input.typioparam,
												  def->typmod);
		}
		if (def->min_value || def->max_value)
		{
			TypeCacheEntry *tce = lookup_type_cache(def->typid,
													TYPECACHE_CMP_PROC_FINFO);

			cc->cmp = &tce->cmp_proc_finfo;
			if (def->min_value)
			{
				cc->has_min = true;
				cc->min_datum = InputFunctionCall(&cc->input.inproc, def->min_value,
												  cc->input.typioparam, def->typmod);
			}
			if (def->max_value)
			{
				cc->has_max = true;
				cc->max_datum = InputFunctionCall(&cc->input.inproc, def->max_value,
												  cc->input.typioparam, def->typmod);
			}
		}
	}
}

/*
 * Write the buffered quarantine rows with one multi-row INSERT (a replay:
 * update the rows it refused again).  Connects to SPI itself: it may be
 * called from inside the stage's statement.
 */
static void
flush_quarantine(SilverStage *st)
{
	Datum	   *cols[LHQ_NCOLS] = {0};
	bool	   *nulls[LHQ_NCOLS] = {0};
	int			n = st->nbuf;
	Datum		run = Int64GetDatum(st->run_id);
	Datum		pipeline = Int32GetDatum(st->pipeline_id);
	Datum		table = Int32GetDatum(st->table_id);
	Datum		target = CStringGetTextDatum(st->target);
	Datum		bronze = CStringGetTextDatum(st->bronze);
	bool	   *notnull;

	if (n == 0)
		return;
	memcpy(cols, st->q_cols, sizeof(cols));
	memcpy(nulls, st->q_nulls, sizeof(nulls));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (st->replay)
		catalog_quarantine_update(n, st->q_cols[LHQ_BRONZE_ID], cols, nulls);
	else
	{
		notnull = palloc0(sizeof(bool) * n);
		for (int k = LHQ_RUN_ID; k <= LHQ_BRONZE_TABLE; k++)
		{
			Datum		d = k == LHQ_RUN_ID ? run : k == LHQ_PIPELINE_ID ? pipeline :
				k == LHQ_TABLE_ID ? table : k == LHQ_TARGET ? target : bronze;

			cols[k] = palloc(sizeof(Datum) * n);
			for (int i = 0; i < n; i++)
				cols[k][i] = d;
			nulls[k] = notnull;
		}
		catalog_quarantine_insert(n, cols, nulls);
	}
	SPI_finish();
	st->nbuf = 0;
	MemoryContextReset(st->qcxt);
}

/*
 * Buffer a row that breaks the rules in violations (at least one).  In a
 * replay, position holds the row's quarantine id, which takes the place of
 * the bronze id in the buffer (flush_quarantine updates that row).
 */
static void
quarantine_row(SilverStage *st, int64 bronze_id, text *position,
			   Jsonb *payload, List *violations)
{
	MemoryContext old;
	LhViolation *first = linitial(violations);
	int			i;

	if (st->nbuf >= st->maxbuf)
		flush_quarantine(st);
	old = MemoryContextSwitchTo(st->qcxt);
	i = st->nbuf++;
	if (st->replay)
		st->q_cols[LHQ_BRONZE_ID][i] =
			Int64GetDatum(pg_strtoint64(text_to_cstring(position)));
	else
	{
		st->q_cols[LHQ_BRONZE_ID][i] = Int64GetDatum(bronze_id);
		st->q_nulls[LHQ_POSITION][i] = (position == NULL);
		st->q_cols[LHQ_POSITION][i] = position ?
			PointerGetDatum(DatumGetTextPCopy(PointerGetDatum(position))) : (Datum) 0;
		st->q_cols[LHQ_PAYLOAD][i] =
			PointerGetDatum(DatumGetJsonbPCopy(PointerGetDatum(payload)));
	}
	st->q_nulls[LHQ_COLUMN][i] = (first->column == NULL);
	st->q_cols[LHQ_COLUMN][i] = first->column ? CStringGetTextDatum(first->column) : (Datum) 0;
	st->q_nulls[LHQ_VALUE][i] = (first->value == NULL);
	st->q_cols[LHQ_VALUE][i] = first->value ?
		CStringGetTextDatum(catalog_quarantine_clip(first->value)) : (Datum) 0;
	st->q_cols[LHQ_REASON][i] = CStringGetTextDatum(first->reason);
	st->q_cols[LHQ_RULE][i] = CStringGetTextDatum(first->rule);
	st->q_cols[LHQ_VIOLATIONS][i] = catalog_quarantine_violations(violations);
	st->rows_quarantined++;
	MemoryContextSwitchTo(old);
}

/* Allocate the quarantine buffer of a stage, in its memory context. */
static void
quarantine_buffer_init(SilverStage *st)
{
	static const LhQuarantineCol buffered[] = {
		LHQ_BRONZE_ID, LHQ_POSITION, LHQ_COLUMN, LHQ_VALUE, LHQ_REASON,
		LHQ_RULE, LHQ_PAYLOAD, LHQ_VIOLATIONS
	};

	st->maxbuf = Max(lh_max_quarantine_buffer, 1);
	for (int k = 0; k < lengthof(buffered); k++)
	{
		st->q_cols[buffered[k]] = palloc(sizeof(Datum) * st->maxbuf);
		st->q_nulls[buffered[k]] = palloc0(sizeof(bool) * st->maxbuf);
	}
	st->qcxt = AllocSetContextCreate(st->cxt, "silver quarantine buffer",
									 ALLOCSET_DEFAULT_SIZES);
}

/*
 * Find the value at a path; returns false if any step is missing.
 */
static bool
extract_path(Jsonb *payload, CompiledColumn *cc, JsonbValue *out)
{
	JsonbContainer *cont = &payload->root;
	JsonbValue	tmp;
	JsonbValue *v = NULL;

	if (JB_ROOT_IS_SCALAR(payload))
		return false;
	for (int i = 0; i < cc->npath; i++)
	{
		if (JsonContainerIsObject(cont))
			v = getKeyJsonValueFromContainer(cont, cc->path[i], cc->pathlen[i], &tmp);
		else if (JsonContainerIsArray(cont))
		{
			char	   *end;
			long		idx = strtol(cc->path[i], &end, 10);

			if (*end != '\0' || idx < 0)
				return false;
			v = getIthJsonbValueFromContainer(cont, (uint32) idx);
		}
		else
			return false;
		if (v == NULL)
			return false;
		if (i < cc->npath - 1)
		{
			if (v->type != jbvBinary)
				return false;
			cont = v->val.binary.data;
		}
	}
	*out = *v;
	return true;
}

/* The text form of a JSON value, or NULL for JSON null. */
static char *
json_value_text(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvString:
		case jbvNumeric:
		case jbvBool:
			return lh_jsonb_scalar_text(v);
		case jbvBinary:
			return JsonbToCString(NULL, v->val.binary.data, v->val.binary.len);
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;
}

static char *
apply_transforms(char *s, int flags)
{
	if (flags & LH_XFORM_TRIM)
	{
		char	   *end;

		while (*s && isspace((unsigned char) *s))
			s++;
		end = s + strlen(s);
		while (end > s && isspace((unsigned char) end[-1]))
			end--;
		*end = '\0';
	}
	if (flags & LH_XFORM_LOWER)
		s = str_tolower(s, strlen(s), DEFAULT_COLLATION_OID);
	if (flags & LH_XFORM_UPPER)
		s = str_toupper(s, strlen(s), DEFAULT_COLLATION_OID);
	if ((flags & LH_XFORM_NULLIF_EMPTY) && s[0] == '\0')
		return NULL;
	return s;
}

/*
 * Convert one payload.  Returns true and fills values/nulls, or false after
 * quarantining the row with every rule it breaks: each column is judged
 * (a value that cannot be typed is null and unknown to the row checks
 * after it), then the row checks.
 */
static bool
project_row(SilverStage *st, Jsonb *payload, int64 bronze_id, text *position,
			Datum *values, bool *nulls)
{
	List	   *violations = NIL;

	memset(st->unknown, false, sizeof(bool) * st->tupdesc->natts);
	for (int i = 0; i < st->ncolumns; i++)
	{
		CompiledColumn *cc = &st->columns[i];
		const char *name = cc->def->name;
		JsonbValue	jv;
		char	   *str = NULL;
		bool		found;
		ErrorData  *edata;
		Datum		d;

		found = extract_path(payload, cc, &jv);
		if (found)
			str = json_value_text(&jv);
		if (str != NULL && cc->def->transforms)
			str = apply_transforms(str, cc->def->transforms);

		nulls[cc->attnum] = true;
		if (str == NULL)
		{
			if (cc->has_default)
			{
				values[cc->attnum] = cc->default_datum;
				nulls[cc->attnum] = false;
			}
			else if (cc->def->required)
				violations = lappend(violations,
									 lh_violation(name, "required", NULL,
												  psprintf(found ?
														   "required field \"%s\" is null" :
														   "required field \"%s\" is missing",
														   name)));
			continue;
		}

		if (!lh_type_input_safe(&cc->input, str, &d, &edata))
		{
			violations = lappend(violations,
								 lh_violation(name, "type", str,
											  edata->detail ?
											  psprintf("%s: %s", edata->message, edata->detail) :
											  edata->message));
			st->unknown[cc->attnum] = true;
			continue;
		}
		values[cc->attnum] = d;
		nulls[cc->attnum] = false;
		if (cc->has_min &&
			DatumGetInt32(FunctionCall2Coll(cc->cmp, DEFAULT_COLLATION_OID,
											d, cc->min_datum)) < 0)
			violations = lappend(violations,
								 lh_violation(name, "min", str,
											  psprintf("value is below the minimum %s of column \"%s\"",
													   cc->def->min_value, name)));
		else if (cc->has_max &&
				 DatumGetInt32(FunctionCall2Coll(cc->cmp, DEFAULT_COLLATION_OID,
												 d, cc->max_datum)) > 0)
			violations = lappend(violations,
								 lh_violation(name, "max", str,
											  psprintf("value is above the maximum %s of column \"%s\"",
													   cc->def->max_value, name)));
	}
	values[st->att_bronze_id] = Int64GetDatum(bronze_id);
	nulls[st->att_bronze_id] = false;
	values[st->att_run_id] = Int64GetDatum(st->run_id);
	nulls[st->att_run_id] = false;
	(void) stage_checks_row(st->checks, values, nulls, st->unknown, &violations);
	if (violations != NIL)
	{
		quarantine_row(st, bronze_id, position, payload, violations);
		return false;
	}
	return true;
}

/*
 * lh_silver_project(payload, bronze_id, position, row_type, table_id)
 *		returns setof anyelement
 *
 * Value-per-call: one output row for a good payload, none for a
 * quarantined one.
 */
Datum
lh_silver_project(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsi = (ReturnSetInfo *) fcinfo->resultinfo;
	ProjectState *ps = (ProjectState *) fcinfo->flinfo->fn_extra;
	SilverStage *st = active_stage;
	Jsonb	   *payload;
	int64		bronze_id;
	text	   *position;
	Datum	   *values;
	bool	   *nulls;

	if (rsi == NULL || !IsA(rsi, ReturnSetInfo) ||
		(rsi->allowedModes & SFRM_ValuePerCall) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	if (st == NULL || PG_ARGISNULL(4) || st->table_id != PG_GETARG_INT32(4))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("bronze rows can only be projected inside the silver stage"),
				 errhint("Run the pipeline with lakehouse.lh_run_pipeline().")));
	if (ps == NULL)
	{
		ps = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(ProjectState));
		fcinfo->flinfo->fn_extra = ps;
	}
	rsi->returnMode = SFRM_ValuePerCall;

	if (ps->returned)
	{
		/* second call for the same input: the set is done */
		ps->returned = false;
		rsi->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
	{
		rsi->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}
	payload = PG_GETARG_JSONB_P(0);
	bronze_id = PG_GETARG_INT64(1);
	position = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);

	st->rows_read++;
	lh_progress_add_rows(1);
	if (bronze_id > st->max_bronze_id)
		st->max_bronze_id = bronze_id;
	/* drift was noted when the row was first read */
	if (!st->replay)
		stage_checks_payload(st->checks, payload, st->rows_read);

	values = palloc(sizeof(Datum) * st->tupdesc->natts);
	nulls = palloc(sizeof(bool) * st->tupdesc->natts);
	memset(nulls, true, sizeof(bool) * st->tupdesc->natts);

	if (!project_row(st, payload, bronze_id, position, values, nulls))
	{
		rsi->isDone = ExprEndResult;
		PG_RETURN_NULL();
	}
	if (st->replay)
		st->passed[st->npassed++] =
			Int64GetDatum(pg_strtoint64(text_to_cstring(position)));
	ps->returned = true;
	rsi->isDone = ExprMultipleResult;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(st->tupdesc, values, nulls)));
}

/*
 * Build the stage's statement, reading the rows of from: a FROM item "b"
 * with columns payload, _lh_id and _lh_position (for the stage, the bronze
 * rows above the mark $1).  A replay upserts only over older versions.
 */
static char *
build_stage_sql(LhTable *table, SilverStage *st, const char *from, Oid reltype)
{
	StringInfoData sql;
	char	   *target = st->target;

	initStringInfo(&sql);
	appendStringInfo(&sql, "INSERT INTO %s AS t (", target);
	for (int i = 0; i < st->ncolumns; i++)
		appendStringInfo(&sql, "%s, ", quote_identifier(st->columns[i].def->name));
	appendStringInfoString(&sql, "_lh_bronze_id, _lh_run_id) SELECT ");
	if (table->keys != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(&sql, "DISTINCT ON (");
		foreach(lc, table->keys)
			appendStringInfo(&sql, "%s(s.r).%s", foreach_current_index(lc) ? ", " : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfoString(&sql, ") ");
	}
	for (int i = 0; i < st->ncolumns; i++)
		appendStringInfo(&sql, "(s.r).%s, ", quote_identifier(st->columns[i].def->name));
	appendStringInfo(&sql,
					 "(s.r)._lh_bronze_id, (s.r)._lh_run_id FROM"
					 " (SELECT lakehouse.lh_silver_project(b.payload, b._lh_id,"
					 " b._lh_position, NULL::%s, %d) AS r FROM %s OFFSET 0) s",
					 format_type_be_qualified(reltype), table->table_id, from);
	if (table->keys != NIL)
	{
		ListCell   *lc;

		appendStringInfoString(&sql, " ORDER BY ");
		foreach(lc, table->keys)
			appendStringInfo(&sql, "(s.r).%s, ", quote_identifier(lfirst(lc)));
		if (table->order_by)
			appendStringInfo(&sql, "(s.r).%s DESC NULLS LAST, ",
							 quote_identifier(table->order_by));
		appendStringInfoString(&sql, "(s.r)._lh_bronze_id DESC");

		appendStringInfoString(&sql, " ON CONFLICT (");
		foreach(lc, table->keys)
			appendStringInfo(&sql, "%s%s", foreach_current_index(lc) ? ", " : "",
							 quote_identifier(lfirst(lc)));
		appendStringInfoString(&sql, ") DO UPDATE SET ");
		for (int i = 0; i < st->ncolumns; i++)
		{
			const char *c = quote_identifier(st->columns[i].def->name);

			if (lh_name_in_list(table->keys, st->columns[i].def->name))
				continue;
			appendStringInfo(&sql, "%s = excluded.%s, ", c, c);
		}
		appendStringInfoString(&sql, "_lh_bronze_id = excluded._lh_bronze_id,"
							   " _lh_run_id = excluded._lh_run_id");
		if (table->order_by && !st->replay)
		{
			const char *o = quote_identifier(table->order_by);

			appendStringInfo(&sql, " WHERE t.%s IS NULL OR excluded.%s >= t.%s",
							 o, o, o);
		}
		else if (table->order_by)
		{
			const char *o = quote_identifier(table->order_by);

			appendStringInfo(&sql, " WHERE t.%s IS NULL OR excluded.%s > t.%s"
							 " OR (excluded.%s = t.%s"
							 " AND excluded._lh_bronze_id >= t._lh_bronze_id)",
							 o, o, o, o, o);
		}
		else if (st->replay)
			appendStringInfoString(&sql,
								   " WHERE excluded._lh_bronze_id >= t._lh_bronze_id");
	}
	return sql.data;
}

/*
 * Are there bronze rows above the mark?
 *
 * Bronze ids come from the table's sequence, so when the sequence has not
 * gone past the mark nothing can be new: an O(1) answer that needs no
 * statistics or summarized BRIN ranges (a probe of a freshly landed,
 * never analyzed table can read every page).  Rows written with explicit
 * ids (OVERRIDING SYSTEM VALUE) are not seen by this shortcut.  When the
 * sequence cannot be read (no privilege), fall back to a probe.
 */
static bool
bronze_has_new_rows(LhSource *src, int64 mark)
{
	char	   *qname = lh_qualified_name(src->bronze_schema, src->bronze_table);
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(qname)};
	Oid			ptypes[1] = {INT8OID};
	Datum		pvalues[1] = {Int64GetDatum(mark)};
	bool		usable;
	bool		isnull;
	Datum		last;

	(void) lh_spi_exec("SELECT s IS NOT NULL AND pg_catalog.has_sequence_privilege(s, 'SELECT'),"
					   " CASE WHEN s IS NOT NULL AND pg_catalog.has_sequence_privilege(s, 'SELECT')"
					   " THEN pg_catalog.pg_sequence_last_value(s::pg_catalog.regclass) END"
					   " FROM pg_catalog.pg_get_serial_sequence($1, '_lh_id') AS s",
					   1, types, values, NULL, SPI_OK_SELECT,
					   "read the sequence of a bronze table");
	usable = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										1, &isnull));
	if (usable)
	{
		last = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		return !isnull && DatumGetInt64(last) > mark;
	}

	return lh_spi_exec(psprintf("SELECT 1 FROM %s WHERE _lh_id > $1 LIMIT 1", qname),
					   1, ptypes, pvalues, NULL, SPI_OK_SELECT,
					   "read a bronze table") > 0;
}

/*
 * How many bronze rows lie above the mark: the stage's total for
 * lakehouse.run_progress.  Read under the stage's SHARE lock, so it is
 * exactly what the statement will read.
 */
static int64
silver_rows_ahead(SilverStage *st, int64 old_mark)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(old_mark)};

	(void) lh_spi_exec(psprintf("SELECT pg_catalog.count(*) FROM %s WHERE _lh_id > $1",
								st->bronze),
					   1, types, values, NULL, SPI_OK_SELECT,
					   "count the new bronze rows");
	return catalog_int64(0, 1, 0);
}

/*
 * Run the stage's statement with st active; returns rows written.
 *
 * An incremental run reads the bronze rows above the mark through the BRIN
 * index on _lh_id.  A bronze table that has just grown has no statistics
 * for its new rows, and the planner would then expect a third of the table
 * and scan all of it; sequential scans are switched off for this statement
 * (restored on exit, and by the subtransaction's abort on error).
 */
static uint64
execute_stage(SilverStage *st, const char *stage_sql, int nargs, Oid *types,
			  Datum *values, bool incremental)
{
	uint64		written = 0;
	int			save_nestlevel = NewGUCNestLevel();

	if (incremental)
		(void) set_config_option("enable_seqscan", "off",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);

	active_stage = st;
	PG_TRY();
	{
		written = lh_spi_exec(stage_sql, nargs, types, values, NULL, SPI_OK_INSERT,
							  "run the silver stage's statement");
		flush_quarantine(st);
	}
	PG_FINALLY();
	{
		active_stage = NULL;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, save_nestlevel);
	return written;
}

/*
 * Set up a stage (or a replay) of the silver table relid reading the bronze
 * table of source source_id: the compiled mapping, the row checks, the
 * quarantine buffer.  Everything lives in the stage's own memory context
 * (st->cxt, which the caller deletes).  Caller is connected to SPI.
 */
static SilverStage *
stage_begin(LhTable *table, Oid relid, int32 source_id, bool replay)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext, "silver stage",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	SilverStage *st = palloc0(sizeof(SilverStage));
	LhSource   *src = catalog_source_by_id(source_id, false);
	List	   *columns;

	st->cxt = cxt;
	st->replay = replay;
	st->table_id = table->table_id;
	st->pipeline_id = table->pipeline_id;
	st->run_id = lh_current_run ? lh_current_run->run_id : 0;
	st->target = lh_qualified_name(table->schema_name, table->table_name);
	st->bronze = lh_qualified_name(src->bronze_schema, src->bronze_table);
	columns = silver_load_columns(table->table_id);
	compile_stage(st, relid, columns);
	st->unknown = palloc0(sizeof(bool) * st->tupdesc->natts);
	{
		StageCheckTarget target = {"silver", table->table_id, relid,
		st->tupdesc, columns};

		st->checks = stage_checks_begin_rows(&target);
	}
	quarantine_buffer_init(st);
	MemoryContextSwitchTo(old);
	return st;
}

/*
 * silver_run_stage
 *		Project new bronze rows of the table's source into the silver table.
 *		Caller is connected to SPI and inside the stage's subtransaction.
 */
static void silver_run_stage_body(LhTable *table, LhStageCounts *counts);

void
silver_run_stage(LhTable *table, LhStageCounts *counts)
{
	Oid			prev;

	if (!(lh_current_run && lh_current_run->full_refresh))
	{
		silver_run_stage_body(table, counts);
		return;
	}

	/*
	 * A full refresh rewrites every row: capture moves the table's horizon
	 * instead of logging an image of each (changes_capture.c), and the gold
	 * tables that read it refresh fully.
	 */
	prev = changes_rewrite_begin(lh_stage_table_oid(table));
	PG_TRY();
	{
		silver_run_stage_body(table, counts);
	}
	PG_FINALLY();
	{
		changes_rewrite_end(prev);
	}
	PG_END_TRY();
}

static void
silver_run_stage_body(LhTable *table, LhStageCounts *counts)
{
	LhSource   *src;
	Oid			relid;
	char	   *mark;
	int64		old_mark = 0;
	StringInfoData sql;
	SilverStage *st;
	char	   *stage_sql;

	if (table->source_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("silver table %s has no source",
						lh_qualified_name(table->schema_name, table->table_name)),
				 errhint("Redefine it with lakehouse.lh_define_silver().")));
	src = catalog_source_by_id(table->source_id, false);
	relid = lh_stage_table_oid(table);
	(void) bronze_check_table(src->bronze_schema, src->bronze_table,
							  AccessShareLock, NULL);

	/* keep concurrent bronze writers out (see the file header) */
	initStringInfo(&sql);
	appendStringInfo(&sql, "LOCK TABLE %s IN SHARE MODE",
					 lh_qualified_name(src->bronze_schema, src->bronze_table));
	(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_UTILITY,
					   "lock a bronze table");

	if (lh_current_run && lh_current_run->full_refresh)
	{
		/* reprocess everything; a keyless table is emptied first */
		if (table->keys == NIL)
		{
			resetStringInfo(&sql);
			appendStringInfo(&sql, "DELETE FROM %s",
							 lh_qualified_name(table->schema_name, table->table_name));
			(void) lh_spi_exec(sql.data, 0, NULL, NULL, NULL, SPI_OK_DELETE,
							   "empty a silver table");
		}
		catalog_quarantine_clear(table->table_id, false);
	}
	else if ((mark = catalog_get_stage_mark(table->table_id, "bronze_id")) != NULL)
		old_mark = strtoi64(mark, NULL, 10);

	/* nothing new: done (this is the common case of an incremental run) */
	if (!bronze_has_new_rows(src, old_mark))
		return;

	st = stage_begin(table, relid, src->source_id, false);
	st->max_bronze_id = old_mark;
	stage_sql = build_stage_sql(table, st,
								psprintf("%s b WHERE b._lh_id > $1",
										 lh_qualified_name(src->bronze_schema,
														   src->bronze_table)),
								get_rel_type_id(relid));
	/* the total of run_progress: the bronze rows above the mark */
	if (lh_progress_active())
		lh_progress_total(silver_rows_ahead(st, old_mark), -1);
	{
		Oid			types[1] = {INT8OID};
		Datum		values[1] = {Int64GetDatum(old_mark)};

		counts->rows_written = execute_stage(st, stage_sql, 1, types, values,
											 old_mark > 0);
	}
	stage_checks_end_rows(st->checks);

	counts->rows_read = st->rows_read;
	counts->rows_quarantined = st->rows_quarantined;
	counts->rows_skipped = st->rows_read - st->rows_quarantined - counts->rows_written;
	if (st->max_bronze_id > old_mark)
		catalog_set_stage_mark(table->table_id, "bronze_id",
							   psprintf(INT64_FORMAT, st->max_bronze_id));
	MemoryContextDelete(st->cxt);
}

/*
 * silver_replay
 *		Project the table's quarantined rows of key (those ids, or all when
 *		ids_null) again with the current mapping and row checks, in batches
 *		of lakehouse.max_quarantine_buffer rows: the rows that pass are
 *		upserted into the silver table (their _lh_run_id is replay_id) and
 *		leave quarantine, the others stay with the rules they break now.
 *		Sets *replayed and *still; when rows were written, replay_id becomes
 *		the table's changed_run mark, so the gold tables that read it are
 *		built again by the next run.  Caller is connected to SPI, runs as
 *		the pipeline's owner and holds the pipeline's run lock.
 */
void
silver_replay(LhTable *table, const LhQuarantineKey *key, Datum ids,
			  bool ids_null, int64 replay_id, int64 *replayed, int64 *still)
{
	Oid			relid = lh_table_oid(table->schema_name, table->table_name, false);
	SilverStage *st;
	char	   *sql;
	MemoryContext batchcxt;
	MemoryContext old;
	LhQuarantineBatch batch;
	int64		after = 0;
	uint64		written = 0;

	*replayed = *still = 0;
	if (table->source_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("silver table %s has no source", key->target),
				 errhint("Redefine it with lakehouse.lh_define_silver().")));
	st = stage_begin(table, relid, table->source_id, true);
	st->run_id = replay_id;
	st->passed = MemoryContextAlloc(st->cxt, sizeof(Datum) * st->maxbuf);
	sql = build_stage_sql(table, st,
						  "unnest($1, $2, $3::pg_catalog.text[])"
						  " AS b(payload, _lh_id, _lh_position)",
						  get_rel_type_id(relid));
	batchcxt = AllocSetContextCreate(CurrentMemoryContext, "silver replay batch",
									 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(batchcxt);
	while (catalog_quarantine_batch(key, ids, ids_null, after, st->maxbuf, &batch))
	{
		Oid			types[3] = {JSONBARRAYOID, INT8ARRAYOID, INT8ARRAYOID};
		Datum		values[3] = {batch.payloads, batch.bronze_ids, batch.ids};

		CHECK_FOR_INTERRUPTS();
		st->npassed = 0;
		written += execute_stage(st, sql, 3, types, values, false);
		catalog_quarantine_delete(st->npassed, st->passed);
		*replayed += st->npassed;
		*still += batch.n - st->npassed;
		after = batch.last_id;
		MemoryContextSwitchTo(old);
		MemoryContextReset(batchcxt);
		old = MemoryContextSwitchTo(batchcxt);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(batchcxt);
	stage_checks_end_rows(st->checks);
	if (written > 0)
		catalog_set_stage_mark(table->table_id, "changed_run",
							   psprintf(INT64_FORMAT, replay_id));
	MemoryContextDelete(st->cxt);
}
