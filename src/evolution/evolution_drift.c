/*-------------------------------------------------------------------------
 *
 * evolution_drift.c
 *	  Schema drift: fields that bronze payloads carry but no silver column
 *	  maps, collected while the silver stage projects the payloads.
 *
 * The silver stage (silver.c) calls evolution_drift_begin with the table's
 * mappings, evolution_drift_collect for each payload it reads, and
 * evolution_drift_finish once at the end, which upserts one row per
 * distinct unmapped path into lakehouse.silver_drift with one statement.
 *
 * Paths are kept in a tree that lives in the stage's memory context: one
 * node per object key, and one "[]" node per array step.  The mappings are
 * put in first: the node of a mapped path is COVERED (nothing below it is
 * drift), the nodes above it are PREFIX (their other children may be).  A
 * payload is walked against the tree.  Children are kept in the order in
 * which jsonb stores an object's keys (shorter first, then bytewise), so
 * the keys of one object are matched in one merge pass over the children:
 * a payload that carries only mapped fields costs about one key
 * comparison per field.  A leaf (scalar,
 * empty object or array) under no COVERED node is counted once per payload,
 * with the first value seen as its example.
 *
 * Bounds keep a hostile payload cheap: nesting is followed DRIFT_MAX_DEPTH
 * levels deep, the first DRIFT_MAX_ELEMS elements of an array are looked
 * at, and at most DRIFT_MAX_PATHS distinct paths are tracked per stage.
 *
 * XXX a mapping path element made of digits is taken as an array index,
 * so an object key "0" under a mapped parent shows up as drift.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "evolution/evolution.h"

#define DRIFT_MAX_DEPTH		8
#define DRIFT_MAX_ELEMS		16
#define DRIFT_MAX_PATHS		1000
#define DRIFT_EXAMPLE_BYTES	100

typedef enum DriftKind
{
	DRIFT_FIELD,				/* not mapped: counted when a leaf */
	DRIFT_PREFIX,				/* above a mapped path */
	DRIFT_COVERED				/* mapped: nothing below it is drift */
} DriftKind;

typedef struct DriftNode
{
	char	   *key;			/* "[]" for an array step */
	int			keylen;
	DriftKind	kind;
	char	   *path;			/* full path, for reporting */
	int64		count;			/* payloads that carried this leaf */
	int64		last_row;		/* row that counted last */
	char	   *example;
	struct DriftNode *children; /* object keys, in jsonb key order */
	struct DriftNode *elem;		/* the "[]" step, when an array was seen */
	struct DriftNode *next;
} DriftNode;

typedef struct EvolutionDrift EvolutionDrift;

struct EvolutionDrift
{
	MemoryContext cxt;
	DriftNode	root;
	int			npaths;
	int64		row_no;
};

/* jsonb stores an object's keys shorter first, then bytewise: same order. */
static int
drift_keycmp(const DriftNode *c, const char *key, int keylen)
{
	if (c->keylen != keylen)
		return c->keylen < keylen ? -1 : 1;
	return memcmp(c->key, key, keylen);
}

