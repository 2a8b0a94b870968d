#!/usr/bin/env python3
"""Assembles README.md from docs/parts/ and docs/*.md (edit those, then run this).

Order: head, training, results, config, data, model, attention, benchmark, layout. Image links
`](img/...` in docs/ become `](docs/img/...`; `<!-- lead: ... -->` comments are dropped.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
PARTS = ["docs/parts/00_head.md", "docs/parts/10_training.md", "docs/parts/20_results.md",
         "docs/config.md", "docs/data.md", "docs/model.md", "docs/attention.md",
         "docs/benchmark.md", "docs/parts/90_layout.md"]


def main():
    chunks = []
    for part in PARTS:
        text = (ROOT / part).read_text()
        text = re.sub(r"<!-- lead:.*?-->\n?", "", text, flags=re.S)
        text = text.replace("](img/", "](docs/img/")
        chunks.append(text.strip() + "\n")
    (ROOT / "README.md").write_text("\n".join(chunks))


if __name__ == "__main__":
    main()
