/*
 * jsonstrict.c: a single-pass RFC 8259 conformance check, see jsonstrict.h.
 *
 * The scanner is one loop over three states (expecting a value, a member
 * name, or what may follow a value) with an explicit stack of the open
 * containers, so hostile nesting costs heap bounded by max_depth and never C
 * stack. The first offending byte stops the scan: its offset and a short
 * phrase are the result.
 *
 * Member names of every open object live, unescaped, in one arena and one
 * linear-probing hash table, each tagged with the depth of its object (at
 * any moment one object at most is open per depth). Names come and go in
 * stack order: when an object closes, those of the objects nested in it
 * are gone already, so its own are the most recent entries, and removing
 * the most recent entry of a linear-probing table is just clearing its slot
 * (no later entry can have probed past it). The hash is SipHash-1-3 under a
 * random key drawn per call, so a body cannot be built to collide and the
 * duplicate check stays linear in the input.
 *
 * An escaped NUL (\u0000) is valid RFC 8259 and accepted here; callers that
 * hand strings to C code must refuse it themselves (payload.c does).
 */
#include "jsonstrict.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Longest member name quoted in a "duplicate key" message, in bytes. */
#define JS_NAME_SHOWN 64

enum js_want {
	JS_VALUE, /* a value: scalar, '[' or '{' */
	JS_NAME,  /* a member name and its ':' */
	JS_AFTER  /* ',' or the close of the container, or the end */
};

struct js_name {
	uint64_t hash;
	size_t off;   /* start in js->arena */
	size_t len;
	size_t slot;  /* index in js->slots */
	size_t depth; /* depth of the object it belongs to */
};

struct js {
	const unsigned char *p;
	size_t len;
	size_t pos;
	size_t max_depth;

	unsigned char *stack; /* '[' or '{' per open container */
	size_t depth;
	size_t stack_cap;

	struct buf arena;       /* unescaped member names, back to back */
	struct js_name *names;  /* in insertion order */
	size_t nnames;
	size_t names_cap;
	size_t *slots;          /* 0 when free, else index into names + 1 */
	size_t nslots;          /* 0 or a power of two */
	uint64_t key[2];
	bool keyed;

	size_t err_off;
	char *cause;
};

/*
 * Record the first error: offset and a newly allocated message. Always
 * returns -1 so that callers can "return js_fail(...)".
 */
static int PRINTFLIKE(3, 4)
js_fail(struct js *js, size_t off, const char *fmt, ...)
{
	va_list ap;

	if (js->cause != NULL)
		return -1;
	va_start(ap, fmt);
	js->cause = xvasprintf(fmt, ap);
	va_end(ap);
	js->err_off = off;
	return -1;
}

/*
 * Describe the byte at off (or the end of input) for a message, in tmp,
 * which holds 32 bytes. Returns tmp.
 */
static const char *
js_found(const struct js *js, size_t off, char *tmp)
{
	unsigned c;

	if (off >= js->len) {
		snprintf(tmp, 32, "end of input");
		return tmp;
	}
	c = js->p[off];
	if (c == 0)
		snprintf(tmp, 32, "NUL byte");
	else if (c < 0x20 || c == 0x7f)
		snprintf(tmp, 32, "control character 0x%02x", c);
	else if (c < 0x80)
		snprintf(tmp, 32, "'%c'", (char)c);
	else
		snprintf(tmp, 32, "byte 0x%02x", c);
	return tmp;
}

/* ASCII digit, whatever the locale. */
static bool
js_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* If c is a hex digit, store its value in *v and return true. */
static bool
js_hexdigit(unsigned char c, unsigned *v)
{
	if (c >= '0' && c <= '9')
		*v = c - '0';
	else if (c >= 'a' && c <= 'f')
		*v = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		*v = c - 'A' + 10;
	else
		return false;
	return true;
}

/* True if the text at off starts with the NUL-terminated word. */
static bool
js_looking_at(const struct js *js, size_t off, const char *word)
{
	size_t n = strlen(word);

	return off <= js->len && js->len - off >= n && memcmp(js->p + off, word, n) == 0;
}

