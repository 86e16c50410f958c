/*-------------------------------------------------------------------------
 *
 * yaml_fuzz.c
 *	  libFuzzer target for the parse step, src/declare/yaml_parse.c (with
 *	  src/declare/yaml_read.c).
 *
 * src/declare/yaml_parse.c and yaml_read.c hold only the YAML walk
 * (lh_cfg_parse / lh_cfg_release): no SPI, no catalog.  run.sh compiles
 * them unchanged, with the server's headers, and links them with this
 * harness, which gives them what the server would:
 *
 *   - palloc and friends, from an arena that is emptied after every input
 *     (so LeakSanitizer reports only what libyaml leaks, which is the point:
 *     every error path must free the parser and the document);
 *   - lh_cfg_report(), which longjmps back here instead of raising ERROR,
 *     just like an ereport would unwind to the PG_FINALLY in yaml.c;
 *   - escape_json(), pg_any_to_server(), check_stack_depth() and the
 *     InterruptPending flag that CHECK_FOR_INTERRUPTS() reads, which live in
 *     the backend.
 *
 * After a successful parse it checks what the server relies on: every
 * required field is set, options and columns are valid JSON (checked with
 * PostgreSQL's own JSON parser from libpgcommon), pipeline names are unique.
 * Any violation aborts, which libFuzzer reports as a crash.
 *
 * Time is an oracle too: every input must be parsed or refused within
 * FUZZ_MS_BASE + FUZZ_MS_PER_KB per KiB (generous for the sanitizers),
 * and at start-up LLVMFuzzerInitialize feeds documents nested far beyond
 * LH_YAML_MAX_DEPTH -- a megabyte of flow brackets, of block mappings and
 * of block sequences -- which must be refused as too deep (not as a syntax
 * error), each within FUZZ_DEEP_MS.  Before the bound on depth, libyaml
 * spent time quadratic in the depth on them.
 *
 * Build and run with test/fuzz/run.sh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres_fe.h"

#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "common/jsonapi.h"
#include "declare/declare.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"

/* ---- arena: palloc for this process, freed after each input ---- */

typedef union ArenaHeader
{
	size_t		slot;
	max_align_t align;
} ArenaHeader;

static void **arena_slots;
static size_t arena_used;
static size_t arena_size;

static void *
arena_register(ArenaHeader *h)
{
	if (h == NULL)
	{
		fprintf(stderr, "out of memory\n");
		abort();
	}
	if (arena_used == arena_size)
	{
		arena_size = arena_size ? arena_size * 2 : 1024;
		arena_slots = realloc(arena_slots, arena_size * sizeof(void *));
		if (arena_slots == NULL)
			abort();
	}
	h->slot = arena_used;
	arena_slots[arena_used++] = h;
	return h + 1;
}

static void
arena_reset(void)
{
	size_t		i;

	for (i = 0; i < arena_used; i++)
		free(arena_slots[i]);
	arena_used = 0;
}

void *
palloc(Size size)
{
	return arena_register(malloc(sizeof(ArenaHeader) + size));
}

void *
palloc0(Size size)
{
	return arena_register(calloc(1, sizeof(ArenaHeader) + size));
}

void *
palloc_extended(Size size, int flags)
{
	return palloc0(size);
}

void *
repalloc(void *pointer, Size size)
{
	ArenaHeader *h = (ArenaHeader *) pointer - 1;
	size_t		slot = h->slot;

	h = realloc(h, sizeof(ArenaHeader) + size);
	if (h == NULL)
		abort();
	arena_slots[slot] = h;
	return h + 1;
}

void
pfree(void *pointer)
{
	ArenaHeader *h = (ArenaHeader *) pointer - 1;

	arena_slots[h->slot] = NULL;
	free(h);
}

char *
pstrdup(const char *in)
{
	return pnstrdup(in, strlen(in));
}

char *
pnstrdup(const char *in, Size len)
{
	char	   *out;

	len = strnlen(in, len);
	out = palloc(len + 1);
	memcpy(out, in, len);
	out[len] = '\0';
	return out;
}

/* ---- what the server would provide ---- */

static sigjmp_buf fuzz_jump;
static int	fuzz_errors;
static LhCfgErrorKind fuzz_last_kind;

