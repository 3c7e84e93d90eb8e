/*
 * alertmanager.c: see alertmanager.h.
 *
 * The process is exec'd directly (no shell), with every descriptor above
 * stderr closed so that it holds none of the test's sockets (a receiver's
 * connections must close when the receiver closes them). A port taken
 * between choosing it and Alertmanager binding it shows as an early exit
 * with "address already in use" in the log; start-up is then tried again on
 * another port. Instances alive at exit (a test that failed before
 * am_stop) are killed and their directories removed by an atexit handler
 * of the process that started them.
 */
/* nftw's FTW_DEPTH and FTW_PHYS are X/Open. */
#define _XOPEN_SOURCE 700

#include "alertmanager.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "util.h"

#define AM_READY_MS 30000
#define AM_STOP_MS 5000
#define AM_PORT_TRIES 3

struct am {
	pid_t pid;
	int port;
	char *dir;
	char *url;
	int64_t startup_ms;
	struct am *next;
};

/* Instances started by this process and not yet stopped. */
static struct am *ams;
static pid_t ams_owner;

/* The configuration; %s is the receiver's webhook_configs, or "". */
static const char config_fmt[] = "route:\n"
                                 "  receiver: edumon-test\n"
                                 "  group_by: [alertname]\n"
                                 "  group_wait: 100ms\n"
                                 "  group_interval: 1s\n"
                                 "  repeat_interval: 1h\n"
                                 "receivers:\n"
                                 "  - name: edumon-test\n"
                                 "%s";

static const char no_binary[] =
    "no Alertmanager binary, test skipped: install the Debian package prometheus-alertmanager "
    "(sh tools/install-deps.sh) or set EDUMON_ALERTMANAGER";

/* Names the binary goes by, searched in PATH in this order. */
static const char *const binary_names[] = {"prometheus-alertmanager", "alertmanager"};

/* name found in PATH (caller frees), or NULL. */
static char *
path_search(const char *name)
{
	const char *path = getenv("PATH"), *p, *end;
	char *cand;

	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *end == ':' ? end + 1 : end) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		cand = xasprintf("%.*s/%s", (int)(end - p), end == p ? "." : p, name);
		if (access(cand, X_OK) == 0)
			return cand;
		free(cand);
	}
	return NULL;
}

const char *
am_binary(void)
{
	static bool looked;
	static char *bin;
	const char *env = getenv("EDUMON_ALERTMANAGER");

	if (looked)
		return bin;
	looked = true;
	if (env != NULL && *env != '\0') {
		if (access(env, X_OK) == 0)
			bin = xstrdup(env);
		return bin;
	}
	for (size_t i = 0; i < ARRAY_LEN(binary_names) && bin == NULL; i++)
		bin = path_search(binary_names[i]);
	return bin;
}

/* nftw: remove one entry of a directory tree, depth first. */
static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* Kill and reap pid (nothing when it is not a child's, <= 0): SIGTERM, then SIGKILL after ms. */
static void
kill_reap(pid_t pid, long ms)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	if (tl_wait_exit(pid, ms) != -1)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
		;
}

/* Unlink am from the live list and free it with its directory. */
static void
am_free(struct am *am)
{
	struct am **pp;

	for (pp = &ams; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == am) {
			*pp = am->next;
			break;
		}
	}
	nftw(am->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(am->dir);
	free(am->url);
	free(am);
}

/* atexit: kill what a test that ended early left running. */
static void
ams_kill_all(void)
{
	if (getpid() != ams_owner)
		return;
	while (ams != NULL) {
		kill_reap(ams->pid, 0);
		am_free(ams);
	}
}

/* Write the configuration for webhook_url into dir/am.yml. Fails the test. */
static void
write_config(const char *dir, const char *webhook_url)
{
	char *path = xasprintf("%s/am.yml", dir), *receiver = NULL;
	FILE *f;

	if (webhook_url != NULL) {
		/* A single-quoted YAML scalar: a quote would need doubling. */
		if (strchr(webhook_url, '\'') != NULL || strchr(webhook_url, '\n') != NULL)
			cr_assert_fail(
			    "am_start: webhook URL %s has a quote or a newline", webhook_url);
		receiver = xasprintf("    webhook_configs:\n"
		                     "      - url: '%s'\n"
		                     "        send_resolved: true\n",
		    webhook_url);
	}
	f = fopen(path, "w");
	if (f == NULL || fprintf(f, config_fmt, receiver != NULL ? receiver : "") < 0 ||
	    fclose(f) != 0)
		cr_assert_fail("am_start: cannot write %s: %s", path, strerror(errno));
	free(receiver);
	free(path);
}

/* Fork and exec the binary for am on am->port, logging to am->dir/log. */
static void
spawn(struct am *am, const char *bin)
{
	pid_t parent = getpid();
	char *argv[8], *log = xasprintf("%s/log", am->dir);
	int logfd;

	argv[0] = (char *)bin;
	argv[1] = xasprintf("--config.file=%s/am.yml", am->dir);
	argv[2] = xasprintf("--storage.path=%s/data", am->dir);
	argv[3] = xasprintf("--web.listen-address=127.0.0.1:%d", am->port);
	argv[4] = xstrdup("--cluster.listen-address="); /* empty: no clustering, no port 9094 */
	argv[5] = xstrdup("--log.level=warn");
	argv[6] = xasprintf("--web.external-url=%s", am->url);
	argv[7] = NULL;
	logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd == -1)
		cr_assert_fail("am_start: %s: %s", log, strerror(errno));
	fflush(stdout);
	fflush(stderr);
	am->pid = fork();
	if (am->pid == -1)
		cr_assert_fail("am_start: fork: %s", strerror(errno));
	if (am->pid == 0) {
		tl_child_redirect(parent, logfd);
		closefrom(STDERR_FILENO + 1);
		execv(bin, argv);
		_exit(127);
	}
	close(logfd);
	for (int i = 1; i < 7; i++)
		free(argv[i]);
	free(log);
}

