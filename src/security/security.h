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

#include "utils/jsonb.h"

/* lakehouse.secret_key_file */
extern char *lh_secret_key_file;

extern void security_define_gucs(void);
extern bool security_is_admin(Oid roleid);
extern char *security_secret_value(const char *name, MemoryContext mcxt);
extern void security_store_mapping_classification(const char *schema,
												  const char *table,
												  Jsonb *columns);
extern void security_audit(const char *action, const char *kind,
						   const char *name, Jsonb *details);

#endif							/* LH_SECURITY_H */
