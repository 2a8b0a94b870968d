#!/usr/bin/env python3
"""Assembles a real English-to-LANG parallel corpus from the translations Debian packages ship.

Every package with translated messages installs /usr/share/locale/LANG/LC_MESSAGES/*.mo: the
English message (msgid) and its human translation (msgstr). This reads them with Python's own
gettext module (no attnlab, no downloads), keeps short plain sentences and writes
train/valid/test TSVs (`english<TAB>translation`) to OUT. Nothing of it is committed: the
corpus is whatever the machine has installed, so the script prints where it came from.

    scripts/extract_mo_pairs.py --lang de --out /tmp/real_de [--max-pairs 8000] [--seed 1]

Kept: msgids of 2..MAX_WORDS words with a translation that differs from them; no format
directives (%s, {0}, $1), markup, accelerators (_File, &Open), escapes or control characters;
one pair per distinct English message (the first package in file-name order wins). Shuffled
with --seed, then split 90/5/5.
"""
import argparse
import collections
import gettext
import glob
import os
import random
import re
import sys

UNWANTED = re.compile(r"[%{}$<>&_\\|@#*=\[\]~^`\t\n\r\x00-\x1f]")


def plain(text):
    return not UNWANTED.search(text) and "  " not in text and text == text.strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--lang", default="de", help="locale folder under /usr/share/locale (de, fr, es, ...)")
    ap.add_argument("--out", required=True, help="folder for train.tsv, valid.tsv, test.tsv")
    ap.add_argument("--max-pairs", type=int, default=8000, help="keep at most this many pairs")
    ap.add_argument("--max-words", type=int, default=8, help="longest English message kept, in words")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--locale-root", default="/usr/share/locale")
    args = ap.parse_args()

    files = sorted(glob.glob(os.path.join(args.locale_root, args.lang, "LC_MESSAGES", "*.mo")))
    if not files:
        sys.exit(f"no .mo files under {args.locale_root}/{args.lang}/LC_MESSAGES")
    pairs = {}
    per_domain = collections.Counter()
    for path in files:
        try:
            with open(path, "rb") as f:
                catalog = gettext.GNUTranslations(f)._catalog
        except Exception as e:  # noqa: BLE001  a broken or odd catalogue: say so, skip it
            print(f"skipping {path}: {e}", file=sys.stderr)
            continue
        domain = os.path.basename(path)[:-3]
        for msgid, msgstr in catalog.items():
            if isinstance(msgid, tuple) or not msgid or not isinstance(msgstr, str):
                continue  # plural forms and the header
            if "\x04" in msgid:
                msgid = msgid.split("\x04", 1)[1]  # drop a msgctxt
            words = len(msgid.split())
            if not (2 <= words <= args.max_words) or not plain(msgid) or not plain(msgstr):
                continue
            if msgstr == msgid or msgid in pairs:
                continue
            pairs[msgid] = msgstr
            per_domain[domain] += 1
    items = sorted(pairs.items())
    random.Random(args.seed).shuffle(items)
    items = items[: args.max_pairs]
    if len(items) < 100:
        sys.exit(f"only {len(items)} usable pairs under {args.locale_root}/{args.lang}: too few")
    n_valid = n_test = max(1, len(items) // 20)
    splits = {"test": items[:n_test], "valid": items[n_test : n_test + n_valid],
              "train": items[n_test + n_valid :]}
    os.makedirs(args.out, exist_ok=True)
    for name, rows in splits.items():
        with open(os.path.join(args.out, name + ".tsv"), "w", encoding="utf-8") as f:
            for src, tgt in rows:
                f.write(f"{src}\t{tgt}\n")
    top = ", ".join(f"{d} {n}" for d, n in per_domain.most_common(6))
    print(f"{len(pairs)} usable en-{args.lang} pairs in {len(files)} .mo files (most from: {top}); "
          f"wrote {len(splits['train'])} train, {len(splits['valid'])} valid, {len(splits['test'])} test "
          f"to {args.out}")


if __name__ == "__main__":
    main()
