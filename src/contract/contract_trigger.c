/*-------------------------------------------------------------------------
 *
 * contract_trigger.c
 *	  The row-level rules of gold data contracts: compiled once per
 *	  relation, checked by a C trigger (BEFORE INSERT OR UPDATE FOR EACH
 *	  ROW).
 *
 * Compilation turns a ContractDef into one ColumnCheck per column that has
 * a rule: its attribute number, the column type's comparison function
 * (from the type cache), bounds and allowed values converted once to
 * Datums of the column's type (allowed values sorted, searched by
 * bisection), and patterns and string formats compiled once with
 * PostgreSQL's regex engine.  Fast paths: bounds of integer, float, date
 * and timestamp columns compare as numbers without a function call;
 * allowed text values under a deterministic collation compare as bytes;
 * regex results are remembered per distinct short value (most checked
 * columns hold few distinct values); a short varlena is given its 4-byte
 * header in a reused buffer instead of by the comparison function's
 * palloc.  The row trigger deforms only up to the highest checked
 * attribute (slot_getsomeattrs) and runs no SQL; a row that passes costs a
 * few comparisons.
 *
 * Cache: a backend-local hash keyed by relation OID; the trigger also keeps
 * its entry in fn_extra, so a statement looks the hash up once.  attach and
 * detach (contract.c) call CacheInvalidateRelcacheByRelid; our relcache
 * callback marks the entry stale, in this backend at the next command and
 * in others when the attaching transaction commits.  A stale entry is
 * rebuilt on the next row (reading lakehouse.contracts through SPI once).
 * Entries are never removed, so pointers to them stay valid.  Each entry
 * owns a memory context; regexes are malloc'd by the regex engine and freed
 * with pg_regfree when the entry is rebuilt.
 *
 * Violations: on_violation 'fail' raises ERRCODE_CHECK_VIOLATION for the
 * first rule a row breaks.  'quarantine' returns NULL (the row is not
 * written) and hands the row, with every rule it breaks (its columns are
 * checked again, collecting: the slow path of a refused row only), to the
 * quarantine buffer (contract_quarantine.c).  During a pipeline run every
 * violation is also counted per rule (contract_table.c) for the run's
 * record.
 *
 * XXX: if compiling a column fails after its regex was compiled, that one
 * regex's malloc'd memory is not freed (rules_release frees the regexes of
 * the columns compiled before it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "regex/regex.h"
#include "utils/array.h"
#include "common/hashfn.h"
#include "utils/builtins.h"
#include "utils/float.h"
#include "utils/fmgrprotos.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/typcache.h"

#include "lakehouse.h"
#include "contract/contract.h"

PG_FUNCTION_INFO_V1(lh_contract_row_check);

/* Values longer than this are cut in messages and quarantine rows. */
#define CONTRACT_VALUE_MAX 100

enum
{
	BOUND_MIN, BOUND_MAX, BOUND_XMIN, BOUND_XMAX
};
static const char *const bound_rule[] = {
	"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"
};
static const char *const bound_op[] = {">=", "<=", ">", "<"};

/*
 * How bounds are compared: by the type's comparison function, or, for
 * types whose Datum orders like a number, directly.
 */
#define FAST_NONE	0
#define FAST_INT	1			/* int2, int4, int8, date, timestamp[tz], time */
#define FAST_FLOAT	2			/* float4, float8 */

/*
 * Results of a regex for recently seen short values: a direct-mapped cache,
 * so that columns with few distinct values (codes, countries, statuses) pay
 * for the regex once per value, not once per row.
 */
#define MEMO_SLOTS		256
#define MEMO_MAXLEN		32

typedef struct RegexMemoSlot
{
	int16		len;			/* -1: empty */
	bool		matches;
	char		bytes[MEMO_MAXLEN];
} RegexMemoSlot;

typedef struct RegexMemo
{
	regex_t    *re;
	RegexMemoSlot slots[MEMO_SLOTS];
} RegexMemo;

