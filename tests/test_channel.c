/*
 * test_channel.c: the pure part of lib/channel.c: the URL shown in
 * listings (never userinfo, query or fragment) and the default rates.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "channel.h"
#include "util.h"

TestSuite(channel);

Test(channel, url_redact)
{
	static const struct {
		const char *url, *shown;
	} cases[] = {
	    {"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a",
	        "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"},
	    {"https://oapi.dingtalk.com/robot/send?access_token=abc#x",
	        "https://oapi.dingtalk.com/robot/send"},
	    {"https://user:pa@ss@hooks.example.org:8443/a/b?c=d",
	        "https://hooks.example.org:8443/a/b"},
	    {"http://am.example.org:9093/", "http://am.example.org:9093/"},
	    {"http://host?x@y", "http://host"},
	    {"http://host#frag@x", "http://host"},
	    {"http://h/p@q", "http://h/p@q"},
	    {"http://u@[::1]:80/p", "http://[::1]:80/p"},
	    {"not a url", "-"},
	    {"://x", "-"},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *got = channel_url_redact(cases[i].url);

		cr_expect_str_eq(got, cases[i].shown, "%s", cases[i].url);
		free(got);
	}
}

Test(channel, rate_defaults)
{
	cr_expect_eq(channel_rate_default(NOTIFY_CH_WECOM), 20);
	cr_expect_eq(channel_rate_default(NOTIFY_CH_DINGTALK), 20);
	cr_expect_eq(channel_rate_default(NOTIFY_CH_WEBHOOK), 60);
	cr_expect_eq(channel_rate_default(NOTIFY_CH_ALERTMANAGER), 0);
}
