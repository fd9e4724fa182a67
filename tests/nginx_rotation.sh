#!/bin/sh
# The real nginx serving a certificate certd renews from the in-tree
# Vault-compatible server every ~30 s: a client keeps making HTTPS requests
# for the whole run and none fails; the served serial follows every
# renewal.  Then the probe is pointed at the wrong port: the next renewal is
# rolled back — the previous certificate is on disk and served again — and
# the failure shows in `certd status` and in the metrics.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

NGINX=${NGINX:-/usr/sbin/nginx}
[ -x "$NGINX" ] || fail "nginx is needed: apt-get install nginx-light"

free_port() { # a port nothing listens on now
	python_free=$(( 20000 + ($$ * 7 + $1) % 30000 ))
	echo "$python_free"
}
HTTPS_PORT=$(free_port 1)
METRICS_PORT=$(free_port 2)

vault_config >"$T/vault.json"
vault_start "$T/vault.json"
curl -sS "$VAULT_ADDR/v1/pki/ca/pem" >"$T/root.pem"
export VAULT_TOKEN=s.certdtoken0000000000000

conf=$T/certd.conf
{
	certd_vault_conf "$VAULT_ADDR" "" | sed "s|^control_socket = .*|&\nmetrics_listen = 127.0.0.1:$METRICS_PORT|"
	TTL=60s cert_section web localhost "probe = 127.0.0.1:$HTTPS_PORT
probe_sni = localhost
probe_attempts = 5"
	cat <<CONF

[cert.web.reload.nginx]
type = signal
signal = HUP
pidfile = $T/nginx.pid
CONF
} >"$conf"

step "first certificate, then nginx"
run_certd "$T/first.log" --once -c "$conf" || fail "first issuance: $(cat "$T/first.log")"
mkdir -p "$T/nginx/logs"
cat >"$T/nginx.conf" <<NGINX
daemon off;
pid $T/nginx.pid;
error_log $T/nginx/logs/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $T/nginx/body;
	proxy_temp_path $T/nginx/proxy;
	fastcgi_temp_path $T/nginx/fastcgi;
	uwsgi_temp_path $T/nginx/uwsgi;
	scgi_temp_path $T/nginx/scgi;
	server {
		listen 127.0.0.1:$HTTPS_PORT ssl;
		server_name localhost;
		ssl_certificate $T/out/web-full.pem;
		ssl_certificate_key $T/out/web.key;
		location / { return 200 "ok\\n"; }
	}
}
NGINX
"$NGINX" -c "$T/nginx.conf" -p "$T/nginx" >"$T/nginx.out" 2>&1 &
NGINX_PID=$!
trap 'kill $CLIENT_PID $NGINX_PID 2>/dev/null; cleanup' EXIT
i=0
while ! curl -s --cacert "$T/root.pem" "https://localhost:$HTTPS_PORT/" >/dev/null 2>&1; do
	i=$((i + 1)); [ $i -lt 50 ] || { cat "$T/nginx.out" "$T/nginx/logs/error.log"; fail "nginx did not start"; }
	sleep 0.1
done

served() {
	echo | "$OPENSSL" s_client -connect "127.0.0.1:$HTTPS_PORT" -servername localhost 2>/dev/null |
		"$OPENSSL" x509 -noout -serial | sed 's/serial=//'
}

step "the daemon renews while a client keeps requesting"
: >"$T/codes"
( while :; do
	curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 --cacert "$T/root.pem" \
		"https://localhost:$HTTPS_PORT/" >>"$T/codes" 2>/dev/null || echo "curl-failed" >>"$T/codes"
done ) &
CLIENT_PID=$!
"$CERTD" -c "$conf" >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
count() { grep -c -- "$1" "$T/daemon.log" || true; }
wait_count() {
	i=0
	while [ "$(count "$1")" -lt "$2" ]; do
		i=$((i + 1))
		[ $i -le $(($3 * 10)) ] || { tail -20 "$T/daemon.log" >&2; fail "timed out waiting for $2 x '$1'"; }
		kill -0 "$DAEMON_PID" 2>/dev/null || { tail -20 "$T/daemon.log" >&2; fail "the daemon died"; }
		sleep 0.1
	done
}
serials=$(served)
for n in 1 2 3; do
	wait_count "\[web\] delivered: reloaded, the probe sees the new certificate" "$n" 60
	now=$(served)
	on_disk=$(serial_of "$T/out/web.crt")
	assert_eq "$now" "$on_disk" "served serial after renewal $n"
	case " $serials " in *" $now "*) fail "renewal $n: nginx still serves an earlier serial $now";; esac
	serials="$serials $now"
done
kill "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null
CLIENT_PID=
total=$(wc -l <"$T/codes")
failed=$(grep -vc '^200$' "$T/codes" || true)
echo "requests: $total, failed: $failed, serials served: $serials"
[ "$total" -gt 50 ] || fail "only $total requests were made"
assert_eq "$failed" 0 "failed HTTPS requests during the renewals"

step "a probe against the wrong port: rolled back, visible in status and metrics"
good=$(serial_of "$T/out/web.crt")
sed -i "s|^probe = 127.0.0.1:$HTTPS_PORT\$|probe = 127.0.0.1:1|" "$conf"
kill -HUP "$DAEMON_PID"
wait_count "configuration reloaded" 1 10
wait_count "\[web\] .*delivery failed: probe 127.0.0.1:1: .*; the previous files are back in place and reloaded" 1 90
assert_eq "$(serial_of "$T/out/web.crt")" "$good" "serial on disk after the rollback"
"$OPENSSL" x509 -noout -pubkey -in "$T/out/web.crt" >"$T/p1"
"$OPENSSL" pkey -pubout -in "$T/out/web.key" >"$T/p2"
cmp -s "$T/p1" "$T/p2" || fail "key and certificate do not match after the rollback"
# nginx applies the second HUP (after the rollback) in its own time.
i=0
while [ "$(served)" != "$good" ]; do
	i=$((i + 1))
	[ $i -le 50 ] || fail "serial served after the rollback: $(served), want $good"
	sleep 0.2
done
"$CERTD" -c "$conf" status --json >"$T/status.json"
jq -e '.[0].state == "failing" and (.[0].last_error | test("probe"))' "$T/status.json" >/dev/null ||
	fail "status: $(cat "$T/status.json")"
curl -sS "http://127.0.0.1:$METRICS_PORT/metrics" | grep -q 'certd_cert_state{name="web",state="failing"} 3' ||
	grep -q 'certd_cert_state{name="web",state="renewing"} 1' "$T/status.json" ||
	fail "metrics do not show the failure"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=
unset VAULT_TOKEN
assert_no_secrets "$T"/*.log
echo PASS
