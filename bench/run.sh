#!/bin/sh
# bench/run.sh BUILD_DIR [options]: the edumon load benchmark (`make bench`).
#
# In one run, on a fresh private PostgreSQL cluster (fsync=on,
# synchronous_commit=on, checked):
#   1. database "edumon": migrate, load deploy/metrics.csv, import a
#      generated registry (one province, city and district 320703 with
#      --schools schools beneath), create a reporter token for 320703;
#   2. database "edumon_copy": the same schema, catalog and registry;
#   3. start edumond on 127.0.0.1 (an ephemeral port);
#   4. edumon-bench: --connections keep-alive connections post submissions
#      for --warmup + --duration seconds (observations/s, p50/p99), then
#      COPYs the same rows into edumon_copy and prints the ratio;
#   5. a 1-connection latency run; a paced run (the same connections offered
#      a share of the main run's throughput, latency counted from when each
#      request was due); a correction-heavy run (every submission replaces
#      20 existing rows);
#   6. the daemon's /metrics deltas and VmHWM, and (--perf) a system-wide
#      cpu-clock profile of the main run's load window;
#   7. with the rules on, `edumon-bench engine --schools`: the rules engine
#      alone, judging everything in one piece and in the alerter's steps.
# Everything started here is stopped on exit, failure or interrupt. The last
# line printed is "ratio: N% of COPY".
#
# Options (environment variables in brackets, for `make bench`):
#   --connections N   [BENCH_CONNECTIONS]   64
#   --duration S      [BENCH_DURATION]      20
#   --warmup S        [BENCH_WARMUP]        3
#   --schools N       [BENCH_SCHOOLS]       2000 (at most 999999)
#   --observations N  [BENCH_OBSERVATIONS]  20
#   --writers N       [BENCH_WRITERS]       edumond --writer-connections (its default)
#   --batch N         [BENCH_BATCH]         edumond --batch-observations (its default)
#   --alerts 0|1      [BENCH_ALERTS]        edumond --alerts: rules evaluated (1, default)
#                                           or ingest only (0)
#   --notify 0|1      [BENCH_NOTIFY]        with alerts: deliver every alert event to a
#                                           webhook receiver on loopback (1, default)
#   --group-wait MS   [BENCH_GROUP_WAIT]    edumond --notify-group-wait (its default)
#   --latency S       [BENCH_LATENCY]       1-connection run, seconds (5; 0 skips)
#   --paced S         [BENCH_PACED]         paced run, seconds (10; 0 skips)
#   --paced-share P   [BENCH_PACED_SHARE]   ... offering P% of the main run's rate (50)
#   --corrections S   [BENCH_CORRECTIONS]   correction run, seconds (10; 0 skips)
#   --perf            [BENCH_PERF=1]        profile the main run with perf
#   --keep            [BENCH_KEEP=1]        keep the temp dir (logs, perf.data)
set -eu

prog=bench
die() {
	echo "$prog: $*" >&2
	exit 1
}

[ $# -ge 1 ] || die "usage: $0 BUILD_DIR [options]"
BUILD=$1
shift

conns=${BENCH_CONNECTIONS:-64}
duration=${BENCH_DURATION:-20}
warmup=${BENCH_WARMUP:-3}
nschools=${BENCH_SCHOOLS:-2000}
nobs=${BENCH_OBSERVATIONS:-20}
writers=${BENCH_WRITERS:-}
batch=${BENCH_BATCH:-}
alerts=${BENCH_ALERTS:-1}
notify=${BENCH_NOTIFY:-1}
group_wait=${BENCH_GROUP_WAIT:-}
latency=${BENCH_LATENCY:-5}
corrections=${BENCH_CORRECTIONS:-10}
paced=${BENCH_PACED:-10}
paced_share=${BENCH_PACED_SHARE:-50}
perf=${BENCH_PERF:-0}
keep=${BENCH_KEEP:-0}

while [ $# -gt 0 ]; do
	case $1 in
	--connections) conns=$2; shift ;;
	--duration) duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--schools) nschools=$2; shift ;;
	--observations) nobs=$2; shift ;;
	--writers) writers=$2; shift ;;
	--batch) batch=$2; shift ;;
	--alerts) alerts=$2; shift ;;
	--notify) notify=$2; shift ;;
	--group-wait) group_wait=$2; shift ;;
	--latency) latency=$2; shift ;;
	--corrections) corrections=$2; shift ;;
	--paced) paced=$2; shift ;;
	--paced-share) paced_share=$2; shift ;;
	--perf) perf=1 ;;
	--keep) keep=1 ;;
	*) die "unknown option $1" ;;
	esac
	shift