/* the time bounds (milliseconds) */
#define FUZZ_MS_BASE	500.0
#define FUZZ_MS_PER_KB	10.0
#define FUZZ_DEEP_MS	1000.0

void
lh_cfg_report(LhCfgParser *parser, LhCfgErrorKind kind, const char *message,
			  const char *detail, const char *hint)
{
	/* the message must be formatted completely; touch every byte */
	if (message == NULL || strlen(message) == 0 ||
		(detail != NULL && strlen(detail) == (size_t) -1) ||
		(hint != NULL && strlen(hint) == (size_t) -1))
		abort();
	if (getenv("LH_FUZZ_VERBOSE"))
		fprintf(stderr, "ERROR: %s\nDETAIL: %s\nHINT: %s\n", message,
				detail ? detail : "", hint ? hint : "");
	fuzz_errors++;
	fuzz_last_kind = kind;
	siglongjmp(fuzz_jump, 1);
}

/*
 * Backend functions yaml_parse.c calls.  Their headers (utils/json.h,
 * miscadmin.h) are backend-only, so they are declared here.
 */
extern void escape_json(StringInfo buf, const char *str);
extern void check_stack_depth(void);
extern void ProcessInterrupts(void);
extern volatile sig_atomic_t InterruptPending;

/* Never set: nothing here interrupts a parse. */
volatile sig_atomic_t InterruptPending = false;

void
ProcessInterrupts(void)
{
	fprintf(stderr, "ProcessInterrupts called without a pending interrupt\n");
	abort();
}

/*
 * Recursion in yaml_parse.c is bounded by CFG_MAX_DEPTH; should that bound
 * fail, ASan reports the stack overflow.
 */
void
check_stack_depth(void)
{
}

/*
 * As in a UTF-8 database: YAML text is UTF-8 already, so the backend
 * returns its argument unchanged.
 */
char *
pg_any_to_server(const char *s, int len, int encoding)
{
	if (encoding != PG_UTF8 || strlen(s) != (size_t) len)
	{
		fprintf(stderr, "pg_any_to_server: not a UTF-8 string of %d bytes\n", len);
		abort();
	}
	return (char *) s;
}

/* Same output as the backend's escape_json (utils/adt/json.c). */
void
escape_json(StringInfo buf, const char *str)
{
	const char *p;

	appendStringInfoCharMacro(buf, '"');
	for (p = str; *p; p++)
	{
		switch (*p)
		{
			case '\b':
				appendStringInfoString(buf, "\\b");
				break;
			case '\f':
				appendStringInfoString(buf, "\\f");
				break;
			case '\n':
				appendStringInfoString(buf, "\\n");
				break;
			case '\r':
				appendStringInfoString(buf, "\\r");
				break;
			case '\t':
				appendStringInfoString(buf, "\\t");
				break;
			case '"':
				appendStringInfoString(buf, "\\\"");
				break;
			case '\\':
				appendStringInfoString(buf, "\\\\");
				break;
			default:
				if ((unsigned char) *p < ' ')
					appendStringInfo(buf, "\\u%04x", (int) *p);
				else
					appendStringInfoCharMacro(buf, *p);
				break;
		}
	}
	appendStringInfoCharMacro(buf, '"');
}

/* ---- checks on a successful parse ---- */

static void
check(bool ok, const char *what)
{
	if (!ok)
	{
		fprintf(stderr, "invariant violated: %s\n", what);
		abort();
	}
}

static void
check_json(const char *json, char open, const char *what)
{
	JsonLexContext *lex;

	check(json != NULL, what);
	check(json[0] == open, what);
	lex = makeJsonLexContextCstringLen((char *) json, strlen(json), PG_UTF8, true);
	check(pg_parse_json(lex, &nullSemAction) == JSON_SUCCESS, what);
}

static void
check_names(const LhCfgNames *names, const char *what)
{
	int			i;

	check(names->n >= 0, what);
	for (i = 0; i < names->n; i++)
		check(names->names[i] != NULL && names->locs[i].line >= 1, what);
}

