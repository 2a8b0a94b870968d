#!/usr/bin/env bash
# The test suite under GCC's sanitizers, each in a build folder of its own (docs/development.md,
# "Sanitizers"). Any sanitizer report fails the test that triggered it (UBSan aborts, ASan and
# LeakSanitizer exit non-zero, in the test process and in every attnlab it starts), and so this
# script (exit 1). Suppressions: sanitizers/*.supp, one reason per line, nothing global.
#
#   scripts/sanitize.sh                  # ASan + UBSan in build-asan/, the part of the suite CI runs
#   scripts/sanitize.sh --all            # ... the whole suite
#   scripts/sanitize.sh --thread         # TSan in build-tsan/: the threads attnlab starts
#   scripts/sanitize.sh -R REGEX         # ASan + UBSan, these CTest suites
set -euo pipefail
cd "$(dirname "$0")/.."

# The CI part (ASan + UBSan): the whole suite but these, left out for time only: the
# benchmarks (Bench*, KernelBench), the HTML report rendered in Chromium (HtmlReport), the
# 68-second reverse-heads training (ReverseHeads), the thread counts of full training runs
# (Threads, 51 s under ASan; training itself is in TrainerTest and CliTest), the torchrun runs
# of DataParallelTrain (over 40 s under ASan; the collectives they call are ProcessGroup's and
# SumOverRanks', the training loop TrainerTest's, the signal paths SigtermRounds') and the
# layering script (no C++).
ci_exclude='Bench|BenchFlops|BenchPreset|KernelBench|HtmlReport|ReverseHeads|Threads|DataParallelTrain|Layering'
# The suites that feed malformed archives to LibTorch's zip reader, whose known leak
# (sanitizers/lsan.supp) LeakSanitizer can only name with the slow unwinder: LibTorch has no frame
# pointers. Everything else runs with the fast one (the slow one triples the time of training).
readers='AttentionRecord|Checkpoint|TorchFile'
mode=address
selection=ci
while [ $# -gt 0 ]; do
  case "$1" in
    --all) selection=all; shift ;;
    --thread) mode=thread; shift ;;
    -R) selection="$2"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "sanitize.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ] && export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
supp="$PWD/sanitizers"
jobs=$(nproc)

build() {  # build folder, sanitizers
  local dir="$1" flags="$2" start
  start=$(date +%s)
  mkdir -p "$dir"
  # -O1, as AddressSanitizer's documentation suggests: reasonable speed, stack traces that stay readable.
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
        -DATTNLAB_SANITIZE="$flags" >"$dir/cmake.log" 2>&1 || { cat "$dir/cmake.log" >&2; exit 1; }
  cmake --build "$dir" -j "$jobs" --target attnlab attnlab_tests
  echo "[sanitize] $dir built in $(( $(date +%s) - start )) s"
}

start=$(date +%s)
if [ "$mode" = address ]; then
  build build-asan address,undefined
  asan="detect_leaks=1:check_initialization_order=1:strict_init_order=1"
  export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
  suite() { ASAN_OPTIONS="$asan:fast_unwind_on_malloc=$1" ctest --test-dir build-asan --output-on-failure \
              -j "$jobs" --timeout 1200 "${@:2}"; }
  # Each pass on its own line: under set -e a failure on the left of && would not stop the script.
  case "$selection" in
    ci)  suite 1 -E "^($ci_exclude|$readers)\$"
         suite 0 -R "^($readers)\$" ;;
    all) suite 1 -E "^($readers)\$"
         suite 0 -R "^($readers)\$" ;;
    *)   suite 0 -R "$selection" ;;
  esac
else
  build build-tsan thread
  # ignore_noninstrumented_modules=1: memcpy and friends called from LibTorch (not instrumented,
  # its OpenMP workers' copies) are not checked; attnlab's own accesses all are.
  export TSAN_OPTIONS="suppressions=$supp/tsan.supp:ignore_noninstrumented_modules=1:halt_on_error=1:second_deadlock_stack=1"
  # The threads attnlab starts: the attention-record writer (AttentionProbe, and the CLI runs,
  # which log attention), the stop-signal watcher (StopSignals, the SIGINT and SIGTERM rounds of
  # the real binary), and the allocator every thread frees into. Threads.* is left out: it counts
  # the process's threads, and TSan adds one of its own.
  build-tsan/attnlab_tests --gtest_filter='AttentionProbe.*:StopSignals.*:TrainerTest.*:CachingCpuAllocator.*:CliTest.*:SigtermRounds.*'
fi
echo "[sanitize] $mode: $(( $(date +%s) - start )) s in all"