static DriftNode *
drift_new(EvolutionDrift *d, DriftNode *parent, const char *key, int keylen)
{
	MemoryContext old = MemoryContextSwitchTo(d->cxt);
	DriftNode  *c = palloc0(sizeof(DriftNode));

	c->key = pnstrdup(key, keylen);
	c->keylen = keylen;
	c->kind = DRIFT_FIELD;
	if (parent->path == NULL)
		c->path = pstrdup(c->key);
	else if (keylen == 2 && memcmp(key, "[]", 2) == 0)
		c->path = psprintf("%s[]", parent->path);
	else
		c->path = psprintf("%s.%s", parent->path, c->key);
	d->npaths++;
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * The child of parent for an object key, created if missing (NULL once the
 * path limit is reached).  The search starts at *link in the sorted
 * children and leaves *link at the key's place: the keys of one object come
 * in the same order, so one object costs one pass over the children.
 */
static DriftNode *
drift_key(EvolutionDrift *d, DriftNode *parent, DriftNode ***link,
		  const char *key, int keylen)
{
	DriftNode **l = *link;
	int			cmp = 1;

	while (*l && (cmp = drift_keycmp(*l, key, keylen)) < 0)
		l = &(*l)->next;
	*link = l;
	if (*l != NULL && cmp == 0)
		return *l;
	if (d->npaths >= DRIFT_MAX_PATHS)
		return NULL;
	{
		DriftNode  *c = drift_new(d, parent, key, keylen);

		c->next = *l;
		*l = c;
		return c;
	}
}

/* The "[]" child of parent, created if missing (NULL at the limit). */
static DriftNode *
drift_elem(EvolutionDrift *d, DriftNode *parent)
{
	if (parent->elem == NULL && d->npaths < DRIFT_MAX_PATHS)
		parent->elem = drift_new(d, parent, "[]", 2);
	return parent->elem;
}

/*
 * evolution_drift_begin
 *		Start collecting for a stage; columns are its LhSilverColumn
 *		mappings.  Allocates in the current memory context.
 */
void *
evolution_drift_begin(const StageCheckTarget *target)
{
	EvolutionDrift *d = palloc0(sizeof(EvolutionDrift));
	List	   *columns = target->columns;
	ListCell   *lc;

	d->cxt = CurrentMemoryContext;
	foreach(lc, columns)
	{
		LhSilverColumn *col = lfirst(lc);
		DriftNode  *node = &d->root;
		ListCell   *p;

		foreach(p, col->path)
		{
			const char *step = lfirst(p);

			if (strspn(step, "0123456789") == strlen(step))
				node = drift_elem(d, node);
			else
			{
				DriftNode **link = &node->children;

				node = drift_key(d, node, &link, step, strlen(step));
			}
			if (node == NULL)
				break;
			if (node->kind == DRIFT_FIELD)
				node->kind = DRIFT_PREFIX;
		}
		if (node)
			node->kind = DRIFT_COVERED;
	}
	/* the mappings do not count against the limit */
	d->npaths = 0;
	return d;
}

static void
drift_leaf(EvolutionDrift *d, DriftNode *node, JsonbValue *v)
{
	if (node->kind != DRIFT_FIELD || node->last_row == d->row_no)
		return;
	node->last_row = d->row_no;
	node->count++;
	if (node->example == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(d->cxt);
		char	   *s;

		switch (v->type)
		{
			case jbvString:
				s = pnstrdup(v->val.string.val,
							 pg_mbcliplen(v->val.string.val, v->val.string.len,
										  DRIFT_EXAMPLE_BYTES));
				break;
			case jbvNumeric:
				s = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v->val.numeric)));
				break;
			case jbvBool:
				s = pstrdup(v->val.boolean ? "true" : "false");
				break;
			case jbvBinary:
				/* an empty container, or one below the depth limit */
				if (JsonContainerSize(v->val.binary.data) == 0)
					s = pstrdup(JsonContainerIsArray(v->val.binary.data) ? "[]" : "{}");
				else
					s = pstrdup(JsonContainerIsArray(v->val.binary.data) ? "[...]" : "{...}");
				break;
			default:
				s = pstrdup("null");
				break;
		}
		node->example = s;
		MemoryContextSwitchTo(old);
	}
}

static void drift_walk(EvolutionDrift *d, DriftNode *node, JsonbContainer *cont,
					   int depth);

/* One value found under node: a leaf is counted, a container walked. */
static void
drift_value(EvolutionDrift *d, DriftNode *node, JsonbValue *v, int depth)
{
	if (node->kind == DRIFT_COVERED)
		return;
	if (v->type == jbvBinary && JsonContainerSize(v->val.binary.data) > 0 &&
		depth < DRIFT_MAX_DEPTH)
		drift_walk(d, node, v->val.binary.data, depth + 1);
	else
		drift_leaf(d, node, v);
}

