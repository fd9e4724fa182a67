#!/bin/sh
# What an operator sees when Vault misbehaves, with certd --once: a sealed
# Vault (exit 1, files untouched, the address named), a role refusal (exit
# 1, Vault's reason), the first of two addresses down, a standby's 307, and
# a token revoked under certd's feet (one re-login, no extra issuance).
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

vault_config >"$T/vault.json"
vault_start "$T/vault.json"
export VAULT_TOKEN=s.certdtoken0000000000000

conf=$T/certd.conf
{ certd_vault_conf "$VAULT_ADDR" ""; cert_section web www.example.com; } >"$conf"
run_certd "$T/first.log" --once -c "$conf" || fail "first issuance: $(cat "$T/first.log")"
snapshot() { ls -lA --time-style=full-iso "$T/out"; cat "$T"/out/* | sha256sum; }
before=$(snapshot)

step "sealed Vault: exit 1, files untouched, the address named"
vault_ctl POST /_test/seal '{}' >/dev/null
run_certd "$T/sealed.log" --once --force -c "$conf"
assert_eq $? 1 "exit status with Vault sealed"
assert_contains "$T/sealed.log" "[web]"
assert_contains "$T/sealed.log" "$VAULT_ADDR"
assert_contains "$T/sealed.log" "Vault is sealed"
assert_eq "$(snapshot)" "$before" "files while Vault is sealed"
vault_ctl POST /_test/unseal '{}' >/dev/null

step "role refusal: exit 1 with Vault's reason"
{ certd_vault_conf "$VAULT_ADDR" ""; cert_section bad www.not-allowed.org; } >"$T/bad.conf"
run_certd "$T/bad.log" --once -c "$T/bad.conf"
assert_eq $? 1 "exit status on a role refusal"
assert_contains "$T/bad.log" "[bad] the vault-pki CA refused the request"
assert_contains "$T/bad.log" "common name www.not-allowed.org not allowed by this role"
[ ! -e "$T/out/bad.crt" ] || fail "a refused certificate was written"

step "first of two addresses down"
# port 1 on loopback: nothing listens there, connections are refused
dead=http://127.0.0.1:1
{ certd_vault_conf "$dead, $VAULT_ADDR" ""; cert_section web www.example.com; } >"$T/two.conf"
issued=$(vault_issued)
run_certd "$T/two.log" --once --force -c "$T/two.conf" || fail "failover: $(cat "$T/two.log")"
assert_contains "$T/two.log" "$dead"
assert_contains "$T/two.log" "[web] issued serial"
assert_eq "$(vault_issued)" $((issued + 1)) "issued through the second address"

step "a standby answers 307; certd follows it to the active node"
vault_start "$T/vault.json"
curl -sS -X POST -H 'Content-Type: application/json' \
	--data "{\"enabled\": true, \"redirect\": \"$VAULT_ADDR\"}" "$VAULT2_ADDR/_test/standby" >/dev/null
{ certd_vault_conf "$VAULT2_ADDR" ""; cert_section web www.example.com; } >"$T/standby.conf"
issued=$(vault_issued)
run_certd "$T/standby.log" --once --force -c "$T/standby.conf" || fail "standby: $(cat "$T/standby.log")"
assert_eq "$(vault_issued)" $((issued + 1)) "issued through the standby's redirect"

step "a token revoked mid-run: one re-login, no extra issuance"
printf 'd3b07384-role-id-of-certd-approle\n' >"$T/role_id"
printf '7f3c1e0a-secret-id-of-certd-approle\n' >"$T/secret_id"
chmod 600 "$T/role_id" "$T/secret_id"
{
	certd_vault_conf "$VAULT_ADDR" "auth_method = approle
role_id_file = $T/role_id
secret_id_file = $T/secret_id"
	cert_section web www.example.com
} >"$T/approle.conf"
# The first sign request is answered 403 as if the token had been revoked.
vault_ctl POST /_test/faults '{"path": "pki_int/sign/*", "action": "status", "status": 403, "json": {"errors": ["1 error occurred:\n\t* permission denied\n\n"]}, "count": 1}' >/dev/null
vault_ctl DELETE /_test/counters >/dev/null
run_certd "$T/revoked.log" --once --force -c "$T/approle.conf" || fail "re-login: $(cat "$T/revoked.log")"
vault_ctl GET /_test/counters >"$T/counters.json"
assert_eq "$(jq '.requests["POST /v1/auth/approle/login"] // 0' "$T/counters.json")" 2 "logins"
assert_eq "$(vault_issued)" 1 "issued after a re-login"

unset VAULT_TOKEN
assert_no_secrets "$T"/*.log
echo PASS
