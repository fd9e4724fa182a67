#!/bin/sh
# The daemon on the local CA with a 12-second certificate: it issues at
# start, renews at about two thirds of the lifetime (minus jitter of up to
# 5%), keeps the set valid, and stops cleanly on SIGTERM.
. "$top_srcdir/tests/lib.sh"

conf=$(quickstart_conf)
sed -i 's/^ttl = 1m$/ttl = 12s/' "$conf"
out=$T/out

step "start the daemon"
"$CERTD" -c "$conf" >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!

# Wait for the first issuance, then for two renewals (at ~8 s and ~16 s).
wait_for_count() { # needle count timeout
	i=0
	while [ "$(grep -c -- "$1" "$T/daemon.log")" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || { cat "$T/daemon.log" >&2; fail "timed out waiting for $2 x '$1'"; }
		kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/daemon.log" >&2; fail "daemon died"; }
		sleep 0.1
	done
}
wait_for_count "issued serial" 1 10
start=$(date +%s)
serial1=$(serial_of "$out/quickstart.crt")
wait_for_count "next renewal" 1 5
wait_for_count "issued serial" 2 15
first_renewal=$(($(date +%s) - start))
serial2=$(serial_of "$out/quickstart.crt")
assert_ne "$serial2" "$serial1" "serial after the first renewal"
# 67% of 12 s is 8 s; jitter takes at most 5% (0.6 s) off; the loop adds
# its polling delay.  Anything from 6 s to 10 s is on time.
[ "$first_renewal" -ge 6 ] && [ "$first_renewal" -le 10 ] ||
	fail "first renewal after ${first_renewal}s, expected about 8s"
"$OPENSSL" verify -CAfile "$T/state/local-ca/ca.crt" "$out/fullchain.pem" >/dev/null 2>&1 ||
	fail "renewed set does not verify"
wait_for_count "issued serial" 3 15

step "SIGTERM stops it cleanly"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
status=$?
DAEMON_PID=
assert_eq "$status" 0 "exit status after SIGTERM"
assert_contains "$T/daemon.log" "received SIGTERM, stopping"
assert_contains "$T/daemon.log" "stopped"
ls -a "$out" | grep -q '\.certd-' && fail "temporary files left in $out"

echo "PASS"
