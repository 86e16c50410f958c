/*-------------------------------------------------------------------------
 *
 * contract_fuzz.c
 *	  libFuzzer driver for the data contract parser (src/contract/
 *	  contract_odcs.c: JSON or YAML text -> jsonb -> validated ODCS ->
 *	  compiled rules), run inside a real server.
 *
 * The parser works on the server's jsonb and type catalog, so it cannot be
 * linked into a standalone program the way the YAML loader is.  This
 * driver sends each input, through libpq, to
 *
 *		BEGIN; SELECT lakehouse.lh_attach_contract('fz.t', $1); ROLLBACK;
 *
 * on a server that run.sh starts for it (or the one PGHOST/PGPORT name,
 * with the extension installed: the driver creates the scratch table).
 * Oracles: the backend must not die (a lost connection aborts: the input
 * crashed or killed the server), and every refusal must be a proper
 * user-facing error: SQLSTATE class XX (internal error, an elog that
 * should have been an ereport) or 58 aborts.
 *
 * The server is not instrumented, so coverage cannot guide libFuzzer.
 * Instead each distinct (SQLSTATE, primary message with quoted parts and
 * digits removed) bumps one of libFuzzer's extra counters: a new error
 * message is a new path through the validator, and inputs reaching it are
 * kept.  A successful attach counts as one more feature.
 *
 * Build and run with test/fuzz/run.sh contract [seconds].
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define NCOUNTERS 8192

__attribute__((used, section("__libfuzzer_extra_counters")))
static uint8_t counters[NCOUNTERS];

static PGconn *conn;

int			LLVMFuzzerInitialize(int *argc, char ***argv);
int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "contract_fuzz: %s%s%s\n", what, detail ? ": " : "",
			detail ? detail : "");
	abort();
}

static void
exec_ok(const char *sql)
{
	PGresult   *r = PQexec(conn, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		die("setup statement failed", PQerrorMessage(conn));
	PQclear(r);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	conn = PQconnectdb(getenv("LH_FUZZ_CONNINFO") ? getenv("LH_FUZZ_CONNINFO") : "");
	if (PQstatus(conn) != CONNECTION_OK)
		die("could not connect", PQerrorMessage(conn));
	exec_ok("SET client_min_messages = error");
	exec_ok("CREATE EXTENSION IF NOT EXISTS lakehouse");
	exec_ok("CREATE SCHEMA IF NOT EXISTS fz");
	exec_ok("CREATE TABLE IF NOT EXISTS fz.t (order_id integer, customer text,"
			" amount numeric(10,2), status text, email text, code varchar(12),"
			" ordered_at timestamptz, ship_date date)");
	exec_ok("SET statement_timeout = '5s'");
	return 0;
}

/* FNV-1a of the message, skipping quoted parts and digits. */
static uint32_t
message_feature(const char *sqlstate, const char *msg)
{
	uint32_t	h = 2166136261u;
	int			quoted = 0;

	for (const char *p = sqlstate; p && *p; p++)
		h = (h ^ (unsigned char) *p) * 16777619u;
	for (const char *p = msg; p && *p; p++)
	{
		if (*p == '"')
		{
			quoted = !quoted;
			continue;
		}
		if (quoted || (*p >= '0' && *p <= '9'))
			continue;
		h = (h ^ (unsigned char) *p) * 16777619u;
	}
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	   *text;
	const char *params[1];
	PGresult   *r;

	/* a document is text: the server would refuse NULs before parsing */
	if (size > 256 * 1024 || memchr(data, 0, size) != NULL)
		return 0;
	text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	params[0] = text;

	exec_ok("BEGIN");
	r = PQexecParams(conn, "SELECT lakehouse.lh_attach_contract('fz.t', $1)",
					 1, NULL, params, NULL, NULL, 0);
	if (PQstatus(conn) != CONNECTION_OK)
		die("the server closed the connection", PQerrorMessage(conn));
	if (PQresultStatus(r) == PGRES_TUPLES_OK)
		counters[0]++;
	else
	{
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

		if (state == NULL)
			die("an error without SQLSTATE", PQerrorMessage(conn));
		/* invalid encoding is refused by the protocol layer: fine */
		if (strncmp(state, "XX", 2) == 0 || strncmp(state, "58", 2) == 0)
		{
			fprintf(stderr, "contract_fuzz: SQLSTATE %s: %s\n", state,
					msg ? msg : "");
			die("an internal error instead of a clear message", NULL);
		}
		counters[1 + message_feature(state, msg) % (NCOUNTERS - 1)]++;
	}
	PQclear(r);
	exec_ok("ROLLBACK");
	free(text);
	return 0;
}
