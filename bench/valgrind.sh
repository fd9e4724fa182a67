#!/bin/sh
# Reliability check (not part of `make check`: it is slow): the daemon
# scenario tests with every certd process under valgrind memcheck.
#
#   sh bench/valgrind.sh [BUILD_DIR] [SCENARIO...]
#
# BUILD_DIR (default _build) is a built tree with the test helpers
# (`make check TESTS=`), best configured with CFLAGS='-O0 -g'.  SCENARIO
# names are files of tests/ without .sh; the default set drives the daemon
# through issuance, renewals, restarts, SIGHUP and `certd reload`, the
# control socket (status, renew --force, malformed and oversized requests),
# Vault failing and unreachable, token renewal and re-login, and SIGTERM:
#   daemon_vault daemon_renewal vault_daemon once_quickstart vault_pki
#
# Each scenario runs with CERTD pointing at a wrapper that execs
#   valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
#            --errors-for-leak-kinds=definite --track-fds=no ...
# so a memory error or a definite leak also makes certd exit 99, which the
# scenario sees.  The default scenarios pass unchanged under valgrind's
# slowdown (their waits have enough margin).  bench/valgrind.supp, when it
# exists, is passed as suppressions (third-party one-time allocations
# only; none is needed so far).
#
# At the end it prints, for every certd process, its command, valgrind's
# ERROR SUMMARY, "definitely lost" and the bytes still in use at exit
# (still reachable: one-time allocations of the libraries), and exits 1 if
# a scenario failed or any process has an error, a definite leak or no
# summary (killed).  The logs are kept in $VG_OUT (default: a new
# /tmp/certd-valgrind-XXXXXX).
set -u
B=$(cd "${1:-_build}" && pwd) || exit 2
[ $# -gt 0 ] && shift
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=$B
SCENARIOS=${*:-daemon_vault daemon_renewal vault_daemon once_quickstart vault_pki}
command -v valgrind >/dev/null 2>&1 || { echo "needs valgrind: apt-get install valgrind" >&2; exit 2; }
for f in daemon/certd tests/notifyd tests/vaultsrv/vaultsrv; do
	[ -x "$B/$f" ] || { echo "$B/$f: build certd and the test helpers first (make && make check TESTS=)" >&2; exit 2; }
done
OUT=${VG_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/certd-valgrind-XXXXXX")}
mkdir -p "$OUT"

supp=
[ -f "$top_srcdir/bench/valgrind.supp" ] && supp="--suppressions=$top_srcdir/bench/valgrind.supp"
cat >"$OUT/certd-vg" <<EOF
#!/bin/sh
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \\
	--errors-for-leak-kinds=definite --track-fds=no --num-callers=40 $supp \\
	--log-file="\$CERTD_VG_LOGDIR/vg.\$(date +%s%N).%p.log" "$B/daemon/certd" "\$@"
EOF
chmod +x "$OUT/certd-vg"

CERTD=$OUT/certd-vg
VAULTSRV=$B/tests/vaultsrv/vaultsrv
FAKE_SYSTEMD=$B/tests/fake_systemd
OPENSSL=${OPENSSL:-openssl}
export CERTD VAULTSRV FAKE_SYSTEMD OPENSSL top_srcdir top_builddir

echo "valgrind $(valgrind --version | sed 's/^valgrind-//'), certd from $B, logs in $OUT"
failed=0
for s in $SCENARIOS; do
	CERTD_VG_LOGDIR=$OUT/$s
	export CERTD_VG_LOGDIR
	rm -rf "$CERTD_VG_LOGDIR"
	mkdir -p "$CERTD_VG_LOGDIR"
	t0=$(date +%s)
	(cd "$B" && sh "$top_srcdir/tests/$s.sh") >"$OUT/$s.out" 2>&1
	rc=$?
	result=PASS
	[ $rc -eq 0 ] || { result="FAIL (exit $rc, see $OUT/$s.out)"; failed=1; }
	[ $rc -eq 77 ] && { result=SKIP; failed=1; }
	echo "$s: $result in $(($(date +%s) - t0)) s"
done

# One line per certd process, in the order they started (the log names
# begin with the start time in nanoseconds):
# scenario, errors, bytes definitely lost, bytes in use at exit, command.
echo
printf '%-16s %-7s %-16s %-12s %s\n' scenario errors "definitely lost" "in use/exit" "certd command"
for s in $SCENARIOS; do
	n=0
	for log in "$OUT/$s"/vg.*.log; do
		[ -e "$log" ] || continue
		n=$((n + 1))
		cmd=$(sed -n 's/^==[0-9]*== Command: [^ ]*certd *//p' "$log" | sed "s|${TMPDIR:-/tmp}/certd-scenario-[A-Za-z0-9]*/|\$T/|g")
		errors=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$log")
		lost=$(sed -n 's/^==[0-9]*==  *definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log")
		inuse=$(sed -n 's/^==[0-9]*==  *in use at exit: \([0-9,]*\) bytes.*/\1/p' "$log")
		if [ -z "$lost" ] && grep -q "All heap blocks were freed" "$log"; then lost=0; fi
		# No summary: the process was killed (SIGKILL) before it could exit.
		[ -n "$errors" ] || { errors="killed"; failed=1; }
		[ -n "$lost" ] || { lost="killed"; failed=1; }
		[ "$errors" = 0 ] && [ "$lost" = 0 ] || failed=1
		printf '%-16s %-7s %-16s %-12s %s\n' "$s" "$errors" "$lost" "${inuse:-?}" "${cmd:-?}"
	done
	[ $n -gt 0 ] || { printf '%-16s no certd process ran\n' "$s"; failed=1; }
done
echo
if [ $failed -eq 0 ]; then
	echo "valgrind: every scenario passed; 0 errors and 0 bytes definitely lost in every certd process"
else
	echo "valgrind: FAILED (a scenario failed, or a process has errors, a definite leak or no summary)"
	grep -l "ERROR SUMMARY: [1-9]\|definitely lost: [1-9]" "$OUT"/*/vg.*.log 2>/dev/null | sed 's/^/  see /'
fi
exit $failed
