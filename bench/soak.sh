#!/bin/sh
# Benchmark (not a test): the daemon renewing continuously for a long time.
#
#   sh bench/soak.sh [MINUTES] [BUILD_DIR]
#
# Runs the daemon (BUILD_DIR, default _build) with 200 certificates of 30 s
# lifetime from the local CA for MINUTES (default 30): each is renewed
# about every 19 s, so the daemon issues, verifies and publishes about ten
# certificates a second the whole time.  Every 30 s it samples the
# daemon's RSS (VmRSS from /proc/PID/status), its open file descriptors
# (/proc/PID/fd) and its CPU time (utime + stime from /proc/PID/stat), and
# asks `certd status --json` over the control socket.  At the end it stops
# the daemon with SIGTERM and reports renewals, failures, RSS, fds and CPU.
#
# The start figures are taken after the first pass (READY=1 from the
# daemon, through a test-owned NOTIFY_SOCKET, plus one sampling interval so
# that the first renewals have run too).
set -eu
MINUTES=${1:-30}
B=$(cd "${2:-_build}" && pwd)
N=${SOAK_CERTS:-200}
INTERVAL=30
CERTD=$B/daemon/certd
T=$(mktemp -d "${TMPDIR:-/tmp}/certd-soak-XXXXXX")
DPID=
NPID=
trap 'kill $DPID $NPID 2>/dev/null; rm -rf "$T"' EXIT

{
	printf '[certd]\nstate_dir = %s/state\ncontrol_socket = %s/control.sock\nttl = 30s\n' "$T" "$T"
	printf '\n[local_ca]\ncommon_name = certd soak CA\nmax_ttl = 1h\n'
	i=0
	while [ $i -lt "$N" ]; do
		printf '\n[cert.c%d]\ncommon_name = c%d.example.com\ncert = %s/out/c%d.crt\nkey = %s/out/c%d.key\nfullchain = %s/out/c%d-full.pem\n' \
			$i $i "$T" $i "$T" $i "$T" $i
		i=$((i + 1))
	done
} >"$T/certd.conf"
"$CERTD" --check-config -c "$T/certd.conf" >/dev/null

hz=$(getconf CLK_TCK)
rss() { awk '/^VmRSS:/ { print $2 }' /proc/"$DPID"/status; }
rss_parts() { awk '/^Rss(Anon|File):/ { v = v (v == "" ? "" : "/") $2 } END { print v }' /proc/"$DPID"/status; }
fds() { ls /proc/"$DPID"/fd | wc -l; }
cpu() { # user and system seconds of the daemon (all threads)
	sed 's/^.*) //' /proc/"$DPID"/stat | awk -v hz="$hz" '{ printf "%.2f %.2f", $12 / hz, $13 / hz }'
}
issued() { grep -c "issued serial" "$T/daemon.log" || true; }
failed() { grep -c "retrying in\|: error: " "$T/daemon.log" || true; }
status_sum() { # sum of issued_total and of failures over all certificates, states
	"$CERTD" -c "$T/certd.conf" status --json >"$T/status.json" || { echo "status failed"; return; }
	jq -r '"issued_total \([.[].issued_total] | add) failures \([.[].failures] | add) states \([.[].state] | group_by(.) | map("\(.[0])=\(length)") | join(","))"' "$T/status.json"
}

"$B/tests/notifyd" "$T/notify.sock" "$T/notify.log" &
NPID=$!
i=0
while [ ! -S "$T/notify.sock" ]; do i=$((i + 1)); [ $i -lt 50 ] || exit 1; sleep 0.1; done

echo "soak: $N certificates of 30 s from the local CA, $MINUTES min, $(nproc) cores, $(uname -r)"
echo "build: $B"
NOTIFY_SOCKET=$T/notify.sock "$CERTD" -c "$T/certd.conf" >"$T/daemon.log" 2>&1 &
DPID=$!
t_start=$(date +%s)
while ! grep -q READY=1 "$T/notify.log" 2>/dev/null; do
	kill -0 "$DPID" 2>/dev/null || { tail -20 "$T/daemon.log"; exit 1; }
	sleep 0.1
done
echo "first pass done (READY=1) after $(($(date +%s) - t_start)) s; issued $(issued)"
sleep "$INTERVAL"

printf '%-8s %-10s %-12s %-5s %-14s %-8s %-8s %s\n' "t(s)" "RSS(KiB)" "anon/file" "fds" "CPU u/s (s)" "issued" "failed" "status"
sample() {
	printf '%-8s %-10s %-12s %-5s %-14s %-8s %-8s %s\n' "$(($(date +%s) - t0))" "$(rss)" "$(rss_parts)" "$(fds)" "$(cpu | tr ' ' /)" \
		"$(issued)" "$(failed)" "$(status_sum)"
}
t0=$(date +%s)
rss0=$(rss)
parts0=$(rss_parts)
fds0=$(fds)
cpu0=$(cpu)
issued0=$(issued)
sample
end=$((t0 + MINUTES * 60))
rss_max=$rss0
while [ "$(date +%s)" -lt "$end" ]; do
	sleep "$INTERVAL"
	kill -0 "$DPID" 2>/dev/null || { tail -20 "$T/daemon.log"; echo "the daemon died"; exit 1; }
	r=$(rss)
	[ "$r" -gt "$rss_max" ] && rss_max=$r
	sample
done
rss1=$(rss)
parts1=$(rss_parts)
[ "$rss1" -gt "$rss_max" ] && rss_max=$rss1
fds1=$(fds)
cpu1=$(cpu)
issued1=$(issued)
final=$(status_sum)
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
DPID=
elapsed=$(($(date +%s) - t_start))

echo
echo "daemon ran ${elapsed} s; exit status after SIGTERM: $rc"
echo "issuances (log lines \"issued serial\"): $issued1 total, $((issued1 - N)) renewals; $((issued1 - issued0)) during the measured $MINUTES min"
echo "status --json at the end: $final"
echo "failures (log lines \"retrying in\" or \": error: \"): $(failed)"
echo "warnings in the log: $(grep -c ': warning: ' "$T/daemon.log" || true)"
echo "RSS: ${rss0} KiB at start (after the first pass), ${rss1} KiB at the end, ${rss_max} KiB at most"
echo "RSS anon/file: ${parts0} KiB at start, ${parts1} KiB at the end"
echo "state directory at the end: $(du -sk "$T/state" | cut -f1) KiB, of which local-ca/issued.log $(($(stat -c %s "$T/state/local-ca/issued.log") / 1024)) KiB"
echo "fds: ${fds0} at start, ${fds1} at the end"
echo "$cpu0 $cpu1 $issued0 $issued1" | awk '{ u = $3 - $1; s = $4 - $2; n = $6 - $5;
	printf "CPU during the measured interval: user %.2f s + sys %.2f s = %.2f s", u, s, u + s;
	if (n > 0) printf " (%.2f ms per issuance)", (u + s) * 1000 / n; printf "\n" }'
echo "CPU in total: user/sys $(echo "$cpu1" | tr ' ' /) s (including the first pass)"
grep -v "issued serial\|next renewal\|re-issuing: due for renewal\|issuing: no certificate yet" "$T/daemon.log" |
	sort | uniq -c | sort -rn | head -10 | sed 's/^/  other log lines: /'
