#!/bin/sh
# Local faults under the running daemon (local CA, certificates of one or
# two minutes, so that renewals and retries happen within seconds), one
# row each, as docs/reliability.md ("Local faults") describes them:
#
#   1. the output directory is not writable (read-only bind mount, or the
#      immutable attribute);
#   2. the output directory's file system is full (a 128 KiB tmpfs);
#   3. the state directory is lost between two runs;
#   4. the wall clock jumps past the expiry (faketime), with the daemon
#      running and between two runs;
#   5. a pid file names a process that is gone (signal reload action);
#   6. a reload command hangs and ignores SIGTERM (command action, timeout).
#
# For every row: the daemon keeps running and answers on its socket; the
# set in place is not changed or truncated (sha256) and still verifies
# (openssl verify); the log names the certificate and the cause; failed
# passes are numbered without gaps, each announces a delay within the
# backoff's ceiling and the next attempt waits at least that long (the log
# lines are timestamped as they arrive).  Rows 3 and 4 expect no failure
# and say what certd does instead.  Then the fault is removed and certd
# recovers on its own.
#
# It runs in private mount and pid namespaces when it may (unshare): its
# mounts and processes vanish with it, and the dead pid of row 5 cannot be
# reused by a process outside the test.  A row whose tool the environment
# refuses (mount and chattr for 1, mount for 2, faketime for the running
# half of 4) is skipped alone, with the reason.

if [ -z "${CERTD_TEST_NS:-}" ] && [ "$(id -u)" = 0 ] &&
	unshare --mount --pid --kill-child --mount-proc --propagation private true 2>/dev/null; then
	CERTD_TEST_NS=1
	export CERTD_TEST_NS
	exec unshare --mount --pid --kill-child --mount-proc --propagation private /bin/sh "$0" "$@"
fi

. "$top_srcdir/tests/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mounts, immutable files, pid files owned by root)"; exit 77; }

