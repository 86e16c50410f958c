/*-------------------------------------------------------------------------
 *
 * gold_kinds.c
 *	  The registry of gold write kinds.
 *
 * Adding a kind: write its GoldKindRoutine in a file of its own (see
 * transform.h for what each callback does; gold.c and scd2.c have the four
 * kinds there are), and add one X(name) line to GOLD_KINDS.  Nothing else
 * dispatches on a kind's name.  lakehouse.tables.gold_kind stores the name.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "transform/transform.h"

#define GOLD_KINDS(X) \
	X(rebuild) \
	X(append) \
	X(merge) \
	X(scd2)

#define GOLD_KIND_ENTRY(name) &gold_kind_##name,

static const GoldKindRoutine *const gold_kinds[] = {
	GOLD_KINDS(GOLD_KIND_ENTRY)
};

/*
 * gold_kind_names
 *		The kinds, quoted, as a hint lists them: "a", "b" and "c".  With
 *		with_options_only, only the kinds that take options.
 */
char *
gold_kind_names(bool with_options_only)
{
	StringInfoData buf;
	int			n = 0;
	int			total = 0;

	for (int i = 0; i < lengthof(gold_kinds); i++)
		if (!with_options_only || gold_kinds[i]->takes_options)
			total++;
	initStringInfo(&buf);
	for (int i = 0; i < lengthof(gold_kinds); i++)
	{
		if (with_options_only && !gold_kinds[i]->takes_options)
			continue;
		n++;
		if (n > 1)
			appendStringInfoString(&buf, n == total ? " and " : ", ");
		appendStringInfo(&buf, "\"%s\"", gold_kinds[i]->name);
	}
	return buf.data;
}

/*
 * gold_kind_routine
 *		The routine of the kind called name; an error naming the valid
 *		kinds if there is none.
 */
const GoldKindRoutine *
gold_kind_routine(const char *name)
{
	for (int i = 0; i < lengthof(gold_kinds); i++)
		if (strcmp(gold_kinds[i]->name, name) == 0)
			return gold_kinds[i];
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unrecognized gold kind: \"%s\"", name),
			 errhint("Valid kinds are %s.", gold_kind_names(false))));
	return NULL;				/* keep compiler quiet */
}
