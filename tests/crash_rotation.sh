#!/bin/sh
# Crash safety: certd is killed with SIGKILL at random moments of 200
# forced rotations of three certificate sets.  After every kill, a restart
# (certd --once) finishes or undoes the interrupted publication: each set
# on disk is consistent (key matches certificate, fullchain starts with
# that certificate) and is one certd wrote, never a mixture.
. "$top_srcdir/tests/lib.sh"

ROUNDS=${CRASH_ROUNDS:-200}
conf=$(quickstart_conf)
sed -i 's/^ttl = 1m$/ttl = 1h/' "$conf"
for n in b c; do
	cat >>"$conf" <<CONF

[cert.$n]
common_name = $n.certd.test
ttl = 1h
cert = $T/out/$n.crt
key = $T/out/$n.key
fullchain = $T/out/$n-full.pem
CONF
done
run_certd "$T/first.log" --once -c "$conf" || fail "first issuance: $(cat "$T/first.log")"

check_set() { # cert key fullchain
	a=$("$OPENSSL" x509 -noout -pubkey -in "$1" 2>/dev/null) || return 1
	b=$("$OPENSSL" pkey -pubout -in "$2" 2>/dev/null) || return 1
	[ "$a" = "$b" ] || return 1
	"$OPENSSL" x509 -in "$3" 2>/dev/null | cmp -s - "$1" 2>/dev/null ||
		[ "$("$OPENSSL" x509 -in "$3" -noout -fingerprint 2>/dev/null)" = "$("$OPENSSL" x509 -in "$1" -noout -fingerprint)" ]
}
check_all() {
	check_set "$T/out/quickstart.crt" "$T/out/quickstart.key" "$T/out/fullchain.pem" || return 1
	for n in b c; do
		check_set "$T/out/$n.crt" "$T/out/$n.key" "$T/out/$n-full.pem" || return 1
	done
}

step "$ROUNDS rotations interrupted by SIGKILL"
i=0
recovered=0
killed=0
seed=$$
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	seed=$(( (seed * 1103515245 + 12345) % 2147483648 ))
	delay_ms=$(( seed % 40 ))
	"$CERTD" --once --force -c "$conf" >"$T/round.log" 2>&1 &
	pid=$!
	sleep "0.$(printf '%03d' "$delay_ms")"
	if kill -KILL "$pid" 2>/dev/null; then
		killed=$((killed + 1))
	fi
	wait "$pid" 2>/dev/null
	# The restart finishes or undoes whatever was interrupted.
	run_certd "$T/restart.log" --once -c "$conf" ||
		{ cat "$T/restart.log"; fail "round $i: the restart failed"; }
	grep -q "interrupted publication" "$T/restart.log" && recovered=$((recovered + 1))
	check_all || { cat "$T/restart.log"; fail "round $i (killed after ${delay_ms} ms): an inconsistent set on disk"; }
	ls -a "$T/out" | grep -q '\.certd-' && fail "round $i: temporary files left behind"
done
echo "rounds: $ROUNDS, killed mid-run: $killed, interrupted publications recovered: $recovered"
[ "$killed" -gt $((ROUNDS / 4)) ] || fail "too few runs were actually interrupted ($killed)"
echo PASS
