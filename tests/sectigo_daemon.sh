#!/bin/sh
# The daemon against the Sectigo Vault PKI plugin of the in-tree server,
# one plugin config entry (with its own scripted SCM behaviour) per
# certificate so that the slow cases run side by side:
#
#   slow     the order is collected on the 5th re-read (backoff 3s..15s)
#   hang     the enroll answer never comes (certd's timeout hits), but the
#            order is stored: certd recovers the id by listing certs/
#   approve  ErrorCode (manual approval) until the test approves it
#   resume   collected after 12 s; the daemon is SIGKILLed while it waits
#   renewme  60 s certificates: renewed at the policy time with renew/
#   rotate   the same with rotate_key = true: replace/ with a new key
#
# Every certificate must end with exactly one enroll; no SCM password or
# private key in any URL the server saw or any line certd logged.  Then
# revoke (held), renew --force (managed again), revoke --reissue.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	[ -f "$T/daemon.log" ] && { echo "--- daemon log (tail):"; tail -60 "$T/daemon.log"; } >&2
	exit 1
}

PASSWORD=scm-Pa55word-never-in-urls
MOUNT=sectigo-vault-pki
CONFIGS="slow hang approve resume renewme rotate plugin viaread lost"

{
	vault_config | jq --arg pw "$PASSWORD" --arg m "$MOUNT" --arg cfgs "$CONFIGS" '
	  .policies.certd += {($m + "/*"): ["create", "read", "update", "list"],
	                      "sectigo-alt/*": ["create", "read", "update", "list"]}
	  | .sectigo = [{
	      path: $m, customer_uri: "murray",
	      configs: ([$cfgs | split(" ")[] | {(.): {
	          sectigo_cm_base_url: "https://cert-manager.example/", sectigo_cm_user: "certd",
	          sectigo_cm_password: $pw, sectigo_cm_uri: "murray", sectigo_cm_org_id: 123,
	          sectigo_config_type: "ssl_cert"}}] | add),
	      scripts: {
	        slow: {collect_after_reads: 5},
	        hang: {answer_delay_ms: {enroll: -1}},
	        approve: {error: {code: -7, description: "Manual approval required by the SCM administrator"}},
	        resume: {collect_after: "12s"},
	        renewme: {validity: "60s"},
	        rotate: {validity: "60s"},
	        viaread: {readcert_collects: true, collect_after_reads: 2},
	        lost: {collect_after: "20s"}}},
	    {path: "sectigo-alt", customer_uri: "acme",
	      configs: {odd: {sectigo_cm_base_url: "https://cert-manager.example/", sectigo_cm_user: "certd",
	          sectigo_cm_password: $pw, sectigo_cm_uri: "acme", sectigo_cm_org_id: 7,
	          sectigo_config_type: "ssl_cert"}},
	      script: {collect_after_reads: 2},
	      statuses: {applied: "Awaiting DCV", issued: "Delivered"}}]'
} >"$T/vault.json"
vault_start "$T/vault.json"
export VAULT_TOKEN=s.certdtoken0000000000000

sectigo_section() { # name poll-initial poll-max [extra lines]
	cat <<CONF

[cert.$1]
issuer = sectigo
mount = $MOUNT
sectigo_config = $1
common_name = $1.example.com
alt_names = $1.example.com, www.$1.example.com
ttl = 365d
sectigo_poll_initial = $2
sectigo_poll_max = $3
sectigo_params = {"sectigo_ssl_cert_num_servers": 1, "sectigo_ssl_cert_server_type": -1}
cert = $T/out/$1.crt
key = $T/out/$1.key
chain = $T/out/$1-chain.pem
${4:-}
CONF
}
conf=$T/certd.conf
{
	certd_vault_conf "$VAULT_ADDR" ""
	sectigo_section slow 3s 15s
	sectigo_section hang 3s 15s "sectigo_timeout = 3s
sectigo_vault_limit = 2s"
	sectigo_section approve 3s 8s
	sectigo_section resume 2s 4s
	sectigo_section renewme 3s 15s
	sectigo_section rotate 3s 15s "rotate_key = true"
	sectigo_section plugin 3s 15s "sectigo_key = plugin
key_type = rsa"
	sectigo_section viaread 2s 4s "sectigo_read = readcert"
	sectigo_section lost 2s 3s
	sectigo_section odd 2s 4s | sed 's/^mount = .*/mount = sectigo-alt/'
} >"$conf"

