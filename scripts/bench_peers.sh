#!/usr/bin/env bash
# Compares `attnlab bench` with its two peers on the same encoder, the same data sizes and the
# same thread count: PyTorch from Python (scripts/bench_pytorch.py) and LibTorch's built-in
# torch::nn::TransformerEncoder (build/libtorch_peer). See docs/benchmark.md.
#
# Runs are interleaved (attnlab, pytorch, libtorch, attnlab, ...) so that machine noise hits
# every peer alike; the table shows the median over --runs of each number.
#
# Every side prints ONE JSON object per run (`--json`) with at least these keys:
#   train_tokens_per_s  training throughput, tokens/s (B*T*steps / timed seconds)
#   step_ms             milliseconds per training step (forward+backward+clip+AdamW)
#   eval_tokens_per_s   forward-only throughput, tokens/s (eval mode, no grad)
#   peak_rss_mb         peak resident set size of the process, MiB (ru_maxrss)
#   threads             intra-op threads actually used
#   size                small | medium
#   precision           fp32 | bf16
# Optional keys shown when present: train_gflops_per_s. Each side also accepts
#   --size S --threads N --precision P --json, and --warmup-steps W --steps S --eval-steps E
# (what this script forwards after `--`).
#
# Usage: scripts/bench_peers.sh [--sizes small,medium] [--runs 3] [--threads N]
#                               [--precision fp32,bf16] [--out build/bench_results.jsonl]
#                               [--peers attnlab,pytorch,libtorch] [--no-build]
#                               [-- extra args passed to every peer, e.g. --steps 5]
#
# Where OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set (some machines set them on purpose, e.g.
# OPENBLAS_CORETYPE=Haswell holds OpenBLAS to AVX2 kernels), the two peers that compute on
# OpenBLAS are run a second time with both variables unset for the peer's process alone:
# rows "pytorch-unpinned" and "libtorch-unpinned". attnlab and the pinned peers keep them.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

sizes="small,medium"
runs=3
threads=$(nproc)
precisions="fp32,bf16"
out="build/bench_results.jsonl"
peers="attnlab,pytorch,libtorch"
build=1
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --precision) precisions="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --peers) peers="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"

PYTHON=/usr/bin/python3
if [ "$build" = 1 ]; then
  if [ ! -f build/CMakeCache.txt ]; then
    say "configuring CMake (Release) in build/"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
  fi
  # Each target on its own: a broken attnlab must not keep the peers from being measured.
  for target in libtorch_peer attnlab; do
    say "building $target"
    cmake --build build -j "$(nproc)" --target "$target" >&2 || say "build of $target failed"
  done
fi

openblas_pinned=0
if [ -n "${OPENBLAS_CORETYPE:-}" ] || [ -n "${OPENBLAS_L2_SIZE:-}" ]; then
  openblas_pinned=1
  case ",$peers," in *,pytorch,*) peers="$peers,pytorch-unpinned" ;; esac
  case ",$peers," in *,libtorch,*) peers="$peers,libtorch-unpinned" ;; esac
fi

mkdir -p "$(dirname "$out")"
: >"$out"
say "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; threads=$threads;" \
    "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}"
[ "$openblas_pinned" = 1 ] &&
  say "OpenBLAS is pinned by the environment: *-unpinned rows run the peer with both variables unset"
say "results -> $out"
# What oneDNN sees on this CPU and which GEMM each precision runs (from attnlab bench itself).
if [ -x build/attnlab ]; then
  build/attnlab bench --steps 1 --warmup-steps 0 --eval-steps 1 --vocab 16 --seq 8 --batch 2 \
      --d-model 16 --heads 2 --layers 1 --d-ff 32 --threads 1 2>/dev/null \
    | sed -n 's/^  cpu  *\(.*\)/[bench_peers] cpu: \1/p; s/^  GEMMs  *\(.*\)/[bench_peers] GEMMs: \1/p' >&2 || true
fi

