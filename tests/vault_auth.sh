#!/bin/sh
# Every auth method against the in-tree Vault-compatible server: token from
# the environment and from a file, AppRole (plain, response-wrapped secret
# ID, secret ID file removed after reading), TLS certificate auth with a
# client certificate certd itself issued and then renewed, Kubernetes, JWT.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

printf '%s' "eyJhbGciOiJub25lIn0.eyJzdWIiOiJrOHMifQ.c2lnbmF0dXJlMg" >"$T/k8s.jwt"
chmod 600 "$T/k8s.jwt"
vault_config >"$T/vault.json"
vault_start "$T/vault.json"

# once NAME AUTH-LINES [ADDRESS] — one certificate through that auth.
once() {
	name=$1
	{
		certd_vault_conf "${3:-$VAULT_ADDR}" "$2"
		cert_section "$name" "$name.example.com"
	} >"$T/$name.conf"
	before=$(vault_issued)
	run_certd "$T/$name.log" --once -c "$T/$name.conf" || fail "$name: --once failed: $(cat "$T/$name.log")"
	assert_contains "$T/$name.log" "[$name] issued serial"
	assert_eq "$(vault_issued)" $((before + 1)) "$name: certificates issued"
}

step "token from VAULT_TOKEN"
VAULT_TOKEN=s.certdtoken0000000000000 once tokenenv ""

step "token from a file"
printf 's.certdtoken0000000000000\n' >"$T/token"
chmod 600 "$T/token"
once tokenfile "token_file = $T/token"

step "a token file readable by others is refused"
chmod 644 "$T/token"
{ certd_vault_conf "$VAULT_ADDR" "token_file = $T/token"; cert_section tokbad tokbad.example.com; } >"$T/tokbad.conf"
run_certd "$T/tokbad.log" --once -c "$T/tokbad.conf" && fail "world-readable token file accepted"
assert_contains "$T/tokbad.log" "$T/token"
chmod 600 "$T/token"

step "AppRole"
printf 'd3b07384-role-id-of-certd-approle\n' >"$T/role_id"
printf '7f3c1e0a-secret-id-of-certd-approle\n' >"$T/secret_id"
chmod 600 "$T/role_id" "$T/secret_id"
once approle "auth_method = approle
role_id_file = $T/role_id
secret_id_file = $T/secret_id"

step "AppRole with a response-wrapped secret ID, file removed after reading"
printf 's.wraponce000000000000000\n' >"$T/wrapped"
chmod 600 "$T/wrapped"
once wrapped "auth_method = approle
role_id_file = $T/role_id
secret_id_file = $T/wrapped
secret_id_wrapped = true
remove_secret_id_file = true"
[ ! -e "$T/wrapped" ] || fail "the wrapped secret ID file was not removed"
vault_ctl GET /_test/requests | jq -e '[.requests[] | select(.path == "/v1/sys/wrapping/unwrap")] | length == 1' >/dev/null ||
	fail "no unwrap request"

step "a used wrapping token is refused with Vault's reason"
printf 's.wraponce000000000000000\n' >"$T/wrapped"
chmod 600 "$T/wrapped"
{ certd_vault_conf "$VAULT_ADDR" "auth_method = approle
role_id_file = $T/role_id
secret_id_file = $T/wrapped
secret_id_wrapped = true"; cert_section rewrap rewrap.example.com; } >"$T/rewrap.conf"
run_certd "$T/rewrap.log" --once -c "$T/rewrap.conf"
assert_eq $? 1 "exit status with a used wrapping token"
assert_contains "$T/rewrap.log" "wrapping token is not valid or does not exist"

step "TLS certificate auth with a client certificate certd manages"
# certd first gets its own client certificate (token auth), then logs in with it.
{
	certd_vault_conf "$VAULT_TLS_ADDR" "ca_cert = $VAULT_CA"
	ROLE=nodes cert_section node node1.example.com
} >"$T/node.conf"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/node.log" --once -c "$T/node.conf" ||
	fail "client certificate: $(cat "$T/node.log")"
serial1=$(serial_of "$T/out/node.crt")
certauth="auth_method = cert
cert_role = node
ca_cert = $VAULT_CA
client_cert = $T/out/node.crt
client_key = $T/out/node.key"
once certauth "$certauth" "$VAULT_TLS_ADDR"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/node2.log" --once --force -c "$T/node.conf" ||
	fail "renewing the client certificate: $(cat "$T/node2.log")"
serial2=$(serial_of "$T/out/node.crt")
assert_ne "$serial2" "$serial1" "client certificate serial after renewal"
once certauth2 "$certauth" "$VAULT_TLS_ADDR"
# the login after the renewal presented the new certificate, without a restart
vault_ctl GET /_test/requests >"$T/requests.json"
assert_eq "$(jq -r '[.requests[] | select(.path == "/v1/auth/cert/login")] | .[0].client_cert_serial' "$T/requests.json")" \
	"$serial1" "client certificate of the first cert login"
assert_eq "$(jq -r '[.requests[] | select(.path == "/v1/auth/cert/login")] | .[-1].client_cert_serial' "$T/requests.json")" \
	"$serial2" "client certificate of the login after renewal"
vault_ctl GET /_test/requests | jq -e '[.requests[] | select(.path == "/v1/auth/cert/login") | .tls] | all' >/dev/null ||
	fail "cert login not over TLS"

step "Kubernetes"
once k8s "auth_method = kubernetes
role = certd
jwt_file = $T/k8s.jwt"

step "JWT"
printf '%s' "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjZXJ0ZCJ9.c2lnbmF0dXJl" >"$T/jwt"
chmod 600 "$T/jwt"
once jwt "auth_method = jwt
role = certd
jwt_file = $T/jwt"

assert_no_secrets "$T"/*.log
echo PASS
