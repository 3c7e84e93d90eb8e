/*
 * tls.c: see tls.h.
 *
 * The files are parsed here rather than with SSL_CTX_use_*_file() so that
 * each way they can be wrong gets its own message: OpenSSL's own would say
 * "no start line" for a missing key as for a DER file, and would prompt on
 * the terminal for the passphrase of an encrypted key.
 *
 * Invariant: t->ctx is a context whose certificate and key have been checked
 * to match; it is replaced only by another such context.
 */
#include "tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/*
 * TLS 1.2 suites: ECDHE (forward secrecy) with AES-GCM or ChaCha20-Poly1305,
 * as Mozilla's "intermediate" profile has them. TLS 1.3 keeps OpenSSL's
 * defaults, which are all of that kind.
 */
#define TLS12_CIPHERS                                                                              \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

struct tls {
	char *cert_file;
	char *key_file;
	SSL_CTX *ctx;
	char fingerprint[32 * 3]; /* "AB:" per byte, the last ':' a NUL */
};

/*
 * Drain OpenSSL's error queue of this thread into b as "library: reason"
 * items separated by "; " (the codes alone say little to an operator).
 */
static void
errors_append(struct buf *b)
{
	unsigned long e;
	size_t n = 0;

	while ((e = ERR_get_error()) != 0) {
		const char *lib = ERR_lib_error_string(e);
		const char *reason = ERR_reason_error_string(e);

		if (n++ > 0)
			buf_puts(b, "; ");
		if (reason != NULL)
			buf_printf(b, "%s: %s", lib != NULL ? lib : "OpenSSL", reason);
		else
			buf_printf(b, "OpenSSL error %08lx", e);
	}
	if (n == 0)
		buf_puts(b, "no reason given by OpenSSL");
}

/* "what (OpenSSL's reasons)"; the error queue is emptied. Caller frees. */
static char *
failure(const char *what)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "%s (", what);
	errors_append(&b);
	buf_putc(&b, ')');
	return buf_steal(&b);
}

/* True if the earliest queued error says a PEM reader found no PEM block. */
static bool
no_pem_block(void)
{
	unsigned long e = ERR_peek_error();

	return ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
}

/* PEM passphrase callback: never prompt, only note that one was wanted. */
static int
no_passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	*(bool *)arg = true;
	return -1;
}

/* Open path for reading as a BIO; NULL with *cause. */
static BIO *
open_pem(const char *path, char **cause)
{
	FILE *f = fopen(path, "rb");
	BIO *bio;

	if (f == NULL) {
		*cause = xasprintf("%s: cannot read it: %s", path, strerror(errno));
		return NULL;
	}
	if ((bio = BIO_new_fp(f, BIO_CLOSE)) == NULL) {
		fclose(f);
		*cause = failure("out of memory");
	}
	return bio;
}

/*
 * Read the certificates of path: the leaf into *leaf, the others (if any)
 * into *chain. 0, or -1 with *cause; nothing to free then.
 */
static int
read_certs(const char *path, X509 **leaf, STACK_OF(X509) **chain, char **cause)
{
	BIO *bio = open_pem(path, cause);
	bool asked = false;
	X509 *x;

	*leaf = NULL;
	*chain = NULL;
	if (bio == NULL)
		return -1;
	ERR_clear_error();
	*leaf = PEM_read_bio_X509_AUX(bio, NULL, no_passphrase_cb, &asked);
	if (*leaf == NULL) {
		char *what = xasprintf(no_pem_block()
			? "%s: no PEM certificate in it (a \"-----BEGIN CERTIFICATE-----\" block)"
			: "%s: not a valid PEM certificate",
		    path);

		*cause = failure(what);
		free(what);
		goto fail;
	}
	if ((*chain = sk_X509_new_null()) == NULL)
		abort();
	while ((x = PEM_read_bio_X509(bio, NULL, no_passphrase_cb, &asked)) != NULL) {
		if (sk_X509_push(*chain, x) == 0)
			abort();
	}
	/* The end of the file reads as "no start line"; anything else is damage. */
	if (!no_pem_block()) {
		char *what = xasprintf("%s: certificate %d of the chain is not valid PEM", path,
		    sk_X509_num(*chain) + 2);

		*cause = failure(what);
		free(what);
		goto fail;
	}
	ERR_clear_error();
	BIO_free(bio);
	return 0;
fail:
	X509_free(*leaf);
	sk_X509_pop_free(*chain, X509_free);
	*leaf = NULL;
	*chain = NULL;
	BIO_free(bio);
	return -1;
}

