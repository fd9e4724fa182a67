# tests/lib.sh — shared helpers of the scenario tests (sourced).
#
# Each scenario drives the real binary ($CERTD) the way an operator would
# and checks the results with the openssl command-line tool.  Exit 0 is a
# pass, 77 a skip (automake's convention), anything else a failure.

set -u

: "${CERTD:?CERTD must point at the certd binary}"
: "${top_srcdir:?}"
OPENSSL=${OPENSSL:-openssl}

T=$(mktemp -d "${TMPDIR:-/tmp}/certd-scenario-XXXXXX")
cleanup() {
	[ -n "${DAEMON_PID:-}" ] && kill "$DAEMON_PID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

assert_eq() { # got want what
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

assert_ne() { # a b what
	[ "$1" != "$2" ] || fail "$3: both are '$1'"
}

assert_contains() { # file needle
	grep -qF -- "$2" "$1" || { echo "--- $1:" >&2; cat "$1" >&2; fail "$1 does not contain: $2"; }
}

assert_not_contains() { # file needle
	if grep -qF -- "$2" "$1"; then
		echo "--- $1:" >&2; cat "$1" >&2; fail "$1 contains: $2"
	fi
}

# run_certd LOG ARGS... — runs certd, stderr+stdout to LOG, returns its status.
run_certd() {
	log=$1
	shift
	"$CERTD" "$@" >"$log" 2>&1
}

serial_of() { "$OPENSSL" x509 -noout -serial -in "$1" | sed 's/^serial=//'; }

# mtime with nanoseconds, to see whether a file was rewritten.
mtime_of() { stat -c '%y' "$1"; }

mode_of() { stat -c '%a' "$1"; }

# The quick-start config with its /tmp/certd-quickstart paths moved into $T.
quickstart_conf() {
	sed "s|/tmp/certd-quickstart|$T|g" "$top_srcdir/config/quickstart.conf" >"$T/quickstart.conf"
	echo "$T/quickstart.conf"
}