PIDS=
MOUNTS=
SKIPPED=
cleanup_faults() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	chattr -i "$T/ro" 2>/dev/null
	for m in $MOUNTS; do umount -l "$m" 2>/dev/null; done
	cleanup
}
trap cleanup_faults EXIT
skip_row() { echo "SKIP row: $*"; SKIPPED="$SKIPPED
  $*"; }

# daemon_start NAME CONF [VAR=VALUE...] — certd -c CONF in the background
# (DAEMON_PID); its output goes to $T/NAME.log, each line prefixed with the
# time it was read, in seconds since the epoch.
daemon_start() {
	name=$1 conf=$2
	shift 2
	rm -f "$T/$name.fifo"
	mkfifo "$T/$name.fifo"
	: >>"$T/$name.log"
	while IFS= read -r line; do printf '%s %s\n' "$(date +%s.%N)" "$line"; done \
		<"$T/$name.fifo" >>"$T/$name.log" &
	READER_PID=$!
	PIDS="$PIDS $READER_PID"
	env "$@" "$CERTD" -c "$conf" >"$T/$name.fifo" 2>&1 &
	DAEMON_PID=$!
	PIDS="$PIDS $DAEMON_PID"
}

# daemon_stop NAME — SIGTERM; it must exit 0 and say so.
daemon_stop() {
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID"
	st=$?
	DAEMON_PID=
	assert_eq "$st" 0 "exit status of the $1 daemon after SIGTERM"
	wait "$READER_PID"	# it ends at the daemon's last line
	assert_contains "$T/$1.log" "certd: info: stopped"
}

alive() { # log
	kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$T/$1.log" >&2; fail "the daemon died"; }
}

# wait_log LOG NEEDLE COUNT SECONDS — until NEEDLE is on COUNT lines.
wait_log() {
	i=0
	while [ "$(grep -cF -- "$2" "$T/$1.log")" -lt "$3" ]; do
		i=$((i + 1))
		[ $i -le $(($4 * 10)) ] || { cat "$T/$1.log" >&2; fail "timed out after $4 s waiting for $3 x '$2'"; }
		alive "$1"
		sleep 0.1
	done
}

count() { grep -cF -- "$2" "$T/$1.log"; }

# sums FILES... — their SHA-256, to compare before and after.
sums() { sha256sum "$@"; }

# verify CA CERT KEY [CHAIN] — the set chains to CA, is valid now, and the
# key is the certificate's.
verify() {
	if [ -n "${4:-}" ]; then
		"$OPENSSL" verify -CAfile "$1" -untrusted "$4" "$2" >"$T/verify.out" 2>&1
	else
		"$OPENSSL" verify -CAfile "$1" "$2" >"$T/verify.out" 2>&1
	fi || fail "$2 does not verify: $(cat "$T/verify.out")"
	assert_eq "$("$OPENSSL" x509 -noout -pubkey -in "$2")" "$("$OPENSSL" pkey -pubout -in "$3")" \
		"public key of $2 and $3"
}

no_temporaries() { # dir
	# shellcheck disable=SC2012
	left=$(ls -A "$1" | grep '\.certd-' || true)
	[ -z "$left" ] || fail "temporary files left in $1: $left"
}

# temporaries_after_failure NAME DIR — DIR is listed just after NAME's last
# failure was logged: that failed pass removed its temporaries before it
# reported, and the next one starts only after the announced delay.  A
# listing that ends later than 0.3 s before that start may have met the
# next pass at work: it is not counted.  Increments SAMPLES.
temporaries_after_failure() {
	line=$(grep -F "[$1]" "$T/faults.log" | grep 'retrying in [0-9]*s (failure' | tail -1)
	t_fail=${line%% *}
	delay=$(echo "$line" | sed 's/.*retrying in \([0-9]*\)s (failure.*/\1/')
	# shellcheck disable=SC2012
	left=$(ls -A "$2" | grep '\.certd-' || true)
	now=$(date +%s.%N)
	if awk -v n="$now" -v t="$t_fail" -v d="$delay" 'BEGIN { exit !(n < t + d - 0.3) }'; then
		[ -z "$left" ] || fail "temporary files left in $2 after a failure of $1: $left"
		SAMPLES=$((SAMPLES + 1))
	fi
}

# check_backoff LOG NAME — the failed passes of NAME: numbered from 1
# without a gap, each announcing 1 s <= delay <= min(30 s * 2^(n-1), 1 h)
# (sched_backoff's ceiling; 10 % of the remaining validity lowers it
# further), and the next failure logged no sooner than that delay after
# the previous one (0.5 s allowed for the time stamps).  Sets BO_N, the
# number of failures, and BO_GAP, the smallest spacing seen (seconds).
check_backoff() {
	awk -v tag="[$2]" '
		index($0, tag) && match($0, /retrying in [0-9]+s \(failure [0-9]+\)/) {
			s = substr($0, RSTART, RLENGTH)
			gsub(/[^0-9 ]/, "", s)
			split(s, v, " ")
			delay = v[1] + 0; n = v[2] + 0; t = $1 + 0
			if (n != count + 1) { printf "failure %d after %d failures\n", n, count; bad = 1 }
			ceiling = 30 * 2 ^ (n - 1); if (ceiling > 3600) ceiling = 3600
			if (delay < 1 || delay > ceiling) { printf "failure %d: delay %ds outside [1, %d]\n", n, delay, ceiling; bad = 1 }
			if (count > 0) {
				gap = t - last
				if (gap < prev - 0.5) { printf "failure %d came %.2fs after the previous one, which announced %ds\n", n, gap, prev; bad = 1 }
				if (mingap == "" || gap < mingap) mingap = gap
			}
			count++; last = t; prev = delay
		}
		END { printf "%d %s\n", count, (mingap == "" ? "-" : sprintf("%.2f", mingap)); exit bad }
	' "$T/$1.log" >"$T/backoff.out" || { cat "$T/$1.log" >&2; fail "$2: retries break the backoff: $(cat "$T/backoff.out")"; }
	read -r BO_N BO_GAP <"$T/backoff.out"
	[ "$BO_N" -ge 1 ] || fail "$2: no failed pass logged"
}

CA=$T/state/local-ca/ca.crt

# ------------------------------------------------------------------ rows 1, 2, 5, 6
step "rows 1, 2, 5, 6: one daemon, one certificate per fault"
mkdir -p "$T/ro" "$T/full" "$T/out"
RO_HOW= FULL_OK=
if mount -t tmpfs -o size=128k,mode=0755 certd-full "$T/full" 2>"$T/mount.err"; then
	MOUNTS="$T/full $MOUNTS"
	FULL_OK=1
else
	skip_row "2 (disk full): cannot mount a tmpfs here: $(cat "$T/mount.err")"
fi

# Row 5: the pid of a process that has exited.  Inside the test's own pid
# namespace nothing else can take that pid; outside it, a pid above any
# pid_max (2^22) stands in, so that no process of anyone else is signalled.
sh -c 'exit 0' &
dead=$!
wait "$dead"
[ -n "${CERTD_TEST_NS:-}" ] || dead=4194304
kill -0 "$dead" 2>/dev/null && fail "pid $dead is alive"
echo "$dead" >"$T/dead.pid"
chmod 644 "$T/dead.pid"

# Row 6: deaf to SIGTERM, so the timeout has to end it with SIGKILL; its
# child too (a copy of sleep, to be found by its path).
cp "$(command -v sleep)" "$T/hang-sleep"
cat >"$T/hang.sh" <<EOF
#!/bin/sh
trap '' TERM
echo run >>"$T/hang.runs"
"$T/hang-sleep" 1000
EOF
chmod 755 "$T/hang.sh"

conf=$T/faults.conf
cat >"$conf" <<EOF
[certd]
state_dir = $T/state
control_socket = $T/control.sock
reload_debounce = 0s
jitter_percent = 0

# 60 s certificates renewed at a third of their lifetime (16 s after
# issuance): the faults of rows 1 and 2 hit the first renewal.
[cert.ro]
common_name = ro.certd.test
ttl = 60s
renew_at_percent = 34
cert = $T/ro/ro.crt
key = $T/ro/ro.key
chain = $T/ro/chain.pem
fullchain = $T/ro/fullchain.pem

[cert.full]
common_name = full.certd.test
ttl = 60s
renew_at_percent = 34
cert = $T/full/full.crt
key = $T/full/full.key
chain = $T/full/chain.pem
fullchain = $T/full/fullchain.pem

# 2 min certificates, due after 76 s: their deliveries fail from the
# first issuance on, and are retried without a new issuance.
[cert.dead]
common_name = dead.certd.test
ttl = 120s
cert = $T/out/dead.crt
key = $T/out/dead.key
chain = $T/out/dead-chain.pem

[cert.dead.reload.service]
type = signal
signal = HUP
pidfile = $T/dead.pid

[cert.hang]
common_name = hang.certd.test
ttl = 120s
cert = $T/out/hang.crt
key = $T/out/hang.key
chain = $T/out/hang-chain.pem

[cert.hang.reload.script]
type = command
command = $T/hang.sh
timeout = 1s
EOF

RO_FILES="$T/ro/ro.crt $T/ro/ro.key $T/ro/chain.pem $T/ro/fullchain.pem"
FULL_FILES="$T/full/full.crt $T/full/full.key $T/full/chain.pem $T/full/fullchain.pem"
DEAD_FILES="$T/out/dead.crt $T/out/dead.key $T/out/dead-chain.pem"
HANG_FILES="$T/out/hang.crt $T/out/hang.key $T/out/hang-chain.pem"
files_of() {
	case $1 in
	ro) echo "$RO_FILES" ;;
	full) echo "$FULL_FILES" ;;
	dead) echo "$DEAD_FILES" ;;
	hang) echo "$HANG_FILES" ;;
	esac
}

