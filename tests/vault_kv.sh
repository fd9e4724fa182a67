#!/bin/sh
# Vault KV output for APISIX: after an issuance, kv/apisix/ssl (KV v1)
# holds the new certificate+chain and key under the configured field names;
# with KV v2 a concurrent writer's change makes certd's check-and-set write
# fail, and certd reads again and retries.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

vault_config | jq '.kv = [{"path": "kv", "version": 1}, {"path": "secret", "version": 2}]
	| .policies.certd["kv/apisix/*"] = ["create", "read", "update"]
	| .policies.certd["secret/data/apisix/*"] = ["create", "read", "update"]' >"$T/vault.json"
vault_start "$T/vault.json"
export VAULT_TOKEN=s.certdtoken0000000000000

kv_conf() { # path version
	certd_vault_conf "$VAULT_ADDR" ""
	cert_section web test.example.com "kv_path = $1
kv_version = $2"
	cat <<'CONF'

[cert.web.kv.crt]
key = test.com.crt
template = {{cert}}{{chain}}

[cert.web.kv.key]
key = test.com.key
template = {{key}}
CONF
}

step "KV v1: the fields APISIX reads"
kv_conf kv/apisix/ssl 1 >"$T/v1.conf"
run_certd "$T/v1.log" --once -c "$T/v1.conf" || fail "--once: $(cat "$T/v1.log")"
curl -sS -H "X-Vault-Token: root" "$VAULT_ADDR/v1/kv/apisix/ssl" >"$T/kv1.json"
jq -j '.data["test.com.crt"]' "$T/kv1.json" >"$T/kv.crt"
jq -j '.data["test.com.key"]' "$T/kv1.json" >"$T/kv.key"
cmp -s "$T/kv.crt" "$T/out/web-full.pem" || fail "test.com.crt is not the certificate and chain"
cmp -s "$T/kv.key" "$T/out/web.key" || fail "test.com.key is not the key"

step "KV v2 with check-and-set, and a concurrent writer"
kv_conf secret/data/apisix/ssl 2 >"$T/v2.conf"
run_certd "$T/v2a.log" --once --force -c "$T/v2.conf" || fail "--once: $(cat "$T/v2a.log")"
curl -sS -H "X-Vault-Token: root" "$VAULT_ADDR/v1/secret/data/apisix/ssl" >"$T/kv2a.json"
assert_eq "$(jq '.data.metadata.version' "$T/kv2a.json")" 1 "version after the first write"
# certd's next write is held for 1.5 s; meanwhile another writer bumps the version.
vault_ctl POST /_test/faults '{"path": "secret/data/apisix/ssl", "method": "POST", "action": "delay", "delay_ms": 1500, "count": 1}' >/dev/null
run_certd "$T/v2b.log" --once --force -c "$T/v2.conf" &
certd_pid=$!
sleep 0.7
curl -sS -X POST -H "X-Vault-Token: root" -H 'Content-Type: application/json' \
	--data '{"data": {"other": "writer"}}' "$VAULT_ADDR/v1/secret/data/apisix/ssl" >/dev/null
wait "$certd_pid" || fail "--once with a concurrent writer: $(cat "$T/v2b.log")"
vault_ctl GET /_test/requests >"$T/requests.json"
statuses=$(jq -r '[.requests[] | select(.method == "POST" and .path == "/v1/secret/data/apisix/ssl") | .status] | map(tostring) | join(",")' "$T/requests.json")
echo "KV v2 writes (status): $statuses"
case "$statuses" in *400*200) ;; *) fail "expected a failed check-and-set followed by a success: $statuses";; esac
curl -sS -H "X-Vault-Token: root" "$VAULT_ADDR/v1/secret/data/apisix/ssl" >"$T/kv2b.json"
jq -j '.data.data["test.com.crt"]' "$T/kv2b.json" >"$T/kv2.crt"
cmp -s "$T/kv2.crt" "$T/out/web-full.pem" || fail "KV v2 does not hold the new certificate"
assert_eq "$(jq '.data.metadata.version' "$T/kv2b.json")" 3 "version after the retried write"

unset VAULT_TOKEN
assert_no_secrets "$T"/*.log
echo PASS
