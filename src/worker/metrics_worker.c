/*-------------------------------------------------------------------------
 *
 * metrics_worker.c
 *	  The background worker that serves GET /metrics (Prometheus) and the
 *	  read-only status page GET / on lakehouse.metrics_port.
 *
 * Started by the database launcher of the database named by
 * lakehouse.metrics_database, in a worker slot with the pseudo source id
 * LH_METRICS_WORKER_ID, while lakehouse.metrics_port is not 0.  It serves
 * that one database's metrics (lh_metrics) and status page
 * (status_page_html, src/observe/status_page.c).
 *
 * One process, one thread, no blocking call: the listening socket and
 * every client socket are non-blocking and wait together with the latch
 * in one WaitEventSet.  Each connection has a deadline
 * (LH_CLIENT_TIMEOUT_MS from accept to the last byte written) and a
 * request size limit (LH_MAX_REQUEST bytes of request line and headers);
 * at most LH_MAX_CLIENTS are open, further ones are answered 503 and
 * closed.  So a client that sends half a request and goes silent, or a
 * huge header, or many connections, cannot keep another client from
 * being served.  Answers: 200 for GET /metrics and GET / (query string
 * ignored), 400 for anything that is not an HTTP/1.x request line or too
 * large a request, 405 for other methods, 404 for other paths, 500 when
 * the metrics or the page could not be computed.  Connections are closed
 * after each answer (Connection: close).  The page is sent as HTML with a
 * Content-Security-Policy that lets it load nothing and run no script.
 *
 * The metrics and the page are each computed in a transaction per request
 * (consistent snapshot); an error there is logged, the transaction
 * aborted and 500 answered.  The page's transaction waits at most
 * LH_PAGE_LOCK_TIMEOUT for a lock (the diagram analyses gold queries,
 * which locks their tables), so a long ALTER TABLE cannot hold up the
 * worker.  SIGTERM ends the worker at the next wait; SIGHUP rereads the
 * configuration, and a changed port or address makes the worker exit
 * cleanly so that its launcher starts it again on the new address.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "lakehouse.h"
#include "observe/observe.h"
#include "worker/worker.h"

#define LH_MAX_CLIENTS			32
#define LH_MAX_REQUEST			8192
#define LH_CLIENT_TIMEOUT_MS	5000
#define LH_PAGE_LOCK_TIMEOUT	"1s"

/* Content types: Prometheus text exposition, the status page, errors. */
#define LH_CT_METRICS	"text/plain; version=0.0.4; charset=utf-8"
#define LH_CT_HTML		"text/html; charset=utf-8"
#define LH_CT_TEXT		"text/plain; charset=utf-8"

/* Headers of the status page: it loads nothing, runs nothing, is not framed. */
#define LH_PAGE_HEADERS \
	"Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'; img-src data:\r\n" \
	"X-Content-Type-Options: nosniff\r\n" \
	"X-Frame-Options: DENY\r\n" \
	"Referrer-Policy: no-referrer\r\n" \
	"Cache-Control: no-store\r\n"

typedef struct Client
{
	pgsocket	fd;				/* PGINVALID_SOCKET: free */
	TimestampTz deadline;
	bool		writing;
	int			inlen;
	char		in[LH_MAX_REQUEST + 1];
	char	   *out;			/* palloc'd in TopMemoryContext */
	int			outlen;
	int			outoff;
} Client;

static Client clients[LH_MAX_CLIENTS];
static pgsocket listen_fd = PGINVALID_SOCKET;

static void
client_close(Client *c)
{
	if (c->fd != PGINVALID_SOCKET)
		closesocket(c->fd);
	if (c->out)
		pfree(c->out);
	c->fd = PGINVALID_SOCKET;
	c->out = NULL;
	c->writing = false;
	c->inlen = c->outlen = c->outoff = 0;
}