daemon_start faults "$conf"
wait_log faults "issued serial" 4 30
for n in ro full dead hang; do assert_contains "$T/faults.log" "[$n] issued serial"; done
t_issued=$(date +%s)
for n in ro full dead hang; do
	sums $(files_of $n) >"$T/sums.$n.before"
done
verify "$CA" "$T/ro/ro.crt" "$T/ro/ro.key" "$T/ro/chain.pem"
verify "$CA" "$T/full/full.crt" "$T/full/full.key" "$T/full/chain.pem"

step "row 6: the hanging command does not block the daemon"
i=0
while [ ! -s "$T/hang.runs" ]; do i=$((i + 1)); [ $i -le 100 ] || fail "hang.sh never ran"; sleep 0.1; done
t0=$(date +%s%N)
"$CERTD" status -c "$conf" >"$T/status-hang.out" 2>&1 || fail "certd status during the hang: $(cat "$T/status-hang.out")"
t1=$(date +%s%N)
[ "$(count faults "[hang] delivery failed")" -eq 0 ] || echo "(the first hang attempt ended before status was asked)"
ms=$(((t1 - t0) / 1000000))
echo "certd status answered in ${ms} ms while the reload command hung"
[ "$ms" -lt 4000 ] || fail "certd status took ${ms} ms during a hanging reload command"
assert_contains "$T/status-hang.out" "hang"