counter() { # config operation
	vault_ctl GET /_test/sectigo | jq -r --arg c "$1" --arg o "$2" \
		".mounts[\"$MOUNT\"].counters[\$c][\$o] // 0"
}
status_of() { # name jq-filter
	"$CERTD" -c "$conf" status --json | jq -r --arg n "$1" ".[] | select(.name == \$n) | $2"
}
start_daemon() {
	"$CERTD" -c "$conf" >>"$T/daemon.log" 2>&1 &
	DAEMON_PID=$!
}
wait_for() { # seconds description command...
	secs=$1 what=$2
	shift 2
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -le $((secs * 5)) ] || { tail -40 "$T/daemon.log" >&2; fail "timed out ($secs s) waiting for: $what"; }
		kill -0 "$DAEMON_PID" 2>/dev/null || { tail -40 "$T/daemon.log" >&2; fail "the daemon died"; }
		sleep 0.2
	done
}
has_files() { [ -s "$T/out/$1.crt" ] && [ -s "$T/out/$1.key" ]; }
verify_set() { # name: key matches, chain verifies to the Sectigo CA, names are there
	"$OPENSSL" verify -CAfile "$T/out/$1-chain.pem" "$T/out/$1.crt" >/dev/null ||
		fail "$1: certificate does not verify against its chain"
	assert_eq "$("$OPENSSL" x509 -noout -pubkey -in "$T/out/$1.crt")" \
		"$("$OPENSSL" pkey -pubout -in "$T/out/$1.key")" "$1: public key of cert and key"
	"$OPENSSL" x509 -noout -ext subjectAltName -in "$T/out/$1.crt" | grep -q "www.$1.example.com" ||
		fail "$1: the SAN www.$1.example.com is missing"
	assert_eq "$(mode_of "$T/out/$1.key")" 600 "$1: key mode"
}
pending_id() { # name: the id in certd's Sectigo record, once known
	jq -r '.id // empty' "$T/state/sectigo/$1.json" 2>/dev/null
}

step "a config whose timeouts cannot nest is reported at start-up"
sed "s|^sectigo_params = .*|sectigo_params = {\"sectigo_max_timeout\": 120}|" "$conf" >"$T/bad-nesting.conf"
"$CERTD" -c "$T/bad-nesting.conf" --check-config >"$T/check.out" 2>&1 || fail "check-config failed: $(cat "$T/check.out")"
assert_contains "$T/check.out" "sectigo_max_timeout (120s) does not fit inside Vault's request limit"
sed "s|^sectigo_params = .*|sectigo_params = {\"sectigo_cm_password\": \"x\"}|" "$conf" >"$T/bad-params.conf"
"$CERTD" -c "$T/bad-params.conf" --check-config >"$T/check2.out" 2>&1 && fail "credentials in sectigo_params were accepted"
assert_contains "$T/check2.out" "\"sectigo_cm_password\" is not allowed here"

step "start; kill -9 while orders are pending; restart"
start_daemon
wait_for 20 "resume has a pending Sectigo id" sh -c "[ -n \"\$(jq -r '.id // empty' '$T/state/sectigo/resume.json' 2>/dev/null)\" ]"
wait_for 20 "hang's enroll timed out" sh -c "jq -e '.history[] | select(.event == \"uncertain\")' '$T/state/sectigo/hang.json' >/dev/null 2>&1"
resume_id=$(pending_id resume)
[ -z "$(ls "$T/out/resume.crt" 2>/dev/null)" ] || fail "resume was issued before the kill (test timing)"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null
assert_eq "$(jq -r .phase "$T/state/sectigo/resume.json")" pending "resume's phase at the kill"
start_daemon

step "lost: an entry deleted from Vault while pending is fetched back from SCM"
wait_for 20 "lost has a pending id" sh -c "[ -n \"\$(jq -r '.id // empty' '$T/state/sectigo/lost.json' 2>/dev/null)\" ]"
lost_id=$(pending_id lost)
has_files lost && fail "lost was collected before the test could delete it (test timing)"
curl -sS -X DELETE -H "X-Vault-Token: root" "$VAULT_ADDR/v1/$MOUNT/certs/lost/$lost_id" >/dev/null
wait_for 40 "lost's files" has_files lost
verify_set lost
[ "$(counter lost fetch)" -ge 1 ] || fail "lost: no fetch call"
assert_eq "$(counter lost enroll)" 1 "lost: enroll calls"
assert_eq "$(status_of lost '.sectigo.current_id')" "$lost_id" "lost: collected id"

