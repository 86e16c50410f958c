/*-------------------------------------------------------------------------
 *
 * identity.c
 *	  Who may change or run a pipeline, and the identity under which the
 *	  code a user can influence runs.
 *
 * Rights.  A pipeline (with its sources and tables) belongs to the role
 * that declared it.  Changing it (redeclaring, altering, dropping, adding
 * or dropping its sources and tables, its expectations, contracts,
 * schedule, marks, dead letters, retention) needs the privileges of that
 * owner, or membership in lakehouse_admin; operating it (running it,
 * enabling and disabling its sources, restarting a worker, checking its
 * expectations) needs either of those or membership in lakehouse_operator.
 * Because a pipeline's code runs as its owner, changing a pipeline one
 * does not own means acting with the owner's rights; so lakehouse_admin
 * may change only pipelines whose owner holds no privilege the caller
 * lacks among superuser, CREATEROLE, REPLICATION, BYPASSRLS and the
 * predefined roles that reach the server's files, programs or all data
 * (security_covers).  PostgreSQL's own rule for CREATEROLE (it cannot alter
 * superusers) is the model.
 *
 * Identity.  Everything that can run code a user controls (bronze writes
 * with their defaults, triggers, constraints and index expressions;
 * reading a source table or view; silver projections; gold SQL, merges and
 * SCD2; expectations; contract checks; retention and erasure deletes)
 * runs between lh_owner_begin and lh_owner_end: as the pipeline's owner,
 * under SECURITY_RESTRICTED_OPERATION, with search_path pinned to
 * "pg_catalog, <lakehouse.user_search_path>, pg_temp" in a GUC nest level
 * of its own.  That is how PostgreSQL runs a table owner's code during
 * VACUUM, ANALYZE, REINDEX and REFRESH MATERIALIZED VIEW (CVE-2022-1552,
 * CVE-2020-25695), and it holds whoever started the work: the owner, an
 * operator, pg_cron or a background worker.  Catalog statements inside
 * such a region switch to the catalog owner for their own fixed SQL only
 * (catalog_exec) and come back.
 *
 * lh_owner_end restores the caller's identity and settings.  On error the
 * enclosing (sub)transaction's abort restores them; every region is inside
 * a stage's subtransaction, a function call's transaction or a worker's
 * transaction that ends the worker on error.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_authid.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"

#include "catalog/catalog.h"
#include "lakehouse.h"
#include "security/security.h"

/* lakehouse.user_search_path */
char	   *lh_user_search_path = NULL;

void
security_identity_gucs(void)
{
	DefineCustomStringVariable("lakehouse.user_search_path",
							   "Schemas searched, after pg_catalog, by the code of pipelines.",
							   "Gold SQL, expectations and the other code of a pipeline run as the "
							   "pipeline's owner with search_path set to pg_catalog, this value, "
							   "pg_temp, whoever starts the run.",
							   &lh_user_search_path,
							   "public",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);
}

/*
 * security_is_admin
 *		Whether roleid is a lakehouse administrator: a superuser, the
 *		catalog owner, or a member of lakehouse_admin.
 */
bool
security_is_admin(Oid roleid)
{
	Oid			admin = get_role_oid("lakehouse_admin", true);

	if (superuser_arg(roleid) || has_privs_of_role(roleid, catalog_owner()))
		return true;
	return OidIsValid(admin) && has_privs_of_role(roleid, admin);
}

static bool
is_operator(Oid roleid)
{
	Oid			op = get_role_oid("lakehouse_operator", true);

	return OidIsValid(op) && has_privs_of_role(roleid, op);
}

/*
 * security_covers
 *		Whether acting as owner gives caller nothing it does not have among
 *		the privileges that reach beyond the database: superuser,
 *		CREATEROLE, REPLICATION, BYPASSRLS, and the predefined roles for the
 *		server's files and programs and for all data.
 */
bool
security_covers(Oid caller, Oid owner)
{
	static const Oid strong_roles[] = {
		ROLE_PG_EXECUTE_SERVER_PROGRAM, ROLE_PG_READ_SERVER_FILES,
		ROLE_PG_WRITE_SERVER_FILES, ROLE_PG_READ_ALL_DATA,
		ROLE_PG_WRITE_ALL_DATA, ROLE_PG_SIGNAL_BACKEND
	};
	HeapTuple	tup;
	Form_pg_authid o;
	bool		ok = true;

	if (superuser_arg(caller) || has_privs_of_role(caller, owner))
		return true;
	if (superuser_arg(owner))
		return false;
	tup = SearchSysCache1(AUTHOID, ObjectIdGetDatum(owner));
	if (!HeapTupleIsValid(tup))
		return true;			/* a dropped role reaches nothing */
	o = (Form_pg_authid) GETSTRUCT(tup);
	if ((o->rolcreaterole && !has_createrole_privilege(caller)) ||
		(o->rolreplication && !has_rolreplication(caller)) ||
		(o->rolbypassrls && !has_bypassrls_privilege(caller)))
		ok = false;
	ReleaseSysCache(tup);
	for (int i = 0; ok && i < lengthof(strong_roles); i++)
		if (has_privs_of_role(owner, strong_roles[i]) &&
			!has_privs_of_role(caller, strong_roles[i]))
			ok = false;
	return ok;
}

/*
 * security_check_pipeline
 *		Raise an error unless the current user may do `what` (an action
 *		phrased for "permission denied to %s") to the pipeline.
 */
