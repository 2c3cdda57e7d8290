#!/usr/bin/env bash
# The main job on defaults: set up, build, and benchmark the null device in process.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
exec build/src/cli/mqblk bench null "$@"
