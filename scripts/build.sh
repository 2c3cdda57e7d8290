#!/usr/bin/env bash
# scripts/build.sh DIR [cmake options...]: configure and build one configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$dir" -j"${JOBS:-$(nproc)}"
