#!/bin/sh
# install-deps.sh: make sure the Debian packages edumon builds, tests and
# runs with are installed. Idempotent and silent when nothing is missing, so
# every make target that needs the tools can call it first.
#
# As root it runs `apt-get update` once and installs what is missing, with no
# prompts (CI has no stdin). As anyone else it prints the command to run and
# exits 1. Debian's own "15/main" service cluster is not used: while
# installing, a temporary policy-rc.d keeps package scripts from starting
# services (if one already exists it is left alone).
set -eu

PACKAGES="build-essential pkg-config libevent-dev libpq-dev libcjson-dev
libcriterion-dev libssl-dev libcurl4-openssl-dev postgresql postgresql-contrib curl
valgrind prometheus-alertmanager"

missing=""
for p in $PACKAGES; do
	# "ii " is "install ok installed"; anything else (absent, half-configured,
	# removed with config files left) needs an install.
	s=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$s" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

echo "install-deps: missing Debian packages:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: not root; run this, then try again:" >&2
	echo "  sudo sh -c 'apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends$missing'" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
own_policy=no
cleanup() {
	if [ "$own_policy" = yes ]; then
		rm -f "$policy"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
if [ ! -e "$policy" ]; then
	# Exit status 101 tells invoke-rc.d "action forbidden": the packages
	# install, but no service (Debian's postgresql cluster) starts.
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod 755 "$policy"
	own_policy=yes
fi

apt-get update </dev/null
# shellcheck disable=SC2086 # word splitting of the package list is intended
apt-get install -y --no-install-recommends $missing </dev/null
echo "install-deps: installed:$missing" >&2
