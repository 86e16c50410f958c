/*-------------------------------------------------------------------------
 *
 * payload_fuzz.c
 *	  libFuzzer target for the checks every source makes on a raw record
 *	  before parsing it (src/common/payload.c): lh_check_utf8 and
 *	  lh_json_too_deep.
 *
 * run.sh compiles src/common/payload.c unchanged, with the server's
 * headers, and links it with this harness and PostgreSQL's frontend
 * libraries (libpgcommon gives palloc, psprintf, the encoding verifier and
 * the JSON parser).  Each input is checked against independent oracles:
 *
 *   - lh_check_utf8 agrees with a byte-by-byte UTF-8 decoder written here
 *     (RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF, no
 *     zero bytes), and its reason names the first bad byte's offset;
 *   - when lh_json_too_deep says a record is shallow enough, PostgreSQL's
 *     own JSON parser (pg_parse_json, recursive like the server's) never
 *     nests deeper than LH_MAX_JSON_DEPTH on it; when it is valid JSON the
 *     two agree exactly.  A wrong "shallow" answer would let a record
 *     through that exhausts the server's stack.
 *
 * The first byte of the input selects nothing: the whole input is the
 * record, as a Kafka message or an HTTP page would be.  Any disagreement
 * aborts, which libFuzzer reports as a crash.
 *
 * Build and run with test/fuzz/run.sh payload [seconds].
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/jsonapi.h"
#include "mb/pg_wchar.h"

#define LH_MAX_JSON_DEPTH 1000	/* as in src/lakehouse.h */

/* from src/common/payload.c */
extern bool lh_check_utf8(const char *s, int len, char **reason);
extern bool lh_json_too_deep(const char *s, int len);

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fail(const char *what)
{
	fprintf(stderr, "payload_fuzz: %s\n", what);
	abort();
}

/* Length of the valid UTF-8 prefix (no zero bytes), by RFC 3629. */
static size_t
utf8_valid_prefix(const unsigned char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		unsigned char c = s[i];
		size_t		n;
		uint32_t	cp;

		if (c == 0)
			return i;
		if (c < 0x80)
		{
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 4, cp = c & 0x07;
		else
			return i;
		if (i + n > len)
			return i;
		for (size_t k = 1; k < n; k++)
		{
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
			(cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return i;
		i += n;
	}
	return len;
}

typedef struct DepthState
{
	int			depth;
	int			max;
} DepthState;

static void
depth_in(void *state)
{
	DepthState *d = state;

	if (++d->depth > d->max)
		d->max = d->depth;
}

static void
depth_out(void *state)
{
	((DepthState *) state)->depth--;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *s;
	char	   *reason = NULL;
	bool		ok;
	size_t		prefix;
	bool		deep;

	if (size > 1024 * 1024)
		return 0;
	s = malloc(size + 1);
	if (s == NULL)
		fail("out of memory");
	memcpy(s, data, size);
	s[size] = '\0';

	/* UTF-8 */
	ok = lh_check_utf8(s, (int) size, &reason);
	prefix = utf8_valid_prefix((const unsigned char *) s, size);
	if (ok != (prefix == size))
		fail("lh_check_utf8 disagrees with the reference decoder");
	if (!ok)
	{
		char		expect[32];

		if (reason == NULL)
			fail("lh_check_utf8 gave no reason");
		snprintf(expect, sizeof(expect), "at byte %zu", prefix + 1);
		if (strstr(reason, expect) == NULL)
			fail("lh_check_utf8 names the wrong byte");
		pfree(reason);
	}

	/* JSON depth: only valid UTF-8 reaches the JSON parser in the server */
	deep = lh_json_too_deep(s, (int) size);
	if (ok && !deep)
	{
		JsonLexContext *lex = makeJsonLexContextCstringLen(s, (int) size, PG_UTF8, true);
		DepthState	st = {0, 0};
		JsonSemAction sem = {0};

		sem.semstate = &st;
		sem.object_start = depth_in;
		sem.object_end = depth_out;
		sem.array_start = depth_in;
		sem.array_end = depth_out;
		if (pg_parse_json(lex, &sem) == JSON_SUCCESS && st.max > LH_MAX_JSON_DEPTH)
			fail("lh_json_too_deep passed a record nested deeper than the limit");
		if (st.max > LH_MAX_JSON_DEPTH + 1)
			fail("the parser went deeper than the limit on a record said to be shallow");
		if (lex->strval)
		{
			pfree(lex->strval->data);
			pfree(lex->strval);
		}
		pfree(lex);
	}
	else if (ok && deep)
	{
		/* a deep verdict on valid JSON must be right too */
		int			depth = 0,
					max = 0;
		bool		in_string = false;

		for (size_t i = 0; i < size; i++)
		{
			if (in_string)
			{
				if (s[i] == '\\')
					i++;
				else if (s[i] == '"')
					in_string = false;
			}
			else if (s[i] == '"')
				in_string = true;
			else if (s[i] == '[' || s[i] == '{')
				max = Max(max, ++depth);
			else if (s[i] == ']' || s[i] == '}')
				depth--;
		}
		if (max <= LH_MAX_JSON_DEPTH)
			fail("lh_json_too_deep rejected a record within the limit");
	}
	free(s);
	return 0;
}