typedef struct ColumnCheck
{
	AttrNumber	attnum;
	char	   *name;
	Oid			typid;
	Oid			collation;
	bool		required;
	FmgrInfo	cmp;			/* the type's btree comparison, if needed */
	char		fast;			/* FAST_*: compare without calling cmp */
	int64		ibound[4];		/* bounds as int64 (FAST_INT) */
	double		fbound[4];		/* bounds as double (FAST_FLOAT) */
	bool		bytes_equal;	/* allowed values compare as bytes */
	int			nbounds;
	int			bound_kind[4];
	Datum		bound[4];
	char	   *bound_text[4];
	int			min_length;		/* -1: none */
	int			max_length;
	bool		direct_text;	/* a varlena string type: read bytes directly */
	bool		varlena;		/* typlen -1 */
	Oid			outfunc;
	bool		need_text;		/* length, pattern or format to check */
	RegexMemo  *pattern;
	char	   *pattern_text;
	RegexMemo  *format_re;
	char	   *format;
	int			nvalid;
	Datum	   *valid;			/* sorted by cmp */
	char	   *valid_text;		/* for messages */
} ColumnCheck;

typedef struct ContractRules
{
	Oid			relid;			/* hash key */
	bool		valid;
	MemoryContext cxt;
	char	   *contract_name;
	char	   *qualname;
	bool		quarantine;
	int32		table_id;
	int			ncols;
	ColumnCheck *cols;
	int			maxattno;
	bool		single_byte;	/* database encoding: 1 byte per character */
	union
	{
		int32		align;
		char		data[128];
	}			unpack;			/* a short varlena with a 4-byte header */
	pg_wchar   *wbuf;			/* regex input, reused */
	int			wbuflen;
} ContractRules;

static HTAB *rules_cache = NULL;

/* Mark cached rules stale when the relation (or everything) is invalidated. */
static void
rules_relcache_callback(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	ContractRules *r;

	if (rules_cache == NULL)
		return;
	if (OidIsValid(relid))
	{
		r = hash_search(rules_cache, &relid, HASH_FIND, NULL);
		if (r)
			r->valid = false;
		return;
	}
	hash_seq_init(&status, rules_cache);
	while ((r = hash_seq_search(&status)) != NULL)
		r->valid = false;
}

/*
 * contract_trigger_init
 *		Register the cache and transaction callbacks (from _PG_init).
 */
void
contract_trigger_init(void)
{
	CacheRegisterRelcacheCallback(rules_relcache_callback, (Datum) 0);
	contract_quarantine_init();
}

/* Free what the regex engine malloc'd, then the entry's memory. */
static void
rules_release(ContractRules *r)
{
	for (int i = 0; i < r->ncols; i++)
	{
		if (r->cols[i].pattern)
			pg_regfree(r->cols[i].pattern->re);
		if (r->cols[i].format_re)
			pg_regfree(r->cols[i].format_re->re);
	}
	r->ncols = 0;
	r->cols = NULL;
	r->wbuf = NULL;
	r->wbuflen = 0;
	if (r->cxt)
		MemoryContextDelete(r->cxt);
	r->cxt = NULL;
}

/* Compile a regex once; pg_regcomp mallocs, rules_release frees. */
static RegexMemo *
compile_regex(const char *pattern, ColumnCheck *c, const char *contract)
{
	RegexMemo  *memo;
	int			len = strlen(pattern);
	pg_wchar   *w = palloc((len + 1) * sizeof(pg_wchar));
	int			wlen = pg_mb2wchar_with_len(pattern, w, len);
	regex_t    *re = palloc(sizeof(regex_t));
	int			rc = pg_regcomp(re, w, wlen, REG_ADVANCED | REG_NOSUB, C_COLLATION_OID);

	if (rc != REG_OKAY)
	{
		char		msg[256];

		pg_regerror(rc, re, msg, sizeof(msg));
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_REGULAR_EXPRESSION),
				 errmsg("invalid pattern for column \"%s\" in data contract \"%s\": %s",
						c->name, contract, msg)));
	}
	memo = palloc(sizeof(RegexMemo));
	memo->re = re;
	for (int i = 0; i < MEMO_SLOTS; i++)
		memo->slots[i].len = -1;
	return memo;
}

