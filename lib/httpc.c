/*
 * httpc.c: see httpc.h. The loop glue follows libcurl's hiperfifo.c and
 * multi-event.c examples: curl's socket callback (re)arms one persistent
 * libevent event per socket, its timer callback arms one evtimer, and both
 * kinds of event call curl_multi_socket_action, after which finished
 * transfers are collected with curl_multi_info_read.
 *
 * A request is either queued (not yet known to curl) or active (added to
 * the multi handle); at most max_transfers are active. Requests own their
 * easy handle, header list, body buffer and strings; the client owns the
 * requests, the socket records and the multi handle.
 *
 * curl is never called from inside its own callbacks, and user callbacks
 * run only from process_done (the loop) or httpc_free, outside any curl
 * call, so a user callback may post again.
 */
#include "httpc.h"

#include <arpa/inet.h>
#include <assert.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "log.h"
#include "util.h"

#define HTTPC_DEFAULT_CONNECT_MS 10000
#define HTTPC_DEFAULT_TOTAL_MS 30000
#define HTTPC_DEFAULT_TRANSFERS 8
#define HTTPC_DEFAULT_QUEUED 1000
#define HTTPC_DEFAULT_BODY (64 * 1024)

/* ---- the address policy (pure) ---------------------------------------- */

/*
 * Special address ranges, first match wins (so more specific ranges come
 * first). never: refused even with allow_private. v4_at >= 0: the range
 * embeds an IPv4 address at that byte offset, which decides instead.
 */
struct addr_range {
	int family;
	const char *prefix;
	int bits;
	bool never;
	int v4_at;
	const char *kind;
};

static const struct addr_range addr_ranges[] = {
	{AF_INET, "0.0.0.0", 8, true, -1, "unspecified"},
	{AF_INET, "10.0.0.0", 8, false, -1, "private"},
	{AF_INET, "100.64.0.0", 10, false, -1, "carrier-grade NAT"},
	{AF_INET, "127.0.0.0", 8, false, -1, "loopback"},
	{AF_INET, "169.254.0.0", 16, false, -1, "link-local"},
	{AF_INET, "172.16.0.0", 12, false, -1, "private"},
	{AF_INET, "192.0.0.0", 24, false, -1, "IETF special-purpose"},
	{AF_INET, "192.0.2.0", 24, false, -1, "documentation"},
	{AF_INET, "192.88.99.0", 24, false, -1, "6to4 relay"},
	{AF_INET, "192.168.0.0", 16, false, -1, "private"},
	{AF_INET, "198.18.0.0", 15, false, -1, "benchmarking"},
	{AF_INET, "198.51.100.0", 24, false, -1, "documentation"},
	{AF_INET, "203.0.113.0", 24, false, -1, "documentation"},
	{AF_INET, "224.0.0.0", 4, true, -1, "multicast"},
	{AF_INET, "255.255.255.255", 32, true, -1, "broadcast"},
	{AF_INET, "240.0.0.0", 4, true, -1, "reserved"},
	{AF_INET6, "::", 128, true, -1, "unspecified"},
	{AF_INET6, "::1", 128, false, -1, "loopback"},
	{AF_INET6, "::ffff:0:0", 96, false, 12, "IPv4-mapped"},
	{AF_INET6, "::ffff:0:0:0", 96, false, 12, "IPv4-translated"},
	{AF_INET6, "::", 96, false, -1, "IPv4-compatible"},
	{AF_INET6, "64:ff9b::", 96, false, 12, "NAT64"},
	{AF_INET6, "64:ff9b:1::", 48, false, -1, "NAT64 local-use"},
	{AF_INET6, "100::", 64, false, -1, "discard"},
	{AF_INET6, "2001:db8::", 32, false, -1, "documentation"},
	{AF_INET6, "2001::", 32, false, -1, "Teredo"},
	{AF_INET6, "2002::", 16, false, 2, "6to4"},
	{AF_INET6, "fc00::", 7, false, -1, "unique local"},
	{AF_INET6, "fe80::", 10, false, -1, "link-local"},
	{AF_INET6, "fec0::", 10, false, -1, "site-local"},
	{AF_INET6, "ff00::", 8, true, -1, "multicast"},
};

static const struct addr_range not_ip = {AF_UNSPEC, "", 0, true, -1, "non-IP"};

