/*
 * test_token.c: token generation, shape checks, hashing and the in-memory
 * token table the daemon authenticates against.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "directory.h"
#include "token.h"
#include "util.h"

Test(token, generated_tokens_are_well_formed_and_distinct)
{
	char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1];

	token_generate(a);
	token_generate(b);
	cr_expect_eq(strlen(a), TOKEN_LEN);
	cr_expect(strncmp(a, TOKEN_PREFIX, 4) == 0);
	cr_expect(token_well_formed(a, strlen(a)));
	cr_expect_str_neq(a, b);
}

Test(token, malformed_tokens)
{
	char t[TOKEN_LEN + 1];

	token_generate(t);
	cr_expect_not(token_well_formed(t, TOKEN_LEN - 1), "short");
	cr_expect_not(token_well_formed("", 0));
	t[10] = '+';
	cr_expect_not(token_well_formed(t, TOKEN_LEN), "outside base64url");
	t[10] = 'A';
	t[0] = 'x';
	cr_expect_not(token_well_formed(t, TOKEN_LEN), "wrong prefix");
	t[0] = 'e';
	t[20] = '\0';
	cr_expect_not(token_well_formed(t, TOKEN_LEN), "embedded NUL");
}

Test(token, bearer_scheme_is_case_insensitive)
{
	static const struct {
		const char *header;
		const char *credential; /* NULL: not a Bearer credential */
	} cases[] = {
	    {"Bearer edm_x", "edm_x"},
	    {"bearer edm_x", "edm_x"},
	    {"BEARER edm_x", "edm_x"},
	    {"bEaReR edm_x", "edm_x"},
	    {"Bearer   edm_x", "edm_x"}, /* 1*SP */
	    {"Bearer", NULL},
	    {"Bearer ", NULL},
	    {"Bearer    ", NULL},
	    {"Bearer\tedm_x", NULL}, /* the separator is SP only */
	    {"Beareredm_x", NULL},
	    {"Bearerx edm_x", NULL},
	    {"Basic ZWR1bW9uOng=", NULL},
	    {"Token edm_x", NULL},
	    {" Bearer edm_x", NULL},
	    {"", NULL},
	};

	cr_expect_null(token_from_authorization(NULL));
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const char *got = token_from_authorization(cases[i].header);

		if (cases[i].credential == NULL)
			cr_expect_null(got, "\"%s\" is not a Bearer credential", cases[i].header);
		else
			cr_expect(got != NULL && strcmp(got, cases[i].credential) == 0,
			    "\"%s\" gives \"%s\", not \"%s\"", cases[i].header, got ? got : "(null)",
			    cases[i].credential);
	}
}

Test(token, sha256_known_answer)
{
	unsigned char h[SHA256_LEN];
	char hex[2 * SHA256_LEN + 1];

	sha256("abc", 3, h);
	hex_encode(h, SHA256_LEN, hex);
	cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(token, table_lookup)
{
	struct tokens *t = tokens_new();
	char tok[200][TOKEN_LEN + 1];
	unsigned char h[SHA256_LEN];
	struct principal p;

	for (int i = 0; i < 200; i++) {
		token_generate(tok[i]);
		sha256(tok[i], TOKEN_LEN, h);
		tokens_add(t, h, i + 1, i % 2 ? ROLE_SCHOOL : ROLE_REPORTER, 1000 + i);
	}
	for (int i = 0; i < 200; i++) {
		sha256(tok[i], TOKEN_LEN, h);
		cr_assert_eq(tokens_lookup(t, h, &p), 0);
		cr_expect_eq(p.token_id, i + 1);
		cr_expect_eq(p.unit_id, 1000 + i);
		cr_expect_eq(p.role, i % 2 ? ROLE_SCHOOL : ROLE_REPORTER);
	}
	sha256("not a token", 11, h);
	cr_expect_eq(tokens_lookup(t, h, &p), -1);
	tokens_free(t);
}