void
security_check_pipeline(const LhPipeline *p, LhRight right, const char *what)
{
	Oid			caller = GetUserId();

	if (OidIsValid(p->owner) && has_privs_of_role(caller, p->owner))
		return;
	/* operating runs the owner's own code as the owner: any operator may */
	if (right == LH_RIGHT_OPERATE && is_operator(caller))
		return;
	if (security_is_admin(caller))
	{
		if (!OidIsValid(p->owner) || security_covers(caller, p->owner))
			return;
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errdetail("Pipeline \"%s\" is owned by role \"%s\", which holds privileges that role \"%s\" does not have.",
						   p->name, GetUserNameFromId(p->owner, false),
						   GetUserNameFromId(caller, false)),
				 errhint("Its code runs as its owner: ask that owner or a superuser.")));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", what),
			 errdetail("Pipeline \"%s\" is owned by role \"%s\".", p->name,
					   OidIsValid(p->owner) ? GetUserNameFromId(p->owner, false) :
					   "(dropped)"),
			 right == LH_RIGHT_OPERATE ?
			 errhint("Only its owner, members of its owner, lakehouse_operator and lakehouse_admin may run or operate it.") :
			 errhint("Only its owner, members of its owner and lakehouse_admin may change it.")));
}

/*
 * security_check_pipeline_id
 *		security_check_pipeline for a pipeline by id; returns it.
 */
LhPipeline *
security_check_pipeline_id(int32 pipeline_id, LhRight right, const char *what)
{
	LhPipeline *p = catalog_pipeline(pipeline_id);

	security_check_pipeline(p, right, what);
	return p;
}

/*
 * lh_owner_begin
 *		Become owner for code a user controls (see the file header).
 */
void
lh_owner_begin(Oid owner, LhIdentity *save)
{
	char	   *path;

	if (!OidIsValid(owner))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the owner of this pipeline does not exist"),
				 errdetail("Its code runs as its owner, a role that has been dropped."),
				 errhint("A lakehouse administrator can give it a new owner with lakehouse.lh_set_pipeline_owner().")));
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	save->nestlevel = NewGUCNestLevel();
	SetUserIdAndSecContext(owner, save->sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	if (lh_user_search_path && lh_user_search_path[0] != '\0')
		path = psprintf("pg_catalog, %s, pg_temp", lh_user_search_path);
	else
		path = "pg_catalog, pg_temp";
	(void) set_config_option("search_path", path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/*
 * lh_owner_end
 *		Back to the identity and settings lh_owner_begin saved.
 */
void
lh_owner_end(LhIdentity *save)
{
	AtEOXact_GUC(true, save->nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/*
 * lh_as_owner
 *		Call fn(arg) as owner (lh_owner_begin/lh_owner_end), restoring the
 *		caller's identity on error too.
 */
void
lh_as_owner(Oid owner, void (*fn) (void *arg), void *arg)
{
	LhIdentity	save;

	lh_owner_begin(owner, &save);
	PG_TRY();
	{
		fn(arg);
	}
	PG_FINALLY();
	{
		lh_owner_end(&save);
	}
	PG_END_TRY();
}

/*
 * security_table_begin
 *		For the API functions that act on one table (expectations,
 *		contracts, schema policies, evolutions): a table registered with a
 *		pipeline needs `right` on that pipeline, then the work runs as the
 *		pipeline's owner (lh_owner_begin; *id is set and the caller calls
 *		lh_owner_end).  Any other table needs ownership of the relation,
 *		and the work runs as the caller (id->userid is InvalidOid: nothing
 *		to end).  what names the action for the error ("attach a data
 *		contract to table %s" with the name filled in).
 */
void
security_table_begin(const char *schema, const char *table, LhRight right,
					 const char *what, LhIdentity *id)
{
	LhTable    *t = catalog_table_by_name(schema, table);
	char	   *qname = lh_qualified_name(schema, table);

	id->userid = InvalidOid;
	if (t != NULL)
	{
		(void) security_check_pipeline_id(t->pipeline_id, right, psprintf(what, qname));
		lh_owner_begin(t->owner, id);
		return;
	}
	{
		Oid			relid = catalog_table_oid(qname, schema, table, NULL);

		if (!pg_class_ownercheck(relid, GetUserId()))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to %s", psprintf(what, qname)),
					 errdetail("It is not a lakehouse table, and only its owner may do this.")));
	}
}

/* The end of a security_table_begin region. */
void
security_table_end(LhIdentity *id)
{
	if (OidIsValid(id->userid))
		lh_owner_end(id);
}

/*
 * security_grant_readers
 *		What lh_create_roles promises readers of a table a pipeline creates:
 *		SELECT for lakehouse_pii_reader, and for lakehouse_analyst on gold
 *		tables (roles that do not exist are skipped).  Run by the table's
 *		owner, connected to SPI, right after the CREATE TABLE.
 */
void
security_grant_readers(const char *qname, bool gold)
{
	static const char *const readers[] = {"lakehouse_pii_reader", "lakehouse_analyst"};

	for (int i = 0; i < lengthof(readers); i++)
	{
		if (i == 1 && !gold)
			continue;
		if (!OidIsValid(get_role_oid(readers[i], true)))
			continue;
		(void) lh_spi_exec(psprintf("GRANT SELECT ON %s TO %s", qname, readers[i]),
						   0, NULL, NULL, NULL, SPI_OK_UTILITY,
						   "grant the readers of a lakehouse table");
	}
}