/* Do the first bits of a and b agree? */
static bool
prefix_match(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t)whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest))) == 0;
}

/* The special range raw (4 or 16 bytes of family) falls in, or NULL. */
static const struct addr_range *
addr_classify(int family, const unsigned char *raw)
{
	unsigned char p[16];

	for (size_t i = 0; i < ARRAY_LEN(addr_ranges); i++) {
		const struct addr_range *r = &addr_ranges[i];

		if (r->family != family)
			continue;
		if (inet_pton(family, r->prefix, p) != 1)
			abort(); /* a typo in the table */
		if (!prefix_match(raw, p, r->bits))
			continue;
		if (r->v4_at >= 0)
			return addr_classify(AF_INET, raw + r->v4_at);
		return r;
	}
	return NULL;
}

static const struct addr_range *
sockaddr_classify(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		return addr_classify(AF_INET, (const unsigned char *)&in->sin_addr);
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		return addr_classify(AF_INET6, in6->sin6_addr.s6_addr);
	}
	return &not_ip;
}

bool
httpc_address_allowed(const struct sockaddr *sa, bool allow_private)
{
	const struct addr_range *r = sockaddr_classify(sa);

	return r == NULL || (allow_private && !r->never);
}

const char *
httpc_address_kind(const struct sockaddr *sa)
{
	const struct addr_range *r = sockaddr_classify(sa);

	return r == NULL ? NULL : r->kind;
}

/* The numeric form of sa into out (INET6_ADDRSTRLEN bytes). */
static void
sockaddr_text(const struct sockaddr *sa, char *out, size_t len)
{
	const void *a = NULL;

	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, out, (socklen_t)len) == NULL)
		snprintf(out, len, "(family %d)", sa->sa_family);
}

/* The message for a refused address; the caller frees it. */
static char *
refusal_text(const struct sockaddr *sa)
{
	char addr[INET6_ADDRSTRLEN + 16];

	sockaddr_text(sa, addr, sizeof addr);
	return xasprintf("refused to connect to %s: a %s address (private addresses are "
			 "not allowed for receivers)",
	    addr, httpc_address_kind(sa));
}

/* ---- configuration-time checks ---------------------------------------- */

int
httpc_check_url(const char *url, bool allow_private, char **cause)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL;
	struct addrinfo hints, *res = NULL;
	const char *name;
	size_t hlen;
	CURLUcode uc;
	int rc = -1, gai;

	*cause = NULL;
	if (u == NULL)
		abort();
	/* The URL may carry a secret (a robot key): messages name the host only. */
	uc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (uc != CURLUE_OK) {
		*cause = xasprintf("receiver URL does not parse: %s", curl_url_strerror(uc));
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)) {
		*cause = xasprintf("receiver URL scheme %s: only http and https are allowed",
		    scheme ? scheme : "(none)");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
		*cause = xstrdup("receiver URL has no host");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK) {
		*cause = xasprintf("receiver URL host %s: no port", host);
		goto out;
	}
	/* An IPv6 literal comes back as "[::1]". */
	name = host;
	hlen = strlen(host);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		name = host + 1;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	gai = getaddrinfo(name, port, &hints, &res);
	if (gai != 0) {
		*cause = xasprintf("receiver host %s: cannot resolve: %s", name, gai_strerror(gai));
		goto out;
	}
	/* Every answer must pass: curl may connect to any of them. */
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		if (!httpc_address_allowed(ai->ai_addr, allow_private)) {
			char *why = refusal_text(ai->ai_addr);

			*cause = xasprintf("receiver host %s: %s", name, why);
			free(why);
			goto out;
		}
	}
	rc = 0;
out:
	if (res != NULL)
		freeaddrinfo(res);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return rc;
}