static void
metrics_close_all(int code, Datum arg)
{
	for (int i = 0; i < LH_MAX_CLIENTS; i++)
		if (clients[i].fd != PGINVALID_SOCKET)
			closesocket(clients[i].fd);
	if (listen_fd != PGINVALID_SOCKET)
		closesocket(listen_fd);
	listen_fd = PGINVALID_SOCKET;
}

static bool
set_nonblocking(pgsocket fd)
{
	int			flags = fcntl(fd, F_GETFL, 0);

	return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

/* Bind and listen on lakehouse.metrics_listen_address:metrics_port. */
static void
metrics_listen(void)
{
	struct addrinfo hints;
	struct addrinfo *res;
	char		port[16];
	int			rc;
	int			one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", lh_metrics_port);
	rc = getaddrinfo(lh_metrics_listen_address[0] ? lh_metrics_listen_address : NULL,
					 port, &hints, &res);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not resolve metrics listen address \"%s\": %s",
						lh_metrics_listen_address, gai_strerror(rc))));
	listen_fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (listen_fd == PGINVALID_SOCKET)
	{
		freeaddrinfo(res);
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not create the metrics socket: %m")));
	}
	(void) setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(listen_fd, res->ai_addr, res->ai_addrlen) != 0 ||
		listen(listen_fd, 64) != 0 || !set_nonblocking(listen_fd))
	{
		int			save = errno;

		freeaddrinfo(res);
		closesocket(listen_fd);
		listen_fd = PGINVALID_SOCKET;
		errno = save;
		ereport(ERROR,
				(errcode_for_socket_access(),
				 errmsg("could not listen on %s port %d for metrics: %m",
						lh_metrics_listen_address, lh_metrics_port),
				 errhint("Choose a free port in lakehouse.metrics_port.")));
	}
	freeaddrinfo(res);
	ereport(LOG,
			(errmsg("lakehouse metrics endpoint listening on %s port %d",
					lh_metrics_listen_address, lh_metrics_port)));
}

/*
 * Queue an answer: status line, headers (extra: more header lines, each
 * ending in CRLF, or NULL) and body.  The client is then written to.
 */
static void
client_respond(Client *c, int status, const char *reason, const char *content_type,
			   const char *extra, const char *body)
{
	StringInfoData buf;
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

	initStringInfo(&buf);
	appendStringInfo(&buf, "HTTP/1.1 %d %s\r\n"
					 "Content-Type: %s\r\n"
					 "Content-Length: %d\r\n"
					 "Connection: close\r\n%s\r\n%s",
					 status, reason, content_type,
					 (int) strlen(body), extra ? extra : "", body);
	MemoryContextSwitchTo(old);
	c->out = buf.data;
	c->outlen = buf.len;
	c->outoff = 0;
	c->writing = true;
}

/* An error answer, in plain text. */
static void
client_error(Client *c, int status, const char *reason, const char *extra,
			 const char *body)
{
	client_respond(c, status, reason, LH_CT_TEXT, extra, body);
}

/* What a request computes, in a transaction (metrics_exposition, ...). */
typedef char *(*ComputeFn) (void);

/* The status page, with the page's lock timeout. */
static char *
page_compute(void)
{
	(void) set_config_option("lock_timeout", LH_PAGE_LOCK_TIMEOUT, PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_LOCAL, true, 0, false);
	return status_page_html();
}

/*
 * The result of fn (the metrics, the page), in a transaction of its own;
 * NULL after an error, which is logged.  activity is what
 * pg_stat_activity shows meanwhile.
 */