step "resume: the restarted daemon collects the same id"
wait_for 40 "resume's files" has_files resume
verify_set resume
assert_eq "$(status_of resume '.sectigo.current_id')" "$resume_id" "resume: collected id"
assert_eq "$(counter resume enroll)" 1 "resume: enroll calls"

step "hang: enroll timed out, id recovered from the list, collected"
wait_for 30 "hang's files" has_files hang
verify_set hang
assert_eq "$(counter hang enroll)" 1 "hang: enroll calls"
assert_contains "$T/daemon.log" "[hang]"
status_of hang '.sectigo.history[].event' >"$T/hang.events"
assert_contains "$T/hang.events" "uncertain"
assert_contains "$T/hang.events" "recovered"

step "approve: ErrorCode is shown as stuck until the test approves"
wait_for 30 "approve stuck with SCM's description" sh -c \
	"'$CERTD' -c '$conf' status --json | jq -e '.[] | select(.name == \"approve\") | select(.state == \"stuck\") | select(.last_error | contains(\"Manual approval required by the SCM administrator\"))' >/dev/null"
assert_eq "$(status_of approve '.sectigo.error.description')" \
	"Manual approval required by the SCM administrator" "approve: description in status"
approve_id=$(pending_id approve)
assert_contains "$T/daemon.log" "Manual approval required by the SCM administrator"
has_files approve && fail "approve has files before the approval"
vault_ctl POST /_test/sectigo/approve "{\"id\": \"$approve_id\"}" >/dev/null
wait_for 20 "approve's files after the approval" has_files approve
verify_set approve
assert_eq "$(counter approve enroll)" 1 "approve: enroll calls"
assert_eq "$(status_of approve '.sectigo.current_id')" "$approve_id" "approve: collected id"

step "slow: collected on the 5th re-read, one enroll"
wait_for 90 "slow's files" has_files slow
verify_set slow
assert_eq "$(counter slow enroll)" 1 "slow: enroll calls"
slow_id=$(status_of slow '.sectigo.current_id')
assert_eq "$(status_of slow '.sectigo.ssl_id')_murray" "$slow_id" "slow: SCM's ssl_id kept with the id"
reads=$(($(counter slow read) + $(counter slow readcert)))
[ "$reads" -ge 5 ] || fail "slow: collected after $reads re-reads, want at least 5"

step "renewme: renew/ at the policy time switches to the new id"
first_id=$(status_of renewme '.sectigo.history | map(select(.event == "collected")) | .[0].id')
first_serial=$(serial_of "$T/out/renewme.crt")
wait_for 80 "renewme renewed" sh -c "[ \"\$('$CERTD' -c '$conf' status --json | jq -r '.[] | select(.name == \"renewme\") | .sectigo.current_id')\" != '$first_id' ]"
wait_for 10 "renewme's new files" sh -c "[ \"\$(openssl x509 -noout -serial -in '$T/out/renewme.crt')\" != 'serial=$first_serial' ]"
verify_set renewme
# Renewals come every ~30 s (60 s lifetime from a backdated notBefore):
# by now there may have been more than one, each with exactly one renew.
renews=$(counter renewme renew)
collected=$(status_of renewme '[.sectigo.history[] | select(.event == "collected")] | length')
[ "$renews" -ge 1 ] || fail "renewme: no renew call"
assert_eq "$collected" $((renews + 1)) "renewme: collections (one enrollment plus one per renew call)"
assert_eq "$(counter renewme enroll)" 1 "renewme: enroll calls"
status_of renewme '.sectigo.previous_ids[]' >"$T/prev.ids"
assert_contains "$T/prev.ids" "$first_id"

step "rotate: replace/ with a new key; the new key is the one on disk"
old_key=$("$OPENSSL" pkey -pubout -in "$T/out/rotate.key")
wait_for 80 "rotate replaced" sh -c "[ \"\$(openssl pkey -pubout -in '$T/out/rotate.key')\" != \"$old_key\" ]"
verify_set rotate
replaces=$(counter rotate replace)
collected=$(status_of rotate '[.sectigo.history[] | select(.event == "collected")] | length')
[ "$replaces" -ge 1 ] || fail "rotate: no replace call"
assert_eq "$collected" $((replaces + 1)) "rotate: collections (one enrollment plus one per replace call)"
assert_eq "$(counter rotate renew)" 0 "rotate: renew calls"
assert_eq "$(counter rotate enroll)" 1 "rotate: enroll calls"

