/*
 * conns.h: the incoming HTTP connections of edumond, kept within bounds.
 * libevent 2.1's evhttp has no connection cap and no absolute deadline (its
 * timeout is an inactivity timeout that every trickled byte resets); this
 * module adds both, and owns the listener's enable/disable state:
 *
 *   - at most max connections are open; at the cap the listener is disabled
 *     (new clients wait in the kernel's backlog) until one closes;
 *   - a request must be read whole (headers and body) within deadline_s of
 *     the connection's accept or of the end of the previous response on the
 *     same connection, or the connection is shut down;
 *   - a failed accept (most often: out of descriptors) pauses accepting for
 *     a second instead of spinning;
 *   - with TLS, every connection speaks it (lib/tls.h): the TLS handshake
 *     is part of the first request, so the cap and the deadline hold for it
 *     too, and a handshake that never completes is cut at the deadline.
 *
 * Single-threaded: everything runs on the loop.
 */
#ifndef EDUMON_CONNS_H
#define EDUMON_CONNS_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_connection;
struct evconnlistener;
struct conns;
struct tls;

struct conns_config {
	size_t max;      /* open connections at most (>= 1) */
	int deadline_s;  /* seconds to read a whole request (>= 1) */
	struct tls *tls; /* not NULL: every connection speaks TLS (not owned) */
};

/*
 * Track the connections of http (installs evhttp's bufferevent hook). Returns
 * an owned object; aborts if libevent cannot allocate.
 */
struct conns *conns_new(struct event_base *base, struct evhttp *http,
    const struct conns_config *cfg);

/*
 * The listener of http, or NULL once it is gone (server_stop_accepting).
 * Installs the accept-error callback on it.
 */
void conns_set_listener(struct conns *cs, struct evconnlistener *l);

/*
 * A request has been read whole and handed to a route: its deadline stops
 * until the reply is sent; then the next request's deadline starts.
 */
void conns_request_read(struct conns *cs, struct evhttp_request *req);

/*
 * Whether a NUL byte arrived on req's connection outside req's body: in the
 * request line or a header. evhttp cuts a header value at a NUL, so such a
 * request would be served on a prefix of what was sent (a token followed by
 * anything, an Idempotency-Key cut short): the caller refuses it and closes
 * the connection. NUL bytes in the body are left to the body's parser. A
 * NUL in a pipelined request already read counts against the request before
 * it (refusing too much, never too little). False on an untracked
 * connection.
 */
bool conns_request_has_nul(struct conns *cs, struct evhttp_request *req);

/*
 * Called when a watched connection closes, for whatever reason (the peer
 * went away, a timeout, evhttp_free), from evhttp's close callback: the
 * connection is being freed. Do not free anything of evhttp's here.
 */
typedef void (*conns_close_cb)(void *arg);

/*
 * Watch connection evcon until it closes: cb(arg) runs once then.
 * evhttp has one close callback per connection and conns owns it, so a
 * module that must learn of a close (a streamed reply) asks here. One
 * watcher per connection; cb NULL stops watching. Returns 0, or -1 when the
 * connection is not tracked (libevent made it without conns, or it is gone).
 */
int conns_watch_close(struct conns *cs, struct evhttp_connection *evcon, conns_close_cb cb,
    void *arg);

/* Connections open now. */
size_t conns_open(const struct conns *cs);
/*
 * Connections with an answer not yet written to the socket. An answer
 * leaves evhttp_send_reply in the connection's output buffer and is
 * written on a later turn of the loop: a daemon that stops must wait for
 * this to reach 0, or it closes connections holding answers.
 */
size_t conns_unflushed(const struct conns *cs);
/* Connections shut down because a request missed its deadline. */
unsigned long conns_deadline_closed(const struct conns *cs);
/* Times the cap was reached and accepting stopped. */
unsigned long conns_cap_reached(const struct conns *cs);

/* Free cs. Call after evhttp_free(): no connection may outlive it. */
void conns_free(struct conns *cs);

#endif
