/*
 * httpc.h: outgoing HTTP(S) POSTs on the libevent loop, never blocking it.
 *
 * libcurl's multi interface is driven by the loop: curl tells us which
 * sockets to watch and when to wake it, and DNS runs in libcurl's threaded
 * resolver (Debian's libcurl4-openssl is built with AsynchDNS and without
 * c-ares), so no call made here waits on the network.
 *
 * Safety, for URLs an operator (or an attacker with an operator's account)
 * typed in:
 *   - only http and https; redirects are never followed (a 3xx is handed to
 *     the caller as it is); TLS certificates and host names are verified;
 *   - every address curl is about to connect to is checked with
 *     httpc_address_allowed() just before the socket is opened, so a DNS
 *     answer that changes between configuration and delivery (rebinding)
 *     cannot reach loopback, link-local or private networks unless the
 *     client was made with allow_private;
 *   - proxies come from the configuration only, never from http_proxy and
 *     friends in the environment. With a proxy the connect-time check sees
 *     the proxy's address, not the receiver's, so it is skipped: the proxy
 *     is the egress point and does its own filtering (httpc_check_url still
 *     applies to the receiver's URL at configuration time).
 *
 * Invariant: a request accepted by httpc_post is answered exactly once
 * through its callback, from the event loop (or from httpc_free), never
 * from inside httpc_post.
 */
#ifndef EDUMON_HTTPC_H
#define EDUMON_HTTPC_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct event_base;
struct sockaddr;
struct httpc;

struct httpc_config {
	int connect_timeout_ms; /* TCP + TLS handshake; 0: 10 s */
	int total_timeout_ms;   /* whole transfer, from its start; 0: 30 s */
	int max_transfers;      /* running at once; more wait in a FIFO; 0: 8 */
	int max_queued;         /* waiting beyond max_transfers; 0: 1000 */
	size_t max_body;        /* response bytes kept; the rest is read and dropped; 0: 64 KiB */
	const char *user_agent; /* NULL: "edumon" */
	const char *proxy;      /* "http://host:port", or NULL for none */
	bool allow_private;     /* permit loopback, private and link-local receivers */
};

/* Why a request got no HTTP status. */
enum httpc_fail {
	HTTPC_FAIL_NONE,     /* a response arrived (any status, 5xx included) */
	HTTPC_FAIL_TIMEOUT,  /* connect or total timeout */
	HTTPC_FAIL_CONNECT,  /* resolve failed, connection refused or reset */
	HTTPC_FAIL_REFUSED,  /* the address policy refused every address */
	HTTPC_FAIL_TLS,      /* handshake or certificate verification failed */
	HTTPC_FAIL_URL,      /* malformed URL or a scheme other than http(s) */
	HTTPC_FAIL_SHUTDOWN, /* httpc_free ran with the request pending */
	HTTPC_FAIL_OTHER,
};

/* A name for logs and metrics: "none", "timeout", "connect", ... */
const char *httpc_fail_name(enum httpc_fail f);

struct httpc_header {
	const char *name;
	const char *value;
};

/*
 * What the callback sees. Everything it points at is valid only during the
 * callback; copy what must be kept.
 */
struct httpc_response {
	long status;           /* HTTP status, or 0 when fail != HTTPC_FAIL_NONE */
	enum httpc_fail fail;
	const char *error;     /* curl's or httpc's words when status is 0, else NULL */
	const char *body;      /* NUL-terminated; "" when empty; at most max_body bytes */
	size_t body_len;
	bool truncated;        /* the receiver sent more than max_body */
	const char *retry_after; /* the Retry-After header as sent, or NULL */
	double elapsed;        /* seconds from httpc_post to the answer, queueing included */
};

typedef void (*httpc_done_cb)(const struct httpc_response *res, void *arg);

/*
 * A client on base. The config is copied (strings too). Calls
 * curl_global_init (reference-counted by curl; httpc_free balances it).
 * Returns NULL, with a log line, only if libcurl cannot be initialised.
 */
struct httpc *httpc_new(struct event_base *base, const struct httpc_config *cfg);

/*
 * Fail every request still queued or running (each callback runs once,
 * from inside httpc_free, with HTTPC_FAIL_SHUTDOWN), then free the client.
 * Callbacks run during httpc_free must not post (httpc_post returns -1).
 * Must not be called from one of the client's own callbacks. NULL is a
 * no-op.
 */
void httpc_free(struct httpc *h);

/*
 * POST body[0..len) to url with the given headers (Content-Type is the
 * caller's; "Expect: 100-continue" is never sent). url, headers and body
 * are copied: they are borrowed only during the call.
 *
 * Returns 0 when accepted: cb(res, arg) will run exactly once, later, from
 * the loop. Returns -1 when refused at once (the queue is full, the client
 * is shutting down, or curl would not take the options); cb will not run.
 */
int httpc_post(struct httpc *h, const char *url, const struct httpc_header *headers,
    size_t nheaders, const char *body, size_t len, httpc_done_cb cb, void *arg);

/* Requests running now, and waiting for a slot. */
int httpc_active(const struct httpc *h);
int httpc_queued(const struct httpc *h);

/*
 * The address policy, pure. An ordinary public unicast IPv4 or IPv6
 * address is allowed. Unspecified, multicast, broadcast and reserved
 * (240/4) addresses, and families other than AF_INET/AF_INET6, are always
 * refused. Loopback, RFC 1918, carrier-grade NAT (100.64/10), link-local,
 * IETF special-purpose, documentation, benchmarking, ULA (fc00::/7),
 * site-local, discard and Teredo addresses are refused unless
 * allow_private. IPv4-mapped (::ffff:a.b.c.d), NAT64 (64:ff9b::/96) and
 * 6to4 (2002::/16) addresses are judged by the IPv4 address they carry.
 */
bool httpc_address_allowed(const struct sockaddr *sa, bool allow_private);

/* The class of a refused address ("loopback", "private", ...), or NULL
 * for an ordinary public address. */
const char *httpc_address_kind(const struct sockaddr *sa);

/*
 * Check a receiver URL when it is configured: it parses (curl_url), its
 * scheme is http or https, it has a host, and every address the host
 * resolves to passes httpc_address_allowed. Resolution is synchronous
 * (getaddrinfo): this runs in the CLI, never in the daemon's loop.
 * Returns 0, or -1 with *cause set to a caller-freed message.
 */
int httpc_check_url(const char *url, bool allow_private, char **cause);

/*
 * Seconds to wait from a Retry-After value: delta-seconds ("120") or an
 * HTTP-date, taken relative to now (a date in the past gives 0). Returns
 * -1 if the value is neither. Pure.
 */
long httpc_retry_after_seconds(const char *value, time_t now);

#endif
