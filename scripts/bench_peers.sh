#!/usr/bin/env bash
# Compares `attnlab bench` with its two peers on the same encoder, the same data sizes and the
# same thread count: PyTorch from Python (scripts/bench_pytorch.py) and LibTorch's built-in
# torch::nn::TransformerEncoder (build/libtorch_peer). See docs/benchmark.md.
#
# Runs are interleaved (attnlab, pytorch, libtorch, attnlab, ...) so that machine noise hits
# every peer alike; the table shows the median over --runs of each number.
#
# Every side prints ONE JSON object per run (`--json`) with at least these keys:
#   train_tokens_per_s  training throughput, tokens/s: B*T*steps / train_seconds, the wall time
#                       of the timed steps (every side: the same rule, the same default counts)
#   step_ms             train_seconds / steps, ms (forward+backward+clip+AdamW)
#   eval_tokens_per_s   forward-only throughput, tokens/s (eval mode, no grad)
#   peak_rss_mb         peak resident set size of the process, MiB (ru_maxrss)
#   threads             intra-op threads actually used
#   size                small | medium
#   precision           fp32 | bf16
# Optional keys shown when present: train_gflops_per_s, step_ms_median (attnlab: shown in a
# second table, as what a median would have made of each ratio). Each side also accepts
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
#
# --vit: the Vision Transformer of configs/fashion_vit.yaml instead, in images/s: `attnlab
# train` on that config (flips off; no validation, checkpoints, attention or progress logging
# before the end) against scripts/bench_vit_pytorch.py, which builds the same model from the
# same config and trains it on the same training images in batches of the same size. Both
# time --steps steps after --warmup-steps (defaults 600 after 50). attnlab's figure is total
# images / total time over those steps, from metrics.jsonl's `kind: train` lines, logged every
# gcd(warmup, steps) steps: sum of images_per_s x (elapsed_s - the previous line's elapsed_s)
# over elapsed_s(warmup + steps) - elapsed_s(warmup). The table shows medians per precision.
#   scripts/bench_peers.sh --vit [--runs 3] [--threads N] [--precision fp32,bf16]
#                          [--out build/bench_vit_results.jsonl] [--no-build]
#                          [-- --steps 600 --warmup-steps 50]
# OPENBLAS_* as above: a "pytorch-unpinned" row.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] ERROR: %s\n' "$*" >&2; exit 1; }

sizes="small,medium"
runs=3
threads=$(nproc)
precisions="fp32,bf16"
out=""
peers="attnlab,pytorch,libtorch"
build=1
vit=0
sizes_or_peers=""
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --vit) vit=1; shift ;;
    --sizes) sizes="$2"; sizes_or_peers="$1"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --precision) precisions="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --peers) peers="$2"; sizes_or_peers="$1"; shift 2 ;;
    --no-build) build=0; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$runs'"
[[ "$threads" =~ ^[1-9][0-9]*$ ]] || die "--threads must be a positive integer, got '$threads'"
if [ "$vit" = 1 ]; then
  [ -z "$sizes_or_peers" ] || die "$sizes_or_peers does not apply to --vit"
  peers="attnlab,pytorch"
  vit_config=configs/fashion_vit.yaml
  vit_steps=600
  vit_warmup=50
  set -- "${extra[@]}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --steps) vit_steps="${2:-}"; shift 2 ;;
      --warmup-steps) vit_warmup="${2:-}"; shift 2 ;;
      *) die "--vit takes only --steps N and --warmup-steps W after --, got '$1'" ;;
    esac
  done
  [[ "$vit_steps" =~ ^[1-9][0-9]*$ ]] || die "--steps must be a positive integer, got '$vit_steps'"
  # A logged line must end the warmup, and train.warmup_steps must be >= 1.
  [[ "$vit_warmup" =~ ^[1-9][0-9]*$ ]] ||
    die "--warmup-steps must be a positive integer, got '$vit_warmup'"
  out=${out:-build/bench_vit_results.jsonl}
