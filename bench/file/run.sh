#!/usr/bin/env bash
# bench/file/run.sh - the file driver in process (`mqblk bench file ...`) against fio's
# io_uring engine directly on the same file, same run, alternating, R rounds; prints each
# figure (IOPS, median of the rounds) and the ratio mqblk/fio. Goal: >= 0.9.
#
# Usage: bench/file/run.sh [BUILD_DIR] [-r ROUNDS] [-T SECONDS]
#   BUILD_DIR defaults to build. Cases: O_DIRECT on a file in /tmp, buffered on tmpfs
#   (/dev/shm); workloads: 4k randread and randwrite at QD32, 128k sequential read and write
#   at QD8. One job each (one thread, one hardware queue for mqblk). Also CPU time per I/O
#   (us: each whole process by /usr/bin/time: mqblk's reaper thread and both programs'
#   io-wq workers included), and its ratio: on a loaded host mqblk's two threads can take
#   more CPU than fio's one, so read the IOPS ratio beside it.
# Paste the table into docs/benchmarks.md.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
[[ $# -gt 0 ]] && shift
rounds=3 secs=5
while getopts "r:T:" o; do
  case $o in
    r) rounds=$OPTARG ;;
    T) secs=$OPTARG ;;
    *) echo "usage: $0 [BUILD_DIR] [-r ROUNDS] [-T SECONDS]" >&2; exit 2 ;;
  esac
done
mqblk=$here/$build/src/cli/mqblk
[[ -x $mqblk ]] || { echo "bench/file/run.sh: no mqblk binary under $build (build it first)" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench/file/run.sh: fio missing" >&2; exit 1; }
PY=/usr/bin/python3
size=1G
ext=$(mktemp -d /tmp/mqblk-bench-file.XXXXXX)
shm=$(mktemp -d /dev/shm/mqblk-bench-file.XXXXXX)
trap 'rm -rf "$ext" "$shm"' EXIT
# Written in full first, so that reads find data (not holes) and writes overwrite.
for d in "$ext" "$shm"; do
  dd if=/dev/urandom of="$d/disk.img" bs=1M count=1024 conv=fsync status=none  # no writeback during the runs
done

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_mqblk() {  # file direct rw bs qd -> IOPS, CPU us per I/O (the whole process: /usr/bin/time)
  /usr/bin/time -f '%U %S' -o "$ext/time" "$mqblk" bench --json --runtime "${secs}s" --rw "$3" \
    --bs "$4" --iodepth "$5" file path="$1" direct="$2" hw_queue_depth=64 >"$ext/json"
  $PY -c 'import json,sys; j=json.load(open(sys.argv[1])); u,s=map(float,open(sys.argv[2]).read().split()[-2:]); print(round(j["iops"]), (u+s)/j["ios"]*1e6)' \
    "$ext/json" "$ext/time"
}
run_fio() {  # file direct rw bs qd -> IOPS, CPU us per I/O (the whole process: /usr/bin/time)
  /usr/bin/time -f '%U %S' -o "$ext/time" fio --name=b --filename="$1" --direct="$2" \
    --ioengine=io_uring --rw="$3" --bs="$4" --iodepth="$5" --size=$size --runtime="$secs" \
    --time_based --output-format=json >"$ext/json"
  $PY -c 'import json,sys; j=json.load(open(sys.argv[1]))["jobs"][0]; n=j["read"]["total_ios"]+j["write"]["total_ios"]; u,s=map(float,open(sys.argv[2]).read().split()[-2:]); print(round(j["read"]["iops"]+j["write"]["iops"]), (u+s)/n*1e6)' \
    "$ext/json" "$ext/time"
}

printf '%-22s %-18s %11s %11s %7s %9s %9s %9s\n' case workload "mqblk IOPS" "fio IOPS" ratio \
  "mqblk us" "fio us" "CPU ratio"
for c in "O_DIRECT,/tmp(ext4) $ext/disk.img 1" "buffered,tmpfs $shm/disk.img 0"; do
  read -r label file direct <<<"$c"
  for w in "randread 4k 32" "randwrite 4k 32" "read 128k 8" "write 128k 8"; do
    read -r rw bs qd <<<"$w"
    m=() f=() mc=() fc=()
    for ((i = 0; i < rounds; i++)); do
      read -r iops cpu <<<"$(run_mqblk "$file" "$direct" "$rw" "$bs" "$qd")"
      m+=("$iops") mc+=("$cpu")
      read -r iops cpu <<<"$(run_fio "$file" "$direct" "$rw" "$bs" "$qd")"
      f+=("$iops") fc+=("$cpu")
    done
    mm=$(median "${m[@]}") fm=$(median "${f[@]}") mcm=$(median "${mc[@]}") fcm=$(median "${fc[@]}")
    printf '%-22s %-18s %11s %11s %7.2f %9.2f %9.2f %9.2f\n' "$label" "$rw $bs QD$qd" "$mm" "$fm" \
      "$(awk -v a="$mm" -v b="$fm" 'BEGIN {print a / b}')" "$mcm" "$fcm" \
      "$(awk -v a="$mcm" -v b="$fcm" 'BEGIN {print a / b}')"
  done
done
echo "(median of $rounds rounds of ${secs}s, alternating; $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg))"
