/*
 * conns.c: see conns.h.
 *
 * libevent 2.1.12 (Debian 12) tells a server nothing when a connection is
 * accepted: evhttp_set_newreqcb only arrived in 2.2. What it does offer is
 * evhttp_set_bevcb, called for every accepted connection to make its
 * bufferevent, just before evhttp wraps that bufferevent in its connection
 * object and sets its own callbacks on it with the connection as argument.
 * So a connection is tracked in two steps:
 *
 *   1. bev_cb counts it, makes the bufferevent, takes a reference on it and
 *      queues it for adoption (an event made active at once);
 *   2. adopt_cb, still in the same loop iteration, reads the connection
 *      back with bufferevent_getcb(), sets its close callback and starts its
 *      deadline. If evhttp failed to set the connection up and freed it in
 *      between, bufferevent_free() has cleared the callbacks, and our
 *      reference kept the memory valid to see that.
 *
 * With TLS, bev_cb makes a TLS bufferevent instead and nothing else changes:
 * the handshake runs inside that bufferevent before evhttp reads a byte, so
 * it is bounded by the deadline armed at adoption, and a client that fails
 * it (plain HTTP on a TLS port) is freed by evhttp like any broken one.
 *
 * Invariants: open == number of connections counted in bev_cb and not yet
 * seen to close (adopted or pending); every conn is in the hash table by its
 * evhttp connection from adoption until its close callback; the listener is
 * enabled iff it exists, accepting is not paused, and open < max.
 */
#include "conns.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "tls.h"
#include "util.h"

/*
 * One connection: made in bev_cb (only cs and nuls are set until then),
 * adopted in adopt_cb.
 */
struct conn {
	struct conns *cs;
	size_t nuls; /* NUL bytes read and not yet found in a request's body */
	struct evhttp_connection *evcon;
	struct event *deadline;
	struct conn *hnext; /* hash chain */
	conns_close_cb watch; /* conns_watch_close, or NULL */
	void *watch_arg;
};

/* A bufferevent made by bev_cb, waiting for adopt_cb. */
struct pending {
	struct bufferevent *bev;
	struct conn *conn;
	struct pending *next;
};

struct conns {
	struct event_base *base;
	struct conns_config cfg;
	struct evconnlistener *listener;
	struct event *adopt_ev;
	struct event *resume_ev;
	struct pending *pending;
	struct conn **table;
	size_t nbuckets; /* a power of two */
	size_t open;
	bool paused;
	bool enabled;
	unsigned long deadline_closed;
	unsigned long cap_reached;
	int64_t cap_logged; /* now_usec() of the last warning about the cap */
};

/*
 * The listener's error callback receives evhttp's argument, not ours, so the
 * (single) tracker of the process is remembered here.
 */
static struct conns *listener_owner;

static size_t
bucket_of(const struct conns *cs, const struct evhttp_connection *evcon)
{
	return (size_t)hash_mix64((uint64_t)(uintptr_t)evcon) & (cs->nbuckets - 1);
}