static int
datum_cmp(const void *a, const void *b, void *arg)
{
	ColumnCheck *c = arg;

	return DatumGetInt32(FunctionCall2Coll(&c->cmp, c->collation,
										   *(const Datum *) a, *(const Datum *) b));
}

/* Order of allowed text values when compared as bytes: length, then bytes. */
static int
bytes_cmp_raw(const char *a, int alen, const char *b, int blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

static int
bytes_cmp(const void *a, const void *b, void *arg)
{
	text	   *x = (text *) DatumGetPointer(*(const Datum *) a);
	text	   *y = (text *) DatumGetPointer(*(const Datum *) b);

	return bytes_cmp_raw(VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x),
						 VARDATA_ANY(y), VARSIZE_ANY_EXHDR(y));
}

/* A contract's literal as a Datum of the column's type. */
static Datum
literal_datum(ColumnCheck *c, int32 typmod, const char *text)
{
	Oid			infunc;
	Oid			ioparam;

	getTypeInputInfo(c->typid, &infunc, &ioparam);
	return OidInputFunctionCall(infunc, (char *) text, ioparam, typmod);
}

static void
compile_error_callback(void *arg)
{
	ColumnCheck *c = arg;

	errcontext("column \"%s\" of the data contract", c->name);
}

/*
 * The attribute of rel's descriptor that contract column cc names; raises
 * an error when the table has no such column.
 */
static Form_pg_attribute
compile_find_column(TupleDesc desc, ContractColumn *cc, ContractDef *def,
					const char *qualname)
{
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), cc->name) == 0)
			return att;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("column \"%s\" of data contract \"%s\" does not exist in table %s",
					cc->name, def->name, qualname),
			 errhint("Add the column to the table, or fix the property's name or physicalName.")));
	return NULL;				/* keep compiler quiet */
}

/*
 * Check the contract column's logicalType and physicalType against the
 * table column's type.
 */
static void
compile_check_type(ContractColumn *cc, Form_pg_attribute att, ContractDef *def,
				   const char *qualname)
{
	if (cc->logical_type && !contract_type_compatible(cc->logical_type, att->atttypid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of table %s has type %s, which does not match logicalType \"%s\" of data contract \"%s\"",
						cc->name, qualname, format_type_be(att->atttypid),
						cc->logical_type, def->name),
				 errhint("See contrib-docs/contracts.md for the PostgreSQL types of each logical type.")));
	if (cc->physical_type)
	{
		Oid			ptyp;
		int32		pmod;

		if (!contract_physical_type(cc->physical_type, &ptyp, &pmod))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("physicalType \"%s\" of column \"%s\" in data contract \"%s\" is not a PostgreSQL type",
							cc->physical_type, cc->name, def->name)));
		if (ptyp != att->atttypid || (pmod != -1 && pmod != att->atttypmod))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of table %s has type %s, but data contract \"%s\" says physicalType \"%s\"",
							cc->name, qualname,
							format_type_with_typemod(att->atttypid, att->atttypmod),
							def->name, cc->physical_type)));
	}
}

/*
 * Convert the contract column's bounds and allowed values to Datums of the
 * column's type (typmod given), and build the allowed values' text for
 * messages.
 */
static void
compile_literals(ColumnCheck *c, ContractColumn *cc, int32 typmod)
{
	const char *texts[4] = {cc->minimum, cc->maximum,
	cc->exclusive_minimum, cc->exclusive_maximum};

	for (int k = 0; k < 4; k++)
	{
		if (texts[k] == NULL)
			continue;
		c->bound_kind[c->nbounds] = k;
		c->bound_text[c->nbounds] = pstrdup(texts[k]);
		c->bound[c->nbounds] = literal_datum(c, typmod, texts[k]);
		c->nbounds++;
	}
	if (cc->valid_values)
	{
		ListCell   *lc2;
		StringInfoData buf;

		c->valid = palloc(sizeof(Datum) * list_length(cc->valid_values));
		initStringInfo(&buf);
		foreach(lc2, cc->valid_values)
		{
			c->valid[c->nvalid++] = literal_datum(c, typmod, lfirst(lc2));
			if (buf.len > 200)
			{
				if (!strstr(buf.data, ", ..."))
					appendStringInfoString(&buf, ", ...");
				continue;
			}
			appendStringInfo(&buf, "%s%s", foreach_current_index(lc2) ? ", " : "",
							 quote_literal_cstr(lfirst(lc2)));
		}
		c->valid_text = buf.data;
	}
}

