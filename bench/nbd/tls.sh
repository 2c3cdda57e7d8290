#!/usr/bin/env bash
# bench/nbd/tls.sh - mqblk's NBD server against nbdkit, both with --tls=require and X.509,
# same run, alternating (bench-nbd.sh's ratio table is against nbdkit, the first server);
# mqblk twice: with its default busy-poll window, and with --poll-us 0 (an I/O thread that
# polls burns CPU while the client is slow, which a crowded host inflates).
#
# Usage: bench/nbd/tls.sh [BUILD_DIR] [bench-nbd.sh options...]
#   e.g. bench/nbd/tls.sh build-tls -r 3 -T 4 -w rr4k32,rw4k32,sw1m4
# Keys are made in a temporary directory (certtool). fio's nbd engine (libnbd) takes no
# tls-certificates in a URI, so the client's credentials go where libnbd looks by default,
# $HOME/.pki/libnbd, with HOME pointed at that directory for this run; bench-nbd.sh is run
# from a copy whose Unix-socket URIs say nbds+unix:// (TLS required by the client too).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
shift || true
bench=${BENCH_NBD:-$here/../shared/bench/bench-nbd.sh}
mqblk=$here/$build/mqblk
[[ -x $mqblk ]] || mqblk=$here/$build/src/cli/mqblk
[[ -x $mqblk ]] || { echo "bench/nbd/tls.sh: no mqblk binary under $build (build it first)" >&2; exit 1; }
command -v certtool >/dev/null || { echo "bench/nbd/tls.sh: certtool missing (gnutls-bin)" >&2; exit 1; }

tmp=$(mktemp -d /tmp/mqblk-bench-tls.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pki=$tmp/server
cli=$tmp/home/.pki/libnbd
mkdir -p "$pki" "$cli"
ct() { certtool "$@" >/dev/null 2>&1 || { echo "bench/nbd/tls.sh: certtool $*" >&2; exit 1; }; }
printf '%s\n' "cn = bench CA" ca cert_signing_key "expiration_days = 2" > "$tmp/ca.t"
ct --generate-privkey --outfile "$tmp/ca-key.pem"
ct --generate-self-signed --load-privkey "$tmp/ca-key.pem" --template "$tmp/ca.t" --outfile "$pki/ca-cert.pem"
for role in server client; do
  printf '%s\n' "cn = localhost" "dns_name = localhost" "tls_www_$role" encryption_key signing_key \
    "expiration_days = 2" > "$tmp/$role.t"
  d=$pki
  [[ $role == client ]] && d=$cli
  ct --generate-privkey --outfile "$d/$role-key.pem"
  ct --generate-certificate --load-ca-certificate "$pki/ca-cert.pem" --load-ca-privkey "$tmp/ca-key.pem" \
    --load-privkey "$d/$role-key.pem" --template "$tmp/$role.t" --outfile "$d/$role-cert.pem"
done
cp "$pki/ca-cert.pem" "$cli/ca-cert.pem"
sed 's|SRV_URI="nbd+unix:///|SRV_URI="nbds+unix:///|' "$bench" > "$tmp/bench-nbd-tls.sh"
grep -q 'nbds+unix' "$tmp/bench-nbd-tls.sh" || { echo "bench/nbd/tls.sh: cannot patch $bench" >&2; exit 1; }
HOME=$tmp/home bash "$tmp/bench-nbd-tls.sh" "$@" run \
  "nbdkit-tls::nbdkit -f -U {SOCK} --tls=require --tls-certificates $pki memory 1G" \
  "mqblk-tls::$mqblk nbd --foreground --socket {SOCK} --tls=require --tls-certificates $pki null size=1G memory_backed=1" \
  "mqblk-tls-poll0::$mqblk nbd --foreground --socket {SOCK} --poll-us 0 --tls=require --tls-certificates $pki null size=1G memory_backed=1"
