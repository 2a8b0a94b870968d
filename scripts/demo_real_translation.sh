#!/usr/bin/env bash
# Translation on real text, as a user would try it: an English-to-LANG corpus assembled from
# the message catalogues Debian packages install (scripts/extract_mo_pairs.py), SentencePiece
# pieces, CTC, then eval on the test split and a copy-the-source baseline scored the same way.
#
#   scripts/demo_real_translation.sh [LANG] [OUT]     # defaults: de, runs/real_de
#   ATTNLAB_REAL_SET="train.max_steps=500" scripts/demo_real_translation.sh   # extra --set, space-separated
#
# A demonstration, not a target: short UI messages from unrelated programs, a few thousand of
# them, are a hard and noisy corpus. See docs/data.md ("A real corpus").
set -euo pipefail
cd "$(dirname "$0")/.."
lang="${1:-de}"
out="${2:-runs/real_${lang}}"
bin=build/attnlab
py=/usr/bin/python3
[ -x "$bin" ] || { echo "build attnlab first (scripts/setup.sh)" >&2; exit 1; }

mkdir -p "$out"
"$py" scripts/extract_mo_pairs.py --lang "$lang" --out "$out/data" 2> "$out/extract.log"
tail -n 1 "$out/extract.log" 2>/dev/null || true

cat > "$out/real.yaml" <<EOF
# Written by scripts/demo_real_translation.sh: en -> $lang on Debian's message catalogues.
run: {name: real, out_dir: runs}
data:
  task: translation
  train: data/train.tsv
  valid: data/valid.tsv
  test: data/test.tsv
  tokenization: sentencepiece
  spm: {vocab_size: 4000, model_type: unigram}
  max_len: 48
  skip_unfit: true        # the few pairs whose translation CTC cannot emit from the English
model:
  d_model: 256
  num_heads: 4
  num_layers: 4
  d_ff: 1024
  dropout: 0.2
  ctc: {upsample: 3}
train:
  batch_size: 64
  max_steps: 3000
  warmup_steps: 200
  lr: 1.0e-3
  label_smoothing: 0.0
  eval_interval: 500
  checkpoint_interval: 1000
  best_metric: chrf
log: {attention: {enabled: true, every: 1000, num_examples: 4}}
EOF

sets=()
for s in ${ATTNLAB_REAL_SET:-}; do sets+=(--set "$s"); done
start=$(date +%s)
"$bin" train --config "$out/real.yaml" --overwrite "${sets[@]}"
echo "trained in $(( $(date +%s) - start )) s on: $(lscpu | sed -n 's/^Model name: *//p')"

ckpt="$out/runs/real/best.pt"
"$bin" eval --checkpoint "$ckpt" --split test | tee "$out/eval.txt"
cut -f1 "$out/data/test.tsv" | "$bin" predict --checkpoint "$ckpt" > "$out/test.predictions.tsv"

# Model and copy baseline through one scorer (NLTK, 13a-style tokens), so the two compare.
"$py" - "$out/data/test.tsv" "$out/test.predictions.tsv" <<'EOF'
import re, sys
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.chrf_score import corpus_chrf
def tok(s):  # mteval-v13a's main rule: punctuation split off, periods/commas kept between digits
    s = re.sub(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 ", s)
    s = re.sub(r"([^0-9])([\.,])", r"\1 \2 ", s)
    s = re.sub(r"([\.,])([^0-9])", r" \1 \2", s)
    s = re.sub(r"([0-9])(-)", r"\1 \2 ", s)
    return s.split()
pairs = [l.rstrip("\n").split("\t") for l in open(sys.argv[1], encoding="utf-8")]
hyps = {}
for l in open(sys.argv[2], encoding="utf-8"):
    src, _, hyp = l.rstrip("\n").partition("\t")
    hyps[src] = hyp
refs = [t for _, t in pairs]
systems = {"attnlab (greedy CTC)": [hyps.get(s, "") for s, _ in pairs], "copy the source": [s for s, _ in pairs]}
for name, out in systems.items():
    bleu = 100 * corpus_bleu([[tok(r)] for r in refs], [tok(h) for h in out])
    chrf = 100 * corpus_chrf(refs, out)
    exact = 100 * sum(h == r for h, r in zip(out, refs)) / len(refs)
    print(f"{name:22s} BLEU {bleu:6.2f}   chrF {chrf:6.2f}   exact {exact:5.1f}%   ({len(refs)} test pairs, NLTK)")
EOF