step "inject: row 1 read-only output directory, row 2 full file system"
if [ -n "${CERTD_TEST_NS:-}" ] && mount --bind "$T/ro" "$T/ro" 2>"$T/mount.err" &&
	mount -o remount,bind,ro "$T/ro" 2>>"$T/mount.err"; then
	MOUNTS="$T/ro $MOUNTS"
	RO_HOW="a read-only bind mount"
	RO_CAUSE="Read-only file system"
elif chattr +i "$T/ro" 2>>"$T/mount.err"; then
	RO_HOW="chattr +i on the directory"
	RO_CAUSE="Operation not permitted"
else
	skip_row "1 (not writable): neither a read-only bind mount nor chattr +i works here: $(cat "$T/mount.err")"
fi
if [ -n "$RO_HOW" ]; then
	echo "output directory $T/ro made unwritable with $RO_HOW"
	touch "$T/ro/probe" 2>/dev/null && fail "$T/ro is still writable"
fi
if [ -n "$FULL_OK" ]; then
	# Leave two pages: the first temporaries fit, a later one does not,
	# so the ones already written must be removed again.
	set -- $(stat -f -c '%a %S' "$T/full")
	dd if=/dev/zero of="$T/full/filler" bs="$2" count=$(($1 - 2)) 2>/dev/null
	set -- $(stat -f -c '%a' "$T/full")
	echo "$T/full: $1 free block(s) left"
fi

step "rows 1, 2: the renewal fails, retries keep to the backoff"
[ -z "$RO_HOW" ] || wait_log faults "[ro] re-issuing: due for renewal" 1 40
[ -z "$FULL_OK" ] || wait_log faults "[full] re-issuing: due for renewal" 1 40
t_due=$(date +%s)
echo "renewal due $((t_due - t_issued)) s after the first issuance"
[ -z "$RO_HOW" ] || wait_log faults "[ro] publish:" 1 10
[ -z "$FULL_OK" ] || wait_log faults "[full] publish:" 1 10
# A window of faults.  A certificate's temporaries are looked for just
# after one of its failures is logged: they are removed before it is, and
# its next try is at least 1 s away (another time, a try may be running).
end=$(($(date +%s) + 12))
nro=0 nfull=0 SAMPLES=0
while [ "$(date +%s)" -lt "$end" ]; do
	alive faults
	n=$(count faults "[ro] publish:")
	if [ "$n" != "$nro" ]; then
		temporaries_after_failure ro "$T/ro"
		nro=$n
	fi
	n=$(count faults "[full] publish:")
	if [ "$n" != "$nfull" ]; then
		temporaries_after_failure full "$T/full"
		nfull=$n
	fi
	sleep 0.05
done
echo "$SAMPLES listings of the output directories just after a failure: no temporaries"
[ "$SAMPLES" -ge 2 ] || [ -z "$RO_HOW$FULL_OK" ] || fail "too few listings after a failure ($SAMPLES)"

step "rows 1, 2, 5, 6: at the end of the window"
alive faults
"$CERTD" status -c "$conf" >"$T/status-faults.out" 2>&1 || fail "certd status: $(cat "$T/status-faults.out")"
cat "$T/status-faults.out"
# Nothing changed: the set of each row is as it was when issued (the
# rows that run: a skipped row's certificate renews normally).
for n in ${RO_HOW:+ro} ${FULL_OK:+full} dead hang; do
	sums $(files_of $n) >"$T/sums.$n.during"
	cmp -s "$T/sums.$n.before" "$T/sums.$n.during" ||
		{ diff "$T/sums.$n.before" "$T/sums.$n.during" >&2; fail "an output file of $n changed"; }
done
for f in $RO_FILES $FULL_FILES $DEAD_FILES $HANG_FILES; do
	[ -s "$f" ] || fail "$f is empty"
done
verify "$CA" "$T/ro/ro.crt" "$T/ro/ro.key" "$T/ro/chain.pem"
verify "$CA" "$T/full/full.crt" "$T/full/full.key" "$T/full/chain.pem"
verify "$CA" "$T/out/dead.crt" "$T/out/dead.key" "$T/out/dead-chain.pem"
verify "$CA" "$T/out/hang.crt" "$T/out/hang.key" "$T/out/hang-chain.pem"
no_temporaries "$T/out"	# dead and hang: deliveries again, no publication
if [ -n "$RO_HOW" ]; then
	assert_contains "$T/faults.log" "[ro] publish: $T/ro/ro.crt: create temporary in $T/ro: $RO_CAUSE; current certificate still valid, retrying in"
	grep -qE "^ro .*(failing|renewing) .*$RO_CAUSE" "$T/status-faults.out" || fail "status does not show ro failing with '$RO_CAUSE'"
	check_backoff faults ro
	echo "row 1: $BO_N failures, smallest spacing $BO_GAP s"