step "plugin: the plugin makes the key; viaread: re-reads through readcert/"
wait_for 20 "plugin's files" has_files plugin
verify_set plugin
"$OPENSSL" pkey -in "$T/out/plugin.key" -noout -text | grep -q "Private-Key: (2048 bit" ||
	fail "plugin: not the RSA 2048 key the plugin was asked for"
[ -e "$T/state/sectigo/plugin.key" ] && fail "plugin: certd kept a request key for a plugin-made key"
wait_for 30 "viaread's files" has_files viaread
verify_set viaread
[ "$(counter viaread readcert)" -ge 2 ] || fail "viaread: $(counter viaread readcert) readcert reads"
assert_eq "$(counter viaread read)" 0 "viaread: certs/ reads"
vault_ctl GET /_test/requests | jq -c '.requests[] | select(.path == "/v1/'$MOUNT'/enroll/slow") | .body | fromjson' >"$T/enroll.body"
jq -e '.sectigo_ssl_cert_num_servers == 1 and .sectigo_ssl_cert_server_type == -1 and
	.sectigo_ssl_cert_validity == 365 and (.sectigo_csr | startswith("-----BEGIN CERTIFICATE REQUEST"))
	and (has("sectigo_private_key") | not)' "$T/enroll.body" >/dev/null ||
	fail "enroll body: $(cat "$T/enroll.body")"

step "odd: status strings certd does not know are logged and judged by content"
wait_for 30 "odd's files" has_files odd
verify_set odd
assert_contains "$T/daemon.log" 'status "Awaiting DCV", not a status certd knows: judged by content'
status_of odd '.sectigo.history[] | select(.event == "status") | .detail' >"$T/odd.statuses"
assert_contains "$T/odd.statuses" "Delivered (a status certd does not know)"

step "no SCM password or private key in any URL or log line"
vault_ctl GET /_test/requests | jq -r '.requests[] | .path + "?" + (.query // "")' >"$T/urls"
[ -s "$T/urls" ] || fail "empty request log"
assert_not_contains "$T/urls" "$PASSWORD"
assert_not_contains "$T/urls" "PRIVATE"
assert_not_contains "$T/urls" "BEGIN"
assert_not_contains "$T/daemon.log" "$PASSWORD"
assert_not_contains "$T/daemon.log" "PRIVATE KEY"
assert_no_secrets "$T/daemon.log"
for c in slow hang approve resume renewme rotate viaread lost; do
	assert_eq "$(mode_of "$T/state/sectigo/$c.key")" 600 "$c: mode of the kept request key"
done

step "revoke: held, then renew --force orders again; revoke --reissue"
"$CERTD" -c "$conf" revoke renewme --reason "test: key compromise" >"$T/revoke.out" 2>&1 ||
	fail "certd revoke failed: $(cat "$T/revoke.out")"
assert_contains "$T/revoke.out" "renewme: revoked"
assert_eq "$(counter renewme revoke)" 1 "renewme: revoke calls"
assert_eq "$(status_of renewme .state)" held "renewme: state after revoke"
vault_ctl GET /_test/sectigo | jq -r ".mounts[\"$MOUNT\"].entries[] | select(.domain == \"renewme.example.com\") | .state[-1].status" >"$T/renewme.statuses"
assert_contains "$T/renewme.statuses" "Revoked"
"$CERTD" -c "$conf" renew renewme --force >/dev/null || fail "renew --force"
wait_for 20 "renewme enrolled again" sh -c "[ \"\$(curl -sS '$VAULT_ADDR/_test/sectigo' | jq -r '.mounts[\"$MOUNT\"].counters.renewme.enroll')\" = 2 ]"
wait_for 20 "renewme valid again" sh -c "[ \"\$('$CERTD' -c '$conf' status --json | jq -r '.[] | select(.name == \"renewme\") | .state')\" = valid ]"
"$CERTD" -c "$conf" revoke rotate --reissue >"$T/revoke2.out" 2>&1 || fail "revoke --reissue: $(cat "$T/revoke2.out")"
wait_for 20 "rotate enrolled again" sh -c "[ \"\$(curl -sS '$VAULT_ADDR/_test/sectigo' | jq -r '.mounts[\"$MOUNT\"].counters.rotate.enroll')\" = 2 ]"
"$CERTD" -c "$conf" revoke nosuch >"$T/revoke3.out" 2>&1 && fail "revoke of an unknown certificate succeeded"
assert_contains "$T/revoke3.out" "no certificate named"

kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID"
assert_eq $? 0 "exit status after SIGTERM"
DAEMON_PID=
echo "PASS"
