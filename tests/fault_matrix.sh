#!/bin/sh
# The fault matrix: one daemon (certd -c, not --once) against one vaultsrv,
# one certificate "fm", and fifteen faults injected one at a time: what
# certd does when its CA misbehaves while a valid set is in place.
#
# Each row: (1) a clean issuance, so that a fresh valid set is in place;
# (2) the fault is injected; (3) once no pass is in flight, the set is
# fingerprinted (sha256 of cert, key, chain, fullchain, and the directory
# listing) and checked with `openssl verify`; (4) `certd renew fm --force`
# over the control socket; (5) W seconds of observation; then the checks:
#
#   - the daemon runs: its pid is alive and `certd status --json` answers
#     over the control socket (the state of fm is reported);
#   - no output file changed (same fingerprint) and the set in place still
#     verifies (chain to the root CA, key matches, not expired): what a
#     TLS server loading these files would serve is the previous valid set;
#   - the log names the certificate ("[fm]") and the row's specific cause;
#   - the retries follow lib/sched.c's backoff (below), and each pass that
#     reaches the CA sends exactly one request (server count vs log).
#
# Timing, and why the certificate is short-lived.  The retry after a failed
# pass is an ordinary (IF_DUE) pass: after a failed `renew --force` of a
# certificate that is not due, certd finds the set valid and does not ask
# the CA again (design.md, "What the runner does with a result").  So that
# every retry reaches the CA, the certificate is due two seconds after
# issuance: ttl 66s is a lifetime L of 96 s (Vault backdates notBefore by
# 30 s) and renew_at_percent 34 puts the renewal at notBefore + 32 s =
# issuance + 2 s, just above the L/3 loop guard (32 s); jitter_percent 0
# makes it exact.  The backoff is sched_backoff(): ceiling 30 s * 2^(n-1),
# capped at min(1 h, 10% of the remaining validity); delay uniform in
# [0, ceiling), at least 1 s, at least Retry-After.  A long-lived
# certificate would not help: with ttl 1h the cap is 6 min and the first
# ceilings (30 s, 60 s) would allow at most one or two retries in a minute.
# Here the remaining validity is at most 66 s, so the cap is at most 6 s and
# every logged delay must be 1..5 s: retries are observable in seconds
# (about one every 3 s), and a daemon that ignored the cap would show
# delays up to 29 s.  The checks, all deterministic:
#
#   - every "retrying in Ns (failure k)" has 1 <= N <= max(1, min(30*2^(k-1),
#     floor(remaining/10)) - 1), remaining taken at the row's start (an upper
#     bound), and N >= Retry-After for 429;
#   - the next pass that reaches the CA (not one the test forced) starts no
#     earlier than N s after that line (250 ms allowed for the time stamps,
#     which are taken when a reader sees the line), and no later than
#     max(N s, the renewal time) + 4 s (lost retries);
#   - the requests the server saw in the window are the passes the log shows
#     (one request per pass), hence at most 2 + floor(window / 1 s): one
#     forced pass, one that may have started before it, then one per >= 1 s
#     of backoff; for 429 with Retry-After R, at most 2 + floor(window / R),
#     and consecutive requests at the server are at least R s apart (except
#     the forced one); a revoked token is "stuck" (retry in 3600 s): no
#     second request.
#
# Windows are 8 s (10 s for 429, which waits out one Retry-After of 6 s):
# about 2.5 minutes in all.  Connection refused is the last row: it stops
# vaultsrv, and the log alone shows the attempts.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

NAME=fm
WIN=${FAULT_WINDOW:-8}
RA=6
vault_config >"$T/vault.json"
vault_start "$T/vault.json"
printf 's.certdtoken0000000000000\n' >"$T/token"
chmod 600 "$T/token"
mkdir -p "$T/out"

conf=$T/certd.conf
{
	certd_vault_conf "$VAULT_ADDR" "token_file = $T/token
connect_timeout = 2s
request_timeout = 2s"
	TTL=66s cert_section $NAME fm.example.com "renew_at_percent = 34
jitter_percent = 0"
} >"$conf"