# Runs one peer once; appends its JSON line to $out, or a failure record.
run_peer() {
  local peer=$1 size=$2 precision=$3 line rc=0 log
  log=$(mktemp)
  local cmd=() env_cmd=()
  case "$peer" in
    *-unpinned) env_cmd=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) ;;
  esac
  case "${peer%-unpinned}" in
    attnlab) cmd=(build/attnlab bench) ;;
    pytorch) cmd=("$PYTHON" scripts/bench_pytorch.py) ;;
    libtorch) cmd=(build/libtorch_peer) ;;
    *) die "unknown peer '$peer' (attnlab, pytorch, libtorch)" ;;
  esac
  if [ "${peer%-unpinned}" != pytorch ] && [ ! -x "${cmd[0]}" ]; then
    say "$peer: ${cmd[0]} not built"
    rc=127
  else
    "${env_cmd[@]}" "${cmd[@]}" --size "$size" --threads "$threads" --precision "$precision" \
      --json "${extra[@]}" >"$log" 2>"$log.err" || rc=$?
  fi
  line=$(grep '^{' "$log" | tail -n 1 || true)
  # The table keys on this label (a peer's own JSON says which program it is, not how it ran).
  [ -n "$line" ] && line="{\"label\": \"$peer\", ${line#\{}"
  if [ "$rc" = 0 ] && [ -n "$line" ]; then
    printf '%s\n' "$line" >>"$out"
    say "$peer $size $precision: $(printf '%s' "$line" | cut -c1-160)"
  else
    say "$peer $size $precision: failed (exit $rc): $(tail -n 2 "$log.err" 2>/dev/null | tr '\n' ' ')"
    printf '{"peer": "%s", "size": "%s", "precision": "%s", "failed": true, "exit_code": %s}\n' \
      "$peer" "$size" "$precision" "$rc" >>"$out"
  fi
  rm -f "$log" "$log.err"
}

IFS=, read -r -a size_list <<<"$sizes"
IFS=, read -r -a precision_list <<<"$precisions"
IFS=, read -r -a peer_list <<<"$peers"
for size in "${size_list[@]}"; do
  for precision in "${precision_list[@]}"; do
    for ((run = 1; run <= runs; run++)); do
      for peer in "${peer_list[@]}"; do
        run_peer "$peer" "$size" "$precision"
      done
    done
  done
done

# The table: medians per (size, precision, peer); ratio = attnlab / peer on train tokens/s.
"$PYTHON" - "$out" <<'EOF'
import json, statistics, sys
from collections import defaultdict

rows = defaultdict(list)
order = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    r["peer"] = r.get("label") or r.get("peer") or r.get("impl")  # attnlab bench says "impl"
    if "train_gflops" in r and "train_gflops_per_s" not in r:
        r["train_gflops_per_s"] = r["train_gflops"]
    key = (r["size"], r["precision"], r["peer"])
    if key not in rows:
        order.append(key)
    rows[key].append(r)

def med(runs, field):
    values = [r[field] for r in runs if not r.get("failed") and field in r]
    return statistics.median(values) if values else None

def fmt(v, digits=0):
    return "n/a" if v is None else f"{v:,.{digits}f}"

print("| size | precision | peer | train tok/s | eval tok/s | ms/step | GFLOP/s | peak RSS MB | attnlab/peer (train) | attnlab/peer (eval) | runs ok |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for key in order:
    size, precision, peer = key
    runs = rows[key]
    ours = rows.get((size, precision, "attnlab"), [])
    train, evals = med(runs, "train_tokens_per_s"), med(runs, "eval_tokens_per_s")
    our_train, our_eval = med(ours, "train_tokens_per_s"), med(ours, "eval_tokens_per_s")
    ratio = lambda a, b: "n/a" if a is None or b is None or peer == "attnlab" else f"{a / b:.2f}x"
    ok = sum(1 for r in runs if not r.get("failed"))
    label = peer + (" (post-LN)" if peer.startswith("libtorch") else "")
    print(f"| {size} | {precision} | {label} | {fmt(train)} | {fmt(evals)} | "
          f"{fmt(med(runs, 'step_ms'), 1)} | {fmt(med(runs, 'train_gflops_per_s'), 1)} | "
          f"{fmt(med(runs, 'peak_rss_mb'))} | {ratio(our_train, train)} | "
          f"{ratio(our_eval, evals)} | {ok}/{len(runs)} |")
EOF
