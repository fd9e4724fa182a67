#!/bin/sh
# The daemon against the in-tree Vault-compatible server, as a service
# manager sees it: READY=1 only after the first certificates are written;
# certificates of 60 s renewed three times each at the expected point;
# restart and SIGHUP issue nothing, a changed SAN issues exactly once;
# `certd status/renew/reload` over the control socket; a Vault failing and
# then unreachable is retried with growing intervals, the files are kept,
# and the renewal comes right after Vault is back.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

NOTIFYD=$top_builddir/tests/notifyd
vault_config >"$T/vault.json"
vault_start "$T/vault.json"
export VAULT_TOKEN=s.certdtoken0000000000000
conf=$T/certd.conf
mport=$((20000 + $$ % 20000))
{
	certd_vault_conf "$VAULT_ADDR" "" | sed "s|^control_socket = .*|&\nmetrics_listen = 127.0.0.1:$mport|"
	TTL=60s cert_section a a.example.com
	TTL=60s cert_section b b.example.com
} >"$conf"

"$NOTIFYD" "$T/notify.sock" "$T/notify.log" &
NOTIFYD_PID=$!
trap 'kill $NOTIFYD_PID 2>/dev/null; cleanup' EXIT
i=0
while [ ! -S "$T/notify.sock" ]; do i=$((i + 1)); [ $i -lt 50 ] || fail "notifyd did not start"; sleep 0.1; done