now_ms() { date +%s%3N; }

# The daemon's output goes through a reader that prefixes each line with
# the time it was seen, in milliseconds.
mkfifo "$T/log.fifo"
(while IFS= read -r line; do printf '%s %s\n' "$(date +%s%3N)" "$line"; done <"$T/log.fifo" >>"$T/daemon.log") &
READER_PID=$!
"$CERTD" -c "$conf" >"$T/log.fifo" 2>&1 &
DAEMON_PID=$!
trap 'kill $DAEMON_PID 2>/dev/null; wait $READER_PID 2>/dev/null; cleanup' EXIT

count() { grep -c -- "$1" "$T/daemon.log" || true; }
dump() { tail -40 "$T/daemon.log" >&2; }
alive() { kill -0 "$DAEMON_PID" 2>/dev/null || { dump; fail "the daemon died"; }; }
status_json() { "$CERTD" -c "$conf" status --json 2>&1; }
state_of() { status_json | jq -r --arg n "$NAME" '.[] | select(.name == $n) | .state' 2>/dev/null; }

wait_idle() { # no pass of fm in flight
	i=0
	while :; do
		s=$(state_of)
		case $s in valid | failing | stuck | pending) return 0 ;; esac
		i=$((i + 1))
		[ $i -le 100 ] || { dump; fail "fm stays '$s'"; }
		alive
		sleep 0.1
	done
}

# A clean issuance: no fault, a forced renewal (or the renewal that comes
# due), a new set in place.
reset_set() {
	vault_ctl DELETE /_test/faults >/dev/null
	n=$(count "\[$NAME\] issued serial")
	tries=0
	while [ "$(count "\[$NAME\] issued serial")" -le "$n" ]; do
		tries=$((tries + 1))
		[ $tries -le 5 ] || { dump; fail "no clean issuance before the row"; }
		"$CERTD" -c "$conf" renew $NAME --force >/dev/null 2>&1
		i=0
		while [ "$(count "\[$NAME\] issued serial")" -le "$n" ] && [ $i -lt 30 ]; do
			alive
			sleep 0.1
			i=$((i + 1))
		done
	done
	wait_idle
}

snapshot() {
	sha256sum "$T/out/$NAME.crt" "$T/out/$NAME.key" "$T/out/$NAME-chain.pem" "$T/out/$NAME-full.pem"
	ls -A "$T/out"
}

# The set in place is one a TLS server could serve: the chain verifies to
# the root CA, the key is the certificate's, and it is valid now.
verify_set() {
	"$OPENSSL" verify -CAfile "$VAULT_CA" -untrusted "$T/out/$NAME-chain.pem" "$T/out/$NAME.crt" >"$T/verify.out" 2>&1 ||
		fail "$1: the set in place does not verify: $(cat "$T/verify.out")"
	"$OPENSSL" verify -CAfile "$VAULT_CA" -untrusted "$T/out/$NAME-full.pem" "$T/out/$NAME-full.pem" >/dev/null 2>&1 ||
		fail "$1: the fullchain does not verify"
	[ "$("$OPENSSL" x509 -noout -pubkey -in "$T/out/$NAME.crt" | sha256sum)" = \
		"$("$OPENSSL" pkey -pubout -in "$T/out/$NAME.key" | sha256sum)" ] ||
		fail "$1: the key in place does not match the certificate"
	"$OPENSSL" x509 -noout -checkend 0 -in "$T/out/$NAME.crt" >/dev/null || fail "$1: the certificate in place expired"
}

epoch_of() { date -d "$("$OPENSSL" x509 -noout "-$1" -in "$T/out/$NAME.crt" | sed 's/^[^=]*=//')" +%s; }