/*
 * Choose how the column's bounds and allowed values compare: the FAST_*
 * kind and the bounds as numbers, byte equality for text, else the type's
 * comparison function (looked up, with the allowed values sorted by it).
 */
static void
compile_comparison(ColumnCheck *c)
{
	switch (c->typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case TIMEOID:
			c->fast = FAST_INT;
			break;
		case FLOAT4OID:
		case FLOAT8OID:
			c->fast = FAST_FLOAT;
			break;
		default:
			c->fast = FAST_NONE;
	}
	for (int k = 0; k < c->nbounds; k++)
	{
		switch (c->typid)
		{
			case INT2OID:
				c->ibound[k] = DatumGetInt16(c->bound[k]);
				break;
			case INT4OID:
			case DATEOID:
				c->ibound[k] = DatumGetInt32(c->bound[k]);
				break;
			case INT8OID:
			case TIMESTAMPOID:
			case TIMESTAMPTZOID:
			case TIMEOID:
				c->ibound[k] = DatumGetInt64(c->bound[k]);
				break;
			case FLOAT4OID:
				c->fbound[k] = DatumGetFloat4(c->bound[k]);
				break;
			case FLOAT8OID:
				c->fbound[k] = DatumGetFloat8(c->bound[k]);
				break;
		}
	}
	/* text under a deterministic collation: equal means byte-equal */
	c->bytes_equal = (c->typid == TEXTOID || c->typid == VARCHAROID) &&
		OidIsValid(c->collation) && get_collation_isdeterministic(c->collation);
	if (c->nbounds > 0 || c->nvalid > 0)
	{
		TypeCacheEntry *tc = lookup_type_cache(c->typid, TYPECACHE_CMP_PROC_FINFO);

		if (!OidIsValid(tc->cmp_proc_finfo.fn_oid))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_FUNCTION),
					 errmsg("type %s of column \"%s\" cannot be compared, so its bounds and allowed values cannot be checked",
							format_type_be(c->typid), c->name)));
		fmgr_info_copy(&c->cmp, &tc->cmp_proc_finfo, CurrentMemoryContext);
		if (c->nvalid > 1)
			qsort_arg(c->valid, c->nvalid, sizeof(Datum),
					  c->bytes_equal ? bytes_cmp : datum_cmp, c);
	}
}

/*
 * Compile the column's text checks (pattern, format; a uuid column needs no
 * uuid format check) and note how its value is read as text.
 */
static void
compile_text_checks(ColumnCheck *c, ContractColumn *cc, const char *contract)
{
	char		category;
	bool		preferred;
	bool		isvarlena;

	if (cc->pattern)
	{
		c->pattern_text = pstrdup(cc->pattern);
		c->pattern = compile_regex(cc->pattern, c, contract);
	}
	if (cc->format && !(c->typid == UUIDOID && strcmp(cc->format, "uuid") == 0))
	{
		c->format = pstrdup(cc->format);
		c->format_re = compile_regex(contract_format_pattern(cc->format), c, contract);
	}
	c->need_text = c->min_length >= 0 || c->max_length >= 0 || c->pattern || c->format_re;
	get_type_category_preferred(getBaseType(c->typid), &category, &preferred);
	c->varlena = get_typlen(c->typid) == -1;
	c->direct_text = category == TYPCATEGORY_STRING && c->varlena;
	getTypeOutputInfo(c->typid, &c->outfunc, &isvarlena);
}

/*
 * contract_compile
 *		Compile the column rules of def against rel into r (whose memory
 *		context is current).  Raises an error for a contract that does not
 *		fit the table: a missing column, an incompatible type, a bound or
 *		allowed value the column's type cannot hold, an invalid pattern.
 *		lh_attach_contract calls it to check a contract before storing it.
 */
