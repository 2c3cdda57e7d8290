#!/bin/bash
# --unprivileged: a user without root adds, uses and deletes a ublk device. The guest has
# no udev, so this script applies the shipped rule (data/udev/99-mqblk-ublk.rules) itself:
# /dev/ublk-control mode 0666, and for each new /dev/ublkcN and /dev/ublkbN the rule's
# action, `mqblk chown-dev NAME`, run as root once the node appears, after a delay (udev is
# not instant: the server retries its opens meanwhile). Needs setpriv.
. ./lib.sh

chmod 0666 /dev/ublk-control   # the rule's MODE="0666"
echo "applying the udev rule's actions by hand (no udev in the guest)"
(
  for i in $(seq 1 300); do   # 30 s at most
    for n in /dev/ublkc[0-9]* /dev/ublkb[0-9]*; do
      [ -e "$n" ] || continue
      [ -e "/tmp/chowned.${n#/dev/}" ] && continue
      sleep 0.3                 # udev's delay: the server must wait for it
      mqblk chown-dev "${n#/dev/}" && : > "/tmp/chowned.${n#/dev/}"
    done
    sleep 0.1
  done
) &
udev=$!
mkdir -p /tmp/xdg /tmp/ubin && chown 1000:1000 /tmp/xdg
cp ./mqblk /tmp/ubin/mqblk && chmod 0755 /tmp/ubin /tmp/ubin/mqblk  # /extra is root's only
# As uid 1000 (a word list, so that `within` can run it; util-linux setpriv, not busybox's).
as_user="/usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups env XDG_RUNTIME_DIR=/tmp/xdg"

$as_user /tmp/ubin/mqblk add -r 1 --unprivileged null size=16M 2>/tmp/e && fail "-r 1 --unprivileged accepted"
grep -q "no recovery" /tmp/e || fail "-r 1 --unprivileged: $(cat /tmp/e)"
ok "recovery refused for --unprivileged: $(cat /tmp/e)"
dev=$(within 40 $as_user /tmp/ubin/mqblk add --unprivileged -q 2 null size=64M memory_backed=1 2>/tmp/add.err) \
  || fail "add --unprivileged as uid 1000: $(cat /tmp/add.err)"
id=${dev#/dev/ublkb}
ok "uid 1000 added $dev"
[ "$(stat -c %u /dev/ublkc$id)" = 1000 ] || fail "/dev/ublkc$id not owned by uid 1000"
[ -e /tmp/xdg/mqblk/$id.json ] || fail "no saved config in \$XDG_RUNTIME_DIR/mqblk: $(ls -R /tmp/xdg)"
[ ! -e /run/mqblk/$id.json ] || fail "config went to /run/mqblk"
js=$($as_user /tmp/ubin/mqblk list --json) || fail "list as uid 1000"
[ "$(jqv '.[0].state' "$js")" = live ] || fail "not live: $js"
jq -e '.[0].flags | index("UNPRIVILEGED_DEV")' <<<"$js" >/dev/null || fail "flags: $js"
pid=$(jqv '.[0].pid' "$js")
[ "$(stat -c %u /proc/$pid)" = 1000 ] || fail "server $pid does not run as uid 1000"
ok "server pid $pid runs as uid 1000"
within 60 $as_user fio --eta=never --name=v --filename="$dev" --ioengine=io_uring --direct=1 \
  --rw=randwrite --bs=4k --iodepth=16 --size=16M --verify=crc32c --verify_state_save=0 \
  --output=/tmp/fio.txt \
  || { cat /tmp/fio.txt; fail "fio verify as uid 1000"; }
ok "fio randwrite + verify as uid 1000"
rep=$(within 30 $as_user /tmp/ubin/mqblk del -n "$id") || fail "del as uid 1000"
report_balanced "$rep" || fail "exit report not balanced: $rep"
check "device gone" no_ublk_devices
[ -z "$(ls /tmp/xdg/mqblk)" ] || fail "left in \$XDG_RUNTIME_DIR/mqblk: $(ls /tmp/xdg/mqblk)"
# Root's own devices stay root's: chown-dev leaves them alone.
dev=$(within 30 mqblk add null size=16M) || fail "add as root"
check "chown-dev of a root device" mqblk chown-dev "ublkc${dev#/dev/ublkb}"
[ "$(stat -c %u /dev/ublkc${dev#/dev/ublkb})" = 0 ] || fail "root's device was handed away"
within 30 mqblk del -a >/dev/null || fail "del -a"
kill $udev 2>/dev/null
echo PASS
