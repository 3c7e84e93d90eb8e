#!/bin/sh
# run-tests.sh: run Criterion test binaries and add up their results.
#
#   sh tools/run-tests.sh [--valgrind] BUILD_DIR TEST...
#
# When any TEST is an integration test (test_it_*), one private PostgreSQL
# cluster is started for the whole run (tools/pg-local.sh, in a temporary
# directory) and EDUMON_TEST_PGHOST / EDUMON_TEST_PGPORT point the tests at
# it. EDUMON_BUILD_DIR is always exported (absolute) and EDUMON_TEST_TMPDIR
# names a scratch directory removed at the end (daemon logs go there; set
# EDUMON_KEEP_TEST_TMP=1 to keep it).
#
# Each binary's output is shown as it runs; its Criterion "Synthesis" line is
# parsed (Criterion counts crashes among the failures). A binary that exits
# non-zero, prints no synthesis line, or (with --valgrind) makes valgrind
# report an error counts as one more failure. The last line is
# "N passed, M failed"; the exit status is non-zero if anything failed.
#
# --valgrind runs each binary under memcheck with -j1. Criterion runs every
# test in a child process whose exit status it does not check, so valgrind's
# verdict is read from its per-process logs instead of its exit code. For
# the same reason, sanitizer reports (make SANITIZE=...: a leak found when a
# test process exits, or one in the daemon or CLI a test ran) are written to
# per-binary files (log_path in ASAN_OPTIONS/UBSAN_OPTIONS); any such file
# is shown and counts as a failure.
#
# Alertmanager (a Go program some tests start) is not run under valgrind:
# its memory is Go's business, and memcheck would only slow it down.
#
# EDUMON_TEST_TIMEOUT (seconds, default 600; 1800 under valgrind) bounds each
# binary: Criterion's own --timeout does not stop a hung test in 2.4.
# EDUMON_VALGRIND_JOBS (default 1) is Criterion's -j under valgrind; each
# process logs to its own file, so more than one job is safe, and each test
# costs ~2 s of valgrind start-up.
#
# Address-space randomisation is turned off for the test binaries (setarch
# -R, where permitted): Criterion 2.4 runs each test in a re-executed copy of
# the binary and hands ParameterizedTest parameters over by value, so a
# parameter holding a pointer to static data (a string literal) is only
# valid if both copies are loaded at the same address.
set -eu

prog=run-tests
use_valgrind=no
if [ "${1:-}" = --valgrind ]; then
	use_valgrind=yes
	shift