long
httpc_retry_after_seconds(const char *value, time_t now)
{
	char v[64];
	size_t len;
	long long secs;
	time_t when;

	while (*value == ' ' || *value == '\t')
		value++;
	len = strlen(value);
	while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof v)
		return -1;
	memcpy(v, value, len);
	v[len] = '\0';
	if (v[0] >= '0' && v[0] <= '9') {
		/* delta-seconds; a year is plenty, more is a receiver's mistake */
		if (parse_ll(v, 0, 365LL * 24 * 3600, &secs) != 0)
			return -1;
		return (long)secs;
	}
	/* An HTTP-date starts with the day's name. */
	if (!((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z')))
		return -1;
	when = curl_getdate(v, NULL);
	if (when == (time_t)-1)
		return -1;
	return when <= now ? 0 : (long)(when - now);
}

/* ---- failures --------------------------------------------------------- */

static const char *const fail_names[] = {
	[HTTPC_FAIL_NONE] = "none",
	[HTTPC_FAIL_TIMEOUT] = "timeout",
	[HTTPC_FAIL_CONNECT] = "connect",
	[HTTPC_FAIL_REFUSED] = "refused",
	[HTTPC_FAIL_TLS] = "tls",
	[HTTPC_FAIL_URL] = "url",
	[HTTPC_FAIL_SHUTDOWN] = "shutdown",
	[HTTPC_FAIL_OTHER] = "other",
};

const char *
httpc_fail_name(enum httpc_fail f)
{
	if ((size_t)f >= ARRAY_LEN(fail_names))
		return "other";
	return fail_names[f];
}

static const struct {
	CURLcode code;
	enum httpc_fail fail;
} curl_fails[] = {
	{CURLE_OPERATION_TIMEDOUT, HTTPC_FAIL_TIMEOUT},
	{CURLE_COULDNT_RESOLVE_HOST, HTTPC_FAIL_CONNECT},
	{CURLE_COULDNT_RESOLVE_PROXY, HTTPC_FAIL_CONNECT},
	{CURLE_COULDNT_CONNECT, HTTPC_FAIL_CONNECT},
	{CURLE_SEND_ERROR, HTTPC_FAIL_CONNECT},
	{CURLE_RECV_ERROR, HTTPC_FAIL_CONNECT},
	{CURLE_GOT_NOTHING, HTTPC_FAIL_CONNECT},
	{CURLE_PARTIAL_FILE, HTTPC_FAIL_CONNECT},
	{CURLE_SSL_CONNECT_ERROR, HTTPC_FAIL_TLS},
	{CURLE_PEER_FAILED_VERIFICATION, HTTPC_FAIL_TLS},
	{CURLE_SSL_CERTPROBLEM, HTTPC_FAIL_TLS},
	{CURLE_SSL_CACERT_BADFILE, HTTPC_FAIL_TLS},
	{CURLE_SSL_ISSUER_ERROR, HTTPC_FAIL_TLS},
	{CURLE_SSL_PINNEDPUBKEYNOTMATCH, HTTPC_FAIL_TLS},
	{CURLE_URL_MALFORMAT, HTTPC_FAIL_URL},
	{CURLE_UNSUPPORTED_PROTOCOL, HTTPC_FAIL_URL},
};

static enum httpc_fail
fail_of(CURLcode code)
{
	for (size_t i = 0; i < ARRAY_LEN(curl_fails); i++)
		if (curl_fails[i].code == code)
			return curl_fails[i].fail;
	return HTTPC_FAIL_OTHER;
}

/* ---- the client ------------------------------------------------------- */

struct httpc_req {
	TAILQ_ENTRY(httpc_req) entry; /* in active or queued */
	struct httpc *h;
	CURL *easy;
	struct curl_slist *headers;
	struct buf body;
	bool truncated;
	char *retry_after;
	char *refused; /* why the address policy refused the last address */
	char errbuf[CURL_ERROR_SIZE];
	int64_t t0;
	httpc_done_cb cb;
	void *arg;
};

TAILQ_HEAD(httpc_reqq, httpc_req);

/* One socket curl asked us to watch; curl holds it as the socket's data. */
struct httpc_sock {
	LIST_ENTRY(httpc_sock) entry;
	struct event *ev;
};

struct httpc {
	struct event_base *base;
	struct httpc_config cfg;
	char *user_agent;
	char *proxy;
	CURLM *multi;
	struct event *timer_ev;
	struct httpc_reqq active, queued;
	int nactive, nqueued;
	LIST_HEAD(, httpc_sock) socks;
	int depth;    /* > 0 while dispatching; httpc_free must not run then */
	bool closing; /* httpc_free has begun */
};

static void
req_free(struct httpc_req *r)
{
	curl_easy_cleanup(r->easy);
	curl_slist_free_all(r->headers);
	buf_free(&r->body);
	free(r->retry_after);
	free(r->refused);
	free(r);
}

/* Answer r once and free it. r is already out of every list. */
static void
req_answer(struct httpc_req *r, CURLcode code, enum httpc_fail forced, const char *why)
{
	struct httpc_response res;
	long status = 0;

	memset(&res, 0, sizeof res);
	if (forced == HTTPC_FAIL_NONE && code == CURLE_OK)
		curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	res.status = status;
	if (forced != HTTPC_FAIL_NONE) {
		res.fail = forced;
		res.error = why;
	} else if (code != CURLE_OK) {
		res.fail = fail_of(code);
		res.error = r->errbuf[0] != '\0' ? r->errbuf : curl_easy_strerror(code);
		if (r->refused != NULL && code == CURLE_COULDNT_CONNECT) {
			res.fail = HTTPC_FAIL_REFUSED;
			res.error = r->refused;
		}
	} else if (status == 0) {
		res.fail = HTTPC_FAIL_OTHER;
		res.error = "no HTTP status in the response";
	}
	res.body = r->body.data != NULL ? r->body.data : "";
	res.body_len = r->body.len;
	res.truncated = r->truncated;
	res.retry_after = status != 0 ? r->retry_after : NULL;
	res.elapsed = (double)(now_usec() - r->t0) / 1e6;
	r->cb(&res, r->arg);
	req_free(r);
}

/*
 * Move queued requests to curl while there are free slots. Runs from the
 * loop only: a request curl will not take is answered here.
 */
static void
start_queued(struct httpc *h)
{
	struct httpc_req *r;

	while (h->nactive < h->cfg.max_transfers && (r = TAILQ_FIRST(&h->queued)) != NULL) {
		TAILQ_REMOVE(&h->queued, r, entry);
		h->nqueued--;
		if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
			req_answer(r, CURLE_OK, HTTPC_FAIL_OTHER, "curl refused the transfer");
			continue;
		}
		TAILQ_INSERT_TAIL(&h->active, r, entry);
		h->nactive++;
	}
}

/* Answer every finished transfer and refill the free slots. */
static void
process_done(struct httpc *h)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		/* msg does not survive curl_multi_remove_handle. */
		CURL *easy = msg->easy_handle;
		CURLcode code = msg->data.result;
		struct httpc_req *r;
		void *priv = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		r = priv;
		curl_multi_remove_handle(h->multi, easy);
		TAILQ_REMOVE(&h->active, r, entry);
		h->nactive--;
		start_queued(h);
		req_answer(r, code, HTTPC_FAIL_NONE, NULL);
	}
	start_queued(h);
}

