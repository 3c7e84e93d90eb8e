/*
 * tls.h: the TLS side of edumond's listener. A server context built from a
 * PEM certificate file (the leaf first, then any intermediates: a chain file)
 * and a PEM private key file, the bufferevents that speak it, and its reload
 * on SIGHUP.
 *
 * Policy: TLS 1.2 at least; for 1.2 only forward-secret AEAD suites, in the
 * server's order of preference; no compression, no renegotiation; session
 * tickets on, the server-side session cache off (tickets need no memory per
 * client).
 *
 * A reload reads both files again and builds a whole new context; only if
 * that succeeds does it replace the old one. Connections already open keep
 * the context they started with (each holds a reference), new ones get the
 * new one. Nothing here ever logs or returns key material: messages name the
 * files and carry OpenSSL's reason strings only.
 *
 * Single-threaded: everything runs on the loop.
 */
#ifndef EDUMON_TLS_H
#define EDUMON_TLS_H

struct bufferevent;
struct event_base;
struct tls;

/*
 * Load cert_file and key_file. Returns an owned object, or NULL with *cause
 * (caller frees) saying which file is wrong and how: cannot be read, holds no
 * PEM certificate or key, is encrypted, or the key does not match the
 * certificate. Logs the certificate's subject, expiry and fingerprint.
 */
struct tls *tls_new(const char *cert_file, const char *key_file, char **cause);

/*
 * Load the same two files again and, if they are good, serve the new
 * certificate to connections accepted from now on. 0; or -1 with *cause
 * (caller frees), and the old certificate stays in force.
 */
int tls_reload(struct tls *t, char **cause);

/*
 * A new server-side TLS bufferevent on base, without a socket yet (evhttp
 * sets it), that closes the socket when freed. Aborts if OpenSSL or libevent
 * cannot allocate: serving plain HTTP on a TLS port instead is not an option.
 */
struct bufferevent *tls_bufferevent_new(struct tls *t, struct event_base *base);

/*
 * The connection of bev (a tls_bufferevent_new() one) from peer:port is
 * about to be freed: log the OpenSSL errors it ended with (a failed
 * handshake, a plain-HTTP client), and say goodbye properly (close_notify)
 * if the handshake was done.
 */
void tls_bufferevent_closing(struct bufferevent *bev, const char *peer, unsigned port);

/* SHA-256 fingerprint of the certificate in force, "AB:CD:...". Owned by t. */
const char *tls_fingerprint(const struct tls *t);

void tls_free(struct tls *t);

#endif
