/*
 * receipt.c: see receipt.h.
 */
#include "receipt.h"

#include "util.h"

char *
receipt_json(const char *submission_id, const char *idempotency_key, const struct payload *p,
    const int *revisions, const char *alerts_json)
{
	struct buf b;
	size_t nnew = 0;

	for (size_t i = 0; i < p->nobs; i++)
		if (revisions[i] <= 1)
			nnew++;
	buf_init(&b);
	buf_puts(&b, "{\"submission_id\":");
	buf_json_string(&b, submission_id);
	buf_puts(&b, ",\"idempotency_key\":");
	buf_json_string(&b, idempotency_key);
	buf_printf(&b, ",\"observations\":%zu,\"new\":%zu,\"corrections\":%zu,\"items\":[",
	    p->nobs, nnew, p->nobs - nnew);
	for (size_t i = 0; i < p->nobs; i++) {
		const struct observation *o = &p->obs[i];

		if (i > 0)
			buf_putc(&b, ',');
		buf_puts(&b, "{\"unit\":");
		buf_json_string(&b, o->unit->code);
		buf_puts(&b, ",\"metric\":");
		buf_json_string(&b, o->metric->code);
		buf_puts(&b, ",\"period\":");
		buf_json_string(&b, o->period_text);
		buf_printf(&b, ",\"status\":\"%s\",\"revision\":%d}",
		    revisions[i] <= 1 ? "new" : "correction", revisions[i]);
	}
	buf_puts(&b, "],\"alerts\":");
	buf_puts(&b, alerts_json != NULL ? alerts_json : "[]");
	buf_putc(&b, '}');
	return buf_steal(&b);
}

char *
receipt_alerts_json(const struct receipt_alert *a, size_t n)
{
	struct buf b;

	buf_init(&b);
	buf_putc(&b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(&b, ',');
		buf_putc(&b, '{');
		if (a[i].id > 0)
			buf_printf(&b, "\"id\":%lld,", a[i].id);
		buf_puts(&b, "\"rule\":");
		buf_json_string(&b, a[i].rule);
		buf_puts(&b, ",\"unit\":");
		buf_json_string(&b, a[i].unit);
		buf_puts(&b, ",\"period\":");
		buf_json_string(&b, a[i].period);
		buf_puts(&b, ",\"event\":");
		buf_json_string(&b, a[i].event);
		buf_puts(&b, ",\"severity\":");
		buf_json_string(&b, a[i].severity);
		buf_putc(&b, '}');
	}
	buf_putc(&b, ']');
	return buf_steal(&b);
}

char *
error_json(const char *code, const char *message)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"error\":");
	buf_json_string(&b, code);
	buf_puts(&b, ",\"message\":");
	buf_json_string(&b, message);
	buf_putc(&b, '}');
	return buf_steal(&b);
}