start_daemon() {
	NOTIFY_SOCKET=$T/notify.sock "$CERTD" -c "$conf" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
}
stop_daemon() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	assert_eq $? 0 "exit status after SIGTERM"
	DAEMON_PID=
}
count() { grep -c -- "$1" "$T/daemon.log" || true; }
wait_count() { # needle count seconds
	i=0
	while [ "$(count "$1")" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || { tail -30 "$T/daemon.log" >&2; fail "timed out waiting for $2 x '$1'"; }
		kill -0 "$DAEMON_PID" 2>/dev/null || { tail -30 "$T/daemon.log" >&2; fail "the daemon died"; }
		sleep 0.1
	done
}
sign_times() { # CN -> times of its sign requests
	vault_ctl GET /_test/requests | jq -r --arg cn "$1" \
		'.requests[] | select(.path == "/v1/pki_int/sign/web") | select(.body | contains($cn)) | .time'
}

step "READY=1 after the first certificates are written"
start_daemon
wait_count "\[b\] next renewal" 1 20
wait_count "\[a\] next renewal" 1 20
i=0
while ! grep -q "READY=1" "$T/notify.log"; do i=$((i + 1)); [ $i -lt 50 ] || fail "no READY=1"; sleep 0.1; done
ready_ms=$(grep "READY=1" "$T/notify.log" | head -1 | cut -d' ' -f1)
for f in a b; do
	written_ms=$(($(stat -c %Y "$T/out/$f.key") * 1000))
	[ "$written_ms" -le "$ready_ms" ] || fail "READY=1 ($ready_ms) before $f was written ($written_ms)"
done
grep "READY=1" "$T/notify.log" | head -1 | grep -q "STATUS=2 valid, next: . in " ||
	fail "STATUS line: $(grep READY=1 "$T/notify.log" | head -1)"

step "control socket: status, malformed and oversized requests"
"$CERTD" -c "$conf" status --json >"$T/status.json" || fail "certd status failed"
assert_eq "$(jq -r '[.[] | .state] | join(",")' "$T/status.json")" "valid,valid" "states"
"$CERTD" -c "$conf" status >"$T/status.txt" || fail "certd status (table) failed"
assert_contains "$T/status.txt" "NEXT RENEWAL"
printf 'this is not json\n' | socat -t 5 - "UNIX-CONNECT:$T/control.sock" >"$T/bad.reply" 2>/dev/null || true
assert_contains "$T/bad.reply" '"ok":false'
head -c 1048576 /dev/zero | tr '\0' 'a' >"$T/big"
socat -t 5 - "UNIX-CONNECT:$T/control.sock" <"$T/big" >"$T/big.reply" 2>/dev/null || true
assert_contains "$T/big.reply" "request too large"
"$CERTD" -c "$conf" status --json >/dev/null || fail "status after bad requests"

step "three renewals of each certificate, at two thirds of the lifetime"
wait_count "\[a\] issued serial" 4 150
wait_count "\[b\] issued serial" 4 150
for cn in a.example.com b.example.com; do
	sign_times "$cn" >"$T/times"
	[ "$(wc -l <"$T/times")" -ge 4 ] || fail "$cn: fewer than 4 sign requests"
	prev=
	while read -r t; do
		if [ -n "$prev" ]; then
			gap=$((t - prev))
			# life 90 s (60 s + 30 s backdating): renewal 0.67*90-30 = 30 s after
			# issuance, minus up to 5% of 90 s of jitter, +-1 s of clock granularity
			[ "$gap" -ge 24 ] && [ "$gap" -le 32 ] || fail "$cn: renewal after ${gap}s, expected 26-31s"
		fi
		prev=$t
	done <"$T/times"
done

step "restart and SIGHUP issue nothing"
stop_daemon
vault_ctl DELETE /_test/counters >/dev/null
start_daemon
wait_count "valid, serial" 2 10
kill -HUP "$DAEMON_PID"
wait_count "configuration reloaded" 1 10
sleep 1
assert_eq "$(vault_issued)" 0 "issued after a restart and a SIGHUP"
grep -q "RELOADING=1" "$T/notify.log" || fail "no RELOADING=1"

step "a changed SAN and SIGHUP: exactly one issuance"
sed -i '/^\[cert.b\]$/,/^$/ s/^common_name = b.example.com$/common_name = b.example.com\nalt_names = b.example.com, b2.example.com/' "$conf"
kill -HUP "$DAEMON_PID"
wait_count "configuration reloaded" 2 10
wait_count "\[b\] re-issuing: names changed: certificate lacks requested DNS name \"b2.example.com\"" 1 10
wait_count "\[b\] issued serial" 5 10
"$OPENSSL" x509 -noout -ext subjectAltName -in "$T/out/b.crt" | grep -q "DNS:b2.example.com" || fail "new SAN missing"
sleep 1
assert_eq "$(vault_issued)" 1 "issued after the SAN change"

step "renew --force over the socket"
"$CERTD" -c "$conf" renew a --force >/dev/null || fail "certd renew --force"
wait_count "\[a\] re-issuing: forced by the operator" 1 10
"$CERTD" -c "$conf" reload >/dev/null || fail "certd reload"
wait_count "configuration reloaded" 3 10

step "Vault failing, then unreachable: files kept, retries grow, renewal on recovery"
before=$(cat "$T"/out/a.crt | sha256sum)
vault_ctl POST /_test/faults '{"path": "pki_int/sign/*", "action": "status", "status": 500, "json": {"errors": ["internal error"]}, "count": 0}' >/dev/null
wait_count "\[a\] .*retrying in" 3 60
"$CERTD" -c "$conf" status --json >"$T/failing.json"
jq -e '.[] | select(.name == "a") | .failures >= 1 and (.last_error | test("internal error"))' "$T/failing.json" >/dev/null ||
	fail "status does not show the failure: $(cat "$T/failing.json")"
curl -sS "http://127.0.0.1:$mport/metrics" >"$T/metrics.txt" || fail "no metrics"
grep -q 'certd_cert_renewal_failures_total{name="a"} [1-9]' "$T/metrics.txt" ||
	fail "metrics do not show the failures: $(grep failures "$T/metrics.txt")"
grep -q 'certd_cert_state{name="a",state="failing"} 3' "$T/metrics.txt" ||
	grep -q 'certd_cert_state{name="a",state="renewing"} 1' "$T/metrics.txt" || fail "metrics state of a"
assert_eq "$(cat "$T"/out/a.crt | sha256sum)" "$before" "a.crt while Vault fails"
# no hammering: the retries are spread by the backoff
attempts=$(vault_ctl GET /_test/counters | jq '.requests["POST /v1/pki_int/sign/web"] // 0')
port=$(cat "$T/vport0")
vault_stop
retries=$(count "\[a\] .*retrying in")
wait_count "\[a\] .*retrying in" $((retries + 2)) 30
grep "\[a\] .*retrying in" "$T/daemon.log" | tail -1 | grep -q "127.0.0.1:$port" ||
	fail "the unreachable address is not named: $(grep '\[a\] .*retrying in' "$T/daemon.log" | tail -1)"
grep -o "\[a\] .*retrying in [0-9]*s (failure [0-9]*)" "$T/daemon.log" | sed 's/.*failure \([0-9]*\))/\1/' >"$T/failures"
[ "$(tail -1 "$T/failures")" -ge 5 ] || fail "failure count does not grow: $(tr '\n' ' ' <"$T/failures")"
[ "$attempts" -lt 40 ] || fail "$attempts sign requests while failing: hammering"
assert_eq "$(cat "$T"/out/a.crt | sha256sum)" "$before" "a.crt while Vault is down"
"$VAULTSRV" --config "$T/vault.json" --port "$port" --quiet >"$T/vaultsrv-again.log" 2>&1 &
VAULT_PIDS=$!
issued=$(count "\[a\] issued serial")
wait_count "\[a\] issued serial" $((issued + 1)) 30
[ "$(cat "$T"/out/a.crt | sha256sum)" != "$before" ] || fail "a.crt not renewed after recovery"

stop_daemon
grep -q "STOPPING=1" "$T/notify.log" || fail "no STOPPING=1"
unset VAULT_TOKEN
assert_no_secrets "$T"/*.log
echo PASS