fi
out=${out:-build/bench_results.jsonl}

PYTHON=/usr/bin/python3
if [ "$build" = 1 ]; then
  if [ ! -f build/CMakeCache.txt ]; then
    say "configuring CMake (Release) in build/"
    cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
  fi
  # Each target on its own: a broken attnlab must not keep the peers from being measured.
  targets=(libtorch_peer attnlab)
  [ "$vit" = 1 ] && targets=(attnlab)
  for target in "${targets[@]}"; do
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

if [ "$vit" = 1 ]; then
  mkdir -p build
  vit_dir=$(mktemp -d "$PWD/build/vit_bench.XXXXXX")  # run directories, removed after each run
  trap 'rm -rf "$vit_dir"' EXIT
  vit_count=0
  vit_interval=$vit_warmup  # gcd(warmup, steps): a logged line ends the warmup and the run
  for ((b = vit_steps; b > 0;)); do t=$b; b=$((vit_interval % b)); vit_interval=$t; done
  say "ViT: $vit_config, $vit_steps timed steps after $vit_warmup; attnlab logs every $vit_interval"

  # attnlab's images/s over the steps after the warmup, from metrics.jsonl (see the header).
  vit_attnlab_rate() {
    "$PYTHON" - "$1" "$2" "$threads" "$vit_warmup" "$vit_steps" <<'EOF'
import json, sys
path, precision, threads, warmup, steps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:])
train = {}
for line in open(path):
    r = json.loads(line)
    if r.get("kind") == "train":
        train[r["step"]] = r
timed = sorted(s for s in train if warmup < s <= warmup + steps)
if warmup not in train or not timed or timed[-1] != warmup + steps:
    sys.exit(f"{path}: no train lines at steps {warmup} and {warmup + steps}")
images, previous = 0.0, train[warmup]["elapsed_s"]
for s in timed:
    images += train[s]["images_per_s"] * (train[s]["elapsed_s"] - previous)
    previous = train[s]["elapsed_s"]
seconds = previous - train[warmup]["elapsed_s"]
print(json.dumps({"peer": "attnlab", "precision": precision, "threads": threads, "steps": steps,
                  "warmup_steps": warmup, "images_per_s": images / seconds, "seconds": seconds,
                  "final_loss": train[timed[-1]]["last_loss"]}))
