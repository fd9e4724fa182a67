#!/bin/sh
# Benchmark (not a test): certd --once issuing N certificates (default
# 1,000) from the in-tree Vault-compatible server in sign mode, EC P-256.
# Reports certd's own CPU time per certificate (user+sys of the certd
# process only; the server runs in its own process) and its peak RSS.
#
#   sh bench/vault_once.sh [N] [BUILD_DIR]
#
# Needs a built tree (default _build), GNU time (/usr/bin/time), curl, jq.
set -eu
N=${1:-1000}
B=$(cd "${2:-_build}" && pwd)
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
top_builddir=$B
CERTD=$B/daemon/certd
export top_srcdir top_builddir CERTD
[ -x /usr/bin/time ] || { echo "needs GNU time: apt-get install time" >&2; exit 1; }

# shellcheck source=../tests/lib.sh
. "$top_srcdir/tests/lib.sh"
# shellcheck source=../tests/vault_lib.sh
. "$top_srcdir/tests/vault_lib.sh"

vault_config | jq '.tokens[1].ttl = "24h"' >"$T/vault.json"
vault_start "$T/vault.json"
{
	certd_vault_conf "$VAULT_ADDR" "request_timeout = 120s"
	i=0
	while [ $i -lt "$N" ]; do
		cat <<CONF

[cert.c$i]
issuer = vault-pki
mount = pki_int
role = ec
common_name = c$i.example.com
ttl = 24h
cert = $T/out/c$i.crt
key = $T/out/c$i.key
CONF
		i=$((i + 1))
	done
} >"$T/bench.conf"

VAULT_TOKEN=s.certdtoken0000000000000 /usr/bin/time -f '%U %S %M %e' -o "$T/time" \
	"$CERTD" --once -c "$T/bench.conf" >"$T/once.log" 2>&1 || {
	tail -20 "$T/once.log"
	exit 1
}
read -r user sys rss wall <"$T/time"
issued=$(vault_issued)
[ "$issued" = "$N" ] || { echo "issued $issued of $N" >&2; exit 1; }
cpu_ms=$(echo "$user $sys $N" | awk '{ printf "%.3f", ($1 + $2) * 1000 / $3 }')
echo "certd --once, $N certificates, vault-pki sign mode, EC P-256:"
echo "  wall ${wall}s, certd CPU user ${user}s + sys ${sys}s = ${cpu_ms} ms per certificate"
echo "  certd peak RSS ${rss} KiB"

# A second pass over the same files: nothing is due, nothing is issued.
/usr/bin/time -f '%U %S %M %e' -o "$T/time2" "$CERTD" --once -c "$T/bench.conf" >"$T/once2.log" 2>&1
read -r user sys rss wall <"$T/time2"
echo "  second pass (all valid): wall ${wall}s, CPU ${user}s + ${sys}s, peak RSS ${rss} KiB, issued $(($(vault_issued) - N))"