done
if [ "$nschools" -lt 1 ] || [ "$nschools" -gt 999999 ]; then
	die "--schools must be 1..999999"
fi

root=$(cd "$(dirname "$0")/.." && pwd)
catalog=$root/deploy/metrics.csv
pglocal="sh $root/tools/pg-local.sh"
for f in "$BUILD/edumond" "$BUILD/edumon" "$BUILD/edumon-bench" "$catalog"; do
	[ -e "$f" ] || die "$f is missing (run make first)"
done
BUILD=$(cd "$BUILD" && pwd)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edumon-bench.XXXXXX")
pg=$tmp/pg
daemon_pid=
perf_pid=
recv_pid=
[ "$alerts" = 1 ] || notify=0

cleanup() {
	rc=$?
	trap - EXIT INT TERM HUP
	# Our stdout may be a closed pipe (| head): finish the clean-up anyway.
	trap '' PIPE
	if [ -n "$perf_pid" ] && kill -0 "$perf_pid" 2>/dev/null; then
		kill -INT "$perf_pid" 2>/dev/null || true
		wait "$perf_pid" 2>/dev/null || true
	fi
	if [ -n "$recv_pid" ] && kill -0 "$recv_pid" 2>/dev/null; then
		kill -TERM "$recv_pid" 2>/dev/null || true
	fi
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		kill -TERM "$daemon_pid" 2>/dev/null || true
		i=0
		while kill -0 "$daemon_pid" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$daemon_pid" 2>/dev/null || true
	fi
	if [ $rc -ne 0 ] && [ -f "$tmp/edumond.log" ]; then
		echo "$prog: last lines of the edumond log:" >&2
		tail -n 20 "$tmp/edumond.log" >&2 || true
	fi
	$pglocal destroy "$pg" >/dev/null 2>&1 || true
	if [ "$keep" = 1 ]; then
		echo "$prog: kept $tmp"
	else
		rm -rf "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# --- PostgreSQL --------------------------------------------------------------
$pglocal init "$pg" >/dev/null
$pglocal start "$pg" >/dev/null
ci=$($pglocal conninfo "$pg")
base_ci=${ci% dbname=edumon}
ci_copy="$base_ci dbname=edumon_copy"
psql_do() {
	db=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -d "$base_ci dbname=$db" "$@"
}
psql_do postgres -c 'CREATE DATABASE edumon' -c 'CREATE DATABASE edumon_copy'
settings=$(psql_do edumon -At -c "SELECT current_setting('fsync') || ' ' ||
    current_setting('synchronous_commit') || ' ' || current_setting('server_version')")
# shellcheck disable=SC2086 # split the three words
set -- $settings
if [ "$1" != on ] || [ "$2" != on ]; then
	die "fsync=$1 synchronous_commit=$2: both must be on"
fi
pgversion=$3

# --- registry: one district, nschools schools beneath it ----------------------
schools=$tmp/schools.csv
awk -v n="$nschools" 'BEGIN {
	print "code,name,kind,parent_code,stages,urban,public"
	print "32,Jiangsu,province,,,true,true"
	print "3207,Lianyungang,city,32,,true,true"
	print "320703,Lianyun District,district,3207,,true,true"
	for (i = 1; i <= n; i++)
		printf "320703%06d,Bench School %d,school,320703,primary|junior,%s,true\n", i, i,
		    (i % 3 ? "true" : "false")
}' >"$schools"

for db in edumon edumon_copy; do
	"$BUILD/edumon" --database "$base_ci dbname=$db" migrate >/dev/null
	"$BUILD/edumon" --database "$base_ci dbname=$db" catalog load "$catalog" >/dev/null
	"$BUILD/edumon" --database "$base_ci dbname=$db" schools import "$schools" >/dev/null
done
EDUMON_TOKEN=$("$BUILD/edumon" --database "$ci" token create --reporter 320703 --label bench)
export EDUMON_TOKEN

# --- notification receiver ---------------------------------------------------
# A webhook channel on the district (all of the bench's alerts), without a
# rate limit, made before edumond starts so that it receives the start-up
# judgement too: the delivery throughput figure.
if [ "$notify" = 1 ]; then
	"$BUILD/edumon-bench" receive >"$tmp/recv.out" &
	recv_pid=$!
	i=0
	until grep -q '^receiving on' "$tmp/recv.out" 2>/dev/null; do
		[ $i -lt 100 ] || die "the notification receiver did not start"
		sleep 0.1
		i=$((i + 1))
	done
	recv_port=$(sed -n 's/^receiving on //p' "$tmp/recv.out")
	psql_do edumon -c "INSERT INTO edumon.channel (unit_id, kind, name, url, secret,
	    min_severity, subunits, allow_private, rate_per_min)
	    SELECT id, 'webhook', 'bench', 'http://127.0.0.1:$recv_port/hook', 'bench', 'info',
	    true, true, 0 FROM edumon.org_unit WHERE code = '320703'"