static void
sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *h = arg;
	int action = 0, running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	h->depth++;
	curl_multi_socket_action(h->multi, fd, action, &running);
	process_done(h);
	h->depth--;
}

static void
timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpc *h = arg;
	int running;

	(void)fd;
	(void)what;
	h->depth++;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	process_done(h);
	h->depth--;
}

/* curl: watch s for what (or stop watching it). */
static int
curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct httpc *h = userp;
	struct httpc_sock *hs = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			event_free(hs->ev);
			LIST_REMOVE(hs, entry);
			free(hs);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (hs == NULL) {
		hs = xcalloc(1, sizeof *hs);
		hs->ev = event_new(h->base, s, kind, sock_event_cb, h);
		if (hs->ev == NULL)
			abort();
		LIST_INSERT_HEAD(&h->socks, hs, entry);
		curl_multi_assign(h->multi, s, hs);
	} else {
		event_del(hs->ev);
		if (event_assign(hs->ev, h->base, s, kind, sock_event_cb, h) != 0) {
			log_error("httpc: cannot watch socket %d", (int)s);
			return -1;
		}
	}
	if (event_add(hs->ev, NULL) != 0) {
		log_error("httpc: cannot watch socket %d", (int)s);
		return -1;
	}
	return 0;
}

/* curl: call curl_multi_socket_action(TIMEOUT) in ms milliseconds. */
static int
curl_timer_cb(CURLM *multi, long ms, void *userp)
{
	struct httpc *h = userp;
	struct timeval tv;

	(void)multi;
	if (ms < 0) {
		evtimer_del(h->timer_ev);
		return 0;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(h->timer_ev, &tv) == 0 ? 0 : -1;
}

/* curl: open a socket to the resolved address, if the policy allows it. */
static curl_socket_t
open_socket_cb(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
	struct httpc_req *r = clientp;
	struct httpc *h = r->h;
	bool ip = (a->family == AF_INET && a->addrlen >= sizeof(struct sockaddr_in)) ||
	    (a->family == AF_INET6 && a->addrlen >= sizeof(struct sockaddr_in6));

	if (purpose != CURLSOCKTYPE_IPCXN)
		return CURL_SOCKET_BAD;
	/* With a proxy, the address is the proxy's: see httpc.h. */
	if (h->proxy == NULL && (!ip || !httpc_address_allowed(&a->addr, h->cfg.allow_private))) {
		free(r->refused);
		r->refused = refusal_text(&a->addr);
		log_warn("httpc: %s", r->refused);
		return CURL_SOCKET_BAD;
	}
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

/* curl: response body bytes; keep up to max_body, drop the rest. */
static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct httpc_req *r = arg;
	size_t len = size * n, room = r->h->cfg.max_body - r->body.len;

	if (len > room) {
		r->truncated = true;
		buf_append(&r->body, p, room);
	} else {
		buf_append(&r->body, p, len);
	}
	return len;
}

/* curl: one header line; keep the final response's Retry-After. */
static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	static const char name[] = "Retry-After:";
	struct httpc_req *r = arg;
	size_t len = size * n, nl = sizeof name - 1;

	if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
		/* A new response (after a 1xx): forget the previous one's. */
		free(r->retry_after);
		r->retry_after = NULL;
	} else if (len > nl && strncasecmp(p, name, nl) == 0) {
		const char *v = p + nl, *end = p + len;

		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
		                      end[-1] == '\t'))
			end--;
		free(r->retry_after);
		r->retry_after = xstrndup(v, (size_t)(end - v));
	}
	return len;
}

