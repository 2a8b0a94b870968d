#!/usr/bin/env bash
# libFuzzer harnesses (fuzz/*_fuzzer.cpp) for the readers of outside input, built with Debian's
# clang under ASan + UBSan, each run in two parts:
#   1. replay: every committed case in fuzz/regressions/NAME/ (crashes found before) and the
#      seed corpus, once each;
#   2. search: SECONDS of new inputs mutated from the seeds (the shipped configs and data, small
#      IDX and PNG files written here).
# A crash, a sanitizer report, a leak or an input slower than 10 s fails the script (exit 1)
# and leaves the input in build-fuzz/NAME.crash-*; commit it to fuzz/regressions/NAME/.
#
#   scripts/fuzz.sh                   # 30 s per harness, a new random seed each run
#   scripts/fuzz.sh --seconds 600     # a longer search during development
#   scripts/fuzz.sh --ci              # what CI runs: from the committed seeds alone (a fresh
#                                     # corpus), seed 1 and a fixed count of executions per
#                                     # harness (about 20 s each on 2 cores), so that a commit's
#                                     # result is the same on every run; 120 s at most each
#   scripts/fuzz.sh --only config     # one harness
#   scripts/fuzz.sh --new-seeds       # rewrite fuzz/seeds/{checkpoint,record}/ from 4-step runs
#                                     # of tiny shipped-config models (after a format change)
# docs/development.md ("Fuzzing") lists the harnesses and what each checks.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=""
only=""
ci=0
new_seeds=0
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --ci) ci=1; shift ;;
    --new-seeds) new_seeds=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$seconds" ] || seconds=$([ "$ci" = 1 ] && echo 120 || echo 30)
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ missing (scripts/setup.sh installs clang)" >&2; exit 1; }
# Frames must be named for sanitizers/lsan.supp to match them.
[ -x /usr/lib/llvm-14/bin/llvm-symbolizer ] || { echo "fuzz.sh: llvm-symbolizer missing (scripts/setup.sh installs llvm-14)" >&2; exit 1; }

out=build-fuzz
mkdir -p "$out"
flags=(-std=c++17 -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
       -fno-sanitize-recover=undefined -Isrc -I/usr/include/torch/csrc/api/include)

# name -> sources (besides the harness) and libraries. Objects are built once into
# build-fuzz/obj/ and shared between harnesses.
declare -A sources=(
  [config]="src/config/checks.cpp src/config/config.cpp src/config/reader.cpp src/config/schema.cpp src/config/writer.cpp"
  [tsv]="src/data/tsv.cpp src/data/vocab.cpp"
  [checkpoint]="src/train/checkpoint.cpp src/io/torch_file.cpp src/io/pickle_scan.cpp src/io/atomic_file.cpp src/io/crc32.cpp"
  [record]="src/attention_log/record.cpp src/io/torch_file.cpp src/io/pickle_scan.cpp src/io/atomic_file.cpp src/io/crc32.cpp"
  [idx]="src/data/idx.cpp"
  [png]="src/io/png.cpp"
)
torch_libs="-ltorch_cpu -lc10"
declare -A libs=([config]="-lyaml-cpp" [tsv]="-lc10" [checkpoint]="$torch_libs" [record]="$torch_libs"
                 [idx]="-lz" [png]="-lpng16 -lz")
declare -A max_len=([config]=8192 [tsv]=8192 [checkpoint]=65536 [record]=65536 [idx]=4096 [png]=16384)
# --ci: inputs per harness with the seed corpus on a 2-core AMD EPYC (Zen 4): about 20 s each
# for the first four, 15 s for idx and png.
declare -A ci_runs=([config]=800 [tsv]=18000 [checkpoint]=7500 [record]=17000 [idx]=35000 [png]=250000)

object() {  # compiles $1 (instrumented, no fuzzer main) unless up to date; prints the .o path
  local src="$1" obj="$out/obj/${1//\//_}.o"
  if [ ! -f "$obj" ] || [ -n "$(find "$src" src -newer "$obj" -name '*.h' -print -quit)" ] || [ "$src" -nt "$obj" ]; then
    mkdir -p "$out/obj"
    clang++ "${flags[@]/-fsanitize=fuzzer,/-fsanitize=fuzzer-no-link,}" -c "$src" -o "$obj" >&2
  fi
  echo "$obj"
}

