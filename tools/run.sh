#!/bin/sh
# run.sh: `make run`. Bring up a database and run edumond in the foreground.
#
#   sh tools/run.sh BUILD_DIR
#
# Without EDUMON_DATABASE_URL, a private PostgreSQL cluster lives in var/pg
# (git-ignored): created on the first run, started if it is not running, and
# stopped again on exit if this run started it; a second run reuses it. The
# database "edumon" is created if missing. Then, on whichever database:
# edumon migrate, catalog load deploy/metrics.csv, schools import
# deploy/demo/units.csv (all idempotent), and a fresh demo token for school
# 2132070301 is printed with a curl command to try. edumond then listens on
# ${EDUMON_LISTEN:-127.0.0.1:8080} (EDUMON_LOG_LEVEL sets --log-level).
#
# Ctrl-C (SIGINT), SIGTERM or SIGHUP: edumond gets one SIGTERM and drains;
# a second signal kills it. The cluster is stopped after it. edumond runs in
# its own session so that Ctrl-C at the terminal reaches it only through us,
# as that one SIGTERM.
set -eu

prog=run
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case $build in
/*) ;;
*) build=$root/$build ;;
esac

sh tools/install-deps.sh

listen=${EDUMON_LISTEN:-127.0.0.1:8080}
pgdir=$root/var/pg
pg_ours=no
dpid=

# shellcheck disable=SC2317 # called from a trap
cleanup() {
	st=$?
	trap '' INT TERM HUP
	if [ -n "$dpid" ] && kill -0 "$dpid" 2>/dev/null; then
		kill -TERM "$dpid" 2>/dev/null || true
		wait "$dpid" 2>/dev/null || true
	fi
	if [ "$pg_ours" = yes ]; then
		sh tools/pg-local.sh stop "$pgdir" || st=1
	fi
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

for b in edumon edumond; do
	[ -x "$build/$b" ] || {
		echo "$prog: $build/$b is not built (run: make)" >&2
		exit 1
	}
done

if [ -z "${EDUMON_DATABASE_URL:-}" ]; then
	mkdir -p var
	sh tools/pg-local.sh init "$pgdir"
	if sh tools/pg-local.sh status "$pgdir" >/dev/null; then
		echo "$prog: reusing the PostgreSQL already running in var/pg"
	else
		pg_ours=yes
		sh tools/pg-local.sh start "$pgdir"
	fi
	EDUMON_DATABASE_URL=$(sh tools/pg-local.sh conninfo "$pgdir")
	admin=$(printf '%s\n' "$EDUMON_DATABASE_URL" | sed 's/dbname=edumon/dbname=postgres/')
	psql=$(command -v psql || echo /usr/lib/postgresql/15/bin/psql)
	have=$("$psql" -X -q -t -A -d "$admin" \
		-c "SELECT 1 FROM pg_database WHERE datname = 'edumon'")
	if [ "$have" != 1 ]; then
		"$psql" -X -q -d "$admin" -c "CREATE DATABASE edumon"
		echo "$prog: created database edumon"
	fi
	local_db=yes
else
	local_db=no
fi
export EDUMON_DATABASE_URL

edumon=$build/edumon
echo "$prog: edumon migrate"
"$edumon" migrate
echo "$prog: edumon catalog load deploy/metrics.csv"
"$edumon" catalog load deploy/metrics.csv
echo "$prog: edumon schools import deploy/demo/units.csv"
"$edumon" schools import deploy/demo/units.csv
token=$("$edumon" token create --school 2132070301)
token=$(printf '%s\n' "$token" | sed -n '1{s/[[:space:]]//g;p;}')
[ -n "$token" ] || {
	echo "$prog: edumon token create printed no token" >&2
	exit 1
}

port=${listen##*:}
host=${listen%:*}
case $host in
0.0.0.0 | '' | '*') host=127.0.0.1 ;;
esac
url=http://$host:$port

# The current term, for an example that raises an alert (58 pupils in the
# largest class is a 大班额 warning).
y=$(TZ=Asia/Shanghai date +%Y)
m=$(TZ=Asia/Shanghai date +%m)
m=${m#0}
if [ "$m" -ge 9 ]; then
	term="$y-$((y + 1))-1"
elif [ "$m" -eq 1 ]; then
	term="$((y - 1))-$y-1"
else
	term="$((y - 1))-$y-2"
fi

cat <<EOF

== edumon is starting on $url
EOF
if [ "$local_db" = yes ]; then
	echo "   database:   $EDUMON_DATABASE_URL"
fi
cat <<EOF
   demo token for school 2132070301 (a demo credential made for this run;
   each run makes another):

     $token

   try a submission (58 pupils in the largest class: the receipt lists the
   大班额 alert it raised; send 50 to resolve it):

     curl -sS -X POST $url/v1/submissions \\
       -H 'Authorization: Bearer $token' \\
       -H 'Content-Type: application/json' \\
       -d '{"school":"2132070301","period":"$term","metrics":{"class_size_max":58}}'

   alerts are in the database: psql "$EDUMON_DATABASE_URL" -c 'TABLE edumon.v_alert'

   Ctrl-C stops edumond$([ "$pg_ours" = yes ] && echo ' and then the local PostgreSQL').

EOF

set -- --listen "$listen" --database "$EDUMON_DATABASE_URL"
# A school calendar only when asked for: deploy/calendars/3207.json is an
# example that covers 2021-2023, and a calendar that does not cover today
# expects no daily report at all (edumond warns). Without one, Monday to
# Friday are school days.
if [ -n "${EDUMON_CALENDAR:-}" ]; then
	set -- "$@" --calendar "$EDUMON_CALENDAR"
fi
if [ -n "${EDUMON_LOG_LEVEL:-}" ]; then
	set -- "$@" --log-level "$EDUMON_LOG_LEVEL"
fi
if command -v setsid >/dev/null 2>&1; then
	# A background job is not a process-group leader, so setsid execs
	# edumond in place: $! is the daemon's pid.
	setsid "$build/edumond" "$@" &
else
	"$build/edumond" "$@" &
fi
dpid=$!

signals=0
# shellcheck disable=SC2317 # called from a trap
on_signal() {
	signals=$((signals + 1))
	if [ "$signals" -eq 1 ]; then
		echo "$prog: stopping edumond (again to kill it)" >&2
		kill -TERM "$dpid" 2>/dev/null || true
	else
		echo "$prog: killing edumond" >&2
		kill -KILL "$dpid" 2>/dev/null || true
	fi
}
trap on_signal INT TERM HUP

# wait returns early (status > 128) when a trapped signal arrives; wait
# again until the daemon itself has exited.
while :; do
	st=0
	wait "$dpid" || st=$?
	if ! kill -0 "$dpid" 2>/dev/null; then
		break
	fi
done
dpid=
trap '' INT TERM HUP
echo "$prog: edumond exited with status $st"
exit "$st"