EOF
  }

  # Runs one side once; appends its JSON line to $out, or a failure record.
  run_vit_peer() {
    local peer=$1 precision=$2 line="" rc=0 log
    log=$(mktemp)
    local env_cmd=()
    case "$peer" in
      *-unpinned) env_cmd=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE) ;;
    esac
    case "${peer%-unpinned}" in
      attnlab)
        vit_count=$((vit_count + 1))
        local name="vit_bench_$vit_count" never=$((vit_warmup + vit_steps + 1))
        if [ ! -x build/attnlab ]; then
          say "$peer: build/attnlab not built"
          rc=127
        else
          build/attnlab train --config "$vit_config" --overwrite \
            --set run.out_dir="$vit_dir" --set run.name="$name" --set run.threads="$threads" \
            --set train.max_steps=$((vit_warmup + vit_steps)) --set train.max_epochs=0 \
            --set train.warmup_steps="$vit_warmup" --set train.precision="$precision" \
            --set train.eval_interval="$never" --set train.checkpoint_interval="$never" \
            --set data.image.augment.flip=false --set data.image.augment.crop_padding=0 \
            --set log.attention.enabled=false --set log.progress=false \
            --set log.interval="$vit_interval" >"$log" 2>"$log.err" || rc=$?
          if [ "$rc" = 0 ]; then
            line=$(vit_attnlab_rate "$vit_dir/$name/metrics.jsonl" "$precision" 2>>"$log.err") ||
              rc=$?
          fi
          rm -rf "${vit_dir:?}/$name"
        fi
        ;;
      pytorch)
        "${env_cmd[@]}" "$PYTHON" scripts/bench_vit_pytorch.py --config "$vit_config" \
          --threads "$threads" --steps "$vit_steps" --warmup-steps "$vit_warmup" \
          --precision "$precision" >"$log" 2>"$log.err" || rc=$?
        line=$(grep '^{' "$log" | tail -n 1 || true)
        ;;
      *) die "unknown peer '$peer' (attnlab, pytorch)" ;;
    esac
    [ -n "$line" ] && line="{\"label\": \"$peer\", ${line#\{}"
    if [ "$rc" = 0 ] && [ -n "$line" ]; then
      printf '%s\n' "$line" >>"$out"
      say "$peer $precision: $(printf '%s' "$line" | cut -c1-160)"
    else
      say "$peer $precision: failed (exit $rc): $(tail -n 2 "$log.err" 2>/dev/null | tr '\n' ' ')"
      printf '{"label": "%s", "precision": "%s", "failed": true, "exit_code": %s}\n' \
        "$peer" "$precision" "$rc" >>"$out"
    fi
    rm -f "$log" "$log.err"
  }

  IFS=, read -r -a precision_list <<<"$precisions"
  IFS=, read -r -a peer_list <<<"$peers"
  for precision in "${precision_list[@]}"; do
    for ((run = 1; run <= runs; run++)); do
      for peer in "${peer_list[@]}"; do
        run_vit_peer "$peer" "$precision"
      done
    done
  done

  # The table: medians per (precision, peer); ratio = attnlab / peer in images/s.
  "$PYTHON" - "$out" <<'EOF'
import json, statistics, sys
from collections import defaultdict

rows = defaultdict(list)
order = []
for line in open(sys.argv[1]):
    r = json.loads(line)
    key = (r["precision"], r["label"])
    if key not in rows:
        order.append(key)
    rows[key].append(r)

def med(runs):
    values = [r["images_per_s"] for r in runs if not r.get("failed")]
    return statistics.median(values) if values else None

def fmt(v):
    return "n/a" if v is None else f"{v:,.0f}"

def ok(runs):
    return f"{sum(1 for r in runs if not r.get('failed'))}/{len(runs)}"

print("| precision | peer | attnlab img/s | peer img/s | attnlab/peer | runs ok (attnlab, peer) |")
print("|---|---|---:|---:|---:|---:|")
for precision, peer in order:
    if peer == "attnlab":
        continue
    ours, theirs = rows.get((precision, "attnlab"), []), rows[(precision, peer)]
    a, b = med(ours), med(theirs)
    ratio = "n/a" if a is None or b is None else f"{a / b:.2f}x"
    print(f"| {precision} | {peer} | {fmt(a)} | {fmt(b)} | {ratio} | {ok(ours)}, {ok(theirs)} |")
EOF
  exit 0
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

# What attnlab's median step time (its rule before every side shared one) would have made of
# each training ratio: B*T / median step against the peer's tokens over total time.
shifts = []
for size, precision, peer in order:
    ours = [r for r in rows.get((size, precision, "attnlab"), []) if not r.get("failed")]
    if peer == "attnlab" or not ours or "step_ms_median" not in ours[0]:
        continue
    median_rule = statistics.median(r["batch"] * r["seq"] / (r["step_ms_median"] / 1e3) for r in ours)
    theirs, total_rule = med(rows[(size, precision, peer)], "train_tokens_per_s"), med(ours, "train_tokens_per_s")
    if theirs:
        shifts.append(f"| {size} | {precision} | {peer} | {total_rule / theirs:.2f}x | "
                      f"{median_rule / theirs:.2f}x | {100 * (median_rule / total_rule - 1):+.1f}% |")
if shifts:
    print("\n| size | precision | peer | attnlab/peer (train, total rule) | with attnlab's median step "
          "instead | shift |\n|---|---|---|---:|---:|---:|")
    print("\n".join(shifts))
EOF
