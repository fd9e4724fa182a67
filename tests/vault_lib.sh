# tests/vault_lib.sh — start and drive the in-tree Vault-compatible server
# (tests/vaultsrv) for the scenario tests.  Sourced after lib.sh.
#
#   vault_config > FILE       the standard test setup (JSON)
#   vault_start FILE [ARGS]   start vaultsrv; sets VAULT_ADDR, VAULT_TLS_ADDR,
#                             VAULT_CA (root CA of pki_int's chain, for TLS)
#   vault_ctl METHOD PATH [JSON]   the /_test control API (curl)
#   vault_issued              certificates issued so far (all mounts)
#   assert_no_secrets FILE... no token, secret ID or JWT in certd's output

VAULTSRV=${VAULTSRV:-$top_builddir/tests/vaultsrv/vaultsrv}
[ -x "$VAULTSRV" ] || fail "vaultsrv not built at $VAULTSRV"
for tool in curl jq; do
	command -v $tool >/dev/null 2>&1 || fail "$tool is needed by the Vault scenario tests"
done

# Secrets of the standard setup, checked for in every captured log.
VAULT_SECRETS="s.certdtoken0000000000000 s.wraponce000000000000000 7f3c1e0a-secret-id-of-certd-approle eyJhbGciOiJub25lIn0.eyJzdWIiOiJjZXJ0ZCJ9.c2lnbmF0dXJl"

vault_config() {
	cat <<JSON
{
  "policies": {
    "certd": {"pki_int/sign/*": ["update"], "pki_int/issue/*": ["update"],
              "pki_int/ca_chain": ["read"], "pki_int/ca/pem": ["read"],
              "pki_short/sign/*": ["update"], "pki_short/issue/*": ["update"]}
  },
  "tokens": [
    {"id": "root", "policies": ["root"]},
    {"id": "s.certdtoken0000000000000", "policies": ["certd", "default"], "ttl": "1h", "renewable": true}
  ],
  "pki": [
    {"path": "pki", "ca": {"common_name": "certd test root CA", "key_type": "ec", "key_bits": 256}},
    {"path": "pki_int", "ca": {"common_name": "certd test intermediate CA", "issuer": "pki", "ttl": "8760h"},
     "max_ttl": "8760h",
     "roles": {
       "web": {"allowed_domains": ["example.com", "localhost"], "allow_subdomains": true,
               "allow_bare_domains": true, "allow_localhost": true, "allow_ip_sans": true,
               "key_type": "any", "ttl": "24h", "max_ttl": "720h"},
       "ec": {"allowed_domains": ["example.com"], "allow_subdomains": true,
              "key_type": "ec", "key_bits": 256, "max_ttl": "720h"},
       "nodes": {"allowed_domains": ["example.com"], "allow_subdomains": true, "key_type": "any",
                 "max_ttl": "720h", "client_flag": true, "server_flag": true}}},
    {"path": "pki_short", "ca": {"common_name": "certd short CA", "issuer": "pki", "ttl": "8760h"},
     "max_ttl": "8760h",
     "roles": {"web": {"allowed_domains": ["example.com"], "allow_subdomains": true,
                       "key_type": "any", "max_ttl": "1h"}}}
  ],
  "approle": {"path": "approle", "roles": {"certd": {
      "role_id": "d3b07384-role-id-of-certd-approle",
      "secret_ids": ["7f3c1e0a-secret-id-of-certd-approle"],
      "wrapped_secret_ids": ["s.wraponce000000000000000"],
      "token_policies": ["certd", "default"], "token_ttl": "20m", "token_max_ttl": "1h"}}},
  "cert": {"path": "cert", "certs": {"node": {
      "ca_mount": "pki_int", "policies": ["certd", "default"], "ttl": "30m",
      "allowed_common_names": ["*.example.com"]}}},
  "kubernetes": {"path": "kubernetes", "roles": {"certd": {
      "jwt_file": "$T/k8s.jwt", "policies": ["certd", "default"], "ttl": "1h",
      "bound_service_account_names": ["*"], "bound_service_account_namespaces": ["*"]}}},
  "jwt": {"path": "jwt", "roles": {"certd": {
      "jwt": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjZXJ0ZCJ9.c2lnbmF0dXJl", "policies": ["certd", "default"]}}}
}
JSON
}

VAULT_PIDS=
vault_start() { # config [extra vaultsrv args...]; may be called twice (second server: VAULT2_*)
	cfg=$1
	shift
	n=$(echo "$VAULT_PIDS" | wc -w)
	rm -f "$T/vport$n" "$T/vtport$n"
	"$VAULTSRV" --config "$cfg" --port 0 --port-file "$T/vport$n" \
		--tls-port 0 --tls-port-file "$T/vtport$n" --tls-auto pki_int \
		--tls-ca-out "$T/vault-ca$n.pem" --quiet "$@" >"$T/vaultsrv$n.log" 2>&1 &
	VAULT_PIDS="$VAULT_PIDS $!"
	i=0
	while [ ! -s "$T/vport$n" ] || [ ! -s "$T/vtport$n" ]; do
		i=$((i + 1))
		[ $i -le 100 ] || { cat "$T/vaultsrv$n.log" >&2; fail "vaultsrv did not start"; }
		sleep 0.05
	done
	if [ "$n" = 0 ]; then
		VAULT_ADDR=http://127.0.0.1:$(cat "$T/vport0")
		VAULT_TLS_ADDR=https://127.0.0.1:$(cat "$T/vtport0")
		VAULT_CA=$T/vault-ca0.pem
	else
		VAULT2_ADDR=http://127.0.0.1:$(cat "$T/vport$n")
	fi
}

vault_stop() {
	for pid in $VAULT_PIDS; do
		kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	VAULT_PIDS=
}

cleanup() {
	[ -n "${DAEMON_PID:-}" ] && kill "$DAEMON_PID" 2>/dev/null
	vault_stop
	rm -rf "$T"
}

vault_ctl() { # method path [json] — against the first server
	if [ $# -ge 3 ]; then
		curl -sS -X "$1" -H 'Content-Type: application/json' --data "$3" "$VAULT_ADDR$2"
	else
		curl -sS -X "$1" "$VAULT_ADDR$2"
	fi
}

vault_issued() { vault_ctl GET /_test/counters | jq '[.issued[]?] | add // 0'; }

assert_no_secrets() { # files...
	for s in $VAULT_SECRETS; do
		for f in "$@"; do
			if grep -qF -- "$s" "$f"; then
				fail "$f contains a secret (${s%%????????????})"
			fi
		done
	done
	# Tokens handed out at login look like s. followed by 24 characters.
	for f in "$@"; do
		if grep -qE 's\.[A-Za-z0-9]{24}' "$f"; then
			grep -nE 's\.[A-Za-z0-9]{24}' "$f" >&2
			fail "$f contains something shaped like a Vault token"
		fi
	done
}

# A certd config using Vault at $1 with auth lines $2, for certificates
# appended by the caller.
certd_vault_conf() { # address auth-lines
	cat <<CONF
[certd]
state_dir = $T/state
control_socket = $T/control.sock

[vault]
address = $1
$2
CONF
}

# cert_section NAME CN [extra lines] — $ROLE and $TTL override role (web) and ttl (24h).
cert_section() {
	cat <<CONF

[cert.$1]
issuer = vault-pki
mount = pki_int
role = ${ROLE:-web}
common_name = $2
ttl = ${TTL:-24h}
cert = $T/out/$1.crt
key = $T/out/$1.key
chain = $T/out/$1-chain.pem
fullchain = $T/out/$1-full.pem
${3:-}
CONF
}