# Log lines of fm with their time stamps, from line $1 on: one event per
# line, "MS S forced|due" (a pass that reaches the CA starts), "MS F N k"
# (a failed pass, retry in N s), "MS U" (a pass that found the set valid).
log_events() {
	tail -n +"$1" "$T/daemon.log" | grep -F "[$NAME] " | sed -n \
		-e 's/^\([0-9]*\) .*\] re-issuing: forced by the operator.*/\1 S forced/p' \
		-e 's/^\([0-9]*\) .*\] re-issuing: .*/\1 S due/p' \
		-e 's/^\([0-9]*\) .*retrying in \([0-9]*\)s (failure \([0-9]*\)).*/\1 F \2 \3/p' \
		-e 's/^\([0-9]*\) .*stuck, trying again in \([0-9]*\)s.*/\1 F \2 0/p' \
		-e 's/^\([0-9]*\) .*\] valid, serial .*/\1 U/p'
}

# Requests the server saw for the sign path since seq $1 (time in ms).
server_attempts() {
	vault_ctl GET "/_test/requests?since=$1" |
		jq -r '.requests[] | select(.path == "/v1/pki_int/sign/web") | .time_ms'
}
last_seq() { vault_ctl GET /_test/requests | jq '[.requests[].seq] | max // 0'; }

REPORT=$T/report.txt
: >"$REPORT"