fi
if [ -n "$FULL_OK" ]; then
	assert_contains "$T/faults.log" "[full] publish: $T/full/"
	assert_contains "$T/faults.log" ": write: No space left on device; current certificate still valid, retrying in"
	grep -qE "^full .*(failing|renewing) .*No space left on device" "$T/status-faults.out" || fail "status does not show full failing"
	check_backoff faults full
	echo "row 2: $BO_N failures, smallest spacing $BO_GAP s"
fi
assert_contains "$T/faults.log" "[dead] delivery failed: reload service: kill SIGHUP pid $dead (from $T/dead.pid): No such process; current certificate still valid, retrying in"
grep -qE "^dead .*(failing|renewing) .*No such process" "$T/status-faults.out" || fail "status does not show dead failing"
[ "$(count faults "[dead] issued serial")" -eq 1 ] || fail "dead was issued again"
assert_contains "$T/faults.log" "[dead] delivering serial"
check_backoff faults dead
echo "row 5: $BO_N failures, smallest spacing $BO_GAP s"
assert_contains "$T/faults.log" "[hang] delivery failed: reload script: $T/hang.sh: timed out after 1s, killed by signal 9 (SIGKILL); current certificate still valid, retrying in"
grep -qE "^hang .*(failing|renewing) .*timed out" "$T/status-faults.out" || fail "status does not show hang failing"
[ "$(count faults "[hang] issued serial")" -eq 1 ] || fail "hang was issued again"
check_backoff faults hang
echo "row 6: $BO_N failures, smallest spacing $BO_GAP s"
# one run of the command per attempt (one more: an attempt in progress)
runs=$(wc -l <"$T/hang.runs")
[ "$runs" -ge "$BO_N" ] && [ "$runs" -le $((BO_N + 1)) ] || fail "hang.sh ran $runs times for $BO_N failed attempts"

step "remove the faults: certd recovers on its own"
if [ -n "$RO_HOW" ]; then
	if [ "$RO_HOW" = "chattr +i on the directory" ]; then chattr -i "$T/ro"; else umount "$T/ro"; fi
fi
[ -z "$FULL_OK" ] || rm -f "$T/full/filler"
: >"$T/hups"
sh -c "trap 'echo hup >>$T/hups' HUP; while :; do sleep 0.05; done" &
consumer=$!
PIDS="$PIDS $consumer"
sleep 0.2
echo "$consumer" >"$T/dead.pid"
printf '#!/bin/sh\nexit 0\n' >"$T/hang.sh.new"
chmod 755 "$T/hang.sh.new"
mv "$T/hang.sh.new" "$T/hang.sh"
[ -z "$RO_HOW" ] || wait_log faults "[ro] issued serial" 2 30
[ -z "$FULL_OK" ] || wait_log faults "[full] issued serial" 2 30
wait_log faults "[dead] delivered: reloaded" 1 30
wait_log faults "[hang] delivered: reloaded" 1 30
[ -z "$RO_HOW" ] || verify "$CA" "$T/ro/ro.crt" "$T/ro/ro.key" "$T/ro/chain.pem"
[ -z "$FULL_OK" ] || verify "$CA" "$T/full/full.crt" "$T/full/full.key" "$T/full/chain.pem"
sleep 0.3
assert_eq "$(wc -l <"$T/hups")" 1 "SIGHUPs received by the restarted consumer"
# every hanging run was killed with its process group
for f in /proc/[0-9]*/cmdline; do
	case "$(tr '\0' ' ' 2>/dev/null <"$f")" in
	*"$T/hang"*) fail "a process of the hanging command is still there: $(tr '\0' ' ' <"$f")" ;;
	esac
done
"$CERTD" status -c "$conf" >"$T/status-after.out" 2>&1 || fail "certd status: $(cat "$T/status-after.out")"
for n in ro full dead hang; do
	grep -q "^$n .* valid " "$T/status-after.out" || { cat "$T/status-after.out" >&2; fail "$n is not valid after recovery"; }
