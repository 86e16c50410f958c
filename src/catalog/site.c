/*-------------------------------------------------------------------------
 *
 * site.c
 *	  Catalog access to lakehouse.site, the record of where this database
 *	  runs, and the catalog statements of pausing a copy.
 *
 * What is compared and when is src/worker/site.c's; here is only the SQL.
 * The table holds one row (a dump restored over an existing row could
 * leave two; every row is compared).  It is written as a whole: the rows
 * are deleted and the new one inserted, in the caller's transaction, so
 * a pause and the new site commit or roll back together.  A caller that
 * is about to rewrite it takes catalog_site_lock first, so that two
 * sessions that both found a copy do not both act on it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "utils/builtins.h"

#include "catalog/catalog.h"
#include "lakehouse.h"

#define SITE_COLUMNS \
	"system_identifier, database_oid, database_name, timeline, node, how"
#define SITE_SELECT \
	"SELECT system_identifier, database_oid::int8, database_name::text," \
	" timeline, node, how FROM lakehouse.site"

/*
 * catalog_site_rows
 *		The rows of lakehouse.site, oldest first.
 */
List *
catalog_site_rows(void)
{
	List	   *result = NIL;

	catalog_exec(SITE_SELECT " ORDER BY recorded_at",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		LhSite	   *row = palloc0(sizeof(LhSite));

		row->system_identifier = catalog_int64(i, 1, 0);
		row->database_oid = (Oid) catalog_int64(i, 2, 0);
		row->database_name = catalog_text(i, 3);
		row->timeline = catalog_int32(i, 4, 0);
		row->node = catalog_text(i, 5);
		row->how = catalog_text(i, 6);
		result = lappend(result, row);
	}
	return result;
}

/*
 * catalog_site_write
 *		Record site (its how included) as the one row of lakehouse.site;
 *		with only_if_empty, only when the table has no row.
 */
void
catalog_site_write(const LhSite *site, bool only_if_empty)
{
	Oid			types[6] = {INT8OID, OIDOID, NAMEOID, INT4OID, TEXTOID, TEXTOID};
	Datum		values[6];

	values[0] = Int64GetDatum(site->system_identifier);
	values[1] = ObjectIdGetDatum(site->database_oid);
	values[2] = DirectFunctionCall1(namein, CStringGetDatum(site->database_name));
	values[3] = Int32GetDatum(site->timeline);
	values[4] = CStringGetTextDatum(site->node);
	values[5] = CStringGetTextDatum(site->how);
	if (!only_if_empty)
		catalog_exec("DELETE FROM lakehouse.site", 0, NULL, NULL, NULL,
					 SPI_OK_DELETE);
	catalog_exec("INSERT INTO lakehouse.site (" SITE_COLUMNS ")"
				 " SELECT $1, $2, $3, $4, $5, $6"
				 " WHERE NOT EXISTS (SELECT 1 FROM lakehouse.site)",
				 6, types, values, NULL, SPI_OK_INSERT);
}

/*
 * catalog_site_lock
 *		Lock lakehouse.site against another session's rewrite until the end
 *		of the transaction (readers are not blocked).
 */
void
catalog_site_lock(void)
{
	catalog_exec("LOCK TABLE lakehouse.site IN SHARE ROW EXCLUSIVE MODE",
				 0, NULL, NULL, NULL, SPI_OK_UTILITY);
}

/*
 * catalog_source_count
 *		How many sources the database has, enabled or not.
 */
int64
catalog_source_count(void)
{
	catalog_exec("SELECT count(*) FROM lakehouse.sources",
				 0, NULL, NULL, NULL, SPI_OK_SELECT);
	return catalog_int64(0, 1, 0);
}

/*
 * catalog_sources_pause
 *		Disable every enabled source, each with the reason
 *		"<prefix> (<why>); nothing is consumed until SELECT
 *		lakehouse.lh_enable_source('<name>')".  Sources paused so before
 *		(by an earlier check of the same copy: a restore that brought
 *		lakehouse.site's row after the sources looks like an empty site
 *		first) get the newer reason.  Returns the names of the sources it
 *		disabled, in name order.
 */
List *
catalog_sources_pause(const char *prefix, const char *why)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	List	   *names = NIL;

	values[0] = CStringGetTextDatum(prefix);
	values[1] = CStringGetTextDatum(why);
	catalog_exec("WITH target AS (SELECT source_id, enabled FROM lakehouse.sources"
				 " WHERE enabled OR starts_with(disabled_reason, $1 || ' (')"
				 " FOR NO KEY UPDATE),"
				 " paused AS (UPDATE lakehouse.sources s SET enabled = false,"
				 " disabled_reason = format('%s (%s); nothing is consumed until"
				 " SELECT lakehouse.lh_enable_source(%L)', $1, $2, s.name)"
				 " FROM target t WHERE s.source_id = t.source_id"
				 " RETURNING s.name, t.enabled AS was_enabled)"
				 " SELECT name FROM paused WHERE was_enabled ORDER BY name",
				 2, types, values, NULL, SPI_OK_SELECT);
	for (uint64 i = 0; i < SPI_processed; i++)
		names = lappend(names, catalog_text(i, 1));
	return names;
}

/*
 * catalog_source_disabled_reason
 *		Why lakehouse disabled a source (lakehouse.sources.disabled_reason),
 *		or NULL: enabled, or disabled by a user.
 */
char *
catalog_source_disabled_reason(int32 source_id)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(source_id)};

	catalog_exec("SELECT disabled_reason FROM lakehouse.sources"
				 " WHERE source_id = $1 AND NOT enabled",
				 1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0 ? catalog_text(0, 1) : NULL;
}