/* Step over RFC 8259 whitespace: space, tab, LF and CR, nothing else. */
static void
js_skip_ws(struct js *js)
{
	while (js->pos < js->len) {
		unsigned char c = js->p[js->pos];

		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		js->pos++;
	}
}

/* ---- SipHash-1-3 (Aumasson and Bernstein), for the member-name table ---- */

#define JS_ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define JS_SIPROUND                                                  \
	do {                                                         \
		v0 += v1;                                            \
		v1 = JS_ROTL(v1, 13);                                \
		v1 ^= v0;                                            \
		v0 = JS_ROTL(v0, 32);                                \
		v2 += v3;                                            \
		v3 = JS_ROTL(v3, 16);                                \
		v3 ^= v2;                                            \
		v0 += v3;                                            \
		v3 = JS_ROTL(v3, 21);                                \
		v3 ^= v0;                                            \
		v2 += v1;                                            \
		v1 = JS_ROTL(v1, 17);                                \
		v1 ^= v2;                                            \
		v2 = JS_ROTL(v2, 32);                                \
	} while (0)

/* Keyed 64-bit hash of s[0..len). */
static uint64_t
js_siphash(const uint64_t key[2], const unsigned char *s, size_t len)
{
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i, tail = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = 0;
		for (int k = 7; k >= 0; k--)
			m = (m << 8) | s[i + (size_t)k];
		v3 ^= m;
		JS_SIPROUND;
		v0 ^= m;
	}
	for (size_t k = 0; k < tail; k++)
		b |= (uint64_t)s[i + k] << (8 * k);
	v3 ^= b;
	JS_SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	JS_SIPROUND;
	JS_SIPROUND;
	JS_SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- member names ---- */

/* Put name i into the first free slot of its probe sequence. */
static void
js_slot_put(struct js *js, size_t i)
{
	size_t mask = js->nslots - 1, s;

	for (s = js->names[i].hash & mask; js->slots[s] != 0; s = (s + 1) & mask)
		;
	js->slots[s] = i + 1;
	js->names[i].slot = s;
}

/*
 * Double the table until it is at most half full with one more name.
 * Re-inserting in insertion order keeps stack-order removal valid.
 */
static void
js_slots_grow(struct js *js)
{
	size_t n = js->nslots != 0 ? js->nslots : 16;

	while ((js->nnames + 1) * 2 > n)
		n *= 2;
	if (n == js->nslots)
		return;
	free(js->slots);
	js->slots = xcalloc(n, sizeof *js->slots);
	js->nslots = n;
	for (size_t i = 0; i < js->nnames; i++)
		js_slot_put(js, i);
}

/*
 * The name of len bytes at off in the arena was read from the string whose
 * opening quote is at quote. Add it to the names of the innermost object, or
 * fail with "duplicate key" if it is there already.
 */
static int
js_name_add(struct js *js, size_t off, size_t len, size_t quote)
{
	const unsigned char *arena;
	uint64_t h;
	size_t mask, s;

	if (!js->keyed) {
		random_bytes(js->key, sizeof js->key);
		js->keyed = true;
	}
	arena = (const unsigned char *)js->arena.data;
	h = js_siphash(js->key, arena + off, len) + js->depth * 0x9e3779b97f4a7c15ULL;
	if ((js->nnames + 1) * 2 > js->nslots)
		js_slots_grow(js);
	mask = js->nslots - 1;
	for (s = h & mask; js->slots[s] != 0; s = (s + 1) & mask) {
		const struct js_name *e = &js->names[js->slots[s] - 1];

		if (e->hash == h && e->depth == js->depth && e->len == len &&
		    memcmp(arena + e->off, arena + off, len) == 0) {
			size_t shown = len;
			struct buf q;
			char *name;
			int rc;

			/* Cut on a character boundary: the name is valid UTF-8. */
			if (shown > JS_NAME_SHOWN) {
				shown = JS_NAME_SHOWN;
				while (shown > 0 && (arena[shown + off] & 0xc0) == 0x80)
					shown--;
			}
			name = xstrndup((const char *)arena + off, shown);
			buf_init(&q);
			buf_json_string(&q, name);
			rc = js_fail(js, quote, "duplicate key %s%s", q.data,
			    shown < len ? " (cut)" : "");
			buf_free(&q);
			free(name);
			return rc;
		}
	}
	if (js->nnames == js->names_cap) {
		js->names_cap = js->names_cap != 0 ? js->names_cap * 2 : 16;
		js->names = xreallocarray(js->names, js->names_cap, sizeof *js->names);
	}
	js->names[js->nnames] = (struct js_name){
	    .hash = h, .off = off, .len = len, .slot = s, .depth = js->depth};
	js->slots[s] = ++js->nnames;
	return 0;
}