# row ID PHRASE WINDOW RETRY_AFTER INJECT...
row() {
	id=$1 phrase=$2 win=$3 ra=$4
	shift 4
	step "row $id: $*"
	reset_set
	seq0=$(if [ "$id" = refused ]; then echo 0; else last_seq; fi)
	line0=$(($(wc -l <"$T/daemon.log") + 1))
	t_inj=$(now_ms)
	"$@" || fail "$id: injecting the fault failed"
	wait_idle
	before=$(snapshot)
	verify_set "$id (before)"
	not_before=$(epoch_of startdate)
	not_after=$(epoch_of enddate)
	due=$((not_before + (not_after - not_before) * 34 / 100))
	t0=$(now_ms)
	"$CERTD" -c "$conf" renew $NAME --force >"$T/renew.out" 2>&1 || fail "$id: certd renew --force: $(cat "$T/renew.out")"
	t_end=$((t0 + win * 1000))
	while [ "$(now_ms)" -lt "$t_end" ]; do
		alive
		sleep 0.2
	done
	t_end=$(now_ms)

	# The daemon keeps running and answers on its control socket.
	alive
	status_json >"$T/status.json" || fail "$id: certd status failed: $(cat "$T/status.json")"
	st=$(jq -r --arg n "$NAME" '.[] | select(.name == $n) | .state' "$T/status.json")
	case $st in failing | stuck | renewing) ;; *) fail "$id: state '$st' after the fault" ;; esac
	failures=$(jq -r --arg n "$NAME" '.[] | select(.name == $n) | .failures' "$T/status.json")

	# No output file changed; the previous set is still a valid one.
	[ "$(snapshot)" = "$before" ] || { printf '%s\n--- now:\n' "$before" >&2; snapshot >&2; fail "$id: the files changed"; }
	verify_set "$id (after)"

	# The log names the certificate and the cause.
	tail -n +"$line0" "$T/daemon.log" | grep -F "[$NAME] " | grep -E "retrying in|stuck" >"$T/row.log"
	grep -qF -- "$phrase" "$T/row.log" || { cat "$T/row.log" >&2; fail "$id: no failure of [$NAME] naming '$phrase'"; }

	# Backoff, from the time-stamped log and the server's request log.
	log_events "$line0" >"$T/events"
	if [ "$id" = refused ]; then : >"$T/attempts"; else server_attempts "$seq0" >"$T/attempts"; fi
	awk -v t_inj="$t_inj" -v t0="$t0" -v t_end="$t_end" -v na="$not_after" -v due="$due" \
		-v ra="$ra" -v id="$id" -v server="$([ "$id" = refused ] && echo 0 || echo 1)" '
		function fail(msg) { print "FAIL: " id ": " msg > "/dev/stderr"; bad = 1 }
		FILENAME == ARGV[1] {
			if ($1 < t_inj || $1 > t_end) next
			n++; t[n] = $1; k[n] = $2; a3[n] = $3; a4[n] = $4
			next
		}
		$1 >= t_inj && $1 <= t_end { att[++na_] = $1 }
		END {
			win = (t_end - t_inj) / 1000
			passes = 0; fails = 0; maxd = 0; mind = 999999; delays = ""
			for (i = 1; i <= n; i++) {
				if (k[i] == "S") passes++
				if (k[i] != "F") continue
				fails++
				d = a3[i]; fk = a4[i]; delays = delays (delays == "" ? "" : ",") d
				if (d == 3600 && fk == 0) continue   # stuck: checked below
				# remaining validity when the line was written <= na - t_inj/1000
				cap = int((na - int(t_inj / 1000)) / 10)
				ceil = 30; for (j = 1; j < fk && ceil < 3600; j++) ceil *= 2
				if (ceil > 3600) ceil = 3600
				if (cap < ceil) ceil = cap
				hi = ceil - 1; if (hi < 1) hi = 1
				if (ra > 0 && ra > hi) hi = ra
				if (d < 1 || d > hi) fail("retry delay " d "s for failure " fk " outside 1.." hi "s (cap " cap "s)")
				if (ra > 0 && d < ra) fail("retry delay " d "s before Retry-After " ra "s")
				# the next pass that reaches the CA, unless the test forced it
				for (j = i + 1; j <= n && k[j] != "S"; j++) ;
				if (j > n || a3[j] == "forced") continue
				gap = t[j] - t[i]
				if (gap < d * 1000 - 250) fail("next attempt " gap "ms after a retry announced in " d "s")
				late = d * 1000; if (due * 1000 - t[i] > late) late = due * 1000 - t[i]
				if (gap > late + 4000) fail("next attempt " gap "ms after a retry announced in " d "s: late")
				if (gap < mind) mind = gap
				if (gap > maxd) maxd = gap
				# how far from the announced delay, when the backoff
				# (not the renewal time) decided
				if (d * 1000 >= due * 1000 - t[i]) {
					ex = gap - d * 1000
					if (nex++ == 0 || ex < minex) minex = ex
					if (nex == 1 || ex > maxex) maxex = ex
				}
			}
			# "stuck": no pass reaches the CA again in the window, but
			# one the test forces
			for (i = 1; i <= n; i++)
				if (k[i] == "F" && a3[i] == 3600 && a4[i] == 0)
					for (j = i + 1; j <= n; j++)
						if (k[j] == "S" && a3[j] != "forced")
							fail("a pass " t[j] - t[i] "ms after \"stuck, trying again in 3600s\"")
			bound = 2 + int(win / (ra > 0 ? ra : 1))
			for (i = 1; i <= n; i++) if (k[i] == "F" && a3[i] == 3600) bound = 2
			if (server) {
				# +-1: a pass at either edge of the window may have its
				# log line and its request on different sides of it
				if (na_ > passes + 1 || na_ < passes - 1)
					fail(na_ " requests at the server for " passes " passes (one request per pass)")
				for (i = 2; i <= na_; i++)
					if (ra > 0 && att[i] - att[i - 1] < ra * 1000 - 5 && att[i] - t0 > 1000)
						fail("requests " att[i] - att[i - 1] "ms apart, Retry-After " ra "s")
				gaps = ""
				for (i = 2; i <= na_; i++) gaps = gaps (gaps == "" ? "" : ",") (att[i] - att[i - 1])
				cnt = na_
			} else {
				cnt = passes
				gaps = "-"
			}
			if (cnt > bound) fail(cnt " attempts in " win "s, backoff bound " bound)
			if (cnt < 1) fail("no attempt in the window")
			if (fails < 1) fail("no failed pass in the window")
			printf "%s: window %.1fs, attempts %d (bound %d), failed passes %d, delays [%s]s, request gaps [%s]ms, retry gaps %s..%sms, vs delay %s..%sms\n",
				id, win, cnt, bound, fails, delays, gaps, (mind == 999999 ? "-" : mind), (maxd == 0 ? "-" : maxd),
				(nex ? minex : "-"), (nex ? maxex : "-")
			exit bad
		}' "$T/events" "$T/attempts" >>"$REPORT" || { cat "$T/events" "$T/attempts" >&2; dump; fail "$id: backoff"; }
	printf '%s: state %s, failures %s, files unchanged, log: %s\n' "$id" "$st" "$failures" \
		"$(sed 's/^[0-9]* certd: [a-z]*: //' "$T/row.log" | tail -1 | cut -c1-300)" >>"$REPORT"
	tail -2 "$REPORT"
}