/*
 * Poll GET /-/ready until 200. Returns 0 when ready, 1 when the process
 * exited because its port was taken (worth another port), and fails the
 * test otherwise.
 */
static int
wait_ready(struct am *am, int64_t t0)
{
	int64_t deadline = t0 + (int64_t)AM_READY_MS * 1000;
	char *log = xasprintf("%s/log", am->dir), *tail;
	struct tl_resp resp;
	int status;

	for (;;) {
		if (waitpid(am->pid, &status, WNOHANG) == am->pid) {
			am->pid = -1;
			tail = tl_file_tail(log);
			if (strstr(tail, "address already in use") != NULL) {
				free(tail);
				free(log);
				return 1;
			}
			cr_assert_fail(
			    "Alertmanager exited (%s %d) before it was ready; log %s:\n%s",
			    WIFEXITED(status) ? "status" : "signal",
			    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), log, tail);
		}
		if (tl_http(am->port, "GET", "/-/ready", NULL, NULL, 0, &resp) == 0 &&
		    resp.status == 200) {
			tl_resp_free(&resp);
			am->startup_ms = (now_usec() - t0) / 1000;
			free(log);
			return 0;
		}
		tl_resp_free(&resp);
		if (now_usec() >= deadline)
			break;
		tl_sleep_ms(20);
	}
	kill_reap(am->pid, 0);
	am->pid = -1;
	tail = tl_file_tail(log);
	cr_assert_fail("Alertmanager on port %d: no 200 from /-/ready within %d s; log %s:\n%s",
	    am->port, AM_READY_MS / 1000, log, tail);
	return -1; /* not reached */
}

struct am *
am_start(const char *webhook_url)
{
	const char *bin = am_binary(), *tmp, *ci = getenv("CI");
	struct am *am;
	pid_t self = getpid();
	int64_t t0;

	if (bin == NULL) {
		if (ci != NULL && *ci != '\0')
			cr_assert_fail(
			    "CI is set but there is no Alertmanager (prometheus-alertmanager "
			    "in PATH or $EDUMON_ALERTMANAGER): tools/install-deps.sh "
			    "installs it");
		/* Criterion shows skips only with --verbose: say it where it is seen. */
		fprintf(stderr, "%s\n", no_binary);
		cr_skip_test("%s", no_binary);
	}
	tmp = getenv("EDUMON_TEST_TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";

	am = xcalloc(1, sizeof *am);
	am->dir = xasprintf("%s/am-%ld-XXXXXX", tmp, (long)self);
	if (mkdtemp(am->dir) == NULL)
		cr_assert_fail("am_start: mkdtemp %s: %s", am->dir, strerror(errno));
	if (ams_owner != self) {
		ams_owner = self;
		ams = NULL;
		atexit(ams_kill_all);
	}
	am->pid = -1;
	am->next = ams;
	ams = am;
	write_config(am->dir, webhook_url);

	for (int tries = 1;; tries++) {
		am->port = tl_free_port();
		free(am->url);
		am->url = xasprintf("http://127.0.0.1:%d", am->port);
		t0 = now_usec();
		spawn(am, bin);
		if (wait_ready(am, t0) == 0)
			return am;
		if (tries == AM_PORT_TRIES)
			cr_assert_fail("Alertmanager: port taken %d times in a row", tries);
	}
}

void
am_stop(struct am *am)
{
	if (am == NULL)
		return;
	kill_reap(am->pid, AM_STOP_MS);
	am_free(am);
}

const char *
am_url(const struct am *am)
{
	return am->url;
}

int
am_port(const struct am *am)
{
	return am->port;
}

int64_t
am_startup_ms(const struct am *am)
{
	return am->startup_ms;
}

char *
am_alerts_json(struct am *am, const char *query)
{
	char *path =
	    xasprintf("/api/v2/alerts%s%s", query != NULL ? "?" : "", query != NULL ? query : "");
	struct tl_resp resp;
	char *body;

	if (tl_http(am->port, "GET", path, NULL, NULL, 0, &resp) == -1)
		cr_assert_fail("Alertmanager: GET %s: no answer", path);
	if (resp.status != 200)
		cr_assert_fail("Alertmanager: GET %s: status %d: %s", path, resp.status, resp.body);
	free(path);
	body = resp.body;
	resp.body = NULL;
	tl_resp_free(&resp);
	return body;
}

int
am_post_alerts(struct am *am, const char *body)
{
	struct tl_resp resp;
	int status;

	if (tl_http(am->port, "POST", "/api/v2/alerts", "Content-Type: application/json\r\n", body,
	        strlen(body), &resp) == -1)
		cr_assert_fail("Alertmanager: POST /api/v2/alerts: no answer");
	status = resp.status;
	if (status != 200)
		fprintf(stderr, "Alertmanager: POST /api/v2/alerts: %d %s\n", status, resp.body);
	tl_resp_free(&resp);
	return status;
}