fi
if [ $# -lt 1 ]; then
	echo "usage: $0 [--valgrind] BUILD_DIR TEST..." >&2
	exit 2
fi
build=$1
shift

root=$(cd "$(dirname "$0")/.." && pwd)

# Quiet when nothing is missing.
sh "$root/tools/install-deps.sh"

if [ "$use_valgrind" = yes ]; then
	command -v valgrind >/dev/null 2>&1 || {
		echo "$prog: valgrind is not installed" >&2
		exit 1
	}
	limit=${EDUMON_TEST_TIMEOUT:-1800}
else
	limit=${EDUMON_TEST_TIMEOUT:-600}
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/edumon-test.XXXXXX")
# The cluster may run as another user (postgres, when we are root): it must
# be able to reach $work/pg.
chmod 755 "$work"
pg_started=no

cleanup() {
	st=$?
	if [ "$pg_started" = yes ]; then
		sh "$root/tools/pg-local.sh" stop "$work/pg" >/dev/null ||
			echo "$prog: could not stop the test cluster in $work/pg" >&2
	fi
	if [ "${EDUMON_KEEP_TEST_TMP:-0}" = 1 ]; then
		echo "$prog: kept $work" >&2
	else
		if [ "$pg_started" = yes ]; then
			sh "$root/tools/pg-local.sh" destroy "$work/pg" >/dev/null 2>&1 || true
		fi
		rm -rf "$work"
	fi
	exit "$st"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

need_pg=no
for t in "$@"; do
	case ${t##*/} in
	test_it_*) need_pg=yes ;;
	esac
done

if [ "$need_pg" = yes ]; then
	sh "$root/tools/pg-local.sh" init "$work/pg" >/dev/null
	pg_started=yes
	sh "$root/tools/pg-local.sh" start "$work/pg" >/dev/null
	ci=$(sh "$root/tools/pg-local.sh" conninfo "$work/pg")
	host=${ci#host=}
	host=${host%% *}
	port=${ci#* port=}
	port=${port%% *}
	export EDUMON_TEST_PGHOST="$host" EDUMON_TEST_PGPORT="$port"
	echo "$prog: test cluster at $host (port $port)"
fi

EDUMON_BUILD_DIR=$(cd "$build" && pwd)
EDUMON_TEST_TMPDIR=$work/tmp
mkdir -p "$EDUMON_TEST_TMPDIR"
export EDUMON_BUILD_DIR EDUMON_TEST_TMPDIR

norandom=
if setarch "$(uname -m)" -R true >/dev/null 2>&1; then
	norandom="setarch $(uname -m) -R"
fi

esc=$(printf '\033')
passed=0
failed=0

for t in "$@"; do
	name=${t##*/}
	if [ ! -x "$t" ]; then
		echo "$prog: $t: not built" >&2
		failed=$((failed + 1))
		continue
	fi
	echo "== $name"
	t0=$(date +%s)
	out=$work/$name.out
	vgdir=$work/vg-$name
	sandir=$work/san-$name
	mkdir -p "$sandir"
	if [ "$use_valgrind" = yes ]; then
		mkdir -p "$vgdir"
		set -- valgrind --leak-check=full --show-leak-kinds=definite,indirect \
			--errors-for-leak-kinds=definite,indirect --error-exitcode=99 \
			--trace-children=yes --trace-children-skip='*alertmanager' \
			--log-file="$vgdir/%p.log" \
			"$t" -j"${EDUMON_VALGRIND_JOBS:-1}"
	else
		set -- "$t"
	fi
	# "$@" was the test list; the loop already expanded it, so reusing the
	# positional parameters for the command line is safe.
	{
		ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$sandir/asan"
		UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:log_path=$sandir/ubsan"
		export ASAN_OPTIONS UBSAN_OPTIONS
		rc=0
		# shellcheck disable=SC2086 # $norandom is a command prefix or empty
		timeout -k 10 "$limit" $norandom "$@" 2>&1 || rc=$?
		echo "$rc" >"$work/rc"
	} | tee "$out"
	rc=$(cat "$work/rc")

	line=$(sed "s/$esc\[[0-9;]*m//g" "$out" | grep 'Synthesis: Tested:' | tail -n 1 || true)
	p=$(printf '%s\n' "$line" | sed -n 's/.*Passing: *\([0-9][0-9]*\).*/\1/p')
	f=$(printf '%s\n' "$line" | sed -n 's/.*Failing: *\([0-9][0-9]*\).*/\1/p')
	bad=no
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "$prog: $name: timed out after ${limit}s" >&2
		bad=yes
	fi
	if [ -z "$p" ] || [ -z "$f" ]; then
		if [ "$bad" = no ]; then
			echo "$prog: $name: no Criterion synthesis line (exit status $rc)" >&2
		fi
		p=0
		f=0
		bad=yes
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && [ "$bad" = no ]; then
		echo "$prog: $name: exited with status $rc" >&2
		bad=yes
	fi
	if [ "$use_valgrind" = yes ]; then
		for log in "$vgdir"/*.log; do
			[ -f "$log" ] || continue
			if grep -q 'ERROR SUMMARY: [1-9]' "$log"; then
				echo "$prog: $name: valgrind errors ($log):" >&2
				cat "$log" >&2
				bad=yes
			fi
		done
	fi
	for log in "$sandir"/*; do
		[ -f "$log" ] || continue
		echo "$prog: $name: sanitizer report ($log):" >&2
		cat "$log" >&2
		bad=yes
	done
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$bad" = yes ]; then
		failed=$((failed + 1))
	fi
	echo "-- $name: $p passed, $f failed, $(($(date +%s) - t0))s"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
