#!/bin/sh
# certd --once on the quick-start config, end to end, checked with openssl:
# files written and verifiable, key 0600 and matching, idempotent re-run,
# --force re-issues, a damaged or changed set is re-issued.
. "$top_srcdir/tests/lib.sh"

conf=$(quickstart_conf)
out=$T/out
ca=$T/state/local-ca/ca.crt

step "--check-config validates without touching anything"
run_certd "$T/check.log" --check-config -c "$conf" || fail "--check-config failed: $(cat "$T/check.log")"
assert_contains "$T/check.log" "OK, 1 certificate(s)"
[ ! -e "$T/state" ] || fail "--check-config created the state directory"
[ ! -e "$out" ] || fail "--check-config created the output directory"

step "first --once issues"
run_certd "$T/once1.log" --once -c "$conf" || fail "first --once failed: $(cat "$T/once1.log")"
assert_contains "$T/once1.log" "[quickstart] issuing: no certificate yet"
assert_contains "$T/once1.log" "[quickstart] issued serial"
assert_contains "$T/once1.log" "[quickstart] created a new local CA in "
for f in quickstart.crt quickstart.key chain.pem fullchain.pem quickstart-combined.pem; do
	[ -s "$out/$f" ] || fail "$out/$f was not written"
done
"$OPENSSL" verify -CAfile "$ca" "$out/fullchain.pem" >"$T/verify.log" 2>&1 ||
	fail "openssl verify: $(cat "$T/verify.log")"
"$OPENSSL" verify -CAfile "$ca" -untrusted "$out/chain.pem" "$out/quickstart.crt" >/dev/null 2>&1 ||
	fail "leaf does not verify with the chain file"
certpub=$("$OPENSSL" x509 -noout -pubkey -in "$out/quickstart.crt")
keypub=$("$OPENSSL" pkey -pubout -in "$out/quickstart.key")
assert_eq "$certpub" "$keypub" "public key of cert vs key"
assert_eq "$(mode_of "$out/quickstart.key")" 600 "key file mode"
assert_eq "$(mode_of "$out/quickstart-combined.pem")" 600 "combined PEM mode"
assert_eq "$(mode_of "$out/quickstart.crt")" 644 "cert file mode"
assert_eq "$(mode_of "$T/state/local-ca/ca.key")" 600 "CA key mode"
"$OPENSSL" x509 -noout -ext subjectAltName -in "$out/quickstart.crt" >"$T/san.txt"
assert_contains "$T/san.txt" "DNS:quickstart.certd.test"
assert_contains "$T/san.txt" "DNS:localhost"
assert_contains "$T/san.txt" "IP Address:127.0.0.1"
assert_contains "$T/san.txt" "IP Address:0:0:0:0:0:0:0:1"
"$OPENSSL" x509 -noout -subject -in "$out/quickstart.crt" | grep -q "CN *= *quickstart.certd.test" ||
	fail "subject CN"
# The combined file is the cert, the chain and the key, byte for byte, and
# the newline that ends the template's here-document.
{ cat "$out/quickstart.crt" "$out/chain.pem" "$out/quickstart.key"; echo; } |
	cmp -s - "$out/quickstart-combined.pem" || fail "combined PEM is not cert+chain+key"
serial1=$(serial_of "$out/quickstart.crt")
grep -qi "$(echo "$serial1" | sed 's/../&:/g; s/:$//')" "$T/state/local-ca/issued.log" ||
	fail "serial $serial1 not recorded in issued.log: $(cat "$T/state/local-ca/issued.log")"

