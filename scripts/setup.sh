#!/usr/bin/env bash
# Installs what mqblk needs on Debian 12 (build, tests, benchmarks, fuzzing, the VM harness).
# Idempotent: installs only missing packages. Needs root (or sudo).
set -euo pipefail
pkgs=(
  build-essential cmake pkg-config g++
  libgtest-dev libgmock-dev libbenchmark-dev
  liburing-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  clang clang-tidy clang-format libclang-rt-14-dev cppcheck valgrind
  qemu-utils libnbd-bin python3-libnbd fio nbdkit jq time e2fsprogs
  libgnutls28-dev gnutls-bin
  qemu-system-x86 busybox-static cpio kmod xz-utils dmsetup
  librbd-dev librados-dev ceph-mon ceph-osd ceph-common qemu-block-extra  # the rbd driver, its test cluster, qemu-nbd's rbd
  btrfs-progs f2fs-tools
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