fi

# --- edumond ------------------------------------------------------------------
set -- --listen 127.0.0.1:0 --database "$ci"
[ -n "$group_wait" ] && set -- "$@" --notify-group-wait "$group_wait"
[ -n "$writers" ] && set -- "$@" --writer-connections "$writers"
[ -n "$batch" ] && set -- "$@" --batch-observations "$batch"
set -- "$@" --alerts "$alerts"
"$BUILD/edumond" "$@" 2>"$tmp/edumond.log" &
daemon_pid=$!
port=
i=0
while [ -z "$port" ]; do
	kill -0 "$daemon_pid" 2>/dev/null || die "edumond exited at start-up"
	[ $i -lt 100 ] || die "edumond did not start listening within 10 s"
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/edumond.log" | head -n 1)
	sleep 0.1
	i=$((i + 1))
done
url=http://127.0.0.1:$port
i=0
until curl -fsS -o /dev/null "$url/readyz" 2>/dev/null; do
	[ $i -lt 100 ] || die "edumond not ready within 10 s"
	sleep 0.1
	i=$((i + 1))
done
# With alerts on, measure steady state: wait until the rules engine is built
# (a first start judges every school: quotas behind their share, reports
# due), and report how long that took.
if [ "$alerts" = 1 ]; then
	t0=$(date +%s.%N)
	i=0
	until curl -fsS "$url/readyz" 2>/dev/null | grep -q '"alerts":true'; do
		[ $i -lt 6000 ] || die "the rules engine was not built within 600 s"
		sleep 0.1
		i=$((i + 1))
	done
	t1=$(date +%s.%N)
	changes=$(curl -fsS "$url/metrics" | awk '$1 == "edumon_alert_changes_total" { print $2 }')
	awk -v a="$t0" -v b="$t1" -v n="$nschools" -v c="$changes" 'BEGIN {
		printf "alerts: rules engine built in %.1f s for %d schools (%d alert changes stored on start)\n", b - a, n, c }'