static void
contract_compile(ContractRules *r, ContractDef *def, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	ListCell   *lc;

	r->cols = palloc0(sizeof(ColumnCheck) * Max(list_length(def->columns), 1));
	r->ncols = 0;
	r->maxattno = 0;
	foreach(lc, def->columns)
	{
		ContractColumn *cc = lfirst(lc);
		ColumnCheck *c = &r->cols[r->ncols];
		Form_pg_attribute att;
		ErrorContextCallback errcb;

		att = compile_find_column(desc, cc, def, r->qualname);
		c->attnum = att->attnum;
		c->name = pstrdup(cc->name);
		c->typid = att->atttypid;
		c->collation = att->attcollation;
		c->required = cc->required || cc->pk_position > 0;
		c->min_length = cc->min_length;
		c->max_length = cc->max_length;

		errcb.callback = compile_error_callback;
		errcb.arg = c;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;

		compile_check_type(cc, att, def, r->qualname);
		compile_literals(c, cc, att->atttypmod);
		compile_comparison(c);
		compile_text_checks(c, cc, def->name);

		error_context_stack = errcb.previous;

		if (c->required || c->nbounds || c->nvalid || c->need_text)
		{
			r->ncols++;
			r->maxattno = Max(r->maxattno, c->attnum);
		}
		else
			memset(c, 0, sizeof(ColumnCheck));
	}
}

/*
 * contract_check_compiles
 *		Check that def compiles against rel (for lh_attach_contract); frees
 *		everything it built.
 */
void
contract_check_compiles(ContractDef *def, Relation rel, const char *qualname)
{
	ContractRules r;
	MemoryContext old;

	memset(&r, 0, sizeof(r));
	r.qualname = (char *) qualname;
	r.cxt = AllocSetContextCreate(CurrentMemoryContext, "lakehouse contract check",
								  ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(r.cxt);
	PG_TRY();
	{
		contract_compile(&r, def, rel);
	}
	PG_FINALLY();
	{
		MemoryContextSwitchTo(old);
		rules_release(&r);
	}
	PG_END_TRY();
}

/* (Re)build the rules of rel from the catalog. */
static void
rules_build(ContractRules *r, Relation rel)
{
	char	   *schema = get_namespace_name(RelationGetNamespace(rel));
	char	   *table = RelationGetRelationName(rel);
	char	   *on_violation;
	int32		table_id;
	ContractDef *def;
	MemoryContext old;

	rules_release(r);
	r->cxt = AllocSetContextCreate(CacheMemoryContext, "lakehouse contract rules",
								   ALLOCSET_SMALL_SIZES);
	old = MemoryContextSwitchTo(r->cxt);
	r->qualname = lh_qualified_name(schema, table);
	MemoryContextSwitchTo(old);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	def = contract_load(schema, table, &on_violation, &table_id);
	if (def == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("table %s has a data contract trigger but no data contract",
						r->qualname),
				 errhint("Attach a contract with lakehouse.lh_attach_contract, or detach it with lakehouse.lh_detach_contract to remove the trigger.")));
	old = MemoryContextSwitchTo(r->cxt);
	r->contract_name = pstrdup(def->name);
	r->quarantine = strcmp(on_violation, "quarantine") == 0;
	r->table_id = table_id;
	r->single_byte = pg_database_encoding_max_length() == 1;
	contract_compile(r, def, rel);
	MemoryContextSwitchTo(old);
	SPI_finish();
	r->valid = true;
}

