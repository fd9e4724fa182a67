#!/bin/sh
# Two certificates that share a consumer renew together: the consumer is
# signalled once, after both sets are in place; a consumer that is not
# running (no pid file) is neither signalled nor probed.
. "$top_srcdir/tests/lib.sh"

conf=$(quickstart_conf)
for n in a b; do
	cat >>"$conf" <<CONF

[cert.$n]
common_name = $n.certd.test
cert = $T/out/$n.crt
key = $T/out/$n.key

[cert.$n.reload.consumer]
type = signal
signal = HUP
pidfile = $T/consumer.pid
CONF
done

step "the consumer is not running: issuing does not fail"
run_certd "$T/first.log" --once -c "$conf" || fail "--once without the consumer: $(cat "$T/first.log")"

step "a consumer counting SIGHUPs"
: >"$T/hups"
sh -c "trap 'echo hup >>$T/hups' HUP; while :; do sleep 0.05; done" &
CONSUMER=$!
trap 'kill $CONSUMER 2>/dev/null; cleanup' EXIT
echo "$CONSUMER" >"$T/consumer.pid"
chmod 644 "$T/consumer.pid"
sleep 0.2

step "both renewed in one pass: one reload"
run_certd "$T/force.log" --once --force -c "$conf" a b || fail "--once --force: $(cat "$T/force.log")"
sleep 0.3
assert_eq "$(wc -l <"$T/hups")" 1 "SIGHUPs received by the consumer"
assert_contains "$T/force.log" "[a] delivered: reloaded"
assert_contains "$T/first.log" "the service is not running (no pid file)"
assert_contains "$T/force.log" "[b] delivered: reloaded"
# the signal came after both sets were written
hup_time=$(stat -c %Y "$T/hups")
for n in a b; do
	[ "$(stat -c %Y "$T/out/$n.crt")" -le "$hup_time" ] || fail "$n written after the reload"
done

step "the next pass delivers nothing again"
run_certd "$T/again.log" --once -c "$conf" || fail "--once: $(cat "$T/again.log")"
sleep 0.3
assert_eq "$(wc -l <"$T/hups")" 1 "SIGHUPs after a pass with nothing to do"
echo PASS