fault() { vault_ctl POST /_test/faults "$1" >"$T/fault.out" && jq -e .id "$T/fault.out" >/dev/null; }
sign_fault() { fault "{\"path\": \"pki_int/sign/*\", \"count\": 0, $1}"; }

step "first issuance"
i=0
while [ "$(count "\[$NAME\] issued serial")" -lt 1 ]; do
	i=$((i + 1)); [ $i -le 100 ] || { dump; fail "no first issuance"; }
	alive; sleep 0.1
done
start=$(date +%s)

row reset "transfer closed" "$WIN" 0 sign_fault '"action": "drop"'
row hang "Operation timed out after" "$WIN" 0 sign_fault '"action": "hang"'
row http500 "internal error" "$WIN" 0 sign_fault '"action": "status", "status": 500, "json": {"errors": ["internal error"]}'
row sealed "Vault is sealed" "$WIN" 0 vault_ctl POST /_test/seal '{}'
vault_ctl POST /_test/unseal '{}' >/dev/null
row http429 "rate limit quota exceeded" 10 $RA sign_fault "\"action\": \"status\", \"status\": 429, \"retry_after\": $RA, \"json\": {\"errors\": [\"request path \\\"pki_int/sign/web\\\": rate limit quota exceeded\"]}"
row truncated "invalid JSON" "$WIN" 0 sign_fault '"action": "truncate"'
row nonjson "unexpected text/html response (HTTP 200)" "$WIN" 0 sign_fault '"action": "nonjson"'
row huge "response larger than" "$WIN" 0 sign_fault '"action": "huge", "size": 10485760'
row wrong_key "fails verification" "$WIN" 0 sign_fault '"action": "mutate", "kind": "wrong_key"'
row wrong_name "other-name.example.net" "$WIN" 0 sign_fault '"action": "mutate", "kind": "wrong_name"'
row expired "certificate has expired" "$WIN" 0 sign_fault '"action": "mutate", "kind": "expired"'
row bad_chain "unable to get local issuer certificate" "$WIN" 0 sign_fault '"action": "mutate", "kind": "bad_chain"'
row trailing_garbage "certificate: unexpected data at byte" "$WIN" 0 sign_fault '"action": "mutate", "kind": "trailing_garbage"'
row revoked "permission denied" "$WIN" 0 vault_ctl POST /_test/revoke-token '{"token": "s.certdtoken0000000000000"}'
# A new token, delivered as an orchestrator would: certd reads the file again.
vault_ctl POST /_test/tokens '{"id": "s.certdtoken1111111111111", "policies": ["certd", "default"], "ttl": "1h", "renewable": true}' >/dev/null
printf 's.certdtoken1111111111111\n' >"$T/token.new"
chmod 600 "$T/token.new"
mv "$T/token.new" "$T/token"
# vaultsrv must exit cleanly (under ASan: no leak in the fault paths).
stop_vault() {
	for pid in $VAULT_PIDS; do
		kill -TERM "$pid"
		wait "$pid" || { cat "$T/vaultsrv0.log" >&2; return 1; }
	done
	VAULT_PIDS=
}
row refused "Couldn't connect" "$WIN" 0 stop_vault

step "SIGTERM"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq $? 0 "exit status after SIGTERM"
DAEMON_PID=
wait "$READER_PID"
assert_no_secrets "$T/daemon.log"
if grep -qF "s.certdtoken1111111111111" "$T/daemon.log"; then fail "the second token is in the log"; fi
echo "--- fault matrix ($(($(date +%s) - start))s of rows)"
cat "$REPORT"
echo PASS
