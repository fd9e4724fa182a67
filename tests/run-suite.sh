#!/bin/sh
# The whole test suite of certd, as CI and the README run it:
#
#   1. installs what the build and the tests need (Debian 12, as root);
#   2. builds with warnings as errors and runs `make check`
#      (unit suites + scenario tests against the real binary);
#   3. builds again with ASan+UBSan and runs `make check` there;
#   4. runs every libFuzzer harness for 60 s (`make fuzz`): any crash, leak
#      or hang fails the suite;
#   5. runs `make distcheck`: the tarball builds warning-free, installs, and
#      passes the unit tests and two end-to-end scenarios (the whole suite
#      already ran twice on the same sources above).
#
# Builds are out of tree (_build, _build-asan) so that they coexist with the
# quick-start build.  Ends with one summary line; exits non-zero on failure.
set -eu

cd "$(dirname "$0")/.."
top=$(pwd)

PACKAGES="build-essential autoconf automake pkg-config openssl libssl-dev
libcurl4-openssl-dev libjansson-dev libevent-dev libsystemd-dev check curl jq socat systemd nginx-light dbus-daemon
faketime inotify-tools clang libclang-rt-14-dev"

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
	missing=
	for p in $PACKAGES; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if [ -n "$missing" ]; then
		echo "installing:$missing"
		apt-get update -qq
		# shellcheck disable=SC2086
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
	fi
fi

jobs=$(nproc 2>/dev/null || echo 2)
start=$(date +%s)

autoreconf -fi >/dev/null 2>&1 || autoreconf -fi

# build DIR CONFIGURE-ARGS... — configure, build and check; report counts.
build() {
	dir=$1
	shift
	rm -rf "$top/$dir"
	mkdir -p "$top/$dir"
	cd "$top/$dir"
	echo "== $dir: configure $*"
	"$top/configure" "$@" >configure.log 2>&1 || { cat configure.log; exit 1; }
	echo "== $dir: make"
	make -j"$jobs" >make.log 2>&1 || { cat make.log; exit 1; }
	echo "== $dir: make check"
	if ! make -j"$jobs" check >check.log 2>&1; then
		cat check.log
		for log in tests/*.log; do
			grep -q '^FAIL\|^ERROR' "${log%.log}.trs" 2>/dev/null || continue
			echo "---- $log"
			cat "$log"
		done
		exit 1
	fi
	sed -n 's/^# \(TOTAL\|PASS\|SKIP\|FAIL\|XFAIL\|XPASS\|ERROR\): *\([0-9]*\)/\1=\2/p' check.log |
		tr '\n' ' '
	echo
	cd "$top"
}

build _build --enable-werror
total=$(sed -n 's/^# TOTAL: *//p' "$top/_build/check.log")
build _build-asan --enable-werror --enable-sanitizers
total_asan=$(sed -n 's/^# TOTAL: *//p' "$top/_build-asan/check.log")

echo "== _build: make fuzz (60 s per harness)"
(cd "$top/_build" && make fuzz FUZZ_TIME=60 >fuzz.log 2>&1) ||
	{ tail -60 "$top/_build/fuzz.log"; exit 1; }
sed -n '/^harness /,$p' "$top/_build/fuzz.log"
harnesses=$(grep -c ' ok$' "$top/_build/fuzz.log" || true)

echo "== _build: make distcheck"
dist_tests="$(cd "$top/_build" && make -s print-unit-tests | tail -1) tests/once_quickstart.sh tests/vault_pki.sh"
(cd "$top/_build" && make -j"$jobs" distcheck TESTS="$dist_tests" >distcheck.log 2>&1) ||
	{ tail -100 "$top/_build/distcheck.log"; exit 1; }

echo "certd test suite: PASS — $total tests, $total_asan tests under ASan+UBSan, $harnesses fuzz harnesses x 60 s without a crash, distcheck OK ($(($(date +%s) - start))s)"
