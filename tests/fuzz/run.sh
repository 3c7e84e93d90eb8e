#!/bin/sh
# tests/fuzz/run.sh [SECONDS]: build every libFuzzer harness
# tests/fuzz/fuzz_<name>.c into build/fuzz/ with clang
# -fsanitize=fuzzer,address,undefined, then run each for SECONDS (default
# 30) on a fresh copy of tests/fuzz/corpus/<name>/ (an empty corpus if there
# is none).
#
# A harness is linked with lib/X.c for every "X.h" it includes, followed
# transitively through lib/ headers and sources (fuzz_csv.c gets lib/csv.c
# and lib/util.c), and with libcjson and libm: a new harness needs no change
# here.
#
# A crash, a leak, a timeout or a sanitizer report leaves the input in
# build/fuzz/<name>/ (crash-*, leak-*, timeout-*) and makes the exit status
# non-zero, as does a harness that does not build; every harness runs
# anyway. Reproduce with
#   build/fuzz/fuzz_<name> build/fuzz/<name>/crash-...
# and turn the input into a regression test in tests/test_<module>.c.
#
# Needs clang and its fuzzer runtime (Debian: clang, libclang-rt-dev). When
# they are missing and we are root under CI they are installed; otherwise
# the script says what to install and fails.
set -eu

cd "$(dirname "$0")/../.."
secs=${1:-30}
CLANG=${CLANG:-clang}
out=build/fuzz

case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac

# Can clang link a fuzzer? (libFuzzer lives in libclang-rt-*-dev.)
can_fuzz() {
	command -v "$CLANG" >/dev/null 2>&1 || return 1
	printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n);\n%s\n' \
	    'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
	    >"$out/probe.c"
	"$CLANG" -fsanitize=fuzzer -o "$out/probe" "$out/probe.c" >/dev/null 2>&1
}

mkdir -p "$out"
if ! can_fuzz; then
	if [ "$(id -u)" -eq 0 ] && [ "${CI:-}" = true ]; then
		echo "fuzz: installing clang and its fuzzer runtime" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		    clang libclang-rt-dev </dev/null >&2 ||
		    { apt-get update </dev/null >&2 &&
		      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
		          clang libclang-rt-dev </dev/null >&2; }
	fi
	if ! can_fuzz; then
		echo "fuzz: $CLANG cannot build libFuzzer harnesses;" \
		    "install clang and libclang-rt-dev" >&2
		exit 1
	fi
fi
rm -f "$out/probe" "$out/probe.c"

cflags="-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -Ilib
-Wall -Wextra -Werror -fno-omit-frame-pointer
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
$(pkg-config --cflags libcjson)"
libs="$(pkg-config --libs libcjson libcrypto) -lm"

# lib_sources FILE: lib/X.c for every "X.h" that FILE includes, directly or
# through other lib/ headers and sources.
lib_sources() {
	todo=$1
	seen=
	srcs=
	while [ -n "$todo" ]; do
		# shellcheck disable=SC2086 # a list of paths without spaces
		set -- $todo
		f=$1
		shift
		todo=$*
		# shellcheck disable=SC2013 # the words are header names
		for h in $(sed -n 's/^#include "\([A-Za-z0-9_]*\)\.h".*/\1/p' "$f"); do
			case " $seen " in
			*" $h "*) continue ;;
			esac
			seen="$seen $h"
			[ -f "lib/$h.h" ] && todo="$todo lib/$h.h"
			[ -f "lib/$h.c" ] && todo="$todo lib/$h.c" && srcs="$srcs lib/$h.c"
		done
	done
	echo "${srcs# }"
}

status=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	module=${name#fuzz_}
	files=$(lib_sources "$src")
	echo "fuzz: building $out/$name from $src $files"
	# shellcheck disable=SC2086 # the flag and file lists are meant to split
	if ! "$CLANG" $cflags -o "$out/$name" "$src" $files $libs; then
		echo "fuzz: $name: build failed" >&2
		status=1
		continue
	fi
	work=$out/$module
	rm -rf "$work" "$work.corpus"
	mkdir -p "$work"
	if [ -d "tests/fuzz/corpus/$module" ]; then
		cp -R "tests/fuzz/corpus/$module" "$work.corpus"
	else
		mkdir -p "$work.corpus"
	fi
	echo "fuzz: running $name for ${secs}s"
	if ! "$out/$name" -max_total_time="$secs" -timeout=10 -max_len=65536 \
	    -print_final_stats=1 -artifact_prefix="$work/" "$work.corpus" \
	    >"$work/log" 2>&1; then
		echo "fuzz: $name FAILED; input in $work/, log follows" >&2
		tail -n 60 "$work/log" >&2
		status=1
	else
		grep -E '^stat::number_of_executed_units|^Done ' "$work/log" || true
	fi
done
exit $status