fi
# Wait until every event so far is matched and delivered (or given up).
delivery_wait() {
	i=0
	until [ "$(psql_do edumon -At -c "SELECT (SELECT last_event_id FROM edumon.delivery_cursor)
	    >= (SELECT coalesce(max(id), 0) FROM edumon.alert_event) AND NOT EXISTS
	    (SELECT 1 FROM edumon.notification WHERE state = 'pending')")" = t ]; do
		[ $i -lt 6000 ] || die "notifications still pending after 600 s"
		sleep 0.1
		i=$((i + 1))
	done
}
# Delivery of the notifications of events recorded from $1 on: count,
# messages, delay from the event's transaction to the delivery's record.
delivery_report() {
	psql_do edumon -At -F ' ' -c "SELECT count(*), count(DISTINCT n.delivery_id),
	    coalesce(round(extract(epoch FROM max(n.done_at) - min(e.at))::numeric, 2), 0),
	    coalesce(round((percentile_cont(0.5) WITHIN GROUP (ORDER BY
	        extract(epoch FROM n.done_at - e.at)))::numeric * 1000), 0),
	    coalesce(round((percentile_cont(0.99) WITHIN GROUP (ORDER BY
	        extract(epoch FROM n.done_at - e.at)))::numeric * 1000), 0),
	    count(*) FILTER (WHERE n.state <> 'delivered')
	    FROM edumon.notification n JOIN edumon.alert_event e
	    ON e.alert_unit_id = n.alert_unit_id AND e.id = n.event_id WHERE e.at >= '$1'"
}
gw_ms=${group_wait:-2000}
if [ "$notify" = 1 ]; then
	delivery_wait
	delivery_report '-infinity' | awk -v gw="$gw_ms" '{
		printf "delivery: start-up: %d events in %d messages, %.2f s from the first event to the last delivery (%.0f events/s); delay p50 %d ms, p99 %d ms (group wait %d ms); not delivered %d\n", $1, $2, $3, ($3 > 0 ? $1 / $3 : 0), $4, $5, gw, $6 }' |
	    tee "$tmp/delivery.out"
fi

# Counters of /metrics (a sum over label sets) and the daemon's CPU seconds.
metric() {
	curl -fsS "$url/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 }
	    END { printf "%.6f\n", s + 0 }'
}
cpu_secs() {
	awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($14 + $15) / t }' "/proc/$1/stat"
}
# Busy and total jiffies of the whole machine.
machine_cpu() {
	awk '$1 == "cpu" { idle = $5 + $6; tot = 0; for (i = 2; i <= NF; i++) tot += $i;
	    print tot - idle, tot }' /proc/stat
}
snapshot() {
	echo "$(metric edumon_commit_seconds_total) $(metric edumon_commit_batch_requests_count)" \
	    "$(metric edumon_commit_batch_requests_sum) $(metric edumon_observations_committed_total)" \
	    "$(cpu_secs "$daemon_pid") $(machine_cpu)"
}
# Print what happened between two snapshots over a load of S seconds.
report_delta() {
	echo "$1 $2" | awk -v s="$3" -v nc="$(nproc)" '{
		commit = $8 - $1; batches = $9 - $2; reqs = $10 - $3; obs = $11 - $4
		dcpu = $12 - $5; busy = ($13 - $6) / ($14 - $7) * nc
		printf "daemon: %d transactions, %.1f submissions (%.0f observations) per transaction, ", batches, batches ? reqs / batches : 0, batches ? obs / batches : 0
		printf "%.2f ms per transaction, edumon_commit_seconds_total +%.2f s\n", batches ? commit / batches * 1000 : 0, commit
		printf "cpu: edumond %.2f s (%.0f%% of one CPU); whole machine %.2f of %d CPUs busy\n", dcpu, dcpu / s * 100, busy, nc
	}'
}

echo "== edumon bench: PostgreSQL $pgversion, fsync=on, synchronous_commit=on, $(nproc) CPUs," \
    "load average $(cut -d ' ' -f 1-3 /proc/loadavg) before the run"
echo "edumond $(sed -n 's/.*\(listening on .*\)/\1/p' "$tmp/edumond.log" | head -n 1)" \
    "${writers:+--writer-connections $writers }${batch:+--batch-observations $batch}"