/* A header that could split the request (CR, LF, NUL) or has no name. */
static bool
header_bad(const struct httpc_header *hd)
{
	return hd->name[0] == '\0' || strpbrk(hd->name, ":\r\n \t") != NULL ||
	    strpbrk(hd->value, "\r\n") != NULL;
}

/* Set every option of r's easy handle; false if curl refused one. */
static bool
req_setup(struct httpc *h, struct httpc_req *r, const char *url, const char *body, size_t len)
{
	CURL *e = r->easy;
	bool ok = true;

#define SET(opt, val) ok = ok && curl_easy_setopt(e, opt, val) == CURLE_OK
	SET(CURLOPT_PRIVATE, r);
	SET(CURLOPT_URL, url);
	SET(CURLOPT_ERRORBUFFER, r->errbuf);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_PROXY, h->proxy != NULL ? h->proxy : "");
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)h->cfg.connect_timeout_ms);
	SET(CURLOPT_TIMEOUT_MS, (long)h->cfg.total_timeout_ms);
	SET(CURLOPT_USERAGENT, h->user_agent);
	SET(CURLOPT_HTTPHEADER, r->headers);
	SET(CURLOPT_POST, 1L);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	/* After the size: curl copies that many bytes. */
	SET(CURLOPT_COPYPOSTFIELDS, body != NULL ? body : "");
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, r);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, r);
	SET(CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
	SET(CURLOPT_OPENSOCKETDATA, r);
#undef SET
	return ok;
}

int
httpc_post(struct httpc *h, const char *url, const struct httpc_header *headers,
    size_t nheaders, const char *body, size_t len, httpc_done_cb cb, void *arg)
{
	struct httpc_req *r;

	assert(url != NULL && cb != NULL && (body != NULL || len == 0));
	if (h->closing || h->nqueued >= h->cfg.max_queued)
		return -1;
	for (size_t i = 0; i < nheaders; i++) {
		if (header_bad(&headers[i])) {
			log_warn("httpc: refusing a request with a malformed header");
			return -1;
		}
	}
	r = xcalloc(1, sizeof *r);
	r->h = h;
	r->cb = cb;
	r->arg = arg;
	r->t0 = now_usec();
	buf_init(&r->body);
	r->easy = curl_easy_init();
	if (r->easy == NULL)
		abort();
	for (size_t i = 0; i <= nheaders; i++) {
		/* The last one turns "Expect: 100-continue" off: a second's stall
		 * with receivers that do not answer 100. */
		char *line = i < nheaders ? xasprintf("%s: %s", headers[i].name, headers[i].value)
		                          : xstrdup("Expect:");
		struct curl_slist *l = curl_slist_append(r->headers, line);

		free(line);
		if (l == NULL)
			abort();
		r->headers = l;
	}
	if (!req_setup(h, r, url, body, len)) {
		log_warn("httpc: curl refused the request options");
		req_free(r);
		return -1;
	}
	if (h->nactive < h->cfg.max_transfers && TAILQ_EMPTY(&h->queued)) {
		/* Adding to the multi only arms curl's timer: the transfer starts,
		 * and is answered, from the loop. */
		if (curl_multi_add_handle(h->multi, r->easy) != CURLM_OK) {
			log_warn("httpc: curl refused the transfer");
			req_free(r);
			return -1;
		}
		TAILQ_INSERT_TAIL(&h->active, r, entry);
		h->nactive++;
	} else {
		TAILQ_INSERT_TAIL(&h->queued, r, entry);
		h->nqueued++;
	}
	return 0;
}