static struct conn *
conn_find(const struct conns *cs, const struct evhttp_connection *evcon)
{
	struct conn *c;

	for (c = cs->table[bucket_of(cs, evcon)]; c != NULL; c = c->hnext)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

static void
conn_unlink(struct conns *cs, struct conn *c)
{
	struct conn **pp = &cs->table[bucket_of(cs, c->evcon)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
}

/* Make the listener's state what the invariant says it should be. */
static void
listener_update(struct conns *cs)
{
	bool want = cs->listener != NULL && !cs->paused && cs->open < cs->cfg.max;

	if (cs->listener == NULL || want == cs->enabled)
		return;
	if (want ? evconnlistener_enable(cs->listener) : evconnlistener_disable(cs->listener))
		log_error("http: cannot %s the listener", want ? "enable" : "disable");
	else
		cs->enabled = want;
}

/* A connection went away: count it and maybe accept again. */
static void
conn_gone(struct conns *cs)
{
	cs->open--;
	listener_update(cs);
}

/* NUL bytes in b from byte from on. */
static size_t
nuls_in(struct evbuffer *b, size_t from)
{
	struct evbuffer_ptr p;
	size_t n = 0;

	if (evbuffer_ptr_set(b, &p, from, EVBUFFER_PTR_SET) < 0)
		return 0;
	for (;;) {
		p = evbuffer_search(b, "", 1, &p); /* "" is one NUL byte */
		if (p.pos < 0)
			return n;
		n++;
		if (evbuffer_ptr_set(b, &p, 1, EVBUFFER_PTR_ADD) < 0)
			return n;
	}
}

/*
 * Bytes arrived in a connection's input buffer (it is not deferred: this
 * runs before evhttp parses them): count their NUL bytes into *arg.
 */
static void
nul_count_cb(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
	size_t *nuls = arg;
	size_t len = evbuffer_get_length(b);

	if (info->n_added > 0)
		*nuls += nuls_in(b, info->n_added < len ? len - info->n_added : 0);
}

/* Stop counting on bev (NULL: nothing to do) before c goes. */
static void
nul_count_stop(struct bufferevent *bev, struct conn *c)
{
	if (bev != NULL)
		evbuffer_remove_cb(bufferevent_get_input(bev), nul_count_cb, &c->nuls);
}

static void
arm_deadline(struct conn *c)
{
	struct timeval tv = {c->cs->cfg.deadline_s, 0};

	if (event_add(c->deadline, &tv) != 0)
		log_error("http: cannot arm a request deadline");
}

/*
 * The request on c was not read whole in time. Shut the socket down rather
 * than free the connection here: evhttp sees end-of-file on its next read
 * and frees it along its own path, which calls close_cb.
 */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
	evutil_socket_t sock = bev != NULL ? bufferevent_getfd(bev) : -1;
	char *peer = NULL;
	ev_uint16_t port = 0;

	(void)fd;
	(void)what;
	evhttp_connection_get_peer(c->evcon, &peer, &port);
	log_info("http: no whole request from %s:%u within %d s; closing the connection",
	    peer != NULL ? peer : "?", (unsigned)port, c->cs->cfg.deadline_s);
	c->cs->deadline_closed++;
	if (sock >= 0)
		shutdown(sock, SHUT_RDWR);
}

/* evhttp frees a connection (any reason). */
static void
close_cb(struct evhttp_connection *evcon, void *arg)
{
	struct conn *c = arg;
	struct conns *cs = c->cs;

	if (cs->cfg.tls != NULL) {
		struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
		char *peer = NULL;
		ev_uint16_t port = 0;

		evhttp_connection_get_peer(evcon, &peer, &port);
		if (bev != NULL)
			tls_bufferevent_closing(bev, peer != NULL ? peer : "?", port);
	}
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	nul_count_stop(evhttp_connection_get_bufferevent(evcon), c);
	if (c->watch != NULL)
		c->watch(c->watch_arg);
	conn_unlink(cs, c);
	event_free(c->deadline);
	free(c);
	conn_gone(cs);
}

/* A reply has been written: the next request on the connection starts now. */
static void
reply_done_cb(struct evhttp_request *req, void *arg)
{
	struct conns *cs = arg;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = evcon != NULL ? conn_find(cs, evcon) : NULL;

	if (c != NULL)
		arm_deadline(c);
}

static void
adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conns *cs = arg;
	struct pending *p;

	(void)fd;
	(void)what;
	while ((p = cs->pending) != NULL) {
		bufferevent_event_cb eventcb = NULL;
		void *cbarg = NULL;
		struct conn *c = p->conn;

		cs->pending = p->next;
		bufferevent_getcb(p->bev, NULL, NULL, &eventcb, &cbarg);
		if (eventcb == NULL || cbarg == NULL) {
			nul_count_stop(p->bev, c);
			free(c);
			conn_gone(cs); /* evhttp gave up on it already */
		} else {
			size_t b;

			c->evcon = cbarg;
			c->deadline = evtimer_new(cs->base, deadline_cb, c);
			if (c->deadline == NULL)
				abort();
			b = bucket_of(cs, c->evcon);
			c->hnext = cs->table[b];
			cs->table[b] = c;
			evhttp_connection_set_closecb(c->evcon, close_cb, c);
			arm_deadline(c);
		}
		bufferevent_decref(p->bev);
		free(p);
	}
}

/* evhttp accepted a connection and wants its bufferevent. */
static struct bufferevent *
bev_cb(struct event_base *base, void *arg)
{
	struct conns *cs = arg;
	struct bufferevent *bev = cs->cfg.tls != NULL
	    ? tls_bufferevent_new(cs->cfg.tls, base)
	    : bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct pending *p;

	/* Plain only: without TLS, evhttp's own untracked one is better than none. */
	if (bev == NULL)
		return NULL;
	p = xcalloc(1, sizeof *p);
	p->conn = xcalloc(1, sizeof *p->conn);
	p->conn->cs = cs;
	if (evbuffer_add_cb(bufferevent_get_input(bev), nul_count_cb, &p->conn->nuls) == NULL)
		abort();
	bufferevent_incref(bev);
	p->bev = bev;
	p->next = cs->pending;
	cs->pending = p;
	event_active(cs->adopt_ev, EV_TIMEOUT, 0);
	if (++cs->open >= cs->cfg.max) {
		int64_t now = now_usec();

		cs->cap_reached++;
		/* At the cap every close lets one more in: say so once a minute at most. */
		if (cs->cap_logged == 0 || now - cs->cap_logged >= 60 * 1000000LL) {
			log_warn("http: %zu connections open, the most allowed; not accepting until"
				 " one closes", cs->open);
			cs->cap_logged = now;
		}
	}
	listener_update(cs);
	return bev;
}

