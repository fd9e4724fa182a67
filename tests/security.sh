#!/bin/sh
# Security properties of certd, end to end, as docs/security.md lists them
# (what the Check suites already prove is cited there, not repeated here):
#
#   1. private keys: every temporary certd writes a key into, in the output
#      directory and in the state directory, is never wider than key_mode
#      (nor group-readable by another group) while it exists, and its mode
#      is set before its first byte (inotify, when inotifywait is here);
#   2. no secret in the argv or environment of reload commands, nor in
#      certd's log, nor in any URL or header sent to Vault (token auth from
#      VAULT_TOKEN, AppRole with a secret ID file);
#   3. reload commands run without a shell unless shell = true;
#   4. the control socket refuses a peer whose uid is not root, certd's, or
#      in control_allow_users (SO_PEERCRED), and serves an allowed one;
#   5. a pid file owned by another user than root or pidfile_owner is
#      refused, and nothing is signalled;
#   6. TLS to Vault is verified: a CA that did not sign Vault's certificate
#      fails the handshake; tls_skip_verify = true is the only way around,
#      and it is logged as a warning at every start and reload.
. "$top_srcdir/tests/lib.sh"
. "$top_srcdir/tests/vault_lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (other uids, chown)"; exit 77; }

PIDS=
cleanup_security() {
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	cleanup
}
trap cleanup_security EXIT

# A private-key line (PEM body) of FILE, to look for elsewhere.
key_line() { sed -n '2p' "$1"; }

assert_absent() { # what needle files...
	what=$1 needle=$2
	shift 2
	[ -n "$needle" ] || fail "empty needle for $what"
	for f in "$@"; do
		if grep -qF -- "$needle" "$f"; then
			fail "$what found in $f"
		fi
	done
}

# ------------------------------------------------------------------ 1
step "1. key files: no temporary wider than key_mode, mode set before the first byte"
mkdir -p "$T/keys"
kconf=$T/keys.conf
cat >"$kconf" <<EOF
[certd]
state_dir = $T/kstate
control_socket = $T/kcontrol.sock

[cert.k600]
common_name = k600.certd.test
cert = $T/keys/k600.crt
key = $T/keys/k600.key
fullchain = $T/keys/k600-full.pem

# A template holding the key: 0600 by default.
[cert.k600.output.combined]
path = $T/keys/k600-combined.pem
template = {{cert}}{{key}}

# A key its group may read: the group must be right before the mode opens.
[cert.k640]
common_name = k640.certd.test
key_mode = 0640
group = nogroup
cert = $T/keys/k640.crt
key = $T/keys/k640.key
EOF
nogroup=$(getent group nogroup | cut -d: -f3)
[ -n "$nogroup" ] || fail "no group nogroup"
run_certd "$T/keys0.log" --once -c "$kconf" || fail "first --once: $(cat "$T/keys0.log")"

# Poll both directories that receive keys for temporaries, recording mode,
# group and name of every one seen, while certd rotates the keys.
: >"$T/seen"
(
	while [ ! -e "$T/poll.stop" ]; do
		find "$T/keys" "$T/kstate/generations" -name '*.certd-*' -printf '%m %G %p\n' 2>/dev/null
	done >>"$T/seen"
) &
poller=$!
PIDS="$PIDS $poller"
INOTIFY=
if command -v inotifywait >/dev/null 2>&1; then
	inotifywait -m -e create,attrib,modify,moved_from,delete --format '%e %f' "$T/keys" \
		>"$T/inotify" 2>"$T/inotify.err" &
	INOTIFY=$!
	PIDS="$PIDS $INOTIFY"
	i=0
	while ! grep -q "Watches established" "$T/inotify.err"; do
		i=$((i + 1)); [ $i -le 100 ] || fail "inotifywait: $(cat "$T/inotify.err")"; sleep 0.1
	done
fi
ROTATIONS=40
i=0
while [ $i -lt $ROTATIONS ]; do
	run_certd "$T/keys-rot.log" --once --force -c "$kconf" || fail "rotation $i: $(cat "$T/keys-rot.log")"
	i=$((i + 1))
done
touch "$T/poll.stop"
wait "$poller"
[ -z "$INOTIFY" ] || { sleep 0.3; kill "$INOTIFY"; wait "$INOTIFY" 2>/dev/null; }

