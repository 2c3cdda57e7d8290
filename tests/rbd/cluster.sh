#!/usr/bin/env bash
# tests/rbd/cluster.sh - a throwaway Ceph cluster on loopback, for the rbd driver's tests
# and benchmarks: one mon, OSDS memstore OSDs (default 2), no mgr (RBD needs none), a
# replicated pool `rbd` of size OSDS and an image in it, all under one directory.
#
#   cluster.sh start DIR [IMAGE_SIZE]  creates DIR (must not exist or be empty), starts the
#                                      cluster, creates pool rbd and image rbd/img (64M)
#   cluster.sh stop DIR                stops every daemon by its pidfile (OSDs first: the
#                                      mon answers their goodbyes, else each waits 5 s)
#   cluster.sh stop-osd DIR N [SIG]    stops osd.N (SIG: TERM, or KILL for a crash)
#   cluster.sh restart DIR             starts the mon and the OSDs again (same port, data)
#
# Where Ceph's Python `ceph` tool cannot run (the VM's guest), MON_COMMAND names the
# rbd_mon_command program (tests/rbd/mon_command.cpp) that sends the monitor commands
# instead, and CEPH_LIB_DIR a directory holding the OSD's plugins (erasure-code/ and
# rados-classes/, as in /usr/lib/x86_64-linux-gnu/ceph and /usr/lib/x86_64-linux-gnu).
#
# DIR/ceph.conf names the cluster for clients (CEPH_CONF=DIR/ceph.conf, or conf=), with
# client.admin's key in DIR/keyring. Every wait is bounded; a failure prints one line
# naming the log to read and exits 1. Settings and why (measured: a usable image in
# about 1-2 s): paxos propose interval 0.1 (the default 1 s makes every map change wait),
# mon mgr mkfs grace very long (else HEALTH_ERR "no active mgr" after 120 s), memstore
# page size 4096 (else an OSD grows to 1-2 GB), chooseleaf type 0 (all OSDs on one host),
# fast failure reports so that a killed OSD is marked down in about a second, no fast
# shutdown (so that a stopped memstore OSD saves its data and `restart` finds it).
set -euo pipefail

die() { echo "cluster.sh: $*" >&2; exit 1; }

OSDS=${OSDS:-2}
WAIT_S=${CLUSTER_WAIT_S:-30}  # the bound on each wait below

conf_of() { echo "$1/ceph.conf"; }

# Runs a ceph/rbd command with a bound on its time and on every operation inside it.
cl() {
  local dir=$1; shift
  timeout -k 2 "$WAIT_S" "$@" -c "$(conf_of "$dir")" \
    --rados-osd-op-timeout 10 --rados-mon-op-timeout 10 --client-mount-timeout 10
}

pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for SECONDS DESCRIPTION CMD...: retries CMD every 0.1 s until it succeeds.
wait_for() {
  local s=$1 what=$2; shift 2
  local end=$((SECONDS + s))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < end)) || return 1
    sleep 0.1
  done
}

free_port() {
  local p
  for _ in $(seq 50); do
    p=$((12000 + RANDOM % 20000))  # below the ephemeral range (32768-)
    # Not in use by any socket (listening or connected) in /proc/net/tcp: port in hex.
    awk -v port="$(printf ':%04X' "$p")" 'substr($2, length($2) - 4) == port {found = 1} END {exit found}' \
      /proc/net/tcp* && { echo "$p"; return; }
  done
  die "no free TCP port found on 127.0.0.1"
}

write_conf() {
  local dir=$1 port=$2 fsid=$3
  cat >"$(conf_of "$dir")" <<EOF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr2 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir
admin socket = $dir/\$name.asok
log file = $dir/\$name.log
pid file = $dir/\$name.pid
crash dir = $dir/crash
log to stderr = false
err to stderr = true
mon data = $dir/\$name
osd data = $dir/\$name
osd objectstore = memstore
memstore page size = 4096
memstore device bytes = 2147483648
osd pool default size = $OSDS
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
paxos propose interval = 0.1
mon mgr mkfs grace = 31536000
mon osd min down reporters = 1
mon osd reporter subtree level = osd
osd heartbeat interval = 1
osd heartbeat grace = 4
osd fast fail on connection refused = true
osd op complaint time = 5
mon osd down out interval = 0
# A stopped memstore OSD keeps its data only when it unmounts the store (saving it to
# osd data): the fast shutdown skips that, and a cluster restarted after it comes back
# with no PGs at all.
osd fast shutdown = false
[client]
admin socket = $dir/\$name.\$pid.asok
EOF
  if [[ -n ${CEPH_LIB_DIR:-} ]]; then
    printf '[global]\nerasure code dir = %s\nosd class dir = %s\n' "$CEPH_LIB_DIR/erasure-code" \
      "$CEPH_LIB_DIR/rados-classes" >>"$(conf_of "$dir")"
  fi
}

start_mon() {
  local dir=$1
  ceph-mon -i a -c "$(conf_of "$dir")" 2>>"$dir/daemons.err" || die "ceph-mon did not start: see $dir/mon.a.log"
  wait_for "$WAIT_S" "mon" pid_alive "$dir/mon.a.pid" || die "mon.a wrote no pidfile: see $dir/mon.a.log"
}

start_osd() {
  local dir=$1 n=$2
  ceph-osd -i "$n" -c "$(conf_of "$dir")" 2>>"$dir/daemons.err" || die "ceph-osd $n did not start: see $dir/osd.$n.log"
}