bench() {
	"$BUILD/edumon-bench" --catalog "$catalog" --schools "$schools" --port "$port" \
	    --observations "$nobs" "$@"
}

# --- main run: inserts, then COPY of the same rows --------------------------------
echo "== main run: $conns connections, $warmup s warm-up + $duration s, inserts"
if [ "$perf" = 1 ]; then
	if perf record -q -o /dev/null -e cpu-clock -- true 2>/dev/null; then
		(sleep "$warmup" && exec perf record -q -a -g -e cpu-clock -F 499 \
		    -o "$tmp/perf.data" -- sleep "$duration") 2>"$tmp/perf.log" &
		perf_pid=$!
	else
		echo "$prog: perf record does not work here; no profile"
		perf=0
	fi
fi
# Start from a clean slate: the set-up's writes flushed (the COPY phase does
# the same before its timed COPY).
psql_do edumon -c CHECKPOINT
main_start=$(psql_do edumon -At -c "SELECT now()")
# Snapshots at the start and end of the measured window (the COPY that
# follows it must not count in the machine's CPU figures).
(sleep "$warmup"; snapshot >"$tmp/snap.start"; sleep "$duration"; snapshot >"$tmp/snap.end") &
snap_pid=$!
bench --connections "$conns" --duration "$duration" --warmup "$warmup" \
    --first-month 2001-01 --copy "$ci_copy" | tee "$tmp/main.out"
wait "$snap_pid"
report_delta "$(cat "$tmp/snap.start")" "$(cat "$tmp/snap.end")" "$duration"
if [ -n "$perf_pid" ]; then
	wait "$perf_pid" || true
	perf_pid=
fi

if [ "$notify" = 1 ]; then
	main_end=$(psql_do edumon -At -c "SELECT now()")
	delivery_wait
	psql_do edumon -At -F ' ' -c "SELECT count(*) FROM edumon.alert_event
	    WHERE at >= '$main_start' AND at < '$main_end'" >"$tmp/main_events"
	delivery_report "$main_start" | awk -v gw="$gw_ms" -v ev="$(cat "$tmp/main_events")" '{
		printf "delivery: under load: %d alert events during the main run, %d notifications in %d messages; delay from commit to delivery p50 %d ms, p99 %d ms (group wait %d ms); not delivered %d\n", ev, $1, $2, $4, $5, gw, $6 }' |
	    tee -a "$tmp/delivery.out"
fi

# --- 1-connection latency ------------------------------------------------------
if [ "$latency" -gt 0 ]; then
	echo "== 1 connection, $latency s"
	bench --connections 1 --duration "$latency" --warmup 1 --first-month 2020-01 |
	    tee "$tmp/one.out" | grep -E '^(edumon|latency|http):' || true
fi

# --- paced: the same connections, a share of the saturated rate ------------------
main_sps=$(sed -n 's/^edumon: .*(\([0-9.]*\) submissions\/s)$/\1/p' "$tmp/main.out")
if [ "$paced" -gt 0 ] && [ -n "$main_sps" ]; then
	rate=$(awk -v r="$main_sps" -v p="$paced_share" 'BEGIN { x = int(r * p / 100); print x < 1 ? 1 : x }')
	echo "== paced: $conns connections offered $rate submissions/s ($paced_share% of the main" \
	    "run), $paced s"
	bench --connections "$conns" --duration "$paced" --warmup 2 --rate "$rate" \
	    --first-month 2018-01 | tee "$tmp/paced.out" | grep -E '^(edumon|latency|http):' || true
fi

# --- correction-heavy variant ----------------------------------------------------
if [ "$corrections" -gt 0 ]; then
	echo "== corrections: $conns connections, $corrections s; each submission replaces" \
	    "$nobs rows inserted by the main run"
	(sleep 2; snapshot >"$tmp/snap.start"; sleep "$corrections"; snapshot >"$tmp/snap.end") &
	snap_pid=$!
	bench --connections "$conns" --duration "$corrections" --warmup 2 \
	    --first-month 2001-01 --corrections "$nschools" --seed 1 |
	    tee "$tmp/corr.out" | grep -E '^(edumon|latency|http):' || true
	wait "$snap_pid"
	report_delta "$(cat "$tmp/snap.start")" "$(cat "$tmp/snap.end")" "$corrections"
	psql_do edumon -At -c "SELECT 'observation_revision rows: ' || count(*) FROM edumon.observation_revision"