/* The innermost object closes: forget its names (the most recent ones). */
static void
js_names_pop(struct js *js)
{
	while (js->nnames > 0 && js->names[js->nnames - 1].depth == js->depth) {
		const struct js_name *e = &js->names[--js->nnames];

		js->slots[e->slot] = 0;
		js->arena.len = e->off;
	}
}

/* ---- containers ---- */

/* Open the container whose bracket is at js->pos; fails past max_depth. */
static int
js_push(struct js *js)
{
	if (js->depth >= js->max_depth)
		return js_fail(js, js->pos, "nesting deeper than %zu", js->max_depth);
	if (js->depth == js->stack_cap) {
		js->stack_cap = js->stack_cap != 0 ? js->stack_cap * 2 : 32;
		js->stack = xreallocarray(js->stack, js->stack_cap, 1);
	}
	js->stack[js->depth++] = js->p[js->pos++];
	return 0;
}

/* Close the innermost container, whose closing bracket is at js->pos. */
static void
js_pop(struct js *js)
{
	if (js->stack[js->depth - 1] == '{')
		js_names_pop(js);
	js->depth--;
	js->pos++;
}

/* ---- strings ---- */

/*
 * Fail for the invalid UTF-8 sequence whose first byte is at i, pointing at
 * the first byte that cannot belong to a well-formed sequence (Unicode's
 * "maximal subpart" rule). Only called once utf8_valid has said no.
 */
static int
js_utf8_fail(struct js *js, size_t i)
{
	unsigned c = js->p[i], lo = 0x80, hi = 0xbf;
	const char *why = "code point above U+10FFFF";
	size_t n;

	if (c >= 0x80 && c <= 0xbf)
		return js_fail(js, i, "invalid UTF-8: stray continuation byte 0x%02x", c);
	if (c == 0xc0 || c == 0xc1)
		return js_fail(js, i, "invalid UTF-8: overlong encoding");
	if (c >= 0xf5)
		return js_fail(js, i, "invalid UTF-8: byte 0x%02x", c);
	n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (c == 0xe0 || c == 0xf0) {
		lo = c == 0xe0 ? 0xa0 : 0x90;
		why = "overlong encoding";
	} else if (c == 0xed) {
		hi = 0x9f;
		why = "encoded surrogate";
	} else if (c == 0xf4)
		hi = 0x8f;
	for (size_t k = 1; k < n; k++) {
		unsigned b;

		if (i + k >= js->len)
			return js_fail(js, i + k, "invalid UTF-8: truncated sequence");
		b = js->p[i + k];
		if (b < 0x80 || b > 0xbf)
			return js_fail(js, i + k, "invalid UTF-8: truncated sequence");
		if (k == 1 && (b < lo || b > hi))
			return js_fail(js, i + 1, "invalid UTF-8: %s", why);
	}
	return js_fail(js, i, "invalid UTF-8");
}

/*
 * Read the 4 hex digits of a \u escape starting at i into *cp, or fail at
 * the first byte that is not one.
 */
static int
js_hex4(struct js *js, size_t i, unsigned *cp)
{
	char tmp[32];

	*cp = 0;
	for (size_t k = 0; k < 4; k++) {
		unsigned v;

		if (i + k >= js->len || !js_hexdigit(js->p[i + k], &v))
			return js_fail(js, i + k, "invalid \\u escape: expected 4 hex digits, found %s",
			    js_found(js, i + k, tmp));
		*cp = (*cp << 4) | v;
	}
	return 0;
}

