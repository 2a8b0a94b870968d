#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite through CTest.
# Extra arguments go to ctest, e.g. scripts/test.sh -R Attention
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
echo "[test] running ctest on $(nproc) cores"
start=$(date +%s)
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
echo "[test] test suite took $(( $(date +%s) - start )) s"
