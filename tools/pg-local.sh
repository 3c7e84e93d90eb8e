#!/bin/sh
# pg-local.sh: manage a private PostgreSQL cluster for development and tests.
#
#   sh tools/pg-local.sh init DIR       create the cluster (initdb) if absent
#   sh tools/pg-local.sh start DIR      start it and wait until it accepts connections
#   sh tools/pg-local.sh stop DIR       fast shutdown (no-op if not running)
#   sh tools/pg-local.sh status DIR     exit 0 if running, 3 if not
#   sh tools/pg-local.sh conninfo DIR   print the libpq conninfo of database "edumon"
#   sh tools/pg-local.sh destroy DIR    stop it and delete DIR (and its /tmp base)
#
# Layout: DIR/data (the cluster), DIR/sock (its unix socket directory; no TCP:
# listen_addresses=''), DIR/postgresql.log. The superuser is "postgres" and
# authentication is "trust": only whoever can reach DIR/sock can connect.
# Settings stay durable (fsync, synchronous_commit), as in production.
#
# PostgreSQL refuses to run as root, so as root the cluster runs as Debian's
# "postgres" user and DIR is chowned to it. If that user cannot reach DIR
# (a parent directory it may not traverse), or the socket path would exceed
# the 107 bytes a unix socket address holds, the cluster lives in
# /tmp/edumon-pg-<hash of DIR> instead: DIR/.base records that location and
# DIR/data, DIR/sock and DIR/postgresql.log become symlinks into it.
#
# PGBIN may name the directory holding initdb and pg_ctl; by default the
# newest /usr/lib/postgresql/*/bin is used.
set -eu

PORT=5432
prog=pg-local

die() {
	echo "$prog: $*" >&2
	exit 1
}

