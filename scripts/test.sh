#!/usr/bin/env bash
# Installs what is missing, builds, and runs the test suite through CTest.
#   scripts/test.sh          the suite (what a newcomer needs; see the README for its time)
#   scripts/test.sh --all    the suite, then the sanitizer pass and the fuzzers (what .ci/run runs)
# Other arguments go to ctest, e.g. scripts/test.sh -R Attention
set -euo pipefail
cd "$(dirname "$0")/.."
all=0
if [ "${1:-}" = "--all" ]; then
  all=1
  shift
fi
scripts/setup.sh
echo "[test] running ctest on $(nproc) cores"
start=$(date +%s)
ctest --test-dir build --output-on-failure -j "$(nproc)" "$@"
echo "[test] test suite took $(( $(date +%s) - start )) s"
[ "$all" = 1 ] || exit 0
# The suite again under ASan + UBSan, in build-asan/ (all but the benchmark and rendering suites;
# docs/development.md, "Sanitizers"). Skip with ATTNLAB_SKIP_SANITIZE=1.
if [ "${ATTNLAB_SKIP_SANITIZE:-0}" != 1 ]; then
  start=$(date +%s)
  scripts/sanitize.sh
  echo "[test] sanitizer build and suite took $(( $(date +%s) - start )) s"
fi
# libFuzzer harnesses under ASan + UBSan: replay the committed crash cases and the seeds, then
# a fixed number of new inputs from a fixed seed, about 20 s each (docs/development.md,
# "Fuzzing"). Skip with ATTNLAB_SKIP_FUZZ=1.
if [ "${ATTNLAB_SKIP_FUZZ:-0}" != 1 ]; then
  start=$(date +%s)
  scripts/fuzz.sh --ci
  echo "[test] fuzzing took $(( $(date +%s) - start )) s"
fi