/* Append code point cp (not a surrogate, at most U+10FFFF) as UTF-8. */
static void
js_put_utf8(struct buf *out, unsigned cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (char)(0xf0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, u, n);
}

/*
 * The \u escape whose backslash is at i: check it (and the low surrogate
 * that must follow a high one), append the code point to out if not NULL
 * and return the length of the escape text (6 or 12), or 0 on failure.
 */
static size_t
js_unicode_escape(struct js *js, size_t i, struct buf *out)
{
	unsigned cp, lo;

	if (js_hex4(js, i + 2, &cp) != 0)
		return 0;
	if (cp >= 0xdc00 && cp <= 0xdfff) {
		js_fail(js, i, "unpaired surrogate \\u%04x", cp);
		return 0;
	}
	if (cp < 0xd800 || cp > 0xdbff) {
		if (out != NULL)
			js_put_utf8(out, cp);
		return 6;
	}
	if (!js_looking_at(js, i + 6, "\\u")) {
		js_fail(js, i, "unpaired surrogate \\u%04x", cp);
		return 0;
	}
	if (js_hex4(js, i + 8, &lo) != 0)
		return 0;
	if (lo < 0xdc00 || lo > 0xdfff) {
		js_fail(js, i, "unpaired surrogate \\u%04x", cp);
		return 0;
	}
	if (out != NULL)
		js_put_utf8(out, 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00));
	return 12;
}

/*
 * Scan the string whose opening quote is at js->pos and leave js->pos after
 * its closing quote. If out is not NULL, the unescaped bytes are appended to
 * it.
 */
static int
js_string(struct js *js, struct buf *out)
{
	const unsigned char *p = js->p;
	size_t quote = js->pos, i = quote + 1;
	char tmp[32];

	for (;;) {
		size_t start = i, n;
		unsigned c;

		while (i < js->len && p[i] >= 0x20 && p[i] < 0x80 && p[i] != '"' && p[i] != '\\')
			i++;
		if (out != NULL && i > start)
			buf_append(out, p + start, i - start);
		if (i >= js->len)
			return js_fail(js, quote, "unterminated string");
		c = p[i];
		if (c == '"') {
			js->pos = i + 1;
			return 0;
		}
		if (c == 0)
			return js_fail(js, i, "NUL byte in string");
		if (c < 0x20)
			return js_fail(js, i, "unescaped control character 0x%02x in string", c);
		if (c >= 0x80) {
			n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
			if (n > js->len - i || !utf8_valid((const char *)p + i, n))
				return js_utf8_fail(js, i);
			if (out != NULL)
				buf_append(out, p + i, n);
			i += n;
			continue;
		}
		/* A backslash. */
		if (i + 1 >= js->len)
			return js_fail(js, quote, "unterminated string");
		switch (p[i + 1]) {
		case '"':
		case '\\':
		case '/':
			c = p[i + 1];
			break;
		case 'b':
			c = '\b';
			break;
		case 'f':
			c = '\f';
			break;
		case 'n':
			c = '\n';
			break;
		case 'r':
			c = '\r';
			break;
		case 't':
			c = '\t';
			break;
		case 'u':
			if ((n = js_unicode_escape(js, i, out)) == 0)
				return -1;
			i += n;
			continue;
		default:
			return js_fail(js, i + 1, "invalid escape: backslash followed by %s",
			    js_found(js, i + 1, tmp));
		}
		if (out != NULL)
			buf_putc(out, (char)c);
		i += 2;
	}
}

/* ---- numbers and literals ---- */

/* Step over a run of digits, possibly empty. */
static void
js_digits(struct js *js)
{
	while (js->pos < js->len && js_digit(js->p[js->pos]))
		js->pos++;
}