static void
drift_walk(EvolutionDrift *d, DriftNode *node, JsonbContainer *cont, int depth)
{
	JsonbIterator *it = JsonbIteratorInit(cont);
	JsonbIteratorToken tok;
	JsonbValue	v;
	DriftNode  *child = NULL;
	DriftNode **link = &node->children;
	int			nelems = 0;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			child = drift_key(d, node, &link, v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (child)
				drift_value(d, child, &v, depth);
		}
		else if (tok == WJB_ELEM)
		{
			if (nelems++ >= DRIFT_MAX_ELEMS)
				continue;
			if (child == NULL)
				child = drift_elem(d, node);
			if (child)
				drift_value(d, child, &v, depth);
		}
	}
}

/*
 * evolution_drift_collect
 *		Walk one payload.  Only allocates when it meets a new path.
 */
void
evolution_drift_collect(void *state, Jsonb *payload, int64 row_no)
{
	EvolutionDrift *d = (EvolutionDrift *) state;

	if (d == NULL || JB_ROOT_IS_SCALAR(payload))
		return;
	d->row_no = row_no;
	drift_walk(d, &d->root, &payload->root, 1);
}

static void drift_gather_one(DriftNode *c, List **paths, List **counts,
							 List **examples);

static void
drift_gather(DriftNode *node, List **paths, List **counts, List **examples)
{
	DriftNode  *c;

	for (c = node->children; c; c = c->next)
		drift_gather_one(c, paths, counts, examples);
	if (node->elem)
		drift_gather_one(node->elem, paths, counts, examples);
}

static void
drift_gather_one(DriftNode *c, List **paths, List **counts, List **examples)
{
	if (c->count > 0)
	{
		*paths = lappend(*paths, c->path);
		*counts = lappend(*counts, psprintf(INT64_FORMAT, c->count));
		*examples = lappend(*examples, c->example);
	}
	drift_gather(c, paths, counts, examples);
}

/*
 * evolution_drift_finish
 *		Upsert what the stage saw, one statement for all paths.  A full
 *		refresh has read every bronze row again: its counts replace the old
 *		ones.  Caller is connected to SPI, in the stage's transaction.
 */
void
evolution_drift_finish(void *state, const StageCheckTarget *target)
{
	EvolutionDrift *d = (EvolutionDrift *) state;
	int32		table_id = target->table_id;
	List	   *paths = NIL;
	List	   *counts = NIL;
	List	   *examples = NIL;
	Oid			types[4] = {INT4OID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	Datum		values[4];

	if (d == NULL)
		return;
	values[0] = Int32GetDatum(table_id);
	if (lh_current_run && lh_current_run->full_refresh)
		catalog_exec("DELETE FROM lakehouse.silver_drift WHERE table_id = $1",
					 1, types, values, NULL, SPI_OK_DELETE);
	drift_gather(&d->root, &paths, &counts, &examples);
	if (paths == NIL)
		return;
	values[1] = lh_text_array(paths);
	values[2] = lh_text_array(counts);
	values[3] = lh_text_array(examples);
	catalog_exec("INSERT INTO lakehouse.silver_drift AS d"
				 " (table_id, field_path, first_seen, last_seen, seen_count, example_value)"
				 " SELECT $1, u.path, now(), now(), u.n::bigint, u.example"
				 " FROM unnest($2, $3, $4) AS u(path, n, example)"
				 " ON CONFLICT (table_id, field_path) DO UPDATE"
				 " SET last_seen = excluded.last_seen,"
				 " seen_count = d.seen_count + excluded.seen_count,"
				 " example_value = coalesce(d.example_value, excluded.example_value)",
				 4, types, values, NULL, SPI_OK_INSERT);
}
