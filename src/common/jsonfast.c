/*-------------------------------------------------------------------------
 *
 * jsonfast.c
 *	  JSON text to jsonb in one pass, for the hot path of the sources.
 *
 * Every Kafka message, JSON line and HTTP page becomes a jsonb payload.
 * PostgreSQL 15's jsonb_in does that through its general JSON parser: the
 * lexer copies each string a character at a time into a StringInfo, every
 * token goes through semantic-action callbacks and pushJsonbValue's state
 * machine, and every number through numeric_in.  For the ~220-byte records
 * of the benchmarks that is about 2 µs a record, half of what landing a
 * Kafka message costs in all.
 *
 * lh_jsonb_parse_fast does the same conversion directly: one
 * recursive-descent pass over the bytes builds the JsonbValue tree (strings
 * without escapes point into the input, decimals of up to 18 digits become
 * numerics without numeric_in, object keys are sorted and de-duplicated as
 * pushJsonbValue does: by length, then bytes, the last of equal keys
 * wins), and PostgreSQL's own JsonbValueToJsonb encodes it, so the result
 * is byte for byte what jsonb_in makes (checked by lh_json_fastpath_check
 * in the regression tests, over a corpus and generated documents).
 *
 * It only decides the easy cases.  Anything else -- invalid JSON, invalid
 * UTF-8, a control character in a string, \u0000 or a lone surrogate,
 * numbers with an exponent or more than 18 digits, nesting deeper than
 * FAST_MAX_DEPTH, an input over FAST_MAX_INPUT bytes, a database encoding
 * other than UTF-8 -- makes it decline (return false, having raised
 * nothing), and the caller takes the full path: lh_check_utf8,
 * lh_json_too_deep and jsonb_in, which accept or reject with PostgreSQL's
 * own messages.  So this file changes how fast a record is converted,
 * never whether it is accepted or the reason it is not.
 *
 * Memory: the tree and the result are allocated in the current memory
 * context (the caller's per-record context); the input must stay valid
 * until the function returns.  Errors: only out-of-memory.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "lakehouse.h"

PG_FUNCTION_INFO_V1(lh_json_fastpath_check);

/* deeper documents take the full path (which has its own limit) */
#define FAST_MAX_DEPTH		64
/*
 * larger inputs too: far from jsonb's limits (256 MB, 2^28 elements), and
 * the arrays of pairs and elements stay below MaxAllocSize
 */
#define FAST_MAX_INPUT		(16 * 1024 * 1024)
/* decimals with at most this many digits are made without numeric_in */
#define FAST_MAX_DIGITS		18

typedef struct FastParser
{
	const char *p;				/* next byte */
	const char *end;			/* end of input */
	int			depth;
	int			values;			/* values read, for interrupt checks */
} FastParser;

/*
 * Byte classes.  In a string: plain bytes are copied as they are; '"',
 * '\\', control characters and non-ASCII bytes need a look.  After a
 * number or a literal only a delimiter may follow (jsonb_in reads "12ab"
 * or "truex" as one bad token).
 */
#define C_STRING_SPECIAL	0x01
#define C_DELIMITER			0x02
#define C_SPACE				0x04

static uint8 byte_class[256];
static bool byte_class_ready = false;

static void
fast_init_classes(void)
{
	for (int c = 0; c < 256; c++)
	{
		uint8		k = 0;

		if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
			k |= C_STRING_SPECIAL;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			k |= C_SPACE | C_DELIMITER;
		if (c == ',' || c == ']' || c == '}' || c == ':')
			k |= C_DELIMITER;
		byte_class[c] = k;
	}
	byte_class_ready = true;
}

static inline void
fast_skip_space(FastParser *fp)
{
	while (fp->p < fp->end && (byte_class[(unsigned char) *fp->p] & C_SPACE))
		fp->p++;
}

/* Is the token that just ended followed by a delimiter or the end? */
static inline bool
fast_token_ends(FastParser *fp)
{
	return fp->p == fp->end ||
		(byte_class[(unsigned char) *fp->p] & C_DELIMITER) != 0;
}

static bool fast_value(FastParser *fp, JsonbValue *v);

