#!/usr/bin/env bash
# scripts/build.sh DIR [cmake options...]: configure and build one configuration, with
# warnings as errors (MQBLK_WERROR: development and CI builds; a plain cmake leaves it off).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMQBLK_WERROR=ON "$@" >/dev/null
cmake --build "$dir" -j"${JOBS:-$(nproc)}"