static char *
compute_in_xact(ComputeFn fn, const char *activity)
{
	MemoryContext cxt = CurrentMemoryContext;
	char	   *volatile result = NULL;

	PG_TRY();
	{
		char	   *text;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetTransactionSnapshot());
		pgstat_report_activity(STATE_RUNNING, activity);
		text = fn();
		result = MemoryContextStrdup(cxt, text);
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		if (edata->sqlerrcode == ERRCODE_ADMIN_SHUTDOWN ||
			edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
			PG_RE_THROW();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		result = NULL;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/* A complete request head is in c->in: answer it. */
static void
client_handle(Client *c)
{
	char	   *line = c->in;
	char	   *eol = strstr(line, "\r\n");
	char	   *method;
	char	   *path;
	char	   *version;
	char	   *sp1;
	char	   *sp2;
	char	   *body;
	bool		is_page;

	*eol = '\0';
	sp1 = strchr(line, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL)
	{
		client_error(c, 400, "Bad Request", NULL, "malformed request line\n");
		return;
	}
	*sp1 = '\0';
	*sp2 = '\0';
	method = line;
	path = sp1 + 1;
	version = sp2 + 1;
	if (strncmp(version, "HTTP/1.", 7) != 0 || method[0] == '\0' || path[0] != '/')
	{
		client_error(c, 400, "Bad Request", NULL, "malformed request line\n");
		return;
	}
	for (char *m = method; *m; m++)
		if (*m < 'A' || *m > 'Z')
		{
			client_error(c, 400, "Bad Request", NULL, "malformed request method\n");
			return;
		}
	path[strcspn(path, "?#")] = '\0';
	is_page = strcmp(path, "/") == 0;
	if (!is_page && strcmp(path, "/metrics") != 0)
	{
		client_error(c, 404, "Not Found", NULL, "not found; try / or /metrics\n");
		return;
	}
	if (strcmp(method, "GET") != 0)
	{
		client_error(c, 405, "Method Not Allowed", "Allow: GET\r\n",
					 "only GET is allowed\n");
		return;
	}
	body = is_page ? compute_in_xact(page_compute, "computing the lakehouse status page") :
		compute_in_xact(metrics_exposition, "computing lakehouse metrics");
	if (body == NULL)
		client_error(c, 500, "Internal Server Error", NULL,
					 is_page ? "could not compute the status page; see the server log\n" :
					 "could not compute the metrics; see the server log\n");
	else
	{
		if (is_page)
			client_respond(c, 200, "OK", LH_CT_HTML, LH_PAGE_HEADERS, body);
		else
			client_respond(c, 200, "OK", LH_CT_METRICS, NULL, body);
		pfree(body);
	}
}

static void
client_read(Client *c)
{
	for (;;)
	{
		ssize_t		n = recv(c->fd, c->in + c->inlen, LH_MAX_REQUEST - c->inlen, 0);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			client_close(c);
			return;
		}
		c->inlen += n;
		c->in[c->inlen] = '\0';
		if (memchr(c->in, '\0', c->inlen) != NULL)
		{
			client_error(c, 400, "Bad Request", NULL, "malformed request\n");
			return;
		}
		if (strstr(c->in, "\r\n\r\n") != NULL || strstr(c->in, "\n\n") != NULL)
		{
			if (strstr(c->in, "\r\n") == NULL)
				client_error(c, 400, "Bad Request", NULL, "malformed request\n");
			else
				client_handle(c);
			return;
		}
		if (c->inlen >= LH_MAX_REQUEST)
		{
			client_error(c, 400, "Bad Request", NULL, "request too large\n");
			return;
		}
	}
}

static void
client_write(Client *c)
{
	while (c->outoff < c->outlen)
	{
		ssize_t		n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->outoff += n;
	}
	client_close(c);
}

static void
accept_clients(void)
{
	for (;;)
	{
		pgsocket	fd = accept(listen_fd, NULL, NULL);
		Client	   *c = NULL;

		if (fd == PGINVALID_SOCKET)
			return;				/* EAGAIN, or a transient error */
		for (int i = 0; i < LH_MAX_CLIENTS; i++)
			if (clients[i].fd == PGINVALID_SOCKET)
			{
				c = &clients[i];
				break;
			}
		if (c == NULL || !set_nonblocking(fd))
		{
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				"Content-Length: 0\r\nConnection: close\r\n\r\n";

			(void) set_nonblocking(fd);
			(void) send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL);
			closesocket(fd);
			continue;
		}
		c->fd = fd;
		c->inlen = 0;
		c->writing = false;
		c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												  LH_CLIENT_TIMEOUT_MS);
	}
}

