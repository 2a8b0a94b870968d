#!/usr/bin/env python3
"""Checks that every reference to the docs points at something that exists.

- every path `docs/...` named in src/, tests/, scripts/, bench/, fuzz/, CMakeLists.txt, the
  README and docs/ is a file or folder of the repository;
- every Markdown link of the README and docs/ to a local file exists, and its `#anchor`, if
  any, is a heading of that file (GitHub's anchor rule: lower case, punctuation dropped,
  spaces to hyphens);
- every docs path followed by `, "Section"` or ` ("Section")` names a heading of that file.

Prints each broken reference as file:line and exits 1 if there is one. Run from anywhere.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCES = ["src", "tests", "scripts", "bench", "fuzz", "docs"]
TOP = ["CMakeLists.txt", "README.md"]
SUFFIXES = {".h", ".cpp", ".c", ".py", ".sh", ".md", ".txt", ".yaml", ".cmake"}

DOC_PATH = re.compile(r"\bdocs/[A-Za-z0-9_./-]*[A-Za-z0-9_/]")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
SECTION = re.compile(r"\b(docs/[a-z_]+\.md)(?:,| \(|:) ?\"([^\"]+)\"")


def anchor(heading: str) -> str:
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: pathlib.Path) -> list:
    found, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.append(line.lstrip("#").strip().replace("`", ""))
    return found


def files():
    for name in TOP:
        yield ROOT / name
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*")):
            if (path.is_file() and path.suffix in SUFFIXES and "regressions" not in path.parts
                    and path != pathlib.Path(__file__).resolve()):
                yield path


def main() -> int:
    problems = []
    for path in files():
        rel = path.relative_to(ROOT)
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            where = f"{rel}:{number}"
            for match in DOC_PATH.finditer(line):
                target = match.group(0).rstrip(".")
                if not (ROOT / target).exists():
                    problems.append(f"{where}: {target} does not exist")
            for match in SECTION.finditer(line):
                doc, section = match.groups()
                if (ROOT / doc).exists() and not any(h.startswith(section) for h in headings(ROOT / doc)):
                    problems.append(f"{where}: {doc} has no heading \"{section}\"")
            if path.suffix != ".md":
                continue
            for match in MD_LINK.finditer(line):
                link = match.group(1)
                if re.match(r"[a-z]+:", link):
                    continue  # http:, https:, mailto:
                file_part, _, fragment = link.partition("#")
                target = (path.parent / file_part).resolve() if file_part else path
                if not target.exists():
                    problems.append(f"{where}: link to {link}: {file_part} does not exist")
                elif fragment and target.suffix == ".md":
                    if fragment not in {anchor(h) for h in headings(target)}:
                        problems.append(f"{where}: link to {link}: no heading with anchor #{fragment}")
    for problem in problems:
        print(problem)
    print(f"check_doc_links: {len(problems)} broken reference(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
