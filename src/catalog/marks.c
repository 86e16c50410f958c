/*-------------------------------------------------------------------------
 *
 * marks.c
 *	  Catalog access to marks: where a source has got to
 *	  (lakehouse.source_marks, by source_id) and where a stage of a silver
 *	  or gold table has got to (lakehouse.stage_marks, by table_id).
 *
 * A mark is a (key, value) pair of text, written in the transaction of the
 * rows it accounts for (contrib-docs/design.md, "A mark moves with its
 * data").  Both tables have the same shape, so the statements are written
 * once, for either.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

/* A table of marks: its name and the column of whose marks they are. */
typedef struct MarkTable
{
	const char *table;
	const char *id_column;
} MarkTable;

static const MarkTable source_marks = {"lakehouse.source_marks", "source_id"};
static const MarkTable stage_marks = {"lakehouse.stage_marks", "table_id"};

/* The value of mark key of id, or NULL. */
static char *
mark_get(const MarkTable *m, int32 id, const char *key)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(id);
	values[1] = CStringGetTextDatum(key);
	catalog_exec(psprintf("SELECT mark_value FROM %s WHERE %s = $1 AND mark_key = $2",
						  m->table, m->id_column),
				 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	return catalog_text(0, 1);
}

/* Set mark key of id to value (NULL allowed), creating it if needed. */
static void
mark_set(const MarkTable *m, int32 id, const char *key, const char *value)
{
	Oid			types[3] = {INT4OID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = Int32GetDatum(id);
	values[1] = CStringGetTextDatum(key);
	values[2] = catalog_text_or_null(value, &nulls[2]);
	catalog_exec(psprintf("INSERT INTO %s AS m (%s, mark_key, mark_value, updated_at)"
						  " VALUES ($1, $2, $3, now())"
						  " ON CONFLICT (%s, mark_key) DO UPDATE"
						  " SET mark_value = excluded.mark_value, updated_at = now()",
						  m->table, m->id_column, m->id_column),
				 3, types, values, nulls, SPI_OK_INSERT);
}

/* Forget mark key of id; returns whether there was one. */
static bool
mark_delete(const MarkTable *m, int32 id, const char *key)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];

	values[0] = Int32GetDatum(id);
	values[1] = CStringGetTextDatum(key);
	catalog_exec(psprintf("DELETE FROM %s WHERE %s = $1 AND mark_key = $2",
						  m->table, m->id_column),
				 2, types, values, NULL, SPI_OK_DELETE);
	return SPI_processed > 0;
}

char *
catalog_get_source_mark(int32 source_id, const char *key)
{
	return mark_get(&source_marks, source_id, key);
}

void
catalog_set_source_mark(int32 source_id, const char *key, const char *value)
{
	mark_set(&source_marks, source_id, key, value);
}

/* Forget one mark of a source; returns whether there was one. */
bool
catalog_delete_source_mark(int32 source_id, const char *key)
{
	return mark_delete(&source_marks, source_id, key);
}

/* Delete a source's marks whose key starts with prefix (NULL: all). */
void
catalog_delete_source_marks(int32 source_id, const char *prefix)
{
	Oid			types[2] = {INT4OID, TEXTOID};
	Datum		values[2];
	char		nulls[2] = {' ', ' '};

	values[0] = Int32GetDatum(source_id);
	values[1] = catalog_text_or_null(prefix, &nulls[1]);
	catalog_exec("DELETE FROM lakehouse.source_marks"
				 " WHERE source_id = $1 AND ($2 IS NULL OR starts_with(mark_key, $2))",
				 2, types, values, nulls, SPI_OK_DELETE);
}

char *
catalog_get_stage_mark(int32 table_id, const char *key)
{
	return mark_get(&stage_marks, table_id, key);
}

void
catalog_set_stage_mark(int32 table_id, const char *key, const char *value)
{
	mark_set(&stage_marks, table_id, key, value);
}

/* Forget a stage mark; returns whether there was one. */
bool
catalog_delete_stage_mark(int32 table_id, const char *key)
{
	return mark_delete(&stage_marks, table_id, key);
}