/*
 * lh_metrics_worker_main
 *		Entry point; the argument is the slot number, bgw_extra holds the
 *		database id and LH_METRICS_WORKER_ID.
 */
void
lh_metrics_worker_main(Datum arg)
{
	int32		source_id;
	LhWorkerSlot *slot;
	int			port;
	char	   *address;

	slot = lh_worker_start(arg, &source_id);
	for (int i = 0; i < LH_MAX_CLIENTS; i++)
	{
		clients[i].fd = PGINVALID_SOCKET;
		clients[i].out = NULL;
	}
	before_shmem_exit(metrics_close_all, (Datum) 0);

	PG_TRY();
	{
		if (lh_metrics_port <= 0)
			lh_worker_exit_clean(slot);
		port = lh_metrics_port;
		address = MemoryContextStrdup(TopMemoryContext, lh_metrics_listen_address);
		metrics_listen();
		lh_slot_set_state(slot, "running", NULL);

		for (;;)
		{
			WaitEventSet *set;
			WaitEvent	events[LH_MAX_CLIENTS + 3];
			int			nevents;
			long		timeout = 1000;
			TimestampTz now;

			CHECK_FOR_INTERRUPTS();
			if (ConfigReloadPending)
			{
				ConfigReloadPending = false;
				ProcessConfigFile(PGC_SIGHUP);
				if (lh_metrics_port != port ||
					strcmp(lh_metrics_listen_address, address) != 0)
					break;
			}

			lh_crash_guard_healthy(slot->started_at);

			/* connections past their deadline are dropped */
			now = GetCurrentTimestamp();
			for (int i = 0; i < LH_MAX_CLIENTS; i++)
			{
				Client	   *c = &clients[i];

				if (c->fd == PGINVALID_SOCKET)
					continue;
				if (now >= c->deadline)
				{
					client_close(c);
					continue;
				}
				timeout = Min(timeout,
							  Max(1L, TimestampDifferenceMilliseconds(now, c->deadline)));
			}

			set = CreateWaitEventSet(CurrentMemoryContext, LH_MAX_CLIENTS + 3);
			AddWaitEventToSet(set, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
			AddWaitEventToSet(set, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
			AddWaitEventToSet(set, WL_SOCKET_READABLE, listen_fd, NULL, NULL);
			for (int i = 0; i < LH_MAX_CLIENTS; i++)
				if (clients[i].fd != PGINVALID_SOCKET)
					AddWaitEventToSet(set, clients[i].writing ? WL_SOCKET_WRITEABLE :
									  WL_SOCKET_READABLE, clients[i].fd, NULL, &clients[i]);
			nevents = WaitEventSetWait(set, timeout, events, lengthof(events),
									   PG_WAIT_EXTENSION);
			FreeWaitEventSet(set);

			for (int i = 0; i < nevents; i++)
			{
				WaitEvent  *ev = &events[i];

				if (ev->events & WL_LATCH_SET)
				{
					ResetLatch(MyLatch);
					continue;
				}
				if (ev->fd == listen_fd)
				{
					accept_clients();
					continue;
				}
				if (ev->user_data)
				{
					Client	   *c = (Client *) ev->user_data;

					if (c->fd != ev->fd)
						continue;
					if (!c->writing)
						client_read(c);
					if (c->fd != PGINVALID_SOCKET && c->writing)
						client_write(c);
				}
			}
		}
	}
	PG_CATCH();
	{
		lh_worker_failed(slot);
	}
	PG_END_TRY();
	lh_worker_exit_clean(slot);
}