/* Four hex digits of a \u escape. */
static bool
fast_hex4(const char *s, pg_wchar *out)
{
	pg_wchar	c = 0;

	for (int i = 0; i < 4; i++)
	{
		char		h = s[i];

		c <<= 4;
		if (h >= '0' && h <= '9')
			c |= h - '0';
		else if (h >= 'a' && h <= 'f')
			c |= h - 'a' + 10;
		else if (h >= 'A' && h <= 'F')
			c |= h - 'A' + 10;
		else
			return false;
	}
	*out = c;
	return true;
}

/*
 * A \u escape (with its low surrogate, if it is a high one) at *sp, decoded
 * as UTF-8 to *outp; both are advanced past it.  False for what jsonb_in
 * must judge: a bad escape, \u0000, a lone surrogate.
 */
static inline bool
fast_unicode_escape(const char **sp, const char *end, char **outp)
{
	const char *s = *sp;
	pg_wchar	cp;
	unsigned char utf8[4];
	int			l;

	if (end - s < 6 || !fast_hex4(s + 2, &cp))
		return false;
	if (cp == 0 || is_utf16_surrogate_second(cp))
		return false;			/* jsonb_in says why */
	if (is_utf16_surrogate_first(cp))
	{
		pg_wchar	lo;

		if (end - s < 12 || s[6] != '\\' || s[7] != 'u' ||
			!fast_hex4(s + 8, &lo) ||
			!is_utf16_surrogate_second(lo))
			return false;
		cp = surrogate_pair_to_codepoint(cp, lo);
		s += 6;
	}
	unicode_to_utf8(cp, utf8);
	l = pg_utf_mblen(utf8);
	/* an escape is at least as long as its UTF-8 */
	memcpy(*outp, utf8, l);
	*outp += l;
	*sp = s + 6;
	return true;
}

/*
 * The rest of a string that has escapes: start is just after its opening
 * quote, s at its first backslash (the bytes before it are plain and
 * valid).  Decodes the whole string into a palloc'd copy, never longer
 * than the input, and sets *val and *len as fast_string does.
 */
static bool
fast_string_escaped(FastParser *fp, const char *start, const char *s,
					char **val, int *len)
{
	const char *end = fp->end;
	char	   *buf;
	char	   *out;

	buf = palloc(end - start);
	memcpy(buf, start, s - start);
	out = buf + (s - start);
	while (s < end)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"')
		{
			*val = buf;
			*len = out - buf;
			fp->p = s + 1;
			return true;
		}
		if (c == '\\')
		{
			if (end - s < 2)
				return false;
			switch (s[1])
			{
				case '"':
				case '\\':
				case '/':
					*out++ = s[1];
					break;
				case 'b':
					*out++ = '\b';
					break;
				case 'f':
					*out++ = '\f';
					break;
				case 'n':
					*out++ = '\n';
					break;
				case 'r':
					*out++ = '\r';
					break;
				case 't':
					*out++ = '\t';
					break;
				case 'u':
					if (!fast_unicode_escape(&s, end, &out))
						return false;
					continue;
				default:
					return false;
			}
			s += 2;
			continue;
		}
		if (c < 0x20)
			return false;
		if (c < 0x80)
		{
			*out++ = (char) c;
			s++;
			continue;
		}
		{
			int			l = pg_utf_mblen((const unsigned char *) s);

			if (l > end - s || !pg_utf8_islegal((const unsigned char *) s, l))
				return false;
			memcpy(out, s, l);
			out += l;
			s += l;
		}
	}
	return false;
}

/*
 * A string; fp->p is just after its opening quote.  Sets *val and *len to the
 * decoded bytes: a pointer into the input when there is no escape, else a
 * palloc'd copy (fast_string_escaped).
 */
static bool
fast_string(FastParser *fp, char **val, int *len)
{
	const char *start = fp->p;
	const char *s = start;
	const char *end = fp->end;

	/* the common case: plain ASCII and valid UTF-8, no escape */
	for (;;)
	{
		unsigned char c;

		while (s < end && !(byte_class[(unsigned char) *s] & C_STRING_SPECIAL))
			s++;
		if (s >= end)
			return false;
		c = (unsigned char) *s;
		if (c == '"')
		{
			*val = (char *) start;
			*len = s - start;
			fp->p = s + 1;
			return true;
		}
		if (c == '\\')
			break;
		if (c < 0x80)
			return false;		/* a control character */
		{
			int			l = pg_utf_mblen((const unsigned char *) s);

			if (l > end - s || !pg_utf8_islegal((const unsigned char *) s, l))
				return false;
			s += l;
		}
	}

	/* with escapes: decode into a copy (never longer than the input) */
	return fast_string_escaped(fp, start, s, val, len);
}