/* Accept failed (most often: out of descriptors). Pause instead of spinning. */
static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	struct conns *cs = listener_owner;
	struct timeval pause = {1, 0};

	(void)l;
	(void)arg;
	if (cs == NULL)
		return;
	log_warn("http: accept failed (%s); pausing accepts for 1 s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	cs->paused = true;
	listener_update(cs);
	if (event_add(cs->resume_ev, &pause) != 0) {
		log_error("http: cannot arm the accept pause; accepting again now");
		cs->paused = false;
		listener_update(cs);
	}
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conns *cs = arg;

	(void)fd;
	(void)what;
	cs->paused = false;
	listener_update(cs);
}

struct conns *
conns_new(struct event_base *base, struct evhttp *http, const struct conns_config *cfg)
{
	struct conns *cs = xcalloc(1, sizeof *cs);

	cs->base = base;
	cs->cfg = *cfg;
	if (cs->cfg.max < 1)
		cs->cfg.max = 1;
	if (cs->cfg.deadline_s < 1)
		cs->cfg.deadline_s = 1;
	for (cs->nbuckets = 64; cs->nbuckets < cs->cfg.max && cs->nbuckets < (1u << 20);)
		cs->nbuckets *= 2;
	cs->table = xcalloc(cs->nbuckets, sizeof *cs->table);
	cs->adopt_ev = event_new(base, -1, 0, adopt_cb, cs);
	cs->resume_ev = evtimer_new(base, resume_cb, cs);
	if (cs->adopt_ev == NULL || cs->resume_ev == NULL)
		abort();
	evhttp_set_bevcb(http, bev_cb, cs);
	return cs;
}

void
conns_set_listener(struct conns *cs, struct evconnlistener *l)
{
	cs->listener = l;
	cs->enabled = l != NULL; /* evhttp hands it over enabled */
	if (l != NULL) {
		listener_owner = cs;
		evconnlistener_set_error_cb(l, accept_error_cb);
	}
	listener_update(cs);
}

void
conns_request_read(struct conns *cs, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = evcon != NULL ? conn_find(cs, evcon) : NULL;

	if (c == NULL)
		return;
	event_del(c->deadline);
	evhttp_request_set_on_complete_cb(req, reply_done_cb, cs);
}

bool
conns_request_has_nul(struct conns *cs, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct conn *c = evcon != NULL ? conn_find(cs, evcon) : NULL;
	size_t body;

	if (c == NULL)
		return false;
	body = nuls_in(evhttp_request_get_input_buffer(req), 0);
	if (c->nuls > body)
		return true;
	c->nuls = 0;
	return false;
}

int
conns_watch_close(struct conns *cs, struct evhttp_connection *evcon, conns_close_cb cb,
    void *arg)
{
	struct conn *c = evcon != NULL ? conn_find(cs, evcon) : NULL;

	if (c == NULL)
		return -1;
	c->watch = cb;
	c->watch_arg = cb != NULL ? arg : NULL;
	return 0;
}

size_t
conns_open(const struct conns *cs)
{
	return cs->open;
}

size_t
conns_unflushed(const struct conns *cs)
{
	size_t n = 0;

	for (size_t i = 0; i < cs->nbuckets; i++) {
		for (const struct conn *c = cs->table[i]; c != NULL; c = c->hnext) {
			struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);

			if (bev != NULL && evbuffer_get_length(bufferevent_get_output(bev)) > 0)
				n++;
		}
	}
	return n;
}

unsigned long
conns_deadline_closed(const struct conns *cs)
{
	return cs->deadline_closed;
}

unsigned long
conns_cap_reached(const struct conns *cs)
{
	return cs->cap_reached;
}

void
conns_free(struct conns *cs)
{
	struct pending *p;

	if (cs == NULL)
		return;
	while ((p = cs->pending) != NULL) {
		cs->pending = p->next;
		nul_count_stop(p->bev, p->conn);
		free(p->conn);
		bufferevent_decref(p->bev);
		free(p);
	}
	/* Connections still tracked outlived evhttp_free(): a broken contract. */
	for (size_t i = 0; i < cs->nbuckets; i++) {
		struct conn *c = cs->table[i];

		while (c != NULL) {
			struct conn *next = c->hnext;

			event_free(c->deadline);
			free(c);
			c = next;
		}
	}
	free(cs->table);
	event_free(cs->adopt_ev);
	event_free(cs->resume_ev);
	if (listener_owner == cs)
		listener_owner = NULL;
	free(cs);
}