step "second --once issues nothing and rewrites nothing"
before=$(for f in "$out"/*; do mtime_of "$f"; done)
run_certd "$T/once2.log" --once -c "$conf" || fail "second --once failed: $(cat "$T/once2.log")"
assert_not_contains "$T/once2.log" "issued serial"
assert_contains "$T/once2.log" "[quickstart] valid, serial"
assert_eq "$(serial_of "$out/quickstart.crt")" "$serial1" "serial after a second --once"
after=$(for f in "$out"/*; do mtime_of "$f"; done)
assert_eq "$after" "$before" "mtimes after a second --once"

step "--force re-issues"
run_certd "$T/once3.log" --once --force -c "$conf" || fail "--force failed: $(cat "$T/once3.log")"
assert_contains "$T/once3.log" "re-issuing: forced"
assert_not_contains "$T/once3.log" "created a new local CA"
serial2=$(serial_of "$out/quickstart.crt")
assert_ne "$serial2" "$serial1" "serial after --force"
"$OPENSSL" verify -CAfile "$ca" "$out/fullchain.pem" >/dev/null 2>&1 || fail "verify after --force"

step "a damaged certificate file is replaced"
printf 'garbage\n' >"$out/quickstart.crt"
run_certd "$T/once4.log" --once -c "$conf" || fail "--once after damage failed: $(cat "$T/once4.log")"
assert_contains "$T/once4.log" "re-issuing: $out/quickstart.crt:"
"$OPENSSL" verify -CAfile "$ca" "$out/fullchain.pem" >/dev/null 2>&1 || fail "verify after repair"

step "a key that does not match is replaced"
"$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/quickstart.key" 2>/dev/null
chmod 600 "$out/quickstart.key"
run_certd "$T/once5.log" --once -c "$conf" || fail "--once after key swap failed"
assert_contains "$T/once5.log" "does not match"
certpub=$("$OPENSSL" x509 -noout -pubkey -in "$out/quickstart.crt")
keypub=$("$OPENSSL" pkey -pubout -in "$out/quickstart.key")
assert_eq "$certpub" "$keypub" "public key of cert vs key after repair"

step "a key readable by others is treated as exposed and replaced"
chmod 644 "$out/quickstart.key"
oldkey=$("$OPENSSL" pkey -pubout -in "$out/quickstart.key")
run_certd "$T/once6.log" --once -c "$conf" || fail "--once after chmod failed"
assert_contains "$T/once6.log" "wider than key_mode 0600"
assert_eq "$(mode_of "$out/quickstart.key")" 600 "key mode after repair"
assert_ne "$("$OPENSSL" pkey -pubout -in "$out/quickstart.key")" "$oldkey" "key after exposure"

step "a changed request (new SAN) is re-issued once"
sed -i 's/^alt_names = localhost$/alt_names = localhost, extra.certd.test/' "$conf"
run_certd "$T/once7.log" --once -c "$conf" || fail "--once after SAN change failed"
assert_contains "$T/once7.log" "names changed"
"$OPENSSL" x509 -noout -ext subjectAltName -in "$out/quickstart.crt" | grep -q "DNS:extra.certd.test" ||
	fail "new SAN missing"
serial3=$(serial_of "$out/quickstart.crt")
run_certd "$T/once8.log" --once -c "$conf" || fail "--once after re-issue failed"
assert_eq "$(serial_of "$out/quickstart.crt")" "$serial3" "serial one run after the SAN change"

step "a changed key type is re-issued"
sed -i 's/^ttl = 1m$/ttl = 1m\nkey_type = rsa/' "$conf"
run_certd "$T/once9.log" --once -c "$conf" || fail "--once after key type change failed"
assert_contains "$T/once9.log" "key type changed to rsa-2048"
"$OPENSSL" pkey -in "$out/quickstart.key" -noout -text 2>/dev/null | grep -q "Private-Key: (2048 bit" ||
	fail "key is not RSA 2048"

step "unknown certificate name on the command line"
run_certd "$T/once10.log" --once -c "$conf" nosuch && fail "unknown name accepted"
[ $? -eq 2 ] || fail "unknown name: exit status $?, want 2"
assert_contains "$T/once10.log" 'no certificate named "nosuch"'

echo "PASS"