# Every observation of a temporary that holds a key (the key files, the
# combined template, the copies in generations/*/prev/).
awk -v g640="$nogroup" '
	{ mode = $1; path = $3; n++ }
	path ~ /\.k600\.key\.certd-|\.k600-combined\.pem\.certd-|\/prev\// {
		keys++
		if (mode != "600") { print "wider than 0600: " $0; bad = 1 }
	}
	path ~ /\.k640\.key\.certd-/ {
		keys++
		if (mode != "600" && mode != "640") { print "wider than 0640: " $0; bad = 1 }
		if (mode == "640" && $2 != g640) { print "group-readable by gid " $2 ": " $0; bad = 1 }
	}
	END { printf "%d observations of temporaries, %d of temporaries holding a key\n", n, keys; exit bad }
' "$T/seen" >"$T/seen.out" || fail "a key was readable beyond key_mode: $(cat "$T/seen.out")"
tail -1 "$T/seen.out"
if [ -n "$INOTIFY" ]; then
	# For every temporary of a key: its mode (ATTRIB) is set before its
	# first write (MODIFY); it was created by mkostemp, 0600.
	awk '
		$2 ~ /\.(k600\.key|k640\.key|k600-combined\.pem)\.certd-/ {
			f = $2
			if ($1 ~ /CREATE/) created[f] = 1
			if ($1 ~ /ATTRIB/ && !(f in written)) attr[f] = 1
			if ($1 ~ /MODIFY/ && !(f in written)) {
				written[f] = 1
				if (!(f in attr)) { print "written before its mode was set: " f; bad = 1 }
			}
		}
		END { for (f in created) { n++; if (!(f in written)) { print "never written: " f; bad = 1 } }
		      printf "%d key temporaries followed with inotify\n", n; exit bad || n == 0 }
	' "$T/inotify" >"$T/inotify.out" || fail "inotify: $(cat "$T/inotify.out")"
	tail -1 "$T/inotify.out"
else
	echo "inotifywait is not installed: the order of chmod and write is left to check_publish (test_mode_before_first_byte)"
fi
assert_eq "$(stat -c '%a %g' "$T/keys/k600.key")" "600 0" "k600.key"
assert_eq "$(stat -c '%a %g' "$T/keys/k640.key")" "640 $nogroup" "k640.key"
assert_eq "$(mode_of "$T/keys/k600-combined.pem")" 600 "combined PEM"
assert_eq "$(mode_of "$T/kstate/local-ca/ca.key")" 600 "local CA key"
for d in "$T/kstate/local-ca" "$T/kstate/certs" "$T/kstate/generations" "$T/kstate/generations/k600" \
	"$T/kstate/generations/k600/prev"; do
	assert_eq "$(mode_of "$d")" 700 "mode of $d"
done
bad=$(find "$T/kstate/generations" "$T/kstate/certs" -type f -perm /077 -printf '%m %p\n')
[ -z "$bad" ] || fail "files in the state directory readable beyond their owner: $bad"

