/*
 * server.h: the HTTP front of edumond (libevent's evhttp): routes, limits,
 * authentication, and the hand-off of validated submissions to the writer.
 *
 * Each request is answered exactly once. Handlers that can answer at once do
 * so; a submission is answered from the writer's callback after COMMIT, an
 * alerts request from the alerts API's callback (lib/alertapi.h). A client
 * that goes away meanwhile is safe: evhttp keeps the request until that one
 * reply, which it then discards.
 */
#ifndef EDUMON_SERVER_H
#define EDUMON_SERVER_H

#include <stddef.h>

#include "ratelimit.h"

struct event_base;
struct server;
struct writer;
struct directory;
struct stats;
struct tls;

struct server_config {
	const char *conninfo;      /* database of the alerts API's connection */
	const char *host;
	int port;
	size_t max_body;           /* bytes */
	size_t max_headers;        /* bytes */
	int timeout_s;             /* read/write inactivity */
	size_t max_connections;    /* open at once; at the cap, accepting stops */
	int deadline_s;            /* to read a whole request, from accept or the last reply */
	size_t max_observations;   /* per request */
	int max_json_depth;
	struct ratelimit_config rate_limit; /* submissions per token; rate 0: off */
	size_t max_streams;        /* GET /v1/alerts/stream open at once */
	struct tls *tls;           /* not NULL: HTTPS only (lib/tls.h; not owned) */
};

struct server *server_new(struct event_base *base, const struct server_config *cfg,
    struct writer *w, struct directory *d, struct stats *st);
struct alerter;
/* The rules engine: /readyz says whether alerts are being evaluated
 * ("alerts": true), which does not change the status (ingest works without
 * it). */
void server_set_alerter(struct server *s, struct alerter *a);
/* The notification dispatcher, for /metrics (NULL: delivery is off). */
struct dispatch;
void server_set_dispatch(struct server *s, struct dispatch *p);
/* The event loop probe, for /metrics (lib/looplag.h; not owned, may be unset). */
struct looplag;
void server_set_looplag(struct server *s, struct looplag *l);
struct rulesd;
/* The rule set in force, shown in /readyz and /metrics (may be unset). */
void server_set_rules(struct server *s, struct rulesd *r);
/*
 * The route table, for tests that must cover every route: how many routes
 * there are, and route i's method ("GET" or "POST") and path ("{id}" stands
 * for one path segment). Static strings; i < server_route_count().
 */
size_t server_route_count(void);
void server_route(size_t i, const char **method, const char **path);

/* Bind and listen. 0, or -1 with *cause (caller frees). */
int server_listen(struct server *s, char **cause);
/* The port actually bound (useful with port 0). */
int server_port(const struct server *s);
/* Stop accepting new connections (SIGTERM); open ones are still served,
 * but alert streams end. */
void server_stop_accepting(struct server *s);
/* Requests received and not yet answered (submissions, alert queries). */
size_t server_inflight(const struct server *s);
/* Connections whose answer is not yet written out (conns_unflushed). */
size_t server_unflushed(const struct server *s);
void server_free(struct server *s);

#endif
