/*
 * token.h: API bearer tokens. A token is "edm_" followed by 43 base64url
 * characters (256 random bits). Only its SHA-256 is stored; the clear text
 * is shown once, at creation.
 */
#ifndef EDUMON_TOKEN_H
#define EDUMON_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_PREFIX "edm_"
#define TOKEN_LEN (4 + 43)
/* Characters of a token shown in listings and logs to tell tokens apart. */
#define TOKEN_DISPLAY_LEN 10
#define SHA256_LEN 32

/* Write a new random token and NUL into out (TOKEN_LEN + 1 bytes). */
void token_generate(char out[TOKEN_LEN + 1]);
/* True if s[0..len) has the shape of a token (prefix, length, alphabet). */
bool token_well_formed(const char *s, size_t len);
/*
 * The credential of an Authorization header value using the Bearer scheme
 * (RFC 6750 section 2.1: the scheme is case-insensitive, then one or more
 * spaces), or NULL for another scheme or none. It is not checked for shape.
 */
const char *token_from_authorization(const char *header);
/* SHA-256 of data[0..len). */
void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);
/* Constant-time equality of two SHA-256 digests. */
bool digest_equal(const unsigned char a[SHA256_LEN], const unsigned char b[SHA256_LEN]);

#endif
