#!/usr/bin/env bash
# One command from a fresh Debian 12 machine: installs what is missing, builds, trains the
# default config (configs/reverse.yaml), evaluates the best checkpoint on the test split and
# shows a few predictions and what one attention head learned.
# Usage: scripts/demo.sh [extra attnlab train options, e.g. --set train.max_steps=500]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

CONFIG=configs/reverse.yaml
RUN=runs/reverse
echo "[demo] training $CONFIG into $RUN/"
build/attnlab train --config "$CONFIG" --overwrite "$@"

echo "[demo] evaluating $RUN/best.pt on the test split"
build/attnlab eval --checkpoint "$RUN/best.pt" --split test --samples 3 --json "$RUN/test_metrics.json"

echo "[demo] predictions for new inputs"
build/attnlab predict --checkpoint "$RUN/best.pt" "a b c d e f" "q r s t u v w x y z" "m i r r o r"

if [ -d "$RUN/attention" ]; then
  echo "[demo] attention logged during training (attnlab attn $RUN --summary):"
  build/attnlab attn "$RUN" --summary --no-color > "$RUN/attention_summary.txt"
  head -n 20 "$RUN/attention_summary.txt"
  echo "[demo] (full table: $RUN/attention_summary.txt)"
  build/attnlab attn "$RUN" --html "$RUN/attention.html" >/dev/null
  echo "[demo] interactive attention view: $RUN/attention.html"
fi