/*
 * A number; fp->p is at its first byte ('-' or a digit).  Decimals of up
 * to FAST_MAX_DIGITS digits without an exponent are made from an int64
 * and a scale; numeric's make_result canonicalizes both this and
 * numeric_in's result the same way (dscale = the digits after the point,
 * zero is positive).
 */
static bool
fast_number(FastParser *fp, JsonbValue *v)
{
	const char *s = fp->p;
	const char *end = fp->end;
	bool		neg = false;
	uint64		mant = 0;
	int			digits = 0;
	int			scale = 0;
	int64		val;

	if (*s == '-')
	{
		neg = true;
		s++;
	}
	if (s >= end)
		return false;
	if (*s == '0')
	{
		s++;
		digits++;
	}
	else if (*s >= '1' && *s <= '9')
	{
		while (s < end && *s >= '0' && *s <= '9')
		{
			mant = mant * 10 + (*s - '0');
			digits++;
			s++;
		}
	}
	else
		return false;
	if (s < end && *s == '.')
	{
		s++;
		if (s >= end || *s < '0' || *s > '9')
			return false;
		while (s < end && *s >= '0' && *s <= '9')
		{
			mant = mant * 10 + (*s - '0');
			digits++;
			scale++;
			s++;
		}
	}
	/* exponents and long numbers: numeric_in decides (full path) */
	if (digits > FAST_MAX_DIGITS || (s < end && (*s == 'e' || *s == 'E')))
		return false;
	fp->p = s;
	if (!fast_token_ends(fp))
		return false;

	val = neg ? -(int64) mant : (int64) mant;
	v->type = jbvNumeric;
	v->val.numeric = scale == 0 ? int64_to_numeric(val) :
		int64_div_fast_to_numeric(val, scale);
	return true;
}

/* Does the input continue with the literal word? */
static inline bool
fast_word(FastParser *fp, const char *word, int len)
{
	if (fp->end - fp->p < len || memcmp(fp->p, word, len) != 0)
		return false;
	fp->p += len;
	return fast_token_ends(fp);
}

/*
 * The order of keys in a jsonb object (pushJsonbValue's): shorter first,
 * then by bytes; of equal keys the later one first, so that the
 * de-duplication, which keeps the first, keeps the last one written.
 */
static inline int
fast_pair_cmp(const JsonbPair *a, const JsonbPair *b)
{
	int			la = a->key.val.string.len;
	int			lb = b->key.val.string.len;
	int			r;

	if (la != lb)
		return la < lb ? -1 : 1;
	r = memcmp(a->key.val.string.val, b->key.val.string.val, la);
	if (r != 0)
		return r;
	return a->order > b->order ? -1 : 1;
}

static int
fast_pair_qsort_cmp(const void *a, const void *b)
{
	return fast_pair_cmp((const JsonbPair *) a, (const JsonbPair *) b);
}

/* Sort an object's pairs and drop the duplicate keys. */
static void
fast_uniqueify(JsonbValue *obj)
{
	JsonbPair  *pairs = obj->val.object.pairs;
	int			n = obj->val.object.nPairs;
	int			kept;

	if (n < 2)
		return;
	if (n <= 16)
	{
		for (int i = 1; i < n; i++)
		{
			JsonbPair	t = pairs[i];
			int			j = i - 1;

			while (j >= 0 && fast_pair_cmp(&pairs[j], &t) > 0)
			{
				pairs[j + 1] = pairs[j];
				j--;
			}
			pairs[j + 1] = t;
		}
	}
	else
		qsort(pairs, n, sizeof(JsonbPair), fast_pair_qsort_cmp);

	kept = 1;
	for (int i = 1; i < n; i++)
	{
		JsonbPair  *last = &pairs[kept - 1];

		if (pairs[i].key.val.string.len == last->key.val.string.len &&
			memcmp(pairs[i].key.val.string.val, last->key.val.string.val,
				   last->key.val.string.len) == 0)
			continue;
		if (kept != i)
			pairs[kept] = pairs[i];
		kept++;
	}
	obj->val.object.nPairs = kept;
}

/*
 * After a member of an object or array: a comma (true, *more set, spaces
 * after it skipped) or the closing bracket (true, *more cleared); anything
 * else is a syntax error (false).
 */