int
httpc_active(const struct httpc *h)
{
	return h->nactive;
}

int
httpc_queued(const struct httpc *h)
{
	return h->nqueued;
}

struct httpc *
httpc_new(struct event_base *base, const struct httpc_config *cfg)
{
	const curl_version_info_data *v;
	struct httpc *h;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_error("httpc: libcurl cannot be initialised");
		return NULL;
	}
	v = curl_version_info(CURLVERSION_NOW);
	if (!(v->features & CURL_VERSION_ASYNCHDNS))
		log_warn("httpc: libcurl %s has no asynchronous resolver: name lookups will "
			 "block the event loop",
		    v->version);
	h = xcalloc(1, sizeof *h);
	h->base = base;
	h->cfg = *cfg;
	if (h->cfg.connect_timeout_ms <= 0)
		h->cfg.connect_timeout_ms = HTTPC_DEFAULT_CONNECT_MS;
	if (h->cfg.total_timeout_ms <= 0)
		h->cfg.total_timeout_ms = HTTPC_DEFAULT_TOTAL_MS;
	if (h->cfg.max_transfers <= 0)
		h->cfg.max_transfers = HTTPC_DEFAULT_TRANSFERS;
	if (h->cfg.max_queued <= 0)
		h->cfg.max_queued = HTTPC_DEFAULT_QUEUED;
	if (h->cfg.max_body == 0)
		h->cfg.max_body = HTTPC_DEFAULT_BODY;
	h->user_agent = xstrdup(cfg->user_agent != NULL ? cfg->user_agent : "edumon");
	h->proxy = cfg->proxy != NULL && cfg->proxy[0] != '\0' ? xstrdup(cfg->proxy) : NULL;
	h->cfg.user_agent = h->user_agent;
	h->cfg.proxy = h->proxy;
	TAILQ_INIT(&h->active);
	TAILQ_INIT(&h->queued);
	LIST_INIT(&h->socks);
	h->timer_ev = evtimer_new(base, timer_event_cb, h);
	h->multi = curl_multi_init();
	if (h->timer_ev == NULL || h->multi == NULL)
		abort();
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
	curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h);
	return h;
}

void
httpc_free(struct httpc *h)
{
	struct httpc_req *r;
	struct httpc_sock *hs;

	if (h == NULL)
		return;
	assert(h->depth == 0);
	h->closing = true;
	h->depth++; /* the callbacks below must not free h again */
	while ((r = TAILQ_FIRST(&h->active)) != NULL) {
		TAILQ_REMOVE(&h->active, r, entry);
		h->nactive--;
		curl_multi_remove_handle(h->multi, r->easy);
		req_answer(r, CURLE_OK, HTTPC_FAIL_SHUTDOWN, "shutting down");
	}
	while ((r = TAILQ_FIRST(&h->queued)) != NULL) {
		TAILQ_REMOVE(&h->queued, r, entry);
		h->nqueued--;
		req_answer(r, CURLE_OK, HTTPC_FAIL_SHUTDOWN, "shutting down");
	}
	/* Closing the cached connections may tell curl_socket_cb to forget
	 * sockets; whatever it did not is freed after. */
	curl_multi_cleanup(h->multi);
	while ((hs = LIST_FIRST(&h->socks)) != NULL) {
		LIST_REMOVE(hs, entry);
		event_free(hs->ev);
		free(hs);
	}
	event_free(h->timer_ev);
	free(h->user_agent);
	free(h->proxy);
	free(h);
	curl_global_cleanup();
}
