#!/usr/bin/env python3
"""Checks that no #include in src/ goes up the layering (docs/development.md, "Layering").

    cli -> (bench, attention_log) -> train -> tasks -> (data, model) -> kernels -> (io, runtime)

A folder may include itself and the folders below it; folders on the same level do not include
each other; config is a leaf that every folder may include and that includes none of them.
Prints each violation as file:line and exits 1 if there is one. Run from anywhere.
"""
import pathlib
import re
import sys

LEVEL = {"cli": 6, "bench": 5, "attention_log": 5, "train": 4, "tasks": 3, "data": 2, "model": 2,
         "kernels": 1, "io": 0, "runtime": 0}
LEAF = "config"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"')


def allowed(source: str, target: str) -> bool:
    if source == target or target == LEAF:
        return True
    if source == LEAF:
        return False
    return LEVEL[target] < LEVEL[source]


def main() -> int:
    src = pathlib.Path(__file__).resolve().parent.parent / "src"
    problems = []
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cpp") or path.parent == src:
            continue
        folder = path.relative_to(src).parts[0]
        if folder != LEAF and folder not in LEVEL:
            problems.append(f"{path.relative_to(src.parent)}: folder '{folder}' has no level")
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m or not (src / m.group(1)).is_dir():
                continue
            if not allowed(folder, m.group(1)):
                problems.append(f"{path.relative_to(src.parent)}:{number}: {folder}/ includes "
                                f"{m.group(1)}/ ({line.strip()})")
    for p in problems:
        print(p)
    files = sum(1 for p in src.rglob("*") if p.suffix in (".h", ".cpp"))
    print(f"layering: {len(problems)} violation(s) in {files} files", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