static inline bool
fast_after_member(FastParser *fp, char close, bool *more)
{
	fast_skip_space(fp);
	if (fp->p >= fp->end)
		return false;
	*more = (*fp->p == ',');
	if (!*more && *fp->p != close)
		return false;
	fp->p++;
	if (*more)
		fast_skip_space(fp);
	return true;
}

/* An object; fp->p is just after '{'. */
static bool
fast_object(FastParser *fp, JsonbValue *v)
{
	int			alloc = 8;
	int			n = 0;
	bool		more;
	JsonbPair  *pairs = palloc(sizeof(JsonbPair) * alloc);

	fast_skip_space(fp);
	if (fp->p < fp->end && *fp->p == '}')
		fp->p++;
	else
	{
		do
		{
			JsonbPair  *pair;

			if (fp->p >= fp->end || *fp->p != '"')
				return false;
			if (n == alloc)
			{
				alloc *= 2;
				pairs = repalloc(pairs, sizeof(JsonbPair) * alloc);
			}
			pair = &pairs[n];
			fp->p++;
			pair->key.type = jbvString;
			if (!fast_string(fp, &pair->key.val.string.val,
							 &pair->key.val.string.len))
				return false;
			pair->order = n;
			fast_skip_space(fp);
			if (fp->p >= fp->end || *fp->p != ':')
				return false;
			fp->p++;
			fast_skip_space(fp);
			if (!fast_value(fp, &pair->value))
				return false;
			n++;
			if (!fast_after_member(fp, '}', &more))
				return false;
		} while (more);
	}
	v->type = jbvObject;
	v->val.object.pairs = pairs;
	v->val.object.nPairs = n;
	fast_uniqueify(v);
	return true;
}

/* An array; fp->p is just after '['. */
static bool
fast_array(FastParser *fp, JsonbValue *v)
{
	int			alloc = 8;
	int			n = 0;
	bool		more;
	JsonbValue *elems = palloc(sizeof(JsonbValue) * alloc);

	fast_skip_space(fp);
	if (fp->p < fp->end && *fp->p == ']')
		fp->p++;
	else
	{
		do
		{
			if (n == alloc)
			{
				alloc *= 2;
				elems = repalloc(elems, sizeof(JsonbValue) * alloc);
			}
			if (!fast_value(fp, &elems[n]))
				return false;
			n++;
			if (!fast_after_member(fp, ']', &more))
				return false;
		} while (more);
	}
	v->type = jbvArray;
	v->val.array.elems = elems;
	v->val.array.nElems = n;
	v->val.array.rawScalar = false;
	return true;
}

/* Any value; fp->p is at its first byte (spaces skipped). */
static bool
fast_value(FastParser *fp, JsonbValue *v)
{
	bool		ok;

	/* a 16 MB document has millions of values: stay interruptible */
	if ((++fp->values & 0xffff) == 0)
		CHECK_FOR_INTERRUPTS();
	if (fp->p >= fp->end)
		return false;
	switch (*fp->p)
	{
		case '{':
		case '[':
			if (++fp->depth > FAST_MAX_DEPTH)
				return false;
			fp->p++;
			ok = fp->p[-1] == '{' ? fast_object(fp, v) : fast_array(fp, v);
			fp->depth--;
			return ok;
		case '"':
			fp->p++;
			v->type = jbvString;
			return fast_string(fp, &v->val.string.val, &v->val.string.len);
		case 't':
			v->type = jbvBool;
			v->val.boolean = true;
			return fast_word(fp, "true", 4);
		case 'f':
			v->type = jbvBool;
			v->val.boolean = false;
			return fast_word(fp, "false", 5);
		case 'n':
			v->type = jbvNull;
			return fast_word(fp, "null", 4);
		default:
			return fast_number(fp, v);
	}
}

/*
 * lh_jsonb_parse_fast
 *		The jsonb of the JSON text s (len bytes, UTF-8, need not be
 *		terminated), exactly as jsonb_in would make it; false if the fast
 *		path declines (see the file comment), in which case the caller must
 *		take the full path.  Allocates in the current memory context.
 */
