/*
 * test_it_tls.c: edumond's native TLS (--tls-cert, --tls-key) against the
 * real daemon and a real PostgreSQL. Each test makes its own self-signed
 * certificates (EC P-256, for "localhost" and 127.0.0.1) with the OpenSSL
 * API, and talks to the daemon with a TLS client written here that trusts
 * exactly those certificates and checks the host name.
 *
 * What is shown: the API answers over TLS and submissions are stored; plain
 * HTTP on the TLS port is closed unanswered; the request deadline and the
 * connection cap hold for connections still in their handshake; a bad
 * certificate or key refuses the start with a precise message; SIGHUP puts
 * a new certificate in force for new connections, and a broken one is
 * refused while the old one stays.
 *
 * Bounds are generous (the machine is shared): a 2 s deadline is checked as
 * "not before 1.9 s, and within 20 s".
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

#define SCHOOL "2132070301"
#define FP_LEN 32 /* SHA-256 */

/* A certificate made by the test, with its key. */
struct cert {
	X509 *x509;
	EVP_PKEY *key;
	unsigned char fp[FP_LEN];
};

struct env {
	char *db;
	PGconn *pg;
	struct tl_daemon *d;
	int port;
	char *cert_path; /* what --tls-cert and --tls-key name */
	char *key_path;
	struct cert a, b; /* a: served at start; b: another one */
};

static struct env E;

static double
now_s(void)
{
	return (double)now_usec() / 1e6;
}

/* ---- Certificates ---- */

