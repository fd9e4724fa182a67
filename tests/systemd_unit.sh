#!/bin/sh
# The shipped unit: systemd-analyze verify is clean and the offline
# security exposure is at most 3.0 ("OK").
. "$top_srcdir/tests/lib.sh"

command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
sed -e "s|@sbindir@|$(dirname "$CERTD")|g" -e "s|@sysconfdir@|$T/etc|g" \
	"$top_srcdir/systemd/certd.service.in" >"$T/certd.service"
mkdir -p "$T/man/man8" "$T/man/man5"
cp "$top_srcdir/docs/certd.8" "$T/man/man8/"
cp "$top_srcdir/docs/certd.conf.5" "$T/man/man5/"

step "systemd-analyze verify"
MANPATH=$T/man systemd-analyze verify "$T/certd.service" >"$T/verify.log" 2>&1 ||
	{ cat "$T/verify.log"; fail "systemd-analyze verify failed"; }
[ ! -s "$T/verify.log" ] || { cat "$T/verify.log"; fail "systemd-analyze verify printed warnings"; }

step "systemd-analyze security"
systemd-analyze security --offline=yes "$T/certd.service" >"$T/security.log" 2>&1 ||
	{ cat "$T/security.log"; fail "systemd-analyze security failed"; }
score=$(sed -n 's/.*Overall exposure level for certd.service: \([0-9.]*\).*/\1/p' "$T/security.log")
echo "exposure: $score"
[ -n "$score" ] || { cat "$T/security.log"; fail "no exposure score"; }
awk -v s="$score" 'BEGIN { exit !(s <= 3.0) }' || fail "exposure $score is above 3.0"
echo PASS