# ------------------------------------------------------------------ 2, 3
step "2, 3. Vault: secrets stay out of commands, logs and URLs; no shell unless asked"
vault_config >"$T/vault.json"
vault_start "$T/vault.json"
cat >"$T/dump.sh" <<EOF
#!/bin/sh
# argv, one per line, then the environment as certd passed it
{
	for a in "\$@"; do printf 'arg[%s]\n' "\$a"; done
	tr '\\0' '\\n' </proc/\$\$/environ
} >"$T/dump.\$CERTD_CERT_NAME.\$\$"
EOF
chmod 755 "$T/dump.sh"
reloads() { # cert name
	cat <<EOF

[cert.$1.reload.a-argv]
type = command
command = $T/dump.sh one;two \$(touch $T/pwned) \`touch $T/pwned2\` \$VAULT_TOKEN "quoted arg" >$T/redirected

[cert.$1.reload.b-shell]
type = command
shell = true
command = $T/dump.sh shell; echo ran >$T/shell.$1; touch $T/subst-\$(echo $1)
EOF
}
vconf=$T/vault-token.conf
{
	certd_vault_conf "$VAULT_ADDR" "auth_method = token"
	cert_section vtok vtok.example.com
	reloads vtok
} >"$vconf"
# as much logging as there is: none of it may hold a secret
sed -i 's/^\[certd\]$/[certd]\nlog_level = debug/' "$vconf"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/vtok.log" --once -c "$vconf" ||
	fail "--once with token auth: $(cat "$T/vtok.log")"

printf '%s\n' d3b07384-role-id-of-certd-approle >"$T/role_id"
printf '%s\n' 7f3c1e0a-secret-id-of-certd-approle >"$T/secret_id"
chmod 600 "$T/role_id" "$T/secret_id"
aconf=$T/vault-approle.conf
{
	certd_vault_conf "$VAULT_ADDR" "auth_method = approle
role_id_file = $T/role_id
secret_id_file = $T/secret_id"
	cert_section vapp vapp.example.com
	reloads vapp
} >"$aconf"
sed -i 's/^\[certd\]$/[certd]\nlog_level = debug/' "$aconf"
run_certd "$T/vapp.log" --once -c "$aconf" || fail "--once with AppRole: $(cat "$T/vapp.log")"
vault_ctl GET /_test/requests >"$T/requests.json"

for n in vtok vapp; do
	set -- "$T"/dump.$n.*
	[ $# -eq 2 ] || fail "$n: expected 2 runs of dump.sh, got $#: $*"
	argv_dump=$(grep -l '^arg\[one;two\]' "$T"/dump.$n.*) || fail "$n: the argv command did not run"
	shell_dump=$(grep -l '^arg\[shell\]' "$T"/dump.$n.*) || fail "$n: the shell command did not run"
	# 3: without a shell, every word reaches the program as it is
	grep '^arg' "$argv_dump" >"$T/argv.$n"
	printf '%s\n' "arg[one;two]" "arg[\$(touch]" "arg[$T/pwned)]" "arg[\`touch]" "arg[$T/pwned2\`]" \
		"arg[\$VAULT_TOKEN]" "arg[\"quoted]" "arg[arg\"]" "arg[>$T/redirected]" >"$T/argv.want"
	cmp -s "$T/argv.$n" "$T/argv.want" || { diff "$T/argv.want" "$T/argv.$n" >&2; fail "$n: argv was interpreted"; }
	# ...while shell = true runs a shell
	[ -s "$T/shell.$n" ] || fail "$n: the shell = true command did not run its second command"
	[ -e "$T/subst-$n" ] || fail "$n: the shell = true command did not substitute"
	# 2: the environment is PATH and the CERTD_* paths, nothing else
	for d in "$argv_dump" "$shell_dump"; do
		names=$(grep -v '^arg\[' "$d" | grep -v '^PWD=\|^SHLVL=\|^_=' | cut -d= -f1 | sort | tr '\n' ' ')
		assert_eq "$names" "CERTD_CERT_FILE CERTD_CERT_NAME CERTD_CHAIN_FILE CERTD_FULLCHAIN_FILE CERTD_KEY_FILE PATH " \
			"$n: environment of a reload command"
		assert_contains "$d" "CERTD_KEY_FILE=$T/out/$n.key"
	done
	# no secret in any argv, environment or log line
	assert_no_secrets "$T"/dump.$n.* "$T/$n.log"
	assert_absent "$n private key" "$(key_line "$T/out/$n.key")" "$T"/dump.$n.* "$T/$n.log" "$T/requests.json"
done
for f in "$T/pwned" "$T/pwned2" "$T/redirected"; do
	[ ! -e "$f" ] || fail "$f exists: a command without shell = true was interpreted"
done
# Every URL and header certd sent; the bodies of all but the AppRole login.
jq -r '.requests[] | [.method, .path, (.query // ""), (.headers | tostring)] | join(" ")' \
	"$T/requests.json" >"$T/urls"
jq -r '.requests[] | select(.path != "/v1/auth/approle/login") | (.body // "" | tostring)' \
	"$T/requests.json" >"$T/bodies"
[ "$(wc -l <"$T/urls")" -ge 4 ] || fail "too few requests recorded: $(cat "$T/urls")"
assert_no_secrets "$T/urls" "$T/bodies"
grep -q "sha256:" "$T/urls" || fail "no token header recorded: the check above proves nothing"
jq -e '[.requests[] | select(.path == "/v1/auth/approle/login")] | length >= 1' "$T/requests.json" >/dev/null ||
	fail "no AppRole login recorded"
echo "checked $(wc -l <"$T/urls") requests to Vault, 4 runs of reload commands, 2 logs"

# ------------------------------------------------------------------ 4
step "4. the control socket checks the peer's uid"
chmod 711 "$T"
mkdir -p "$T/bin"
cp "$CERTD" "$T/bin/certd"
chmod 755 "$T/bin" "$T/bin/certd"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
as_nobody "$T/bin/certd" --version >"$T/nobody-version.out" 2>&1 ||
	fail "nobody cannot run certd: $(cat "$T/nobody-version.out")"
cconf=$T/control.conf
cat >"$cconf" <<EOF
[certd]
state_dir = $T/cstate
control_socket = $T/csock/control.sock
control_socket_mode = 0666

[cert.web]
common_name = web.certd.test
cert = $T/cout/web.crt
key = $T/cout/web.key
EOF
chmod 644 "$cconf"
"$CERTD" -c "$cconf" >"$T/control-daemon.log" 2>&1 &
DAEMON_PID=$!
i=0
while ! grep -q "\[web\] next renewal\|\[web\] valid" "$T/control-daemon.log"; do
	i=$((i + 1)); [ $i -le 100 ] || fail "daemon did not start: $(cat "$T/control-daemon.log")"; sleep 0.1
done
chmod 755 "$T/csock"
# The file lets nobody in (0666): only SO_PEERCRED stands in the way.
assert_eq "$(stat -c %a "$T/csock/control.sock")" 666 "socket mode"
for cmd in "status" "renew web --force" "reload"; do
	# shellcheck disable=SC2086
	as_nobody "$T/bin/certd" $cmd -c "$cconf" >"$T/nobody.out" 2>&1 && fail "nobody's $cmd was served: $(cat "$T/nobody.out")"
	assert_contains "$T/nobody.out" "uid 65534 is not allowed to use this socket"
done
"$CERTD" status -c "$cconf" >"$T/root-status.out" 2>&1 || fail "root's status: $(cat "$T/root-status.out")"
assert_contains "$T/root-status.out" "web"
sleep 0.3
assert_not_contains "$T/control-daemon.log" "renewal requested"
assert_not_contains "$T/control-daemon.log" "reloading"
step "4. ... and serves a user of control_allow_users"
sed -i 's/^control_socket_mode = 0666$/control_socket_mode = 0666\ncontrol_allow_users = nobody/' "$cconf"
kill -HUP "$DAEMON_PID"
i=0
while ! grep -q "configuration reloaded" "$T/control-daemon.log"; do
	i=$((i + 1)); [ $i -le 100 ] || fail "no reload: $(cat "$T/control-daemon.log")"; sleep 0.1
done
as_nobody "$T/bin/certd" status -c "$cconf" >"$T/nobody.out" 2>&1 || fail "allowed nobody refused: $(cat "$T/nobody.out")"
grep -q "^web .* valid " "$T/nobody.out" || fail "nobody's status: $(cat "$T/nobody.out")"
as_nobody "$T/bin/certd" renew web -c "$cconf" >"$T/nobody-renew.out" 2>&1 ||
	fail "allowed nobody's renew refused: $(cat "$T/nobody-renew.out")"
kill -TERM "$DAEMON_PID"
wait "$DAEMON_PID" || fail "control daemon exit status $?"
DAEMON_PID=
assert_contains "$T/control-daemon.log" "[web] renewal requested over the control socket"

# ------------------------------------------------------------------ 5
step "5. a pid file owned by another user is refused; nothing is signalled"
: >"$T/hups"
sh -c "trap 'echo hup >>$T/hups' HUP; while :; do sleep 0.05; done" &
consumer=$!
PIDS="$PIDS $consumer"
sleep 0.2
echo "$consumer" >"$T/svc.pid"
chmod 644 "$T/svc.pid"
chown 65534 "$T/svc.pid"
pconf=$T/pid.conf
cat >"$pconf" <<EOF
[certd]
state_dir = $T/pstate
control_socket = $T/pcontrol.sock
reload_debounce = 0s

[cert.svc]
common_name = svc.certd.test
cert = $T/pout/svc.crt
key = $T/pout/svc.key

[cert.svc.reload.hup]
type = signal
pidfile = $T/svc.pid
EOF
run_certd "$T/pid1.log" --once -c "$pconf" && fail "a pid file owned by nobody was accepted: $(cat "$T/pid1.log")"
assert_contains "$T/pid1.log" "[svc] delivery failed: reload hup: pid file $T/svc.pid: owned by uid 65534, not root"
sleep 0.3
assert_eq "$(wc -l <"$T/hups")" 0 "signals received through a pid file owned by nobody"
chown 0 "$T/svc.pid"
chmod 664 "$T/svc.pid"
run_certd "$T/pid2.log" --once -c "$pconf" && fail "a group-writable pid file was accepted"
assert_contains "$T/pid2.log" "writable by group or others (mode 664)"
sleep 0.3
assert_eq "$(wc -l <"$T/hups")" 0 "signals received through a group-writable pid file"
# the owner named in the configuration is accepted
chown 65534 "$T/svc.pid"
chmod 644 "$T/svc.pid"
sed -i "s|^pidfile = $T/svc.pid\$|pidfile = $T/svc.pid\npidfile_owner = nobody|" "$pconf"
run_certd "$T/pid3.log" --once -c "$pconf" || fail "pidfile_owner = nobody: $(cat "$T/pid3.log")"
assert_contains "$T/pid3.log" "[svc] delivered: reloaded"
sleep 0.3
assert_eq "$(wc -l <"$T/hups")" 1 "signals received once the owner is named"

# ------------------------------------------------------------------ 6
step "6. TLS to Vault: verified unless tls_skip_verify, which is logged at every start"
"$OPENSSL" req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
	-subj "/CN=not the CA of this Vault" -keyout "$T/other-ca.key" -out "$T/other-ca.pem" 2>/dev/null ||
	fail "cannot make a CA"
tls_conf() { # name ca-lines
	{
		certd_vault_conf "$VAULT_TLS_ADDR" "auth_method = token
request_timeout = 5s
$2"
		cert_section "$1" "$1.example.com"
	} >"$T/$1.conf"
}
before=$(vault_ctl GET /_test/requests | jq '[.requests[] | select(.tls)] | length')
tls_conf tlsother "ca_cert = $T/other-ca.pem"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/tlsother.log" --once -c "$T/tlsother.conf" &&
	fail "a Vault whose certificate the configured CA did not sign was trusted"
assert_contains "$T/tlsother.log" "$VAULT_TLS_ADDR"
grep -qi "certificate" "$T/tlsother.log" || fail "the failure does not name the certificate: $(cat "$T/tlsother.log")"
tls_conf tlssystem ""
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/tlssystem.log" --once -c "$T/tlssystem.conf" &&
	fail "a Vault signed by a private CA was trusted through the system store"
grep -qi "certificate" "$T/tlssystem.log" || fail "the failure does not name the certificate: $(cat "$T/tlssystem.log")"
assert_eq "$(vault_ctl GET /_test/requests | jq '[.requests[] | select(.tls)] | length')" "$before" \
	"requests that reached Vault over unverified TLS"
[ ! -e "$T/out/tlsother.crt" ] && [ ! -e "$T/out/tlssystem.crt" ] || fail "files written after a TLS failure"
assert_not_contains "$T/tlsother.log" "tls_skip_verify"
# the right CA: the same request passes
tls_conf tlsright "ca_cert = $VAULT_CA"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/tlsright.log" --once -c "$T/tlsright.conf" ||
	fail "with Vault's CA: $(cat "$T/tlsright.log")"
assert_not_contains "$T/tlsright.log" "tls_skip_verify"
# tls_skip_verify: works with the wrong CA, and says so every time
tls_conf tlsskip "ca_cert = $T/other-ca.pem
tls_skip_verify = true"
warning="vault: tls_skip_verify is set: Vault's certificate is not verified"
run_certd "$T/tlsskip-check.log" --check-config -c "$T/tlsskip.conf" || fail "--check-config: $(cat "$T/tlsskip-check.log")"
assert_contains "$T/tlsskip-check.log" "tls_skip_verify"
VAULT_TOKEN=s.certdtoken0000000000000 run_certd "$T/tlsskip-once.log" --once -c "$T/tlsskip.conf" ||
	fail "tls_skip_verify = true: $(cat "$T/tlsskip-once.log")"
assert_contains "$T/tlsskip-once.log" "$warning"
for run in 1 2; do
	VAULT_TOKEN=s.certdtoken0000000000000 "$CERTD" -c "$T/tlsskip.conf" >"$T/tlsskip-d$run.log" 2>&1 &
	DAEMON_PID=$!
	i=0
	while ! grep -q "\[tlsskip\] valid\|\[tlsskip\] next renewal" "$T/tlsskip-d$run.log"; do
		i=$((i + 1)); [ $i -le 100 ] || fail "daemon $run: $(cat "$T/tlsskip-d$run.log")"; sleep 0.1
	done
	if [ $run = 2 ]; then
		kill -HUP "$DAEMON_PID"
		i=0
		while ! grep -q "configuration reloaded" "$T/tlsskip-d$run.log"; do
			i=$((i + 1)); [ $i -le 100 ] || fail "no reload: $(cat "$T/tlsskip-d$run.log")"; sleep 0.1
		done
	fi
	kill -TERM "$DAEMON_PID"
	wait "$DAEMON_PID" || fail "daemon $run exit status"
	DAEMON_PID=
done
assert_eq "$(grep -cF "$warning" "$T/tlsskip-d1.log")" 1 "warnings at the first start"
assert_eq "$(grep -cF "$warning" "$T/tlsskip-d2.log")" 2 "warnings at a start and a reload"
assert_no_secrets "$T"/*.log
echo PASS
