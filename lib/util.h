/*
 * util.h: allocation wrappers that abort on exhaustion, a growable byte
 * buffer, and small string helpers shared by every module.
 *
 * The x* allocators never return NULL: running out of memory is a broken
 * invariant for a daemon of this size, and callers stay free of NULL checks.
 */
#ifndef EDUMON_UTIL_H
#define EDUMON_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if defined(__GNUC__)
#define PRINTFLIKE(f, a) __attribute__((format(printf, f, a)))
#define NORETURN __attribute__((noreturn))
#else
#define PRINTFLIKE(f, a)
#define NORETURN
#endif

/* A macro argument as a string literal, after expansion. */
#define STR_(x) #x
#define STR(x) STR_(x)

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
/* Grow *p to nmemb elements of size bytes, checking the product for overflow. */
void *xreallocarray(void *p, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTFLIKE(1, 0);

/* Growable buffer, always NUL-terminated after the first append. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);
void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) PRINTFLIKE(2, 3);
/*
 * PostgreSQL array literals, built element by element: buf_pg_array_sep
 * before element index ('{' before the first, ',' after), then the element
 * (buf_pg_array_text: s[0..len) double-quoted with '"' and '\\' escaped,
 * or NULL when s is NULL; numbers can be appended as they are), and
 * buf_pg_array_end after n elements ("{}" when n is 0).
 */
void buf_pg_array_sep(struct buf *b, size_t index);
void buf_pg_array_text(struct buf *b, const char *s, size_t len);
void buf_pg_array_end(struct buf *b, size_t n);

/* splitmix64's finaliser: a well-mixed 64-bit value from any input. */
uint64_t hash_mix64(uint64_t x);

/* Append s as a JSON string literal, quotes included. */
void buf_json_string(struct buf *b, const char *s);
/* Detach the contents; the caller owns the returned string (never NULL). */
char *buf_steal(struct buf *b);

/* Characters (code points) of a well-formed UTF-8 string. */
size_t utf8_chars(const char *s);

/* True if s[0..len) is well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);

/*
 * Bytes of s to quote in a message when at most max may be shown: all of
 * strlen(s) if it fits, else max cut back to the start of a UTF-8 character,
 * so that a quoted prefix of valid UTF-8 stays valid. For "%.*s".
 */
int utf8_prefix_len(const char *s, size_t max);

/* Lower-case hex of len bytes into out, which must hold 2*len+1 bytes. */
void hex_encode(const unsigned char *in, size_t len, char *out);

/* Fill buf with len cryptographically random bytes; aborts on failure. */
void random_bytes(void *buf, size_t len);

/* Write a random (version 4) UUID, 36 characters plus NUL, into out. */
void uuid_v4(char out[37]);

/* Monotonic time in microseconds. */
int64_t now_usec(void);

/*
 * Index of s[0..len) in names[0..n) (NULL entries never match), or -1: the
 * lookup behind every "name to enum" parser.
 */
int names_index(const char *const *names, size_t n, const char *s, size_t len);

/* Parse a whole decimal string into a long long within [min, max]. */
int parse_ll(const char *s, long long min, long long max, long long *out);

#endif