/* True if c would continue a number or a literal: letters, digits, . + - */
static bool
js_wordish(const struct js *js)
{
	unsigned char c;

	if (js->pos >= js->len)
		return false;
	c = js->p[js->pos];
	return js_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
	    c == '+' || c == '-';
}

/* The number starting at js->pos ('-' or a digit). */
static int
js_number(struct js *js)
{
	char tmp[32];

	if (js->p[js->pos] == '-') {
		js->pos++;
		if (js_looking_at(js, js->pos, "Infinity"))
			return js_fail(js, js->pos - 1, "Infinity is not JSON");
		if (js->pos >= js->len || !js_digit(js->p[js->pos]))
			return js_fail(js, js->pos, "expected digit after '-', found %s",
			    js_found(js, js->pos, tmp));
	}
	if (js->p[js->pos] == '0') {
		if (js->pos + 1 < js->len && js_digit(js->p[js->pos + 1]))
			return js_fail(js, js->pos, "leading zero in number");
		js->pos++;
	} else
		js_digits(js);
	if (js->pos < js->len && js->p[js->pos] == '.') {
		js->pos++;
		if (js->pos >= js->len || !js_digit(js->p[js->pos]))
			return js_fail(js, js->pos, "expected digit after decimal point, found %s",
			    js_found(js, js->pos, tmp));
		js_digits(js);
	}
	if (js->pos < js->len && (js->p[js->pos] == 'e' || js->p[js->pos] == 'E')) {
		js->pos++;
		if (js->pos < js->len && (js->p[js->pos] == '+' || js->p[js->pos] == '-'))
			js->pos++;
		if (js->pos >= js->len || !js_digit(js->p[js->pos]))
			return js_fail(js, js->pos, "expected digit in exponent, found %s",
			    js_found(js, js->pos, tmp));
		js_digits(js);
	}
	if (js_wordish(js))
		return js_fail(js, js->pos, "unexpected %s in number", js_found(js, js->pos, tmp));
	return 0;
}

/* true, false or null at js->pos, whose first letter is already known. */
static int
js_literal(struct js *js, const char *word)
{
	size_t n = strlen(word);
	char tmp[32];

	for (size_t k = 0; k < n; k++) {
		if (js->pos + k >= js->len || js->p[js->pos + k] != (unsigned char)word[k])
			return js_fail(js, js->pos + k, "invalid literal (expected %s), found %s",
			    word, js_found(js, js->pos + k, tmp));
	}
	js->pos += n;
	if (js_wordish(js))
		return js_fail(js, js->pos, "unexpected %s after %s", js_found(js, js->pos, tmp),
		    word);
	return 0;
}

/* ---- the scanner ---- */

/*
 * A value starts at js->pos (whitespace skipped). Scalars are read whole;
 * '[' and '{' are opened. *want is set to what comes next.
 */
static int
js_value(struct js *js, enum js_want *want)
{
	char tmp[32];
	size_t at = js->pos;

	*want = JS_AFTER;
	if (at >= js->len)
		return js_fail(js, at, "expected a value, found end of input");
	switch (js->p[at]) {
	case '[':
	case '{':
		if (js_push(js) != 0)
			return -1;
		js_skip_ws(js);
		if (js->pos < js->len && js->p[js->pos] == (js->p[at] == '[' ? ']' : '}'))
			js_pop(js);
		else
			*want = js->p[at] == '[' ? JS_VALUE : JS_NAME;
		return 0;
	case '"':
		return js_string(js, NULL);
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		return js_number(js);
	case 't':
		return js_literal(js, "true");
	case 'f':
		return js_literal(js, "false");
	case 'n':
		return js_literal(js, "null");
	case '+':
		return js_fail(js, at, "'+' before a number is not JSON");
	case '.':
		return js_fail(js, at, "number without an integer part");
	case '\'':
		return js_fail(js, at, "single-quoted string");
	}
	if (js_looking_at(js, at, "NaN"))
		return js_fail(js, at, "NaN is not JSON");
	if (js_looking_at(js, at, "Infinity"))
		return js_fail(js, at, "Infinity is not JSON");
	return js_fail(js, at, "expected a value, found %s", js_found(js, at, tmp));
}