/*
 * Whether bio holds a PEM block labelled "... PRIVATE KEY"; rewinds bio.
 * (OpenSSL 3's key reader says only "unsupported" when there is none.)
 */
static bool
has_key_block(BIO *bio)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	long len = 0;
	bool found = false;

	while (!found && PEM_read_bio(bio, &name, &header, &data, &len) == 1) {
		size_t n = strlen(name);

		found = n >= 11 && strcmp(name + n - 11, "PRIVATE KEY") == 0;
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_clear_free(data, (size_t)len); /* it may be the key */
	}
	ERR_clear_error();
	(void)BIO_reset(bio);
	return found;
}

/* Read the private key of path. NULL with *cause. */
static EVP_PKEY *
read_key(const char *path, char **cause)
{
	BIO *bio = open_pem(path, cause);
	bool asked = false;
	EVP_PKEY *key;

	if (bio == NULL)
		return NULL;
	if (!has_key_block(bio)) {
		BIO_free(bio);
		*cause = xasprintf("%s: no PEM private key in it (a \"-----BEGIN PRIVATE KEY-----\""
				   " block)",
		    path);
		return NULL;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase_cb, &asked);
	BIO_free(bio);
	if (key != NULL)
		return key;
	if (asked) {
		ERR_clear_error();
		*cause = xasprintf("%s: the key is encrypted; edumond needs it without a passphrase"
				   " (readable by its own user only)",
		    path);
	} else {
		char *what = xasprintf("%s: not a valid PEM private key", path);

		*cause = failure(what);
		free(what);
	}
	return NULL;
}

/* Log what the certificate is, and warn if it is not valid now. */
static void
describe(const X509 *leaf, const char *fingerprint, const char *path)
{
	char *subject = X509_NAME_oneline(X509_get_subject_name(leaf), NULL, 0);
	BIO *mem = BIO_new(BIO_s_mem());
	char until[64] = "?";
	long n;

	if (mem != NULL && ASN1_TIME_print(mem, X509_get0_notAfter(leaf)) == 1 &&
	    (n = BIO_read(mem, until, (int)sizeof until - 1)) > 0)
		until[n] = '\0';
	BIO_free(mem);
	log_info("tls: certificate %s from %s, valid until %s, SHA-256 %s",
	    subject != NULL ? subject : "?", path, until, fingerprint);
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0)
		log_warn("tls: the certificate in %s expired on %s: clients will refuse it", path,
		    until);
	else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0)
		log_warn("tls: the certificate in %s is not valid yet: clients will refuse it", path);
	OPENSSL_free(subject);
	ERR_clear_error();
}

/* A server context with edumon's policy, not yet holding a certificate. */
static SSL_CTX *
ctx_new(char **cause)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*cause = failure("cannot create a TLS context");
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
		*cause = failure("cannot set the TLS versions and cipher suites");
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION |
		SSL_OP_NO_RENEGOTIATION);
	/* Tickets resume sessions without a per-client cache to fill. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* Thousands of idle keep-alive connections should not hold 34 KiB of buffers each. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}

/*
 * Build a context from the two files. Returns it with the fingerprint of its
 * certificate in fp (sizeof t->fingerprint bytes), or NULL with *cause.
 */