static ContractRules *
rules_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	ContractRules *r;
	bool		found;

	if (rules_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ContractRules);
		rules_cache = hash_create("lakehouse contract rules", 16, &ctl,
								  HASH_ELEM | HASH_BLOBS);
	}
	r = hash_search(rules_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		memset(r, 0, sizeof(ContractRules));
		r->relid = relid;
	}
	if (!r->valid)
	{
		PG_TRY();
		{
			rules_build(r, rel);
		}
		PG_CATCH();
		{
			rules_release(r);
			r->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return r;
}

/* A value as text for messages, cut to CONTRACT_VALUE_MAX characters. */
static char *
value_text(ColumnCheck *c, Datum value, bool isnull)
{
	char	   *s;
	int			len;

	if (isnull)
		return NULL;
	s = OidOutputFunctionCall(c->outfunc, value);
	len = strlen(s);
	if (pg_mbstrlen_with_len(s, len) > CONTRACT_VALUE_MAX)
	{
		int			cut = pg_mbcharcliplen(s, len, CONTRACT_VALUE_MAX);

		s = psprintf("%.*s...", cut, s);
	}
	return s;
}

static bool
regex_matches(ContractRules *r, RegexMemo *memo, const char *s, int len)
{
	int			wlen;
	RegexMemoSlot *slot = NULL;
	bool		matches;

	if (len <= MEMO_MAXLEN)
	{
		slot = &memo->slots[hash_bytes((const unsigned char *) s, len) % MEMO_SLOTS];
		if (slot->len == len && memcmp(slot->bytes, s, len) == 0)
			return slot->matches;
	}

	if (r->wbuflen < len + 1)
	{
		r->wbuf = MemoryContextAlloc(r->cxt, (len + 1) * sizeof(pg_wchar));
		r->wbuflen = len + 1;
	}
	wlen = pg_mb2wchar_with_len(s, r->wbuf, len);
	matches = pg_regexec(memo->re, r->wbuf, wlen, 0, NULL, 0, NULL, 0) == REG_OKAY;
	if (slot)
	{
		slot->len = len;
		memcpy(slot->bytes, s, len);
		slot->matches = matches;
	}
	return matches;
}

/*
 * The value as the comparison functions get it.  A comparison function
 * would copy a short-header varlena (numeric, as stored in a tuple) to give
 * it a 4-byte header: do it once, into a buffer that is reused.
 */
static Datum
compare_form(ContractRules *r, ColumnCheck *c, Datum value)
{
	if (c->varlena && (c->nbounds > 0 || (c->nvalid > 0 && !c->bytes_equal)) &&
		VARATT_IS_SHORT(DatumGetPointer(value)) &&
		VARSIZE_SHORT(DatumGetPointer(value)) - VARHDRSZ_SHORT + VARHDRSZ <= sizeof(r->unpack))
	{
		Size		len = VARSIZE_SHORT(DatumGetPointer(value)) - VARHDRSZ_SHORT;

		memcpy(r->unpack.data + VARHDRSZ, VARDATA_SHORT(DatumGetPointer(value)), len);
		SET_VARSIZE(r->unpack.data, len + VARHDRSZ);
		return PointerGetDatum(r->unpack.data);
	}
	return value;
}

/*
 * A rule broken while checking a value.  Collecting (all != NULL): append
 * it (rule and explanation) to *all and return false, so that the check
 * goes on; else set *why and return true, so that the check returns the
 * rule at once.
 */
static bool
rule_broken(List **all, const char *rule, char *explanation, char **why)
{
	if (all == NULL)
	{
		*why = explanation;
		return true;
	}
	*all = lappend(*all, lh_violation(NULL, rule, NULL, explanation));
	return false;
}

/*
 * Check a non-null value against the column's bounds (cmpvalue is its
 * compare_form).  Returns NULL if it passes, else the rule broken; *why
 * gets the explanation.  Collecting (all != NULL), every broken bound is
 * appended to *all and NULL is returned.
 */
static const char *
check_bounds(ColumnCheck *c, Datum value, Datum cmpvalue, char **why,
			 List **all)
{
	for (int k = 0; k < c->nbounds; k++)
	{
		int			cmp;
		bool		ok;

		if (c->fast == FAST_INT)
		{
			int64		v;

			switch (c->typid)
			{
				case INT2OID:
					v = DatumGetInt16(value);
					break;
				case INT4OID:
				case DATEOID:
					v = DatumGetInt32(value);
					break;
				default:
					v = DatumGetInt64(value);
					break;
			}
			cmp = (v > c->ibound[k]) - (v < c->ibound[k]);
		}
		else if (c->fast == FAST_FLOAT)
		{
			double		v = c->typid == FLOAT4OID ? DatumGetFloat4(value) : DatumGetFloat8(value);

			/* NaN sorts above everything, as in PostgreSQL */
			if (isnan(v) || isnan(c->fbound[k]))
				cmp = isnan(v) ? (isnan(c->fbound[k]) ? 0 : 1) : -1;
			else
				cmp = (v > c->fbound[k]) - (v < c->fbound[k]);
		}
		else
			cmp = DatumGetInt32(FunctionCall2Coll(&c->cmp, c->collation,
												  cmpvalue, c->bound[k]));

		switch (c->bound_kind[k])
		{
			case BOUND_MIN:
				ok = cmp >= 0;
				break;
			case BOUND_MAX:
				ok = cmp <= 0;
				break;
			case BOUND_XMIN:
				ok = cmp > 0;
				break;
			default:
				ok = cmp < 0;
				break;
		}
		if (!ok && rule_broken(all, bound_rule[c->bound_kind[k]],
							   psprintf("the value must be %s %s",
										bound_op[c->bound_kind[k]], c->bound_text[k]),
							   why))
			return bound_rule[c->bound_kind[k]];
	}
	return NULL;
}

/*
 * Is a non-null value one of the column's allowed values?  Bisection over
 * the sorted values, as bytes or with the comparison function (cmpvalue is
 * the value's compare_form).
 */
static bool
is_valid_value(ColumnCheck *c, Datum value, Datum cmpvalue)
{
	int			lo = 0;
	int			hi = c->nvalid - 1;
	const char *vs = NULL;
	int			vlen = 0;

	if (c->bytes_equal)
	{
		text	   *t = (text *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

		vs = VARDATA_ANY(t);
		vlen = VARSIZE_ANY_EXHDR(t);
	}
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			cmp;

		if (c->bytes_equal)
		{
			text	   *x = (text *) DatumGetPointer(c->valid[mid]);

			cmp = bytes_cmp_raw(vs, vlen, VARDATA_ANY(x), VARSIZE_ANY_EXHDR(x));
		}
		else
			cmp = DatumGetInt32(FunctionCall2Coll(&c->cmp, c->collation,
												  cmpvalue, c->valid[mid]));

		if (cmp == 0)
			return true;
		if (cmp < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return false;
}

/*
 * Check a non-null value's text against the column's length limits,
 * pattern and format.  Returns NULL if it passes, else the rule broken;
 * *why gets the explanation.  Collecting (all != NULL), as check_bounds.
 */
static const char *
check_text(ContractRules *r, ColumnCheck *c, Datum value, char **why,
		   List **all)
{
	const char *s;
	int			len;

	if (c->direct_text)
	{
		text	   *t = (text *) pg_detoast_datum_packed((struct varlena *) DatumGetPointer(value));

		s = VARDATA_ANY(t);
		len = VARSIZE_ANY_EXHDR(t);
	}
	else
	{
		s = OidOutputFunctionCall(c->outfunc, value);
		len = strlen(s);
	}
	if (c->min_length >= 0 || c->max_length >= 0)
	{
		/* characters <= bytes: count only when the bytes do not decide */
		int			nchars = len;

		if (!r->single_byte &&
			((c->min_length >= 0 && len < c->min_length) ||
			 (c->max_length >= 0 && len > c->max_length) ||
			 c->min_length >= 0))
			nchars = pg_mbstrlen_with_len(s, len);
		if (c->min_length >= 0 && nchars < c->min_length &&
			rule_broken(all, "minLength",
						psprintf("the value must be at least %d characters long",
								 c->min_length), why))
			return "minLength";
		if (c->max_length >= 0 && nchars > c->max_length &&
			rule_broken(all, "maxLength",
						psprintf("the value must be at most %d characters long",
								 c->max_length), why))
			return "maxLength";
	}
	if (c->pattern && !regex_matches(r, c->pattern, s, len) &&
		rule_broken(all, "pattern",
					psprintf("the value must match the pattern %s", c->pattern_text),
					why))
		return "pattern";
	if (c->format_re && !regex_matches(r, c->format_re, s, len) &&
		rule_broken(all, "format",
					psprintf("the value must be a valid %s", c->format), why))
		return "format";
	return NULL;
}

/*
 * Check one column's value.  Returns NULL if it passes, else the rule
 * broken; *why gets the explanation.  Rules are checked in this order:
 * required, bounds, allowed values, then the text checks.  Collecting
 * (all != NULL), every rule the value breaks is appended to *all (as an
 * LhViolation with rule and reason) and NULL is returned.
 */
static const char *
check_value(ContractRules *r, ColumnCheck *c, Datum value, bool isnull,
			char **why, List **all)
{
	Datum		cmpvalue;
	const char *rule;

	if (isnull)
	{
		if (c->required &&
			rule_broken(all, "required", "the column is required and must not be null",
						why))
			return "required";
		return NULL;
	}
	cmpvalue = compare_form(r, c, value);

	rule = check_bounds(c, value, cmpvalue, why, all);
	if (rule != NULL)
		return rule;
	if (c->nvalid > 0 && !is_valid_value(c, value, cmpvalue) &&
		rule_broken(all, "validValues",
					psprintf("the value must be one of %s", c->valid_text), why))
		return "validValues";
	if (c->need_text)
		return check_text(r, c, value, why, all);
	return NULL;
}

/*
 * lh_contract_row_check() RETURNS trigger
 *		BEFORE INSERT OR UPDATE FOR EACH ROW on a table with a contract.
 */
Datum
lh_contract_row_check(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleTableSlot *slot;
	HeapTuple	tuple;
	ContractRules *r;
	List	   *violations = NIL;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_contract_row_check can only be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("lh_contract_row_check must be a BEFORE INSERT OR UPDATE row trigger")));

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		slot = td->tg_newslot;
		tuple = td->tg_newtuple;
	}
	else
	{
		slot = td->tg_trigslot;
		tuple = td->tg_trigtuple;
	}
	/* the entry of the last call, if still valid: no hash lookup per row */
	r = (ContractRules *) fcinfo->flinfo->fn_extra;
	if (r == NULL || !r->valid || r->relid != RelationGetRelid(td->tg_relation))
	{
		r = rules_get(td->tg_relation);
		fcinfo->flinfo->fn_extra = r;
	}
	slot_getsomeattrs(slot, r->maxattno);

	for (int i = 0; i < r->ncols; i++)
	{
		ColumnCheck *c = &r->cols[i];
		int			a = c->attnum - 1;
		char	   *why;
		const char *rule = check_value(r, c, slot->tts_values[a], slot->tts_isnull[a],
									   &why, NULL);
		char	   *value;
		List	   *broken = NIL;
		ListCell   *lc;

		if (rule == NULL)
			continue;
		value = value_text(c, slot->tts_values[a], slot->tts_isnull[a]);
		if (!r->quarantine)
		{
			if (lh_current_run)
				contract_note_violation(r->table_id, rule, c->name, value, 1, false);
			ereport(ERROR,
					(errcode(ERRCODE_CHECK_VIOLATION),
					 errmsg("row violates data contract \"%s\"", r->contract_name),
					 errdetail("Column \"%s\" of table %s has value %s, which breaks rule \"%s\" of data contract \"%s\": %s.",
							   c->name, r->qualname,
							   value ? quote_literal_cstr(value) : "null",
							   rule, r->contract_name, why),
					 errhint("Fix the row, or attach the contract with on_violation => 'quarantine' to divert such rows to lakehouse.quarantine."),
					 errtablecol(td->tg_relation, c->attnum)));
		}
		/* quarantine: every rule of this column, then of the others */
		(void) check_value(r, c, slot->tts_values[a], slot->tts_isnull[a], &why,
						   &broken);
		foreach(lc, broken)
		{
			LhViolation *v = lfirst(lc);

			if (lh_current_run)
				contract_note_violation(r->table_id, v->rule, c->name, value, 1, true);
			violations = lappend(violations,
								 lh_violation(c->name, psprintf("contract:%s", v->rule),
											  value,
											  psprintf("data contract \"%s\": %s",
													   r->contract_name, v->reason)));
		}
	}
	if (violations == NIL)
		return PointerGetDatum(tuple);
	if (lh_current_run)
		contract_note_quarantined_row(r->table_id);
	contract_quarantine_add(r->table_id, r->qualname, tuple,
							RelationGetDescr(td->tg_relation), violations);
	return PointerGetDatum(NULL);
}