static void
add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	cr_assert_not_null(ext, "extension %s", value);
	cr_assert_eq(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A fresh key and a self-signed certificate for localhost and 127.0.0.1. */
static void
cert_make(struct cert *c, const char *cn, long serial)
{
	X509_NAME *name;
	unsigned int n = 0;

	c->key = EVP_EC_gen("P-256");
	cr_assert_not_null(c->key, "EC key generation");
	c->x509 = X509_new();
	cr_assert_not_null(c->x509);
	X509_set_version(c->x509, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(c->x509), serial);
	X509_gmtime_adj(X509_getm_notBefore(c->x509), -3600);
	X509_gmtime_adj(X509_getm_notAfter(c->x509), 86400);
	X509_set_pubkey(c->x509, c->key);
	name = X509_get_subject_name(c->x509);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(c->x509, name);
	add_ext(c->x509, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
	add_ext(c->x509, NID_ext_key_usage, "serverAuth");
	cr_assert_gt(X509_sign(c->x509, c->key, EVP_sha256()), 0, "signing");
	cr_assert_eq(X509_digest(c->x509, EVP_sha256(), c->fp, &n), 1);
	cr_assert_eq(n, FP_LEN);
}

static void
cert_free(struct cert *c)
{
	X509_free(c->x509);
	EVP_PKEY_free(c->key);
	memset(c, 0, sizeof *c);
}

/* Replace path with x509 and/or key in PEM (through a rename: never half a file). */
static void
write_pem(const char *path, const X509 *x509, EVP_PKEY *key)
{
	char *tmp = xasprintf("%s.tmp", path);
	FILE *f = fopen(tmp, "w");

	cr_assert_not_null(f, "%s: %s", tmp, strerror(errno));
	fchmod(fileno(f), 0600);
	if (x509 != NULL)
		cr_assert_eq(PEM_write_X509(f, x509), 1);
	if (key != NULL)
		cr_assert_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", tmp, strerror(errno));
	free(tmp);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* A file name in the test's scratch directory. Caller frees. */
static char *
scratch(const char *name)
{
	const char *dir = getenv("EDUMON_TEST_TMPDIR");

	if (dir == NULL || *dir == '\0')
		dir = getenv("TMPDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	return xasprintf("%s/tls-%ld-%s", dir, (long)getpid(), name);
}

/* ---- A TLS client ---- */

/* A blocking TCP connection to the daemon, 5 s timeouts both ways; -1 if refused. */
static int
tcp_try_connect(int port)
{
	struct sockaddr_in sa;
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* tcp_try_connect(), failing the test if the connection is refused. */
static int
tcp_connect(int port)
{
	int fd = tcp_try_connect(port);

	cr_assert_geq(fd, 0, "connect to port %d: %s", port, strerror(errno));
	return fd;
}

/* How a client connection is made: whom it trusts, what it asks for. */
struct client_opts {
	const char *host; /* checked against the certificate; default "localhost" */
	int max_version;  /* 0: any */
};

/* One client connection, after its handshake. */
struct client {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	unsigned char fp[FP_LEN]; /* of the certificate the server showed */
	char why[256];            /* why the handshake failed */
};

static void
client_close(struct client *c)
{
	SSL_free(c->ssl);
	SSL_CTX_free(c->ctx);
	if (c->fd >= 0)
		close(c->fd);
	c->ssl = NULL;
	c->ctx = NULL;
	c->fd = -1;
}

/*
 * Handshake with the daemon on port, trusting certificates a and b of E (the
 * ones that exist). 0, or -1 with c->why (the connection then closed).
 */
static int
client_open(int port, const struct client_opts *o, struct client *c)
{
	X509_STORE *store;
	X509 *peer;
	unsigned int n = 0;
	const char *host = o != NULL && o->host != NULL ? o->host : "localhost";
	int rc;

	memset(c, 0, sizeof *c);
	if ((c->fd = tcp_try_connect(port)) < 0) {
		snprintf(c->why, sizeof c->why, "connect: %s", strerror(errno));
		return -1;
	}
	c->ctx = SSL_CTX_new(TLS_client_method());
	cr_assert_not_null(c->ctx);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	store = SSL_CTX_get_cert_store(c->ctx);
	if (E.a.x509 != NULL)
		cr_assert_eq(X509_STORE_add_cert(store, E.a.x509), 1);
	if (E.b.x509 != NULL)
		cr_assert_eq(X509_STORE_add_cert(store, E.b.x509), 1);
	if (o != NULL && o->max_version != 0) {
		/* Let this client offer what Debian's defaults forbid. */
		SSL_CTX_set_security_level(c->ctx, 0);
		SSL_CTX_set_min_proto_version(c->ctx, TLS1_VERSION);
		SSL_CTX_set_max_proto_version(c->ctx, o->max_version);
		SSL_CTX_set_cipher_list(c->ctx, "ALL:@SECLEVEL=0");
	}
	c->ssl = SSL_new(c->ctx);
	cr_assert_not_null(c->ssl);
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_tlsext_host_name(c->ssl, host);
	cr_assert_eq(SSL_set1_host(c->ssl, host), 1);
	ERR_clear_error();
	rc = SSL_connect(c->ssl);
	if (rc != 1) {
		long v = SSL_get_verify_result(c->ssl);
		unsigned long e = ERR_peek_error();

		snprintf(c->why, sizeof c->why, "%s; verify: %s",
		    e != 0 ? ERR_reason_error_string(e) : "no OpenSSL error",
		    X509_verify_cert_error_string(v));
		ERR_clear_error();
		client_close(c);
		return -1;
	}
	peer = SSL_get1_peer_certificate(c->ssl);
	cr_assert_not_null(peer);
	cr_assert_eq(X509_digest(peer, EVP_sha256(), c->fp, &n), 1);
	X509_free(peer);
	return 0;
}

/* An answer read by client_request(). */
struct answer {
	int status; /* 0 if there was no HTTP answer */
	char *text; /* everything read, NUL-terminated */
	char *body; /* points into text */
};

static void
answer_free(struct answer *a)
{
	free(a->text);
	memset(a, 0, sizeof *a);
}

/*
 * Send one request on c (with "Connection: close") and read the answer to the
 * end of the connection; c is closed after.
 */
static void
client_request(struct client *c, const char *method, const char *path, const char *headers,
    const char *body, struct answer *out)
{
	struct buf req, in;
	char chunk[4096];
	int n;

	buf_init(&req);
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s", method,
	    path, headers != NULL ? headers : "");
	if (body != NULL)
		buf_printf(&req, "Content-Length: %zu\r\n", strlen(body));
	buf_puts(&req, "\r\n");
	if (body != NULL)
		buf_puts(&req, body);
	cr_assert_eq(SSL_write(c->ssl, req.data, (int)req.len), (int)req.len, "request sent");
	buf_free(&req);
	buf_init(&in);
	while ((n = SSL_read(c->ssl, chunk, sizeof chunk)) > 0)
		buf_append(&in, chunk, (size_t)n);
	ERR_clear_error();
	client_close(c);
	memset(out, 0, sizeof *out);
	out->text = in.data != NULL ? buf_steal(&in) : xstrdup("");
	if (strncmp(out->text, "HTTP/1.", 7) == 0 && strlen(out->text) > 12)
		out->status = atoi(out->text + 9);
	out->body = strstr(out->text, "\r\n\r\n");
	out->body = out->body != NULL ? out->body + 4 : out->text + strlen(out->text);
}

/* A request over a new TLS connection; fails the test if the handshake fails. */
static void
https(const char *method, const char *path, const char *headers, const char *body,
    struct answer *out, unsigned char fp[FP_LEN])
{
	struct client c;

	cr_assert_eq(client_open(E.port, NULL, &c), 0, "TLS handshake: %s", c.why);
	if (fp != NULL)
		memcpy(fp, c.fp, FP_LEN);
	client_request(&c, method, path, headers, body, out);
}

static int
https_status(const char *path)
{
	struct answer a;
	int st;

	https("GET", path, NULL, NULL, &a, NULL);
	st = a.status;
	answer_free(&a);
	return st;
}

/* The health probe of tl_daemon_start_probe(): GET /healthz over TLS. */
static int
tls_healthz_probe(int port, void *arg)
{
	struct client c;
	struct answer a;
	int ok;

	(void)arg;
	if (client_open(port, NULL, &c) < 0)
		return 0;
	client_request(&c, "GET", "/healthz", NULL, NULL, &a);
	ok = a.status == 200;
	answer_free(&a);
	return ok;
}

/* The value of an unlabelled metric, read over TLS; -1 if absent. */
static long
metric(const char *name)
{
	struct answer a;
	long v;

	https("GET", "/metrics", NULL, NULL, &a, NULL);
	v = tl_metric_value(a.body, name);
	answer_free(&a);
	return v;
}

/* ---- Raw sockets: clients that never speak TLS properly ---- */

/* Read until the daemon closes fd or timeout_s passes; returns the bytes (caller frees). */
static char *
read_until_closed(int fd, double timeout_s, bool *closed)
{
	struct buf b;
	double end = now_s() + timeout_s;
	char chunk[4096];

	buf_init(&b);
	*closed = false;
	while (!*closed && now_s() < end) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = recv(fd, chunk, sizeof chunk, 0);
		if (n > 0)
			buf_append(&b, chunk, (size_t)n);
		else if (n == 0 || errno != EINTR)
			*closed = true;
	}
	return b.data != NULL ? buf_steal(&b) : xstrdup("");
}

/* ---- The daemon's log ---- */

/* Occurrences of text in the daemon's log. */
static int
log_count(const char *text)
{
	FILE *f = fopen(tl_daemon_log(E.d), "r");
	struct buf b;
	char chunk[4096];
	size_t n;
	int count = 0;

	cr_assert_not_null(f);
	buf_init(&b);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	for (const char *p = b.data; p != NULL && (p = strstr(p, text)) != NULL; p++)
		count++;
	buf_free(&b);
	return count;
}

/* Wait up to 10 s until text is in the log count times; the count seen. */
static int
log_wait(const char *text, int count)
{
	int seen = 0;

	for (int i = 0; i < 100 && (seen = log_count(text)) < count; i++)
		usleep(100000);
	return seen;
}

/* ---- Fixture ---- */

/* A database, and certificate a in place. */
static void
prepare(void)
{
	memset(&E, 0, sizeof E);
	E.db = tl_db_create("tls");
	E.pg = tl_db_connect(E.db);
}

/* After prepare: a daemon serving certificate a with extra options. */
static void
launch(const char *extra)
{
	char *args;

	cert_make(&E.a, "edumon test a", 1);
	E.cert_path = scratch("cert.pem");
	E.key_path = scratch("key.pem");
	write_pem(E.cert_path, E.a.x509, NULL);
	write_pem(E.key_path, NULL, E.a.key);
	args = xasprintf("--tls-cert '%s' --tls-key '%s' %s", E.cert_path, E.key_path,
	    extra != NULL ? extra : "");
	E.d = tl_daemon_start_probe(NULL, E.db, args, tls_healthz_probe, NULL);
	E.port = tl_daemon_port(E.d);
	free(args);
}

static void
start(const char *extra)
{
	prepare();
	launch(extra);
}

static void
teardown(void)
{
	tl_fixture_end(&E.d, &E.pg, &E.db);
	cert_free(&E.a);
	cert_free(&E.b);
	if (E.cert_path != NULL)
		unlink(E.cert_path);
	if (E.key_path != NULL)
		unlink(E.key_path);
	free(E.cert_path);
	free(E.key_path);
}

TestSuite(tls, .fini = teardown, .timeout = 90);

Test(tls, api_over_tls)
{
	struct client c;
	struct answer a;
	unsigned char fp[FP_LEN];
	int st = 0;

	start(NULL);
	https("GET", "/healthz", NULL, NULL, &a, fp);
	cr_expect_eq(a.status, 200, "%s", a.text);
	cr_expect_str_eq(a.body, "{\"status\":\"ok\"}");
	cr_expect_eq(memcmp(fp, E.a.fp, FP_LEN), 0, "the daemon shows its certificate");
	answer_free(&a);
	for (int i = 0; i < 100 && (st = https_status("/readyz")) != 200; i++)
		usleep(100000);
	cr_expect_eq(st, 200, "/readyz over TLS");
	cr_expect_eq(https_status("/metrics"), 200);
	cr_expect_eq(https_status("/nope"), 404);

	/* At least TLS 1.2, and the host name is checked. */
	cr_assert_eq(client_open(E.port, NULL, &c), 0, "%s", c.why);
	cr_expect_geq(SSL_version(c.ssl), TLS1_2_VERSION);
	client_close(&c);
	cr_expect_eq(client_open(E.port, &(struct client_opts){.host = "other.example"}, &c), -1,
	    "a certificate for localhost is not one for other.example");
	cr_expect(strstr(c.why, "hostname mismatch") != NULL, "%s", c.why);

	/* A TLS 1.1 client is refused by the daemon, which says why. */
	cr_expect_eq(client_open(E.port, &(struct client_opts){.max_version = TLS1_1_VERSION}, &c),
	    -1, "TLS 1.1 refused");
	cr_expect_geq(log_wait("unsupported protocol", 1), 1, "the log gives OpenSSL's reason");
}

Test(tls, submission_over_tls_is_stored)
{
	char *token, *headers, *v;
	struct answer a;
	int st = 0;

	/* The token before the daemon: one made later is known within
	 * moments, not at once (tl_token_live waits for that over plain HTTP). */
	prepare();
	token = tl_token(E.db, "--school " SCHOOL);
	launch(NULL);
	for (int i = 0; i < 100 && (st = https_status("/readyz")) != 200; i++)
		usleep(100000);
	cr_assert_eq(st, 200, "/readyz over TLS");
	headers = xasprintf("Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			    "Idempotency-Key: tls-1\r\n",
	    token);
	https("POST", "/v1/submissions", headers,
	    "{\"school\":\"" SCHOOL "\",\"period\":\"2021-2022-1\","
	    "\"metrics\":{\"class_size_max\":52}}",
	    &a, NULL);
	cr_assert_eq(a.status, 201, "%s", a.text);
	answer_free(&a);
	v = tl_query_value(E.pg, "SELECT count(*) FROM edumon.observation o JOIN edumon.org_unit u"
				 " ON u.id = o.unit_id WHERE u.code = '" SCHOOL "' AND o.value = 52");
	cr_expect_str_eq(v, "1", "the observation is stored");
	free(v);
	v = tl_query_value(E.pg, "SELECT count(*) FROM edumon.submission");
	cr_expect_str_eq(v, "1");
	free(v);
	free(headers);
	free(token);
}

Test(tls, plain_http_is_closed_unanswered)
{
	const char *plain = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
	int fd;
	char *got;
	bool closed;
	double t0, elapsed;

	start("--request-deadline 10");
	fd = tcp_connect(E.port);
	t0 = now_s();
	cr_assert_eq(send(fd, plain, strlen(plain), MSG_NOSIGNAL), (ssize_t)strlen(plain));
	got = read_until_closed(fd, 20, &closed);
	elapsed = now_s() - t0;
	close(fd);
	cr_expect(closed, "the connection is closed");
	cr_expect_lt(elapsed, 5, "at once, not at the deadline (%.1f s)", elapsed);
	cr_expect(strstr(got, "HTTP/") == NULL, "no HTTP answer: %s", got);
	free(got);
	cr_expect_geq(log_wait("http request", 1), 1, "the log gives OpenSSL's reason");
	cr_expect_eq(https_status("/healthz"), 200, "the daemon serves on");
	cr_expect_eq(kill(tl_daemon_pid(E.d), 0), 0, "alive");
}

/*
 * Two clients that never complete a handshake, one silent, one stopping
 * inside its ClientHello: both count as open connections while they hang,
 * and both are cut at the 2 s deadline; others are served meanwhile.
 */
Test(tls, stalled_handshakes_cut_at_the_deadline)
{
	/* A handshake record header announcing 512 bytes, then 4 of them. */
	static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
	int silent, partial;
	double t0, elapsed;
	bool closed_silent, closed_partial;
	char *got;

	start("--request-deadline 2");
	t0 = now_s();
	silent = tcp_connect(E.port);
	partial = tcp_connect(E.port);
	cr_assert_eq(send(partial, hello, sizeof hello, MSG_NOSIGNAL), (ssize_t)sizeof hello);
	usleep(300000);
	cr_expect_eq(metric("edumon_http_connections"), 3, "both are counted, and the asking one");
	got = read_until_closed(silent, 20, &closed_silent);
	free(got);
	got = read_until_closed(partial, 20, &closed_partial);
	free(got);
	elapsed = now_s() - t0;
	close(silent);
	close(partial);
	cr_expect(closed_silent, "the silent client was not cut off");
	cr_expect(closed_partial, "the client stuck in its ClientHello was not cut off");
	cr_expect_geq(elapsed, 1.9, "cut before the deadline (%.2f s)", elapsed);
	cr_expect_lt(elapsed, 20);
	cr_expect_geq(metric("edumon_http_deadline_closed_total"), 2);
	cr_expect_eq(https_status("/healthz"), 200);
	for (int i = 0; i < 50 && metric("edumon_http_connections") != 1; i++)
		usleep(100000);
	cr_expect_eq(metric("edumon_http_connections"), 1, "the stalled ones are gone");
}

/*
 * The connection cap counts connections in their handshake: with the cap at
 * 2 and two stalled clients, a TLS client is served only once the deadline
 * has freed a place.
 */
Test(tls, cap_holds_for_handshakes)
{
	int s1, s2;
	double t0, elapsed;
	struct answer a;

	start("--request-deadline 2 --max-connections 2");
	s1 = tcp_connect(E.port);
	s2 = tcp_connect(E.port);
	t0 = now_s();
	usleep(200000);
	https("GET", "/healthz", NULL, NULL, &a, NULL);
	elapsed = now_s() - t0;
	cr_expect_eq(a.status, 200, "served in the end: %s", a.text);
	answer_free(&a);
	cr_expect_geq(elapsed, 1.5, "served while the cap was reached (%.2f s)", elapsed);
	cr_expect_geq(metric("edumon_http_connection_cap_reached_total"), 1);
	close(s1);
	close(s2);
}

/* Run edumond with args (no database is reached); its exit status, output in *out. */
static int
edumond_fails(const char *args, char **out)
{
	char *cmd = xasprintf("timeout 20 %s/edumond --listen 127.0.0.1:0"
			      " --database 'host=/nonexistent connect_timeout=1' %s 2>&1",
	    tl_build_dir(), args);
	int rc = tl_run(cmd, out);

	free(cmd);
	return rc;
}

/* Bad certificates, keys and options refuse the start, saying precisely why. */
Test(tls, bad_certificate_or_key_refuses_the_start)
{
	/* Files by the names the cases use; "key" holds a key that is not a's. */
	static const struct {
		const char *cert, *key; /* NULL: the option is not given */
		int status;
		const char *says;
	} cases[] = {
	    {"cert.pem", "key.pem", 1, "does not match the certificate"},
	    {"missing.pem", "key.pem", 1, "missing.pem: cannot read it: No such file"},
	    {"junk.pem", "key.pem", 1, "junk.pem: no PEM certificate in it"},
	    {"cert.pem", "cert.pem", 1, "cert.pem: no PEM private key in it"},
	    {"cert.pem", NULL, 2, "--tls-cert and --tls-key go together"},
	};
	struct cert other;
	char *cert = scratch("cert.pem"), *key = scratch("key.pem"), *junk = scratch("junk.pem");

	memset(&E, 0, sizeof E);
	cert_make(&E.a, "edumon test a", 1);
	cert_make(&other, "edumon test other", 2);
	write_pem(cert, E.a.x509, NULL);
	write_pem(key, NULL, other.key);
	write_text(junk, "this is not a certificate\n");
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *c = scratch(cases[i].cert), *args, *out = NULL;
		int rc;

		if (cases[i].key != NULL) {
			char *k = scratch(cases[i].key);

			args = xasprintf("--tls-cert '%s' --tls-key '%s'", c, k);
			free(k);
		} else
			args = xasprintf("--tls-cert '%s'", c);
		rc = edumond_fails(args, &out);
		cr_expect_eq(rc, cases[i].status, "%s: exit status %d: %s", args, rc, out);
		cr_expect(strstr(out, cases[i].says) != NULL, "%s: %s", args, out);
		free(out);
		free(args);
		free(c);
	}
	cert_free(&other);
	unlink(cert);
	unlink(key);
	unlink(junk);
	free(cert);
	free(key);
	free(junk);
}

/*
 * SIGHUP with a new certificate: new connections see it; a connection made
 * before keeps working.
 */
Test(tls, sighup_puts_a_new_certificate_in_force)
{
	struct client before, after;
	struct answer a;
	bool changed = false;

	start(NULL);
	cert_make(&E.b, "edumon test b", 2);
	cr_assert_eq(client_open(E.port, NULL, &before), 0, "%s", before.why);
	cr_expect_eq(memcmp(before.fp, E.a.fp, FP_LEN), 0);
	write_pem(E.cert_path, E.b.x509, NULL);
	write_pem(E.key_path, NULL, E.b.key);
	cr_assert_eq(kill(tl_daemon_pid(E.d), SIGHUP), 0);
	for (int i = 0; i < 100 && !changed; i++) {
		cr_assert_eq(client_open(E.port, NULL, &after), 0, "%s", after.why);
		changed = memcmp(after.fp, E.b.fp, FP_LEN) == 0;
		client_close(&after);
		if (!changed)
			usleep(100000);
	}
	cr_expect(changed, "new connections see the new certificate");
	client_request(&before, "GET", "/healthz", NULL, NULL, &a);
	cr_expect_eq(a.status, 200, "the connection made before is still served: %s", a.text);
	answer_free(&a);
}

/* The fingerprint of the certificate new connections see is a's. */
static void
expect_still_a(const char *after)
{
	struct answer a;
	unsigned char fp[FP_LEN];

	https("GET", "/healthz", NULL, NULL, &a, fp);
	cr_expect_eq(a.status, 200, "after %s: %s", after, a.text);
	cr_expect_eq(memcmp(fp, E.a.fp, FP_LEN), 0, "after %s, the old certificate stays", after);
	answer_free(&a);
}

/*
 * SIGHUP with a broken certificate file, then with a key that does not
 * match: each is refused with the reason in the log, the old certificate
 * stays, the daemon lives; a good pair is then taken. The key never shows
 * in the log.
 */
Test(tls, sighup_with_a_broken_certificate_keeps_the_old_one)
{
	const char *refused = "tls: the new certificate is refused";
	bool changed = false;

	start(NULL);
	cert_make(&E.b, "edumon test b", 2);
	write_text(E.cert_path, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
	cr_assert_eq(kill(tl_daemon_pid(E.d), SIGHUP), 0);
	cr_expect_eq(log_wait(refused, 1), 1, "the refusal is logged");
	cr_expect_eq(log_count("cert.pem: not a valid PEM certificate"), 1, "and why");
	expect_still_a("a broken certificate");

	write_pem(E.cert_path, E.b.x509, NULL); /* the key is still a's */
	cr_assert_eq(kill(tl_daemon_pid(E.d), SIGHUP), 0);
	cr_expect_eq(log_wait(refused, 2), 2);
	cr_expect_eq(log_count("does not match the certificate"), 1);
	expect_still_a("a key that does not match");
	cr_expect_eq(kill(tl_daemon_pid(E.d), 0), 0, "alive");

	write_pem(E.key_path, NULL, E.b.key);
	cr_assert_eq(kill(tl_daemon_pid(E.d), SIGHUP), 0);
	for (int i = 0; i < 100 && !changed; i++) {
		struct answer a;
		unsigned char fp[FP_LEN];

		https("GET", "/healthz", NULL, NULL, &a, fp);
		changed = memcmp(fp, E.b.fp, FP_LEN) == 0;
		answer_free(&a);
		if (!changed)
			usleep(100000);
	}
	cr_expect(changed, "a good pair is taken after the bad ones");

	/* The keys, as their PEM files hold them, are nowhere in the log. */
	for (EVP_PKEY *k = E.a.key; k != NULL; k = k == E.a.key ? E.b.key : NULL) {
		BIO *mem = BIO_new(BIO_s_mem());
		char pem[512], *line;
		int n;

		cr_assert_eq(PEM_write_bio_PrivateKey(mem, k, NULL, NULL, 0, NULL, NULL), 1);
		n = BIO_read(mem, pem, (int)sizeof pem - 1);
		BIO_free(mem);
		cr_assert_gt(n, 0);
		pem[n] = '\0';
		line = strchr(pem, '\n'); /* the first base64 line */
		cr_assert_not_null(line);
		line[41] = '\0';
		cr_expect_eq(log_count(line + 1), 0, "key material in the log");
	}
}