# Checkpoints and attention records to seed from, committed in fuzz/seeds/ (so that every run
# starts from the same bytes): last.pt and the step-4 record of 4-step runs of tiny
# configs/reverse.yaml, configs/translate.yaml (with alignments) and configs/fashion_vit.yaml
# (image.pt: 7x7 patches, pixel statistics, a probe picture) models.
new_seed_files() {
  [ -x build/attnlab ] || { echo "[fuzz] build/attnlab missing: build first (scripts/setup.sh)" >&2; return 1; }
  local runs="$PWD/$out/seed_runs"
  for cfg in reverse translate fashion_vit; do
    local name=$cfg extra=(--set log.attention.num_examples=2)
    [ "$cfg" = fashion_vit ] &&
      name=image extra=(--set log.attention.num_examples=1 --set model.patch_size=7 --set train.max_epochs=0)
    build/attnlab train --config "configs/$cfg.yaml" --overwrite --set run.out_dir="$runs" --set run.name="$name" \
      --set model.d_model=8 --set model.num_heads=2 --set model.num_layers=1 --set model.d_ff=8 \
      --set train.max_steps=4 --set train.warmup_steps=1 --set train.eval_interval=2 \
      --set train.checkpoint_interval=2 --set log.attention.every=2 "${extra[@]}" \
      --set log.progress=false --set run.threads=1 > "$out/seed_$name.log" 2>&1
    cp "$runs/$name/last.pt" "fuzz/seeds/checkpoint/$name.pt"
    cp "$runs/$name/attention/step_00000004.pt" "fuzz/seeds/record/$name.pt"
  done
  echo "[fuzz] wrote fuzz/seeds/checkpoint/ and fuzz/seeds/record/"
}

