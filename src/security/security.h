/*-------------------------------------------------------------------------
 *
 * security.h
 *	  Secrets (encrypted at rest), the audit log and the caller checks of
 *	  the lakehouse security functions.  See contrib-docs/security.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_SECURITY_H
#define LH_SECURITY_H

#include "catalog/catalog.h"
#include "utils/jsonb.h"

/* lakehouse.secret_key_file, lakehouse.user_search_path */
extern char *lh_secret_key_file;
extern char *lh_user_search_path;

/* What a caller wants to do to a pipeline (src/security/identity.c). */
typedef enum LhRight
{
	LH_RIGHT_ALTER,				/* redeclare, alter, drop: owner or admin */
	LH_RIGHT_OPERATE			/* run, enable, disable: also operators */
} LhRight;

/* The identity and settings saved by lh_owner_begin. */
typedef struct LhIdentity
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} LhIdentity;

/* Every form of the secrets a text must not show (src/security/redact.c). */
typedef struct LhRedactor
{
	List	   *needles;
} LhRedactor;

/* src/security/identity.c */
extern void security_identity_gucs(void);
extern bool security_is_admin(Oid roleid);
extern bool security_covers(Oid caller, Oid owner);
extern void security_check_pipeline(const LhPipeline *p, LhRight right,
									const char *what);
extern LhPipeline *security_check_pipeline_id(int32 pipeline_id, LhRight right,
											  const char *what);
extern void lh_owner_begin(Oid owner, LhIdentity *save);
extern void lh_owner_end(LhIdentity *save);
extern void lh_as_owner(Oid owner, void (*fn) (void *arg), void *arg);
extern void security_table_begin(const char *schema, const char *table,
								 LhRight right, const char *what, LhIdentity *id);
extern void security_table_end(LhIdentity *id);
extern void security_grant_readers(const char *qname, bool gold);

/* src/security/redact.c */
extern void lh_redact_add(LhRedactor *r, const char *secret);
extern void lh_redact_add_basic(LhRedactor *r, const char *user,
								const char *password);
extern char *lh_redact(LhRedactor *r, const char *s);

/* src/security/secrets.c */
extern void security_define_gucs(void);
extern char *security_secret_value(const char *name, Oid user, MemoryContext mcxt);
extern void security_check_secret_usage(const char *name, Oid user,
										bool missing_ok);
extern void security_store_mapping_classification(const char *schema,
												  const char *table,
												  Jsonb *columns);
extern void security_audit(const char *action, const char *kind,
						   const char *name, Jsonb *details);

#endif							/* LH_SECURITY_H */