bool
lh_jsonb_parse_fast(const char *s, int len, Jsonb **out)
{
	FastParser	fp;
	JsonbValue	root;

	if (len <= 0 || len > FAST_MAX_INPUT || GetDatabaseEncoding() != PG_UTF8)
		return false;
	if (!byte_class_ready)
		fast_init_classes();
	fp.p = s;
	fp.end = s + len;
	fp.depth = 0;
	fp.values = 0;
	fast_skip_space(&fp);
	if (!fast_value(&fp, &root))
		return false;
	fast_skip_space(&fp);
	if (fp.p != fp.end)
		return false;
	*out = JsonbValueToJsonb(&root);
	return true;
}

/*
 * lh_json_record
 *		A source record's bytes (JSON text in UTF-8, len bytes, need not be
 *		terminated) as jsonb, or false with the reason and SQLSTATE of its
 *		dead letter.
 *
 * The fast path first; if it declines, the full path every source used
 * before it: valid UTF-8 without zero bytes, not nested beyond
 * LH_MAX_JSON_DEPTH, converted to the server encoding, jsonb_in (through
 * lh_type_input_safe, so only data errors come back as reasons).
 * jsonb_input is lh_type_input_init(..., JSONBOID, -1), made once per
 * batch.  Allocates in the current memory context.
 */
bool
lh_json_record(const char *buf, int len, LhTypeInput *jsonb_input,
			   Datum *out, char **reason, int *sqlstate)
{
	Jsonb	   *jb;
	char	   *s;
	ErrorData  *edata;

	if (lh_jsonb_parse_fast(buf, len, &jb))
	{
		*out = JsonbPGetDatum(jb);
		return true;
	}
	if (!lh_check_utf8(buf, len, reason))
	{
		*sqlstate = ERRCODE_CHARACTER_NOT_IN_REPERTOIRE;
		return false;
	}
	if (lh_json_too_deep(buf, len))
	{
		*reason = psprintf("JSON value is nested more than %d levels deep",
						   LH_MAX_JSON_DEPTH);
		*sqlstate = ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		return false;
	}
	s = pg_any_to_server(buf, len, PG_UTF8);
	if (s == buf)
		s = pnstrdup(buf, len);
	if (!lh_type_input_safe(jsonb_input, s, out, &edata))
	{
		*reason = edata->detail ?
			psprintf("%s: %s", edata->message, edata->detail) :
			pstrdup(edata->message);
		*sqlstate = edata->sqlerrcode;
		FreeErrorData(edata);
		return false;
	}
	return true;
}

/*
 * lh_json_fastpath_check(record bytea) returns text
 *		Which path converts the record, and whether the fast path agrees
 *		with jsonb_in (see lakehouse--0.1.sql).
 */
Datum
lh_json_fastpath_check(PG_FUNCTION_ARGS)
{
	bytea	   *rec = PG_GETARG_BYTEA_PP(0);
	const char *buf = VARDATA_ANY(rec);
	int			len = VARSIZE_ANY_EXHDR(rec);
	Jsonb	   *fast;
	LhTypeInput tin;
	Datum		full;
	char	   *reason;
	int			sqlstate;
	bool		full_ok;

	lh_type_input_init(&tin, JSONBOID, -1);
	if (!lh_jsonb_parse_fast(buf, len, &fast))
	{
		if (lh_json_record(buf, len, &tin, &full, &reason, &sqlstate))
			PG_RETURN_TEXT_P(cstring_to_text("full"));
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("full: %s", reason)));
	}

	/* the fast path accepted it: jsonb_in must make the same bytes */
	full_ok = lh_check_utf8(buf, len, &reason) && !lh_json_too_deep(buf, len);
	if (full_ok)
	{
		ErrorData  *edata;

		full_ok = lh_type_input_safe(&tin, pnstrdup(buf, len), &full, &edata);
		if (!full_ok)
			reason = edata->message;
	}
	if (!full_ok)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the fast JSON path accepted a record that jsonb_in rejects"),
				 errdetail("jsonb_in: %s", reason)));
	if (VARSIZE(fast) != VARSIZE(DatumGetPointer(full)) ||
		memcmp(fast, DatumGetPointer(full), VARSIZE(fast)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("the fast JSON path made other jsonb bytes than jsonb_in"),
				 errdetail("fast: %s; jsonb_in: %s",
						   JsonbToCString(NULL, &fast->root, VARSIZE(fast)),
						   JsonbToCString(NULL, &DatumGetJsonbP(full)->root,
										  VARSIZE(DatumGetPointer(full))))));
	PG_RETURN_TEXT_P(cstring_to_text("fast"));
}
