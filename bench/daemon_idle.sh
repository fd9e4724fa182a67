#!/bin/sh
# Benchmark (not a test): the daemon at rest.
#
#   sh bench/daemon_idle.sh [N] [BUILD_DIR] [IDLE_SECONDS]
#
# Issues N certificates (default 10000) from the local CA with certd --once
# (30-day lifetime, so nothing is due afterwards), then starts the daemon
# with a test-owned NOTIFY_SOCKET and reports:
#   - start-up time: from exec to READY=1 (every certificate judged and
#     scheduled);
#   - RSS once idle (VmRSS from /proc/PID/status);
#   - wake-ups while idle: context switches of the daemon's threads over
#     IDLE_SECONDS (default 60), from /proc/PID/task/*/status.
set -eu
N=${1:-10000}
B=$(cd "${2:-_build}" && pwd)
IDLE=${3:-60}
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/certd-bench-XXXXXX")
trap 'kill $DPID $NPID 2>/dev/null; rm -rf "$T"' EXIT
DPID=
NPID=

{
	printf '[certd]\nstate_dir = %s/state\ncontrol_socket = %s/control.sock\nttl = 30d\n' "$T" "$T"
	printf '[local_ca]\nmax_ttl = 90d\nmax_in_flight = 8\n'
	i=0
	while [ $i -lt "$N" ]; do
		printf '\n[cert.c%d]\ncommon_name = c%d.example.com\ncert = %s/out/c%d.crt\nkey = %s/out/c%d.key\n' \
			$i $i "$T" $i "$T" $i
		i=$((i + 1))
	done
} >"$T/certd.conf"

t0=$(date +%s.%N)
"$B/daemon/certd" --once -c "$T/certd.conf" >"$T/once.log" 2>&1 ||
	{ grep -v "issued serial\|next renewal\|issuing: no" "$T/once.log" | tail -20; exit 1; }
t1=$(date +%s.%N)
echo "issued $N certificates from the local CA with --once in $(echo "$t1 - $t0" | bc)s"

"$B/tests/notifyd" "$T/notify.sock" "$T/notify.log" &
NPID=$!
sleep 0.2
t0=$(date +%s%N)
NOTIFY_SOCKET=$T/notify.sock "$B/daemon/certd" -c "$T/certd.conf" >"$T/daemon.log" 2>&1 &
DPID=$!
while ! grep -q READY=1 "$T/notify.log" 2>/dev/null; do sleep 0.01; done
ready=$(grep READY=1 "$T/notify.log" | head -1 | cut -d' ' -f1)
echo "start-up to READY=1 with $N certificates: $(( (ready - t0 / 1000000) ))ms"
grep -c "issued serial" "$T/daemon.log" | sed 's/^/issued by the daemon at start-up (must be 0): /'

sleep 2
switches() {
	cat /proc/"$DPID"/task/*/status | awk '/ctxt_switches/ { s += $2 } END { print s }'
}
rss() { awk '/^(VmRSS|RssAnon|RssFile):/ { printf "%s %s KiB  ", $1, $2 }' /proc/"$DPID"/status; }
echo "idle memory with $N certificates: $(rss)"
s0=$(switches)
sleep "$IDLE"
s1=$(switches)
echo "context switches of all threads in ${IDLE}s idle: $((s1 - s0))"
echo "memory after ${IDLE}s idle: $(rss)"
