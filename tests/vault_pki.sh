#!/bin/sh
# certd --once against the in-tree Vault-compatible server, token auth:
# sign mode with EC P-256 and RSA 2048 keys, issue mode, chains verified
# with openssl against Vault's root, the key never sent in sign mode,
# idempotent re-runs, and TTL clamping by the role's max_ttl.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

vault_config >"$T/vault.json"
vault_start "$T/vault.json"
curl -sS "$VAULT_ADDR/v1/pki/ca/pem" >"$T/root.pem"
grep -q "BEGIN CERTIFICATE" "$T/root.pem" || fail "no root CA from vaultsrv"

conf=$T/certd.conf
{
	certd_vault_conf "$VAULT_ADDR" ""
	cert_section ec www.example.com "alt_names = www.example.com, api.example.com
ip_sans = 127.0.0.1
trust_anchor = $T/root.pem"
	cert_section rsa rsa.example.com "key_type = rsa
key_bits = 2048
trust_anchor = $T/root.pem"
	ROLE=ec cert_section issued issued.example.com "pki_mode = issue
trust_anchor = $T/root.pem"
} >"$conf"

step "sign (EC P-256, RSA 2048) and issue"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/once1.log" --once -c "$conf" ||
	fail "--once failed: $(cat "$T/once1.log")"
for n in ec rsa issued; do
	assert_contains "$T/once1.log" "[$n] issued serial"
	"$OPENSSL" verify -CAfile "$T/root.pem" -untrusted "$T/out/$n-chain.pem" "$T/out/$n.crt" \
		>"$T/verify.log" 2>&1 || fail "$n does not verify to Vault's root: $(cat "$T/verify.log")"
	assert_eq "$("$OPENSSL" x509 -noout -pubkey -in "$T/out/$n.crt")" \
		"$("$OPENSSL" pkey -pubout -in "$T/out/$n.key")" "$n: cert and key"
	assert_eq "$(mode_of "$T/out/$n.key")" 600 "$n: key mode"
	"$OPENSSL" x509 -noout -issuer -in "$T/out/$n.crt" | grep -q "certd test intermediate CA" ||
		fail "$n not issued by pki_int"
done
"$OPENSSL" pkey -in "$T/out/ec.key" -noout -text | grep -q "ASN1 OID: prime256v1" || fail "ec key is not P-256"
"$OPENSSL" pkey -in "$T/out/rsa.key" -noout -text | grep -q "Private-Key: (2048 bit" || fail "rsa key is not 2048 bits"
"$OPENSSL" x509 -noout -ext subjectAltName -in "$T/out/ec.crt" >"$T/san.txt"
assert_contains "$T/san.txt" "DNS:api.example.com"
assert_contains "$T/san.txt" "IP Address:127.0.0.1"
assert_eq "$(vault_issued)" 3 "certificates issued by Vault"

step "in sign mode the key never leaves the host"
vault_ctl GET /_test/requests >"$T/requests.json"
jq -e '[.requests[] | select(.path | test("/sign/"))] | length == 2' "$T/requests.json" >/dev/null ||
	fail "expected two sign requests: $(jq -c '[.requests[].path]' "$T/requests.json")"
if grep -q "PRIVATE KEY" "$T/requests.json"; then
	fail "a private key was sent to Vault"
fi
for n in ec rsa; do
	# the exact key material: its base64 body must not appear in any request
	sed -n '2p' "$T/out/$n.key" >"$T/keyline"
	grep -qF "$(cat "$T/keyline")" "$T/requests.json" && fail "$n key material found in a request"
done
jq -e '[.requests[] | select(.path | test("/issue/"))] | length == 1' "$T/requests.json" >/dev/null ||
	fail "expected one issue request"

step "a second --once issues nothing"
before=$(for f in "$T"/out/*; do mtime_of "$f"; done)
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/once2.log" --once -c "$conf" ||
	fail "second --once failed: $(cat "$T/once2.log")"
assert_eq "$(vault_issued)" 3 "certificates issued after a second --once"
assert_eq "$(for f in "$T"/out/*; do mtime_of "$f"; done)" "$before" "mtimes after a second --once"

step "TTL above the role's max_ttl: clamped, warned, scheduled from the real lifetime"
{
	certd_vault_conf "$VAULT_ADDR" ""
	TTL=720h cert_section short short.example.com
} | sed 's/^mount = pki_int$/mount = pki_short/' >"$T/short.conf"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/short.log" --once -c "$T/short.conf" ||
	fail "--once with clamping failed: $(cat "$T/short.log")"
assert_contains "$T/short.log" "[short] Vault issued a certificate valid for"
assert_contains "$T/short.log" "shorter than the requested ttl 30d"
# one hour of life: renewal at 2/3, i.e. within the next 40 minutes
grep -q "\[short\] next renewal .* (in \(3[0-9]m\|40m\|2[0-9]m\)" "$T/short.log" ||
	fail "renewal not scheduled from the real lifetime: $(grep 'next renewal' "$T/short.log")"
[ -s "$T/out/short.crt" ] || fail "clamped certificate not written"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/short2.log" --once -c "$T/short.conf" ||
	fail "second --once with clamping failed"
assert_not_contains "$T/short2.log" "issued serial"
assert_eq "$(vault_issued)" 4 "issued after the clamped re-run (no loop)"

assert_no_secrets "$T"/*.log
echo PASS
