#!/bin/sh
# The daemon against Vault with a short-lived AppRole token: the token is
# renewed and, at its max TTL, replaced by a new login — and neither
# causes a certificate to be issued again.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

vault_config | jq '.approle.roles.certd.token_ttl = "3s" | .approle.roles.certd.token_max_ttl = "5s"' >"$T/vault.json"
vault_start "$T/vault.json"
printf 'd3b07384-role-id-of-certd-approle\n' >"$T/role_id"
printf '7f3c1e0a-secret-id-of-certd-approle\n' >"$T/secret_id"
chmod 600 "$T/role_id" "$T/secret_id"
{
	certd_vault_conf "$VAULT_ADDR" "auth_method = approle
role_id_file = $T/role_id
secret_id_file = $T/secret_id"
	cert_section web www.example.com
} >"$T/certd.conf"

"$CERTD" -c "$T/certd.conf" >"$T/daemon.log" 2>&1 &
DAEMON_PID=$!
i=0
while [ "$(vault_ctl GET /_test/counters | jq '.requests["POST /v1/auth/approle/login"] // 0')" -lt 3 ]; do
	i=$((i + 1))
	[ $i -le 150 ] || { cat "$T/daemon.log"; fail "no second re-login within 15 s"; }
	kill -0 "$DAEMON_PID" || { cat "$T/daemon.log"; fail "daemon died"; }
	sleep 0.1
done
vault_ctl GET /_test/counters >"$T/counters.json"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq $? 0 "exit status after SIGTERM"
DAEMON_PID=
[ "$(jq '.requests["PUT /v1/auth/token/renew-self"] // .requests["POST /v1/auth/token/renew-self"] // 0' "$T/counters.json")" -ge 1 ] ||
	fail "the token was never renewed: $(cat "$T/counters.json")"
assert_eq "$(jq '[.issued[]?] | add // 0' "$T/counters.json")" 1 "certificates issued across renewals and re-logins"
assert_contains "$T/daemon.log" "vault: logged in"
assert_no_secrets "$T"/*.log
echo PASS