# mon_cmd DIR JSON CLI...: one monitor command, through MON_COMMAND (JSON) or the ceph tool.
mon_cmd() {
  local dir=$1 json=$2; shift 2
  if [[ -n ${MON_COMMAND:-} ]]; then
    CEPH_CONF=$(conf_of "$dir") timeout -k 2 "$WAIT_S" "$MON_COMMAND" "$json"
  else
    cl "$dir" ceph "$@"
  fi
}

osds_up() {  # all OSDs up and in
  local dir=$1 stat
  stat=$(mon_cmd "$dir" '{"prefix": "osd stat", "format": "json"}' osd stat -f json) || return 1
  jq -e --argjson n "$OSDS" '.num_up_osds == $n and .num_in_osds == $n' <<<"$stat" >/dev/null
}

cmd_start() {
  local dir=$1 size=${2:-64M}
  [[ -d $dir && -n $(ls -A "$dir") ]] && die "$dir is not empty: give a new directory"
  mkdir -p "$dir/crash"
  dir=$(cd "$dir" && pwd)
  local port fsid
  port=$(free_port)
  fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$dir" "$port" "$fsid"
  echo "$OSDS" >"$dir/osds"

  # One keyring for every daemon and the admin: the mon imports it at mkfs, so the OSDs
  # need no `ceph auth add` round trips.
  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' \
    --cap mgr 'allow *' >/dev/null
  for ((n = 0; n < OSDS; n++)); do
    ceph-authtool "$dir/keyring" --gen-key -n "osd.$n" --cap mon 'allow profile osd' \
      --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  done
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$port]" "$dir/monmap" >/dev/null
  ceph-mon --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" -c "$dir/ceph.conf" \
    2>"$dir/mkfs.log" || die "ceph-mon --mkfs failed: see $dir/mkfs.log"
  start_mon "$dir"

  for ((n = 0; n < OSDS; n++)); do
    local uuid id
    uuid=$(cat /proc/sys/kernel/random/uuid)
    id=$(mon_cmd "$dir" "{\"prefix\": \"osd new\", \"uuid\": \"$uuid\"}" osd new "$uuid" 2>>"$dir/mkfs.log") ||
      die "ceph osd new failed: see $dir/mkfs.log"
    [[ $id == "$n" ]] || die "ceph osd new gave id $id, expected $n"
    mkdir -p "$dir/osd.$n"
    ceph-osd -i "$n" --mkfs --osd-uuid "$uuid" -c "$dir/ceph.conf" 2>>"$dir/mkfs.log" >/dev/null ||
      die "ceph-osd --mkfs $n failed: see $dir/mkfs.log and $dir/osd.$n.log"
    start_osd "$dir" "$n"
  done
  wait_for "$WAIT_S" "osds" osds_up "$dir" || die "OSDs not up after ${WAIT_S}s: see $dir/osd.*.log"

  mon_cmd "$dir" '{"prefix": "osd pool create", "pool": "rbd", "pg_num": 8, "pgp_num": 8, "pool_type": "replicated"}' \
    osd pool create rbd 8 8 replicated >/dev/null 2>>"$dir/mkfs.log" || die "pool creation failed: see $dir/mkfs.log"
  mon_cmd "$dir" '{"prefix": "osd pool application enable", "pool": "rbd", "app": "rbd"}' \
    osd pool application enable rbd rbd >/dev/null 2>>"$dir/mkfs.log" ||
    die "pool application enable failed: see $dir/mkfs.log"
  # The first write waits for the PGs to peer: rbd create is the readiness check.
  wait_for "$WAIT_S" "image" cl "$dir" rbd create --size "$size" rbd/img ||
    die "rbd create rbd/img failed for ${WAIT_S}s: see $dir/osd.*.log"
  echo "cluster.sh: up in $dir (mon 127.0.0.1:$port, $OSDS OSDs, image rbd/img $size)" >&2
}

stop_pidfile() {
  local pidfile=$1 sig=${2:-TERM} pid
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  kill -"$sig" "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
  for _ in $(seq 100); do  # 10 s
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
}

cmd_stop() {
  local dir=$1
  [[ -f $dir/ceph.conf ]] || return 0
  local pidfiles=()
  for f in "$dir"/osd.*.pid; do [[ -e $f ]] && pidfiles+=("$f"); done
  # OSDs in parallel, then the mon.
  for f in "${pidfiles[@]}"; do stop_pidfile "$f" TERM & done
  wait
  stop_pidfile "$dir/mon.a.pid" TERM
}

cmd_restart() {
  local dir=$1
  OSDS=$(cat "$dir/osds")
  pid_alive "$dir/mon.a.pid" || start_mon "$dir"
  for ((n = 0; n < OSDS; n++)); do
    pid_alive "$dir/osd.$n.pid" || start_osd "$dir" "$n"
  done
  wait_for "$WAIT_S" "osds" osds_up "$dir" || die "OSDs not up after ${WAIT_S}s: see $dir/osd.*.log"
}

case ${1:-} in
  start) [[ $# -ge 2 ]] || die "usage: cluster.sh start DIR [IMAGE_SIZE]"; cmd_start "$2" "${3:-}" ;;
  stop) [[ $# -eq 2 ]] || die "usage: cluster.sh stop DIR"; cmd_stop "$2" ;;
  stop-osd) [[ $# -ge 3 ]] || die "usage: cluster.sh stop-osd DIR N [TERM|KILL]"
    stop_pidfile "$2/osd.$3.pid" "${4:-TERM}" ;;
  restart) [[ $# -eq 2 ]] || die "usage: cluster.sh restart DIR"; cmd_restart "$2" ;;
  *) die "usage: cluster.sh start|stop|stop-osd|restart DIR ..." ;;
esac