done
echo "recovered $(($(date +%s) - t_issued)) s after the first issuance"
daemon_stop faults

# ------------------------------------------------------------------ row 3
step "row 3: the state directory is lost between two runs"
bconf=$T/lost.conf
cat >"$T/lost-reload.sh" <<EOF
#!/bin/sh
echo run >>"$T/lost.runs"
EOF
chmod 755 "$T/lost-reload.sh"
cat >"$bconf" <<EOF
[certd]
state_dir = $T/lost-state
control_socket = $T/lost.sock
reload_debounce = 0s

[cert.lost]
common_name = lost.certd.test
ttl = 60s
renew_at_percent = 34
jitter_percent = 0
cert = $T/lost/lost.crt
key = $T/lost/lost.key
chain = $T/lost/chain.pem
fullchain = $T/lost/fullchain.pem

[cert.lost.reload.record]
type = command
command = $T/lost-reload.sh
EOF
LOST_FILES="$T/lost/lost.crt $T/lost/lost.key $T/lost/chain.pem $T/lost/fullchain.pem"
daemon_start lost1 "$bconf"
wait_log lost1 "[lost] delivered: reloaded" 1 30
t_lost=$(date +%s)
daemon_stop lost1
cp "$T/lost-state/local-ca/ca.crt" "$T/lost-oldca.pem"
sums $LOST_FILES >"$T/lost.sums"
serial=$(serial_of "$T/lost/lost.crt")
rm -rf "$T/lost-state"

daemon_start lost2 "$bconf"
wait_log lost2 "[lost] valid, serial" 1 30
alive lost2
assert_not_contains "$T/lost2.log" "issued serial"
assert_not_contains "$T/lost2.log" "re-issuing"
assert_not_contains "$T/lost2.log" "error:"
assert_contains "$T/lost2.log" "[lost] delivering serial"
assert_contains "$T/lost2.log" "[lost] delivered: reloaded"
sums $LOST_FILES | cmp -s - "$T/lost.sums" || fail "the set in place changed after the state directory was lost"
verify "$T/lost-oldca.pem" "$T/lost/lost.crt" "$T/lost/lost.key" "$T/lost/chain.pem"
assert_eq "$(wc -l <"$T/lost.runs")" 2 "runs of the reload command (the delivery is not on record any more)"
assert_eq "$(mode_of "$T/lost-state")" 700 "mode of the re-created state directory"
assert_eq "$(mode_of "$T/lost-state/certs")" 700 "mode of certs/"
assert_eq "$(mode_of "$T/lost-state/certs/lost.json")" 600 "mode of the new state record"
assert_eq "$(jq -r .serial "$T/lost-state/certs/lost.json")" \
	"$(echo "$serial" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')" "serial in the new state record"
[ ! -e "$T/lost-state/local-ca" ] || fail "a new local CA was created before it was needed"
echo "row 3: the valid set was kept (serial $serial); nothing issued"

step "row 3: at its renewal, a new local CA signs the next certificate"
wait_log lost2 "[lost] issued serial" 1 40
assert_ne "$(serial_of "$T/lost/lost.crt")" "$serial" "serial after the renewal"
cmp -s "$T/lost-state/local-ca/ca.crt" "$T/lost-oldca.pem" && fail "the lost CA came back"
verify "$T/lost-state/local-ca/ca.crt" "$T/lost/lost.crt" "$T/lost/lost.key" "$T/lost/chain.pem"
"$OPENSSL" verify -CAfile "$T/lost-oldca.pem" "$T/lost/lost.crt" >/dev/null 2>&1 &&
	fail "the renewed certificate verifies against the lost CA"
echo "renewed $(($(date +%s) - t_lost)) s after the first issuance, by a new CA"
daemon_stop lost2

# ------------------------------------------------------------------ row 4
step "row 4: the wall clock jumps past the expiry"
cconf=$T/clock.conf
cat >"$cconf" <<EOF
[certd]
state_dir = $T/clock-state
control_socket = $T/clock.sock
jitter_percent = 0

[cert.clk]
common_name = clk.certd.test
ttl = 10m
cert = $T/clock/clk.crt
key = $T/clock/clk.key
chain = $T/clock/chain.pem
fullchain = $T/clock/fullchain.pem

