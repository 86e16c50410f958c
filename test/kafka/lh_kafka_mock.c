/*
 * lh_kafka_mock.c: a Kafka cluster for lakehouse's tests and benchmarks
 *
 * Runs librdkafka's mock cluster (a real Kafka wire-protocol broker, in
 * memory, on 127.0.0.1) until it is told to stop.  Not part of the
 * extension: `make kafka-mock` builds it as test/kafka/lh_kafka_mock.
 *
 * Usage:
 *   lh_kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--addr-file PATH]
 *                 [--port P] [--down] [--stdin] [--debug] [--exit-with-parent]
 *
 *   --brokers N       brokers in the cluster (default 1); each listens on an
 *                     ephemeral port of 127.0.0.1 (librdkafka 2.0.2 has no
 *                     fixed-port API)
 *   --topic T:P       create topic T with P partitions (replication factor
 *                     1, leaders spread over the brokers); repeatable.  Topics
 *                     that a client asks for and that do not exist are
 *                     auto-created by the mock with 4 partitions.
 *   --addr-file PATH  once the cluster (and forwarder) is up, write the
 *                     bootstrap address and a newline to PATH, atomically
 *                     (PATH.tmp, then rename), so a poller never reads half
 *                     of it; PATH is removed again on a clean exit
 *   --port P          also listen on 127.0.0.1:P (0 = pick one) and forward
 *                     every connection to broker 1; the bootstrap address is
 *                     then 127.0.0.1:P.  Clients still reach the brokers on
 *                     their own addresses after the first metadata request
 *                     (they are what the brokers advertise).  This lets a
 *                     test point a source at a fixed address before any
 *                     broker exists (connection refused), then start the
 *                     cluster there.
 *   --down            take every broker down right after creating the topics
 *                     (before the address file is written)
 *   --stdin           read commands from standard input, one per line, and
 *                     answer each with one line, "ok" or "error: ...":
 *                       down [ID]            take broker ID (default: all) down
 *                       up [ID]              bring broker ID (default: all) up
 *                       topic NAME PARTS     create a topic
 *                       partitions NAME N    grow a topic to N partitions
 *                                            (always an error: see below)
 *                       quit                 exit cleanly (so does EOF)
 *   --debug           librdkafka's mock, broker and protocol debug log on
 *                     standard error
 *   --exit-with-parent  exit (as on SIGTERM) when the process that started
 *                     us dies, even by SIGKILL (Linux PR_SET_PDEATHSIG), so
 *                     that a killed test or benchmark leaves no cluster behind
 *
 *   lh_kafka_mock --send BOOTSTRAP TOPIC PARTITION null|empty [KEY]
 *
 *   produces one message whose value is NULL (a tombstone) or empty (zero
 *   bytes), with an optional key, to any cluster, then exits (0 once the
 *   broker acknowledged it).  kcat cannot send either: it skips empty input
 *   lines, and -Z applies only to them.
 *
 *   lh_kafka_mock --committed BOOTSTRAP GROUP TOPIC PARTITIONS
 *
 *   prints the offsets consumer group GROUP committed for partitions
 *   0..PARTITIONS-1 of TOPIC, one "partition offset" line each (-1001: none),
 *   without joining the group.
 *
 *   lh_kafka_mock --produce BOOTSTRAP TOPIC PARTITION
 *
 *   produces each line of standard input (without its newline; empty lines
 *   are skipped) as soon as it is read, with linger.ms=0, then exits once
 *   every message is acknowledged (status 1 if one was not).  For latency
 *   measurements: kcat -P reads all of its input before it produces.
 *
 * Signals (all blocked in every thread before the cluster exists, and taken
 * with sigwait() by the main thread):
 *   SIGTERM, SIGINT   exit cleanly (status 0)
 *   SIGUSR1           take every broker down: its connections are closed and
 *                     new ones are refused (rd_kafka_mock_broker_set_down;
 *                     no leader change); through the --port forwarder a
 *                     client sees its connection accepted, then closed
 *   SIGUSR2           bring every broker up again
 * Standard output gets one line per event ("bootstrap ...", "brokers down",
 * "brokers up", "exiting"), flushed at once.
 *
 * A broker that is down keeps its data: messages produced before come back
 * with it.  Each partition keeps only about 5 MiB (and 100,000 message
 * sets): older messages silently disappear, as with a real broker's
 * retention.  Timestamp lookups (ListOffsets by time) are not supported by
 * the 2.0.2 mock: it answers every timestamp with offset -1 (no such
 * message), which clients take as the end of the partition.
 *
 * Adding partitions to an existing topic is NOT possible with librdkafka
 * 2.0.2's mock: rd_kafka_mock_topic_create() on an existing topic fails with
 * TOPIC_ALREADY_EXISTS, there is no other call that changes a topic's
 * partition count, and the mock brokers do not implement the
 * CreatePartitions request (a client's rd_kafka_CreatePartitions() fails).
 * The "partitions" command exists to say so.
 *
 * The forwarder (--port) is one thread that accepts and one thread per
 * connection that copies bytes both ways with poll(); it stops copying when
 * either side closes.  When broker 1 is down its connections are closed by
 * the mock, so the forwarded ones close too.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define MAX_TOPICS 64

typedef struct MockTopic
{
	const char *name;
	int			partitions;
} MockTopic;

static rd_kafka_mock_cluster_t *mock_cluster;
static pthread_mutex_t mock_out_lock = PTHREAD_MUTEX_INITIALIZER;

/* where forwarded connections go: broker 1's address */
static struct sockaddr_in mock_fwd_target;