/* A member name and its ':' at js->pos (whitespace skipped). */
static int
js_member_name(struct js *js)
{
	char tmp[32];
	size_t quote = js->pos, off = js->arena.len;

	if (quote >= js->len || js->p[quote] != '"') {
		if (quote < js->len && js->p[quote] == '\'')
			return js_fail(js, quote, "single-quoted member name");
		return js_fail(js, quote, "expected member name, found %s", js_found(js, quote, tmp));
	}
	/* Make sure the arena has a buffer even for an empty name. */
	buf_reserve(&js->arena, 0);
	if (js_string(js, &js->arena) != 0)
		return -1;
	if (js_name_add(js, off, js->arena.len - off, quote) != 0)
		return -1;
	js_skip_ws(js);
	if (js->pos >= js->len || js->p[js->pos] != ':')
		return js_fail(js, js->pos, "expected ':' after member name, found %s",
		    js_found(js, js->pos, tmp));
	js->pos++;
	return 0;
}

/* After a value: ',' or the close of the innermost container, or the end. */
static int
js_after(struct js *js, enum js_want *want)
{
	char tmp[32];
	unsigned char open, close;
	size_t comma;

	if (js->depth == 0) {
		if (js->pos == js->len)
			return 1;
		return js_fail(js, js->pos, "trailing data after JSON value, found %s",
		    js_found(js, js->pos, tmp));
	}
	open = js->stack[js->depth - 1];
	close = open == '[' ? ']' : '}';
	if (js->pos < js->len && js->p[js->pos] == close) {
		js_pop(js);
		*want = JS_AFTER;
		return 0;
	}
	if (js->pos >= js->len || js->p[js->pos] != ',')
		return js_fail(js, js->pos, "expected ',' or '%c', found %s", close,
		    js_found(js, js->pos, tmp));
	comma = js->pos++;
	js_skip_ws(js);
	if (js->pos < js->len && js->p[js->pos] == close)
		return js_fail(js, comma, "trailing comma before '%c'", close);
	*want = open == '[' ? JS_VALUE : JS_NAME;
	return 0;
}

/* Run the scanner over the whole text: 0 if valid, else -1 and js->cause. */
static int
js_run(struct js *js)
{
	enum js_want want = JS_VALUE;
	int rc;

	for (;;) {
		js_skip_ws(js);
		if (js_looking_at(js, js->pos, "//") || js_looking_at(js, js->pos, "/*"))
			return js_fail(js, js->pos, "comments are not JSON");
		switch (want) {
		case JS_VALUE:
			rc = js_value(js, &want);
			break;
		case JS_NAME:
			rc = js_member_name(js);
			want = JS_VALUE;
			break;
		case JS_AFTER:
		default:
			rc = js_after(js, &want);
			if (rc == 1)
				return 0;
			break;
		}
		if (rc != 0)
			return -1;
	}
}

/*
 * See jsonstrict.h. A negative max_depth allows no array or object at all.
 * Nothing is allocated on success beyond what is freed before returning.
 */
int
json_strict_check(const char *buf, size_t len, int max_depth, size_t *offset, char **cause)
{
	struct js js;
	int rc;

	assert(buf != NULL || len == 0);
	memset(&js, 0, sizeof js);
	js.p = (const unsigned char *)buf;
	js.len = len;
	js.max_depth = max_depth > 0 ? (size_t)max_depth : 0;
	buf_init(&js.arena);

	if (len == 0)
		rc = js_fail(&js, 0, "empty document");
	else if (js_looking_at(&js, 0, "\xef\xbb\xbf"))
		rc = js_fail(&js, 0, "byte order mark before JSON text");
	else
		rc = js_run(&js);

	if (rc != 0) {
		if (offset != NULL)
			*offset = js.err_off;
		if (cause != NULL)
			*cause = js.cause;
		else
			free(js.cause);
	}
	free(js.stack);
	free(js.names);
	free(js.slots);
	buf_free(&js.arena);
	return rc;
}