seed() {  # seed corpus of harness $1 into $2, from the shipped files and bytes written here
  local name="$1" dir="$2"
  mkdir -p "$dir"
  case "$name" in
    config)
      for f in configs/*.yaml; do cp "$f" "$dir/$(basename "$f")"; done
      printf 'data: {train: a, valid: b}\ntrain: {max_steps: 10}\n\0train.lr=0.5\nmodel.ctc.upsample=3\n' > "$dir/with_set" ;;
    tsv)
      for f in data/*/train.tsv; do
        head -n 20 "$f" > "$dir/$(basename "$(dirname "$f")")_head.tsv"
      done
      printf '\xef\xbb\xbfa b\tc\r\n\nd\te f\n' > "$dir/bom_crlf.tsv" ;;
    checkpoint|record)
      cp fuzz/seeds/"$name"/*.pt "$dir"/ ;;
    idx)  # two 3x4 images and their two labels, plain and gzipped; Fashion-MNIST's
          # test labels cut to max_len
      printf '\0\0\10\3\0\0\0\2\0\0\0\3\0\0\0\4\0\1\2\3\12\13\14\15\24\25\26\27\377\200\177\100\5\6\7\10\11\143\310\52' > "$dir/images.idx3"
      printf '\0\0\10\1\0\0\0\2\7\0' > "$dir/labels.idx1"
      for f in images.idx3 labels.idx1; do gzip -9cn "$dir/$f" > "$dir/$f.gz"; done
      local real=/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
      [ ! -f "$real" ] || head -c 4096 "$real" > "$dir/fashion_t10k_labels_head.gz" ;;
    png)  # tiny images of each kind decode_png converts, written with Python's zlib and struct
      /usr/bin/python3 - "$dir" <<'PY'
import struct, sys, zlib
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
def png(name, w, h, depth, ctype, rows, interlace=0, extra=b""):  # rows: packed, unfiltered
    data = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)) +
            extra + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + bytes(r) for r in rows))) + chunk(b"IEND", b""))
    open(sys.argv[1] + "/" + name, "wb").write(data)
png("grey8.png", 3, 2, 8, 0, [[0, 128, 255], [17, 34, 51]], extra=chunk(b"gAMA", struct.pack(">I", 45455)))
png("grey1.png", 10, 1, 1, 0, [[0b10110011, 0b10000000]])
png("grey16.png", 2, 1, 16, 0, [struct.pack(">HH", 0x12FF, 0xFF80)], extra=chunk(b"tEXt", b"Title\0fuzz"))
png("grey_alpha.png", 2, 1, 8, 4, [[77, 0, 200, 255]])
png("rgb8.png", 2, 2, 8, 2, [[1, 2, 3, 250, 251, 252], [10, 20, 30, 40, 50, 60]])
png("rgba16.png", 1, 1, 16, 6, [struct.pack(">HHHH", 1, 0x8000, 0xFFFF, 0x7FFF)])
png("palette2.png", 3, 1, 2, 3, [[0b10000100]],
    extra=chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 5, 6, 7])) + chunk(b"tRNS", bytes([0])))
passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
png("adam7_rgb.png", 5, 5, 8, 2, [[c for x in range(x0, 5, dx) for c in (40 * x, 50 * y, x + y)]
    for x0, y0, dx, dy in passes if x0 < 5 for y in range(y0, 5, dy)], interlace=1)
png("too_wide.png", 20000, 1, 8, 0, [bytes(4)])
PY
      ;;
  esac
}

if [ "$new_seeds" = 1 ]; then
  mkdir -p "$out" fuzz/seeds/checkpoint fuzz/seeds/record
  new_seed_files
  exit 0
fi

status=0
for name in config tsv checkpoint record idx png; do
  [ -n "$only" ] && [ "$only" != "$name" ] && continue
  bin="$out/${name}_fuzzer"
  objects=()
  for src in ${sources[$name]}; do objects+=("$(object "$src")"); done
  if [ ! -x "$bin" ] || [ "fuzz/${name}_fuzzer.cpp" -nt "$bin" ] || [ "fuzz/fuzz_file.h" -nt "$bin" ] ||
     [ -n "$(find "${objects[@]}" -newer "$bin" -print -quit)" ]; then
    echo "[fuzz] building $bin"
    # shellcheck disable=SC2086
    clang++ "${flags[@]}" -Ifuzz "fuzz/${name}_fuzzer.cpp" "${objects[@]}" ${libs[$name]} -o "$bin"
  fi
  corpus="$out/corpus/$name"
  # --ci: a fresh corpus of the seeds alone (the development corpus grows run after run).
  [ "$ci" = 1 ] && { corpus="$out/ci_corpus/$name"; rm -rf "$corpus"; }
  seed "$name" "$corpus"
  inputs=("$corpus")
  [ -d "fuzz/regressions/$name" ] && inputs+=("fuzz/regressions/$name")
  log="$out/$name.log"
  search=(-max_total_time="$seconds")
  if [ "$ci" = 1 ]; then
    search+=(-seed=1 -runs="${ci_runs[$name]}")
    echo "[fuzz] $name: replaying ${inputs[*]}, then ${ci_runs[$name]} inputs from seed 1 (at most ${seconds} s)"
  else
    echo "[fuzz] $name: replaying ${inputs[*]}, then ${seconds} s of new inputs"
  fi
  started=$SECONDS
  if ASAN_OPTIONS=detect_leaks=1 ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer \
     LSAN_OPTIONS="suppressions=$PWD/sanitizers/lsan.supp:fast_unwind_on_malloc=0:print_suppressions=0" \
     UBSAN_OPTIONS=print_stacktrace=1 \
     "$bin" "${search[@]}" -timeout=10 -max_len="${max_len[$name]}" -print_final_stats=1 \
            -artifact_prefix="$out/$name." "${inputs[@]}" > "$log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    first=$(grep -m1 -o 'INITED cov: [0-9]*' "$log" || true)
    echo "[fuzz] $name: ok, ${runs:-?} executions in $((SECONDS - started)) s, ${cov:-cov: ?} edges (after the replay: ${first#INITED })," \
         "corpus $(ls "$corpus" | wc -l) inputs"
  else
    status=1
    echo "[fuzz] $name: FAILED (log: $log); the input is in $out/$name.crash-* (or .leak-/.timeout-):" >&2
    grep -m 20 -E 'ERROR|runtime error|SUMMARY|round trip|rejects|abort' "$log" >&2 || tail -n 30 "$log" >&2
  fi
done
exit $status