# Renewed every 8 s: its timer wakes the daemon.
[cert.tick]
common_name = tick.certd.test
ttl = 12s
cert = $T/clock/tick.crt
key = $T/clock/tick.key
EOF
FAKETIME_LIB=
for d in /usr/lib/*/faketime /usr/lib/faketime /usr/local/lib/faketime; do
	[ -e "$d/libfaketimeMT.so.1" ] && { FAKETIME_LIB=$d/libfaketimeMT.so.1; break; }
done
# ASan must come first unless told not to care: libfaketime is preloaded.
FT_ASAN="ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
if [ -n "$FAKETIME_LIB" ]; then
	# FAKETIME_TIMESTAMP_FILE is read at every clock call: writing an
	# offset to it moves certd's wall clock (time, gettimeofday,
	# CLOCK_REALTIME), not its monotonic clock, as a step of the system
	# clock would.
	echo "+0" >"$T/faketime"
	FT="LD_PRELOAD=$FAKETIME_LIB FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1 FAKETIME_DONT_FAKE_MONOTONIC=1"
	# shellcheck disable=SC2086
	daemon_start clock1 "$cconf" $FT "$FT_ASAN"
	wait_log clock1 "issued serial" 2 30
	alive clock1
	assert_not_contains "$T/clock1.log" "cannot watch the system clock"
	cp "$T/clock/clk.crt" "$T/clk-old.crt"
	clkca=$T/clock-state/local-ca/ca.crt
	serial=$(serial_of "$T/clock/clk.crt")
	echo "+20m" >"$T/faketime"
	t_jump=$(date +%s)
	wait_log clock1 "the system clock jumped forward by about " 1 20
	grep -qE "jumped forward by about (19m5[89]s|20m|20m[12]s); rescheduling" "$T/clock1.log" ||
		fail "the jump logged is not about 20 minutes: $(grep jumped "$T/clock1.log")"
	wait_log clock1 "[clk] issued serial" 2 20
	took=$(($(date +%s) - t_jump))
	echo "row 4: the jump was noticed and clk re-issued ${took} s after it"
	alive clock1
	assert_contains "$T/clock1.log" "[clk] re-issuing: expired"
	assert_not_contains "$T/clock1.log" "error:"
	fake_now=$(($(date +%s) + 1200))
	assert_ne "$(serial_of "$T/clock/clk.crt")" "$serial" "clk serial after the jump"
	"$OPENSSL" verify -attime "$fake_now" -CAfile "$clkca" -untrusted "$T/clock/chain.pem" \
		"$T/clock/clk.crt" >/dev/null 2>&1 || fail "the new clk certificate is not valid at the new time"
	"$OPENSSL" verify -attime "$fake_now" -CAfile "$clkca" "$T/clk-old.crt" >/dev/null 2>&1 &&
		fail "the old clk certificate is still valid at the new time"
	assert_eq "$("$OPENSSL" x509 -noout -pubkey -in "$T/clock/clk.crt")" \
		"$("$OPENSSL" pkey -pubout -in "$T/clock/clk.key")" "clk key after the jump"
	no_temporaries "$T/clock"
	daemon_stop clock1

	step "row 4: a daemon started after the jump"
	echo "+40m" >"$T/faketime"
	# shellcheck disable=SC2086
	daemon_start clock2 "$cconf" $FT "$FT_ASAN"
	wait_log clock2 "[clk] issued serial" 1 30
	assert_contains "$T/clock2.log" "[clk] re-issuing: expired"
	alive clock2
	daemon_stop clock2
else
	skip_row "4, daemon running: libfaketime is not installed (apt-get install faketime)"
	step "row 4, substitute: a certificate expired on disk when the daemon starts"
	sed -i 's/^ttl = 10m$/ttl = 3s/' "$cconf"
	run_certd "$T/clock-once.log" --once -c "$cconf" clk || fail "--once: $(cat "$T/clock-once.log")"
	sed -i 's/^ttl = 3s$/ttl = 10m/' "$cconf"
	sleep 4
	"$OPENSSL" x509 -checkend 0 -noout -in "$T/clock/clk.crt" >/dev/null && fail "clk has not expired"
	daemon_start clock2 "$cconf"
	wait_log clock2 "[clk] issued serial" 1 30
	assert_contains "$T/clock2.log" "[clk] re-issuing: expired"
	daemon_stop clock2
fi

if [ -n "$SKIPPED" ]; then
	echo "rows skipped:$SKIPPED"
fi
echo PASS