static SSL_CTX *
ctx_load(const char *cert_file, const char *key_file, char *fp, char **cause)
{
	X509 *leaf = NULL;
	STACK_OF(X509) *chain = NULL;
	EVP_PKEY *key = NULL;
	SSL_CTX *ctx = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (read_certs(cert_file, &leaf, &chain, cause) < 0)
		return NULL;
	if ((key = read_key(key_file, cause)) == NULL)
		goto fail;
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		*cause = xasprintf("the key in %s does not match the certificate in %s", key_file,
		    cert_file);
		goto fail;
	}
	if ((ctx = ctx_new(cause)) == NULL)
		goto fail;
	/* set0 hands the chain over to ctx, only on success. */
	if (SSL_CTX_use_certificate(ctx, leaf) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_set0_chain(ctx, chain) != 1) {
		char *what = xasprintf("%s: OpenSSL refuses this certificate and key", cert_file);

		*cause = failure(what);
		free(what);
		goto fail;
	}
	chain = NULL;
	if (X509_digest(leaf, EVP_sha256(), md, &mdlen) != 1 || mdlen != 32) {
		*cause = failure("cannot compute the certificate's fingerprint");
		goto fail;
	}
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(fp + 3 * i, 4, "%02X%s", md[i], i + 1 < mdlen ? ":" : "");
	describe(leaf, fp, cert_file);
	X509_free(leaf);
	EVP_PKEY_free(key);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	EVP_PKEY_free(key);
	sk_X509_pop_free(chain, X509_free);
	X509_free(leaf);
	ERR_clear_error();
	return NULL;
}

struct tls *
tls_new(const char *cert_file, const char *key_file, char **cause)
{
	struct tls *t = xcalloc(1, sizeof *t);

	t->ctx = ctx_load(cert_file, key_file, t->fingerprint, cause);
	if (t->ctx == NULL) {
		free(t);
		return NULL;
	}
	t->cert_file = xstrdup(cert_file);
	t->key_file = xstrdup(key_file);
	return t;
}

int
tls_reload(struct tls *t, char **cause)
{
	char fp[sizeof t->fingerprint];
	SSL_CTX *ctx = ctx_load(t->cert_file, t->key_file, fp, cause);

	if (ctx == NULL)
		return -1;
	/* Open connections hold their own references to the old context. */
	SSL_CTX_free(t->ctx);
	t->ctx = ctx;
	memcpy(t->fingerprint, fp, sizeof fp);
	return 0;
}

struct bufferevent *
tls_bufferevent_new(struct tls *t, struct event_base *base)
{
	SSL *ssl = SSL_new(t->ctx);
	struct bufferevent *bev;

	if (ssl == NULL) {
		char *why = failure("cannot create a TLS connection");

		log_error("tls: %s", why);
		abort();
	}
	/* On success the bufferevent owns ssl (BEV_OPT_CLOSE_ON_FREE frees it). */
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_error("tls: cannot create a TLS bufferevent");
		abort();
	}
	/* A client that closes without close_notify has ended, not failed. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

void
tls_bufferevent_closing(struct bufferevent *bev, const char *peer, unsigned port)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	unsigned long e;
	struct buf b;
	size_t n = 0;

	if (ssl == NULL)
		return;
	buf_init(&b);
	while ((e = bufferevent_get_openssl_error(bev)) != 0) {
		const char *reason = ERR_reason_error_string(e);

		/*
		 * libevent queues SSL_get_error()'s class (SSL_ERROR_SSL, or
		 * SSL_ERROR_SYSCALL for a connection closed under it, as the
		 * deadline does) among OpenSSL's codes: only the latter say why.
		 * A peer that just went away (a load balancer's TCP check, a
		 * client cut at the deadline, logged as such) is no TLS failure.
		 */
		if (ERR_GET_LIB(e) == 0 ||
		    (ERR_GET_LIB(e) == ERR_LIB_SSL &&
			ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
			continue;
		if (n++ > 0)
			buf_puts(&b, "; ");
		if (reason != NULL)
			buf_puts(&b, reason);
		else
			buf_printf(&b, "OpenSSL error %08lx", e);
	}
	if (n > 0)
		log_info("tls: connection from %s:%u ended %s: %s", peer, port,
		    SSL_is_init_finished(ssl) ? "with an error" : "in the handshake", b.data);
	else if (SSL_is_init_finished(ssl))
		SSL_shutdown(ssl); /* one try: the socket is non-blocking, the peer may be gone */
	buf_free(&b);
	ERR_clear_error();
}

const char *
tls_fingerprint(const struct tls *t)
{
	return t->fingerprint;
}

void
tls_free(struct tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->cert_file);
	free(t->key_file);
	free(t);
}
