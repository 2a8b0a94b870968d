#!/usr/bin/env bash
# Installs what attnlab needs (Debian 12 packages only), then configures and builds it.
# Idempotent: packages already present are not reinstalled; the build is incremental.
# Usage: scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# Packages: libtorch-dev (LibTorch 1.13), libopenblas0-openmp (without it libtorch's generic
# libblas.so.3 is Debian's reference BLAS, ~20x slower), python3-torch (the reference peer in
# tests and benchmarks), chromium (renders the attention HTML report in tests), libdnnl-dev
# (the header of oneDNN, whose GEMMs attnlab calls; the library comes with libtorch-dev),
# python3-nltk (the reference BLEU and chrF the translation metrics are tested against),
# libsentencepiece-dev (data.tokenization=sentencepiece), python3-sentencepiece (reads the
# SentencePiece model a checkpoint holds: the reference its tests compare pieces against),
# clang and libclang-rt-14-dev (libFuzzer and the sanitizer runtimes of scripts/fuzz.sh; only
# recommended by clang, and setup installs without recommends), llvm-14 (its llvm-symbolizer, which
# names the frames that sanitizers/lsan.supp matches), libgloo-dev (the headers of Gloo, which
# LibTorch's c10d process groups include; the library itself comes with libtorch), zlib1g-dev
# and libpng-dev (gzipped IDX files and PNG folders of data.task=image_classification),
# dataset-fashion-mnist (the images of configs/fashion_vit.yaml, in /usr/share/datasets/),
# clang-format (scripts/check_format.sh, the Format test: the tree is as clang-format 14 writes it).
PACKAGES=(g++ cmake make pkg-config clang-format libtorch-dev libspdlog-dev libyaml-cpp-dev libgtest-dev
          libopenblas0-openmp libdnnl-dev libsentencepiece-dev python3 python3-torch python3-nltk
          python3-sentencepiece chromium clang libclang-rt-14-dev llvm-14 libgloo-dev
          zlib1g-dev libpng-dev dataset-fashion-mnist)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} by hand"
    SUDO="sudo"
  fi
  say "installing missing packages: ${missing[*]}"
  $SUDO apt-get update -qq || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    || die "apt-get install failed for: ${missing[*]}"
else
  say "all packages present"
fi

# Make sure the OpenBLAS alternative is the one libblas.so.3 resolves to.
blas=$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null || true)
case "$blas" in
  *openblas*) say "libblas.so.3 -> $blas" ;;
  *) die "libblas.so.3 resolves to '$blas', not OpenBLAS; run: update-alternatives --config libblas.so.3-x86_64-linux-gnu" ;;
esac

[ "${1:-}" = "--no-build" ] && exit 0

jobs=$(nproc)
mkdir -p build
say "configuring CMake (Release) in build/"
if ! cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >build/cmake.log 2>&1; then
  cat build/cmake.log >&2
  die "cmake configure failed (log above, also in build/cmake.log)"
fi
say "building with $jobs jobs"
start=$(date +%s)
cmake --build build -j "$jobs" || die "build failed (compiler output above)"
say "build done in $(( $(date +%s) - start )) s"
