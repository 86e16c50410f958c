/*-------------------------------------------------------------------------
 *
 * http.h
 *	  HTTP/REST sources (src/sources/http.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef LH_HTTP_H
#define LH_HTTP_H

#include "lakehouse.h"

extern void http_validate_options(Jsonb *options);
extern bool http_polls(Jsonb *options);
extern int	http_poll_interval(Jsonb *options);
extern void http_ingest(LhSource *src, int64 run_id, LhStageCounts *counts);

#endif							/* LH_HTTP_H */
