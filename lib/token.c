/*
 * token.c: see token.h. OpenSSL provides SHA-256 and constant-time
 * comparison; randomness comes from getrandom(2).
 */
#include "token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void
token_generate(char out[TOKEN_LEN + 1])
{
	unsigned char raw[33];
	char *p = out;

	/* 33 bytes encode to exactly 44 characters; keep 43 (258 bits > 256). */
	random_bytes(raw, sizeof raw);
	memcpy(p, TOKEN_PREFIX, 4);
	p += 4;
	for (size_t i = 0; i < sizeof raw; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

		for (int k = 3; k >= 0; k--) {
			if (p < out + TOKEN_LEN)
				*p++ = b64url[(v >> (6 * k)) & 63];
		}
	}
	*p = '\0';
}

bool
token_well_formed(const char *s, size_t len)
{
	if (len != TOKEN_LEN || memcmp(s, TOKEN_PREFIX, 4) != 0)
		return false;
	for (size_t i = 4; i < len; i++) {
		if (s[i] == '\0' || strchr(b64url, s[i]) == NULL)
			return false;
	}
	return true;
}

const char *
token_from_authorization(const char *header)
{
	static const char scheme[] = "Bearer";
	const char *p;

	if (header == NULL || strncasecmp(header, scheme, sizeof scheme - 1) != 0 ||
	    header[sizeof scheme - 1] != ' ')
		return NULL;
	for (p = header + sizeof scheme - 1; *p == ' '; p++)
		;
	return *p != '\0' ? p : NULL;
}

void
sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
	unsigned int n = SHA256_LEN;

	if (EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) != 1 || n != SHA256_LEN)
		abort();
}

bool
digest_equal(const unsigned char a[SHA256_LEN], const unsigned char b[SHA256_LEN])
{
	return CRYPTO_memcmp(a, b, SHA256_LEN) == 0;
}