fi

# --- the event loop: how long it was held up, over the whole run -------------------
lag_line=$(curl -fsS "$url/metrics" | awk '
	$1 == "edumon_loop_lag_seconds_bucket{le=\"0.1\"}" { b = $2 }
	$1 == "edumon_loop_lag_seconds_count" { n = $2 }
	$1 == "edumon_loop_lag_max_seconds" { m = $2 }
	END { printf "%d probes, %d late by more than 100 ms, the most %.3f s late\n", n, n - b, m }')
echo "== edumond event loop: $lag_line"

# --- the rules engine alone --------------------------------------------------------
# What the alerter does on the event loop when edumond starts and when the
# registry changes, at this many schools: in one piece, and in the steps it
# takes (the longest step is the longest the loop is held up).
if [ "$alerts" = 1 ]; then
	echo "== rules engine alone: edumon-bench engine $nschools"
	(cd "$root" && "$BUILD/edumon-bench" engine "$nschools") || die "edumon-bench engine failed"
	grep -E 'alerter: .*judged in' "$tmp/edumond.log" | sed 's/^/edumond: /' || true
fi

# --- memory, profile, summary ------------------------------------------------------
hwm=$(awk '/^VmHWM/ { print $2, $3 }' "/proc/$daemon_pid/status")
rss=$(awk '/^VmRSS/ { print $2, $3 }' "/proc/$daemon_pid/status")
echo "== edumond memory: VmHWM $hwm, VmRSS $rss"
if awk '$2 == "warn" || $2 == "error" { f = 1 } END { exit !f }' "$tmp/edumond.log"; then
	echo "$prog: edumond logged warnings or errors (count, first 10 kinds):"
	awk '$2 == "warn" || $2 == "error" { $1 = ""; print }' "$tmp/edumond.log" |
	    sort | uniq -c | sort -rn | head -n 10
fi

if [ "$perf" = 1 ] && [ -s "$tmp/perf.data" ]; then
	echo "== profile: cpu-clock samples, all CPUs, main run's measured window"
	perf report -i "$tmp/perf.data" --stdio --no-children --sort comm 2>/dev/null |
	    grep -E '^ +[0-9]' | head -n 8
	for comm in edumond postgres; do
		echo "-- top symbols of $comm (share of all samples)"
		perf report -i "$tmp/perf.data" --stdio --no-children --comm "$comm" \
		    --sort dso,sym -g none 2>/dev/null | grep -E '^ +[0-9]' | head -n 15
	done
fi

echo "== summary"
awk '/^(edumon|latency|copy|rates):/' "$tmp/main.out"
if [ -f "$tmp/one.out" ]; then
	sed -n 's/^latency:/1 connection latency:/p' "$tmp/one.out"
fi
if [ -f "$tmp/paced.out" ]; then
	sed -n "s/^edumon:/paced ($paced_share%):/p; s/^latency:/paced latency:/p" "$tmp/paced.out"
fi
if [ -f "$tmp/corr.out" ]; then
	sed -n 's/^edumon:/corrections:/p; s/^latency:/corrections latency:/p' "$tmp/corr.out"
fi
if [ -f "$tmp/delivery.out" ]; then
	cat "$tmp/delivery.out"
	kill -TERM "$recv_pid" 2>/dev/null || true
	wait "$recv_pid" 2>/dev/null || true
	recv_pid=
	sed -n 's/^received:/receiver:/p' "$tmp/recv.out"
fi
echo "edumond VmHWM: $hwm"
echo "edumond event loop: $lag_line"
grep '^ratio:' "$tmp/main.out" || die "no ratio: the main run failed"