static void mock_usage(void) __attribute__((noreturn));

static void
mock_usage(void)
{
	fprintf(stderr,
			"usage: lh_kafka_mock [--brokers N] [--topic NAME:PARTITIONS]... [--addr-file PATH]\n"
			"                     [--port P] [--down] [--stdin] [--debug] [--exit-with-parent]\n"
			"       lh_kafka_mock --send BOOTSTRAP TOPIC PARTITION null|empty [KEY]\n"
			"       lh_kafka_mock --produce BOOTSTRAP TOPIC PARTITION < lines\n"
			"       lh_kafka_mock --committed BOOTSTRAP GROUP TOPIC PARTITIONS\n");
	exit(2);
}

static void mock_fatal(const char *fmt,...) __attribute__((format(printf, 1, 2), noreturn));

static void
mock_fatal(const char *fmt,...)
{
	va_list		ap;

	fprintf(stderr, "lh_kafka_mock: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* One line on standard output, whole, flushed (several threads write). */
static void mock_say(const char *fmt,...) __attribute__((format(printf, 1, 2)));

static void
mock_say(const char *fmt,...)
{
	va_list		ap;

	pthread_mutex_lock(&mock_out_lock);
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	pthread_mutex_unlock(&mock_out_lock);
}

static int
mock_parse_int(const char *s, int min, int max, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		mock_fatal("invalid %s: \"%s\" (expected %d..%d)", what, s, min, max);
	return (int) v;
}

/* Take broker "id" (-1: all) down or up. */
static rd_kafka_resp_err_t
mock_set_brokers(int32_t id, int up)
{
	rd_kafka_resp_err_t err;

	if (up)
		err = rd_kafka_mock_broker_set_up(mock_cluster, id);
	else
		err = rd_kafka_mock_broker_set_down(mock_cluster, id);
	if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		if (id == -1)
			mock_say("brokers %s", up ? "up" : "down");
		else
			mock_say("broker %d %s", (int) id, up ? "up" : "down");
	}
	return err;
}

/* ---------------------------------------------------------------------
 * The forwarder (--port)
 * --------------------------------------------------------------------- */

typedef struct FwdPair
{
	int			client;
	int			broker;
} FwdPair;

/* Copy what is readable on "from" to "to"; false when the connection ends. */
static int
mock_fwd_copy(int from, int to)
{
	char		buf[65536];
	ssize_t		n = read(from, buf, sizeof(buf));
	ssize_t		off = 0;

	if (n <= 0)
		return 0;
	while (off < n)
	{
		ssize_t		w = write(to, buf + off, (size_t) (n - off));

		if (w < 0)
		{
			if (errno == EINTR)
				continue;
			return 0;
		}
		off += w;
	}
	return 1;
}

static void *
mock_fwd_conn_main(void *arg)
{
	FwdPair    *p = arg;
	struct pollfd fds[2];

	fds[0].fd = p->client;
	fds[0].events = POLLIN;
	fds[1].fd = p->broker;
	fds[1].events = POLLIN;
	for (;;)
	{
		int			r = poll(fds, 2, -1);

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[0].revents & (POLLIN | POLLHUP | POLLERR))
		{
			if (!mock_fwd_copy(p->client, p->broker))
				break;
		}
		if (fds[1].revents & (POLLIN | POLLHUP | POLLERR))
		{
			if (!mock_fwd_copy(p->broker, p->client))
				break;
		}
	}
	close(p->client);
	close(p->broker);
	free(p);
	return NULL;
}

