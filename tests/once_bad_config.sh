#!/bin/sh
# A config with four different mistakes: every one is reported with its
# file and line, certd exits 2, and no file is touched — neither existing
# certificates nor the state directory.
. "$top_srcdir/tests/lib.sh"

conf=$(quickstart_conf)
out=$T/out

step "issue a valid set first"
run_certd "$T/good.log" --once -c "$conf" || fail "valid config failed: $(cat "$T/good.log")"
before=$(ls -lA --time-style=full-iso "$out" "$T/state/local-ca"; cat "$out"/* | sha256sum)

step "break the config in four ways, one of them in a drop-in file"
mkdir "$conf.d"
base=$(wc -l <"$conf")
cat >>"$conf" <<'CONF'

[cert.broken]
common_name = broken.certd.test
renew_befor = 1d
ttl = 3 days
cert = relative/broken.crt
key = /nonexistent-dir-certd/broken.key
CONF
cat >"$conf.d/50-template.conf" <<CONF
[cert.quickstart.output.names]
path = $out/names.txt
template = <<END
names:
{{#alt_names}}
- {{.}}
END
CONF

for mode in "--once" "--once --force" "--check-config" ""; do
	step "certd $mode"
	# shellcheck disable=SC2086
	run_certd "$T/bad.log" $mode -c "$conf"
	status=$?
	assert_eq "$status" 2 "exit status of certd $mode"
	assert_contains "$T/bad.log" "$conf:$((base + 4)): [cert.broken] renew_befor: unknown key; did you mean \"renew_before\"?"
	assert_contains "$T/bad.log" "$conf:$((base + 5)): [cert.broken] ttl: \"3 days\" is not a duration"
	assert_contains "$T/bad.log" "$conf:$((base + 6)): [cert.broken] cert: \"relative/broken.crt\" is not an absolute path"
	assert_contains "$T/bad.log" "$conf.d/50-template.conf:5: [cert.quickstart.output.names] template: unclosed section \"alt_names\""
	assert_contains "$T/bad.log" "4 error(s); nothing was changed"
	after=$(ls -lA --time-style=full-iso "$out" "$T/state/local-ca"; cat "$out"/* | sha256sum)
	assert_eq "$after" "$before" "files after a rejected config"
	[ ! -e "$out/names.txt" ] || fail "names.txt was written"
	[ ! -e relative ] || fail "a relative path was created"
done

step "a missing config file"
run_certd "$T/missing.log" --once -c "$T/nope.conf"
assert_eq "$?" 2 "exit status with a missing config"
assert_contains "$T/missing.log" "$T/nope.conf: cannot read: No such file or directory"

step "usage errors"
run_certd "$T/usage.log" --force -c "$conf"
assert_eq "$?" 2 "exit status of --force without --once"
run_certd "$T/usage.log" --bogus
assert_eq "$?" 2 "exit status of an unknown option"
run_certd "$T/help.log" --help || fail "--help failed"
assert_contains "$T/help.log" "2  configuration or usage error"

echo "PASS"