static void
check_result(const LhCfgParser *p)
{
	int			i;
	int			j;

	for (i = 0; i < p->npipelines; i++)
	{
		const LhCfgPipeline *pl = &p->pipelines[i];

		check(pl->name != NULL, "pipeline name");
		check(pl->loc.line >= 1 && pl->loc.column >= 1, "pipeline location");
		check_names(&pl->depends_on, "depends_on");
		for (j = 0; j < pl->depends_on.n; j++)
			check(strcmp(pl->depends_on.names[j], pl->name) != 0, "self dependency");
		for (j = 0; j < i; j++)
			check(strcmp(p->pipelines[j].name, pl->name) != 0, "unique pipeline");

		for (j = 0; j < pl->nsources; j++)
		{
			const LhCfgSource *s = &pl->sources[j];

			check(s->name != NULL && s->kind != NULL, "source name/kind");
			check_json(s->options, '{', "source options JSON");
		}
		for (j = 0; j < pl->nsilver; j++)
		{
			const LhCfgSilver *t = &pl->silver[j];

			check(t->table != NULL && t->source != NULL, "silver table/source");
			check_json(t->columns, '[', "silver columns JSON");
			check_names(&t->keys, "silver keys");
		}
		for (j = 0; j < pl->ngold; j++)
		{
			const LhCfgGold *t = &pl->gold[j];

			check(t->table != NULL && t->sql != NULL, "gold table/sql");
			check_names(&t->keys, "gold keys");
		}
	}
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int			LLVMFuzzerInitialize(int *argc, char ***argv);

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/*
 * Parse one input; true if it was refused (the kind in fuzz_last_kind).
 * Aborts when it takes longer than limit_ms.
 */
static bool
parse_timed(const uint8_t *data, size_t size, double limit_ms)
{
	LhCfgParser *volatile parser;
	volatile bool refused = false;
	double		start = now_ms();
	double		took;

	parser = palloc0(sizeof(LhCfgParser));
	parser->input = data;
	parser->input_len = size;
	parser->base_dir = "/fuzz/base";
	parser->filename = (size & 1) ? "fuzz.yaml" : NULL;

	if (sigsetjmp(fuzz_jump, 0) == 0)
	{
		lh_cfg_parse(parser);
		check(!parser->parser_live && !parser->document_live,
			  "libyaml state released after success");
		check_result(parser);
	}
	else
		refused = true;
	/* as PG_FINALLY does in the server, after success or error */
	lh_cfg_release(parser);
	lh_cfg_release(parser);		/* must be idempotent */
	arena_reset();
	took = now_ms() - start;
	if (took > limit_ms)
	{
		fprintf(stderr, "parsing %zu bytes took %.0f ms, over the bound of %.0f ms\n",
				size, took, limit_ms);
		abort();
	}
	return refused;
}

/*
 * A document nested far too deep must be refused as such, fast.  Built in
 * malloc'd memory: parse_timed empties the palloc arena.
 */
static void
deep_case(const char *what, bool block, const char *open, const char *close, int levels)
{
	const char *head = block ?
		"pipeline: deep\nsources:\n  - name: s\n    kind: table\n    options:\n      " :
		"pipeline: deep\nsources:\n  - name: s\n    kind: table\n    options: ";
	size_t		cap = strlen(head) + (size_t) levels * (strlen(open) + strlen(close) + 64) + 16;
	char	   *buf = malloc(cap);
	size_t		len = 0;
	bool		refused;

	if (buf == NULL)
		abort();
	len += snprintf(buf + len, cap - len, "%s", head);
	for (int i = 0; i < levels; i++)
		len += snprintf(buf + len, cap - len, "%s", open);
	buf[len++] = 'x';
	for (int i = 0; i < levels; i++)
		len += snprintf(buf + len, cap - len, "%s", close);
	buf[len++] = '\n';
	refused = parse_timed((const uint8_t *) buf, len, FUZZ_DEEP_MS);
	if (!refused || fuzz_last_kind != LH_CFG_ERROR_LIMIT)
	{
		fprintf(stderr, "a %s nested %d levels was not refused as too deep\n", what, levels);
		abort();
	}
	fprintf(stderr, "yaml_fuzz: %s nested %d levels (%zu bytes): refused as too deep\n",
			what, levels, len);
	free(buf);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	deep_case("flow sequence", false, "[", "]", 500000);
	deep_case("flow mapping", false, "{a: ", "}", 200000);
	deep_case("block sequence", true, "- ", "", 300000);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void) parse_timed(data, size, FUZZ_MS_BASE + FUZZ_MS_PER_KB * (size / 1024.0));
	return 0;
}