static void *
mock_fwd_accept_main(void *arg)
{
	int			lsock = *(int *) arg;

	for (;;)
	{
		int			c = accept(lsock, NULL, NULL);
		int			b;
		int			one = 1;
		FwdPair    *p;
		pthread_t	t;

		if (c < 0)
		{
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			mock_fatal("accept failed: %s", strerror(errno));
		}
		b = socket(AF_INET, SOCK_STREAM, 0);
		if (b < 0 ||
			connect(b, (struct sockaddr *) &mock_fwd_target, sizeof(mock_fwd_target)) != 0)
		{
			/* broker unreachable: the client sees its connection close */
			if (b >= 0)
				close(b);
			close(c);
			continue;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		setsockopt(b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		p = malloc(sizeof(FwdPair));
		if (p == NULL)
			mock_fatal("out of memory");
		p->client = c;
		p->broker = b;
		if (pthread_create(&t, NULL, mock_fwd_conn_main, p) != 0)
		{
			close(c);
			close(b);
			free(p);
			continue;
		}
		pthread_detach(t);
	}
	return NULL;
}

/*
 * Listen on 127.0.0.1:port and start the accepting thread; returns the port
 * (the one the kernel picked when port is 0).
 */
static int
mock_fwd_start(int port, const char *bootstraps)
{
	static int	lsock;
	struct sockaddr_in addr;
	socklen_t	len = sizeof(addr);
	int			one = 1;
	pthread_t	t;
	char		host[64];
	const char *colon;
	size_t		hostlen;

	/* broker 1 is the first "host:port" of the bootstrap list */
	colon = strchr(bootstraps, ':');
	hostlen = colon ? (size_t) (colon - bootstraps) : 0;
	if (colon == NULL || hostlen == 0 || hostlen >= sizeof(host))
		mock_fatal("unexpected bootstrap address \"%s\"", bootstraps);
	memcpy(host, bootstraps, hostlen);
	host[hostlen] = '\0';
	memset(&mock_fwd_target, 0, sizeof(mock_fwd_target));
	mock_fwd_target.sin_family = AF_INET;
	mock_fwd_target.sin_port = htons((uint16_t) atoi(colon + 1));
	if (inet_pton(AF_INET, host, &mock_fwd_target.sin_addr) != 1)
		mock_fatal("unexpected broker host \"%s\"", host);

	lsock = socket(AF_INET, SOCK_STREAM, 0);
	if (lsock < 0)
		mock_fatal("socket failed: %s", strerror(errno));
	setsockopt(lsock, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons((uint16_t) port);
	if (bind(lsock, (struct sockaddr *) &addr, sizeof(addr)) != 0)
		mock_fatal("could not listen on 127.0.0.1:%d: %s", port, strerror(errno));
	if (listen(lsock, 64) != 0)
		mock_fatal("listen failed: %s", strerror(errno));
	if (getsockname(lsock, (struct sockaddr *) &addr, &len) != 0)
		mock_fatal("getsockname failed: %s", strerror(errno));
	if (pthread_create(&t, NULL, mock_fwd_accept_main, &lsock) != 0)
		mock_fatal("could not start the forwarder thread");
	pthread_detach(t);
	return ntohs(addr.sin_port);
}

/* ---------------------------------------------------------------------
 * Commands on standard input (--stdin)
 * --------------------------------------------------------------------- */

static void
mock_command(char *line)
{
	char	   *argv[4];
	int			argc = 0;
	char	   *save = NULL;
	char	   *tok;
	rd_kafka_resp_err_t err;

	for (tok = strtok_r(line, " \t\r\n", &save); tok != NULL && argc < 4;
		 tok = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = tok;
	if (argc == 0)
		return;

	if ((strcmp(argv[0], "down") == 0 || strcmp(argv[0], "up") == 0) && argc <= 2)
	{
		int32_t		id = argc == 2 ? (int32_t) atoi(argv[1]) : -1;

		err = mock_set_brokers(id, argv[0][0] == 'u');
		if (err)
			mock_say("error: %s", rd_kafka_err2str(err));
		else
			mock_say("ok");
	}
	else if (strcmp(argv[0], "topic") == 0 && argc == 3 && atoi(argv[2]) > 0)
	{
		err = rd_kafka_mock_topic_create(mock_cluster, argv[1], atoi(argv[2]), 1);
		if (err)
			mock_say("error: %s", rd_kafka_err2str(err));
		else
			mock_say("ok");
	}
	else if (strcmp(argv[0], "partitions") == 0 && argc == 3)
		mock_say("error: the librdkafka 2.0.2 mock cannot add partitions to an existing topic");
	else if (strcmp(argv[0], "quit") == 0 && argc == 1)
	{
		mock_say("ok");
		kill(getpid(), SIGTERM);
	}
	else
		mock_say("error: unrecognized command (down [ID], up [ID], topic NAME PARTS, quit)");
}

static void *
mock_stdin_main(void *arg)
{
	char		line[1024];

	(void) arg;
	while (fgets(line, sizeof(line), stdin) != NULL)
		mock_command(line);
	/* EOF: whoever drove us is gone */
	kill(getpid(), SIGTERM);
	return NULL;
}

/* ---------------------------------------------------------------------
 * main
 * --------------------------------------------------------------------- */

static void
mock_write_addr_file(const char *path, const char *addr)
{
	size_t		len = strlen(path) + 5;
	char	   *tmp = malloc(len);
	FILE	   *f;

	if (tmp == NULL)
		mock_fatal("out of memory");
	snprintf(tmp, len, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (f == NULL)
		mock_fatal("could not write \"%s\": %s", tmp, strerror(errno));
	if (fprintf(f, "%s\n", addr) < 0 || fclose(f) != 0)
		mock_fatal("could not write \"%s\": %s", tmp, strerror(errno));
	if (rename(tmp, path) != 0)
		mock_fatal("could not rename \"%s\" to \"%s\": %s", tmp, path, strerror(errno));
	free(tmp);
}

static void
mock_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void) rk;
	/* keep the first failure */
	if (*(rd_kafka_resp_err_t *) opaque == RD_KAFKA_RESP_ERR__IN_PROGRESS ||
		*(rd_kafka_resp_err_t *) opaque == RD_KAFKA_RESP_ERR_NO_ERROR)
		*(rd_kafka_resp_err_t *) opaque = m->err;
}

/* A producer for --send and --produce; reports go to *dr_err. */
static rd_kafka_t *
mock_producer(const char *bootstrap, rd_kafka_resp_err_t *dr_err)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	char		errstr[512];

	if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "linger.ms", "0", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		mock_fatal("%s", errstr);
	rd_kafka_conf_set_dr_msg_cb(conf, mock_dr_cb);
	rd_kafka_conf_set_opaque(conf, dr_err);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		mock_fatal("could not create the producer: %s", errstr);
	return rk;
}

/* --committed: a group's committed offsets; returns the exit status. */
static int
mock_committed(int argc, char **argv)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t err;
	char		errstr[512];
	int			n;
	int			i;

	if (argc != 4)
		mock_usage();
	n = mock_parse_int(argv[3], 1, 100000, "partition count");
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[0], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "group.id", argv[1], errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
		mock_fatal("%s", errstr);
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		mock_fatal("could not create the consumer: %s", errstr);
	parts = rd_kafka_topic_partition_list_new(n);
	for (i = 0; i < n; i++)
		rd_kafka_topic_partition_list_add(parts, argv[2], i);
	err = rd_kafka_committed(rk, parts, 10000);
	if (err)
		mock_fatal("could not fetch the committed offsets: %s", rd_kafka_err2str(err));
	for (i = 0; i < parts->cnt; i++)
		printf("%d %lld\n", (int) parts->elems[i].partition,
			   (long long) parts->elems[i].offset);
	rd_kafka_topic_partition_list_destroy(parts);
	rd_kafka_destroy(rk);
	return 0;
}

/* --produce: each line of stdin at once; returns the exit status. */
static int
mock_produce_lines(int argc, char **argv)
{
	rd_kafka_t *rk;
	rd_kafka_resp_err_t dr_err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
	int			partition;
	char	   *line = NULL;
	size_t		cap = 0;
	ssize_t		len;
	long		n = 0;

	if (argc != 3)
		mock_usage();
	partition = mock_parse_int(argv[2], 0, 100000, "partition");
	rk = mock_producer(argv[0], &dr_err);
	while ((len = getline(&line, &cap, stdin)) >= 0)
	{
		rd_kafka_resp_err_t err;

		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		if (len == 0)
			continue;
		err = rd_kafka_producev(rk,
								RD_KAFKA_V_TOPIC(argv[1]),
								RD_KAFKA_V_PARTITION(partition),
								RD_KAFKA_V_VALUE(line, (size_t) len),
								RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
								RD_KAFKA_V_END);
		if (err)
			mock_fatal("could not produce: %s", rd_kafka_err2str(err));
		n++;
		rd_kafka_poll(rk, 0);
	}
	free(line);
	rd_kafka_flush(rk, 30000);
	if (rd_kafka_outq_len(rk) > 0)
		mock_fatal("%d messages not delivered within 30 s", rd_kafka_outq_len(rk));
	rd_kafka_destroy(rk);
	if (n > 0 && dr_err != RD_KAFKA_RESP_ERR_NO_ERROR)
		mock_fatal("message not delivered: %s", rd_kafka_err2str(dr_err));
	return 0;
}

/* --send: one NULL or empty message, acknowledged; returns the exit status. */
static int
mock_send(int argc, char **argv)
{
	rd_kafka_t *rk;
	rd_kafka_resp_err_t err;
	rd_kafka_resp_err_t dr_err = RD_KAFKA_RESP_ERR__IN_PROGRESS;
	const char *key;
	int			partition;
	int			null_value;
	static const char empty[1] = "";

	if (argc != 4 && argc != 5)
		mock_usage();
	if (strcmp(argv[3], "null") != 0 && strcmp(argv[3], "empty") != 0)
		mock_usage();
	null_value = strcmp(argv[3], "null") == 0;
	partition = mock_parse_int(argv[2], 0, 100000, "partition");
	key = argc == 5 ? argv[4] : NULL;

	rk = mock_producer(argv[0], &dr_err);
	err = rd_kafka_producev(rk,
							RD_KAFKA_V_TOPIC(argv[1]),
							RD_KAFKA_V_PARTITION(partition),
							RD_KAFKA_V_VALUE(null_value ? NULL : (void *) empty, 0),
							RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
							RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
							RD_KAFKA_V_END);
	if (err)
		mock_fatal("could not produce: %s", rd_kafka_err2str(err));
	rd_kafka_flush(rk, 30000);
	rd_kafka_destroy(rk);
	if (dr_err != RD_KAFKA_RESP_ERR_NO_ERROR)
		mock_fatal("message not delivered: %s", rd_kafka_err2str(dr_err));
	return 0;
}

int
main(int argc, char **argv)
{
	int			nbrokers = 1;
	MockTopic	topics[MAX_TOPICS];
	int			ntopics = 0;
	const char *addr_file = NULL;
	int			port = -1;
	int			start_down = 0;
	int			read_stdin = 0;
	int			debug = 0;
	int			with_parent = 0;
	pid_t		parent = getppid();
	sigset_t	sigs;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char		errstr[512];
	char		addr[1024];
	int			i;

	if (argc > 1 && strcmp(argv[1], "--send") == 0)
		return mock_send(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "--produce") == 0)
		return mock_produce_lines(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "--committed") == 0)
		return mock_committed(argc - 2, argv + 2);

	for (i = 1; i < argc; i++)
	{
		const char *a = argv[i];

		if (strcmp(a, "--brokers") == 0 && i + 1 < argc)
			nbrokers = mock_parse_int(argv[++i], 1, 16, "--brokers");
		else if (strcmp(a, "--topic") == 0 && i + 1 < argc)
		{
			char	   *spec = argv[++i];
			char	   *colon = strrchr(spec, ':');

			if (colon == NULL || colon == spec)
				mock_fatal("invalid --topic \"%s\" (expected NAME:PARTITIONS)", spec);
			if (ntopics == MAX_TOPICS)
				mock_fatal("too many --topic options (at most %d)", MAX_TOPICS);
			*colon = '\0';
			topics[ntopics].name = spec;
			topics[ntopics].partitions = mock_parse_int(colon + 1, 1, 100000, "partition count");
			ntopics++;
		}
		else if (strcmp(a, "--addr-file") == 0 && i + 1 < argc)
			addr_file = argv[++i];
		else if (strcmp(a, "--port") == 0 && i + 1 < argc)
			port = mock_parse_int(argv[++i], 0, 65535, "--port");
		else if (strcmp(a, "--down") == 0)
			start_down = 1;
		else if (strcmp(a, "--stdin") == 0)
			read_stdin = 1;
		else if (strcmp(a, "--debug") == 0)
			debug = 1;
		else if (strcmp(a, "--exit-with-parent") == 0)
			with_parent = 1;
		else
			mock_usage();
	}

	/*
	 * Block the signals we sigwait() for before any thread exists: every
	 * thread librdkafka creates inherits the mask, so they all arrive here.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGUSR2);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0)
		mock_fatal("pthread_sigmask failed");
	/* a forwarded peer that vanishes must not kill us */
	signal(SIGPIPE, SIG_IGN);
	if (with_parent)
	{
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
			mock_fatal("prctl failed: %s", strerror(errno));
		/* the parent may have died before the prctl */
		if (getppid() != parent)
			return 0;
	}

	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "log_level", debug ? "7" : "3", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK ||
		(debug && rd_kafka_conf_set(conf, "debug", "mock,broker,protocol", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK))
		mock_fatal("%s", errstr);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
		mock_fatal("could not create the librdkafka handle: %s", errstr);

	mock_cluster = rd_kafka_mock_cluster_new(rk, nbrokers);
	if (mock_cluster == NULL)
		mock_fatal("could not create the mock cluster");

	for (i = 0; i < ntopics; i++)
	{
		rd_kafka_resp_err_t err;

		err = rd_kafka_mock_topic_create(mock_cluster, topics[i].name,
										 topics[i].partitions, 1);
		if (err)
			mock_fatal("could not create topic \"%s\": %s", topics[i].name,
					   rd_kafka_err2str(err));
	}

	snprintf(addr, sizeof(addr), "%s", rd_kafka_mock_cluster_bootstraps(mock_cluster));
	if (port >= 0)
	{
		int			p = mock_fwd_start(port, addr);

		snprintf(addr, sizeof(addr), "127.0.0.1:%d", p);
	}

	if (start_down && mock_set_brokers(-1, 0) != RD_KAFKA_RESP_ERR_NO_ERROR)
		mock_fatal("could not take the brokers down");

	if (addr_file)
		mock_write_addr_file(addr_file, addr);
	mock_say("bootstrap %s", addr);

	if (read_stdin)
	{
		pthread_t	t;

		if (pthread_create(&t, NULL, mock_stdin_main, NULL) != 0)
			mock_fatal("could not start the command thread");
		pthread_detach(t);
	}

	for (;;)
	{
		int			sig;

		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (mock_set_brokers(-1, sig == SIGUSR2) != RD_KAFKA_RESP_ERR_NO_ERROR)
			fprintf(stderr, "lh_kafka_mock: could not take the brokers %s\n",
					sig == SIGUSR2 ? "up" : "down");
	}

	mock_say("exiting");
	if (addr_file)
		unlink(addr_file);
	rd_kafka_mock_cluster_destroy(mock_cluster);
	rd_kafka_destroy(rk);
	return 0;
}