usage() {
	echo "usage: $0 {init|start|stop|status|conninfo|destroy} DIR" >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir_arg=$2

find_pgbin() {
	if [ -n "${PGBIN:-}" ]; then
		[ -x "$PGBIN/pg_ctl" ] || die "PGBIN=$PGBIN has no pg_ctl"
		return
	fi
	PGBIN=$(for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/pg_ctl" ] && echo "$d"
	done | sort -V | tail -n 1)
	if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/pg_ctl" ]; then
		p=$(command -v pg_ctl 2>/dev/null) ||
			die "PostgreSQL server binaries not found (install postgresql: sh tools/install-deps.sh)"
		PGBIN=$(dirname "$p")
	fi
}

# Who runs the server: ourselves, or "postgres" when we are root.
if [ "$(id -u)" -eq 0 ]; then
	pguser=postgres
	id -u "$pguser" >/dev/null 2>&1 ||
		die "running as root but there is no '$pguser' user to run PostgreSQL as"
else
	pguser=
fi

# Run a command as the cluster owner, from "/" so that a working directory
# the owner cannot read does not matter.
as_pg() {
	if [ -n "$pguser" ]; then
		(cd / && runuser -u "$pguser" -- "$@")
	else
		(cd / && "$@")
	fi
}

own() {
	if [ -n "$pguser" ]; then
		chown "$pguser:" "$@"
	fi
}

# Resolve DIR and the base directory that really holds the cluster.
resolve() {
	[ -d "$dir_arg" ] || die "$dir_arg: no such directory (run: $0 init $dir_arg)"
	DIR=$(cd "$dir_arg" && pwd -P)
	if [ -f "$DIR/.base" ]; then
		BASE=$(cat "$DIR/.base")
	else
		BASE=$DIR
	fi
	DATA=$BASE/data
	SOCK=$BASE/sock
	LOG=$BASE/postgresql.log
}

initialised() {
	[ -f "$DATA/PG_VERSION" ]
}

running() {
	initialised && as_pg "$PGBIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

log_tail() {
	if [ -f "$LOG" ]; then
		echo "$prog: last lines of $LOG:" >&2
		tail -n 20 "$LOG" >&2 || true
	fi
}

do_init() {
	mkdir -p "$dir_arg"
	resolve
	if initialised; then
		echo "$prog: cluster already initialised in $DATA"
		return
	fi
	own "$DIR"
	sockpath="$DIR/sock/.s.PGSQL.$PORT"
	# shellcheck disable=SC2016 # $1 expands in the inner shell
	if [ "${#sockpath}" -gt 107 ]; then
		relocate "socket path $sockpath is longer than 107 bytes"
	elif ! as_pg sh -c 'test -x "$1" && test -w "$1"' sh "$DIR"; then
		relocate "user '$pguser' cannot reach $DIR"
	fi
	mkdir -p "$DATA" "$SOCK"
	chmod 700 "$DATA" "$SOCK"
	own "$BASE" "$DATA" "$SOCK"

	locale=C
	if locale -a 2>/dev/null | grep -qix 'c\.utf-\{0,1\}8'; then
		locale=C.UTF-8
	fi
	if ! as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --encoding UTF8 \
		--locale "$locale" >"$BASE/initdb.log" 2>&1; then
		cat "$BASE/initdb.log" >&2
		die "initdb failed in $DATA"
	fi
	cat >>"$DATA/postgresql.conf" <<EOF

# edumon private cluster (tools/pg-local.sh): unix socket only, durable.
listen_addresses = ''
unix_socket_directories = '$SOCK'
port = $PORT
max_connections = 150
fsync = on
synchronous_commit = on
full_page_writes = on
EOF
	echo "$prog: initialised cluster in $DATA ($locale, run as ${pguser:-$(id -un)})"
}

# Put the cluster under /tmp instead of DIR (see the header).
relocate() {
	hash=$(printf '%s' "$DIR" | cksum | cut -d ' ' -f 1)
	BASE=/tmp/edumon-pg-$hash
	echo "$prog: $1; using $BASE" >&2
	if [ -e "$BASE" ] || [ -L "$BASE" ]; then
		if [ ! -d "$BASE" ] || [ -L "$BASE" ]; then
			die "$BASE exists and is not a directory"
		fi
		owner=$(stat -c %U "$BASE")
		[ "$owner" = "$(id -un)" ] || [ "$owner" = "${pguser:-$(id -un)}" ] ||
			die "$BASE belongs to $owner; remove it or choose another DIR"
	else
		mkdir -m 700 "$BASE"
	fi
	DATA=$BASE/data
	SOCK=$BASE/sock
	LOG=$BASE/postgresql.log
	printf '%s\n' "$BASE" >"$DIR/.base"
	for n in data sock postgresql.log; do
		rm -f "$DIR/$n"
		ln -s "$BASE/$n" "$DIR/$n"
	done
}

do_start() {
	resolve
	initialised || die "no cluster in $DATA (run: $0 init $dir_arg)"
	if running; then
		echo "$prog: already running ($DATA)"
		return
	fi
	if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 -s start; then
		log_tail
		die "could not start the cluster in $DATA"
	fi
	i=0
	until as_pg "$PGBIN/pg_isready" -q -h "$SOCK" -p "$PORT"; do
		i=$((i + 1))
		if [ "$i" -ge 100 ]; then
			log_tail
			die "cluster in $DATA did not accept connections within 30 s"
		fi
		sleep 0.3
	done
	echo "$prog: started ($SOCK, port $PORT)"
}

do_stop() {
	resolve
	if ! running; then
		echo "$prog: not running ($DATA)"
		return
	fi
	if ! as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 60 -s stop; then
		log_tail
		die "could not stop the cluster in $DATA"
	fi
	echo "$prog: stopped ($DATA)"
}

do_status() {
	resolve
	if running; then
		echo "$prog: running ($SOCK, port $PORT)"
		exit 0
	fi
	if initialised; then
		echo "$prog: stopped ($DATA)"
	else
		echo "$prog: no cluster in $DATA"
	fi
	exit 3
}

do_conninfo() {
	resolve
	echo "host=$SOCK port=$PORT user=postgres dbname=edumon"
}

do_destroy() {
	[ -d "$dir_arg" ] || return 0
	do_stop
	if [ "$BASE" != "$DIR" ]; then
		rm -rf "$BASE"
	fi
	rm -rf "$DIR"
}

find_pgbin
case "$cmd" in
init) do_init ;;
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
conninfo) do_conninfo ;;
destroy) do_destroy ;;
*) usage ;;
esac
