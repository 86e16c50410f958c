/*-------------------------------------------------------------------------
 *
 * safeinput.c
 *	  Convert text to a typed value, turning bad data into a value the
 *	  caller can quarantine instead of an error that aborts the batch.
 *
 * PostgreSQL 15 has no soft-error input functions (they arrived in 16), so
 * there are two ways to survive a failing input function:
 *
 *	- For built-in types whose input functions are pure (they parse a string
 *	  and palloc a result; no locks, buffers, catalog access or other
 *	  resources), the error is caught with PG_TRY, copied and flushed.  This
 *	  is safe because nothing needs cleaning up besides memory, which lives
 *	  in the caller's short-lived context.
 *	- For every other type (domains, enums, user types, reg* types that look
 *	  up the catalog) the call runs in an internal subtransaction, which is
 *	  correct for any input function but much slower.
 *
 * Only errors of class 22 (data exception) become a returned ErrorData;
 * anything else (out of memory, query cancel) is re-thrown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "utils/elog.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "lakehouse.h"

static bool
type_input_is_pure(Oid typid)
{
	switch (typid)
	{
		case BOOLOID:
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
		case NAMEOID:
		case DATEOID:
		case TIMEOID:
		case TIMETZOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case INTERVALOID:
		case UUIDOID:
		case JSONOID:
		case JSONBOID:
		case INETOID:
		case CIDROID:
		case MACADDROID:
		case BYTEAOID:
			return true;
		default:
			return false;
	}
}

void
lh_type_input_init(LhTypeInput *tin, Oid typid, int32 typmod)
{
	Oid			infunc;

	getTypeInputInfo(typid, &infunc, &tin->typioparam);
	fmgr_info_cxt(infunc, &tin->inproc, CurrentMemoryContext);
	tin->typid = typid;
	tin->typmod = typmod;
	tin->catch_inline = type_input_is_pure(typid);
}

/*
 * Inspect a caught error: data exceptions are returned to the caller, all
 * other errors are re-thrown.
 */
static ErrorData *
take_data_error(MemoryContext cxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
		ReThrowError(edata);
	FlushErrorState();
	return edata;
}

/* One input function call, for lh_try_subxact. */
typedef struct SafeInputCall
{
	LhTypeInput *tin;
	char	   *str;
	Datum	   *result;
} SafeInputCall;

static void
safe_input_call(void *arg)
{
	SafeInputCall *c = (SafeInputCall *) arg;

	*c->result = InputFunctionCall(&c->tin->inproc, c->str, c->tin->typioparam,
								   c->tin->typmod);
}

/*
 * lh_type_input_safe
 *		Convert str with the type's input function.
 *
 * Returns true and sets *result on success.  On a data error returns false
 * and sets *error (allocated in the current memory context).  str must not
 * be NULL.
 */
bool
lh_type_input_safe(LhTypeInput *tin, char *str, Datum *result,
				   ErrorData **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = false;

	*error = NULL;
	if (tin->catch_inline)
	{
		PG_TRY();
		{
			*result = InputFunctionCall(&tin->inproc, str, tin->typioparam,
										tin->typmod);
			ok = true;
		}
		PG_CATCH();
		{
			*error = take_data_error(cxt);
		}
		PG_END_TRY();
	}
	else
	{
		SafeInputCall call = {tin, str, result};
		ErrorData  *edata = lh_try_subxact(safe_input_call, &call);

		if (edata == NULL)
			ok = true;
		else
		{
			if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION &&
				ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_INTEGRITY_CONSTRAINT_VIOLATION)
				ReThrowError(edata);
			*error = edata;
		}
	}
	return ok;
}
