#!/usr/bin/env python3
"""Renders a command's coloured terminal output as a PNG (for the README's screenshots).

    scripts/terminal_screenshot.py OUT.png -- build/attnlab attn runs/reverse --layer 1 --head 0

Runs the command under `script` (so it sees a terminal and uses colour), turns the ANSI SGR
codes it prints (16/256 colours, bold, reset) into HTML, and screenshots that page with
headless Chromium (Debian package `chromium`, installed by scripts/setup.sh).
"""
import html
import os
import re
import shlex
import subprocess
import sys
import tempfile


def xterm256(n):
    base = ["#000000", "#cd0000", "#00cd00", "#cdcd00", "#0000ee", "#cd00cd", "#00cdcd",
            "#e5e5e5", "#7f7f7f", "#ff0000", "#00ff00", "#ffff00", "#5c5cff", "#ff00ff",
            "#00ffff", "#ffffff"]
    if n < 16:
        return base[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    level = 8 + 10 * (n - 232)
    return "#%02x%02x%02x" % (level, level, level)


def ansi_to_html(text):
    out, fg, bg, bold = [], None, None, False
    for token in re.split(r"(\x1b\[[0-9;]*m)", text.replace("\r\n", "\n")):
        if token.startswith("\x1b["):
            codes = [int(c) if c else 0 for c in token[2:-1].split(";")]
            i = 0
            while i < len(codes):
                c = codes[i]
                if c == 0:
                    fg, bg, bold = None, None, False
                elif c == 1:
                    bold = True
                elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                    if c == 38:
                        fg = xterm256(codes[i + 2])
                    else:
                        bg = xterm256(codes[i + 2])
                    i += 2
                elif 30 <= c <= 37 or 90 <= c <= 97:
                    fg = xterm256(c - 30 if c < 90 else c - 82)
                elif 40 <= c <= 47 or 100 <= c <= 107:
                    bg = xterm256(c - 40 if c < 100 else c - 92)
                elif c == 39:
                    fg = None
                elif c == 49:
                    bg = None
                i += 1
            continue
        if not token:
            continue
        style = []
        if fg:
            style.append("color:" + fg)
        if bg:
            style.append("background:" + bg)
        if bold:
            style.append("font-weight:bold")
        escaped = html.escape(token)
        out.append('<span style="%s">%s</span>' % (";".join(style), escaped) if style else escaped)
    return "".join(out)


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit(__doc__)
    out_png, command = os.path.abspath(sys.argv[1]), sys.argv[3:]
    captured = subprocess.run(["script", "-q", "-e", "-c", shlex.join(command), "/dev/null"],
                              capture_output=True, text=True, env={**os.environ, "TERM": "xterm-256color"})
    if captured.returncode != 0:
        sys.exit("command failed (exit %d): %s" % (captured.returncode, captured.stderr))
    lines = captured.stdout.replace("\r\n", "\n").rstrip("\n").split("\n")
    width = max(len(re.sub(r"\x1b\[[0-9;]*m", "", l)) for l in lines)
    page = ("<!doctype html><meta charset=utf-8><body style='margin:0;background:#1e1e1e'>"
            "<pre style='margin:0;padding:12px;color:#d4d4d4;font:14px/1.15 DejaVu Sans Mono,"
            "monospace'>%s</pre>" % ansi_to_html("\n".join(lines)))
    with tempfile.TemporaryDirectory() as tmp:
        page_path = os.path.join(tmp, "terminal.html")
        with open(page_path, "w") as f:
            f.write(page)
        size = "%d,%d" % (int(width * 8.5) + 30, int(len(lines) * 16.2) + 28)
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--disable-background-networking", "--hide-scrollbars",
                        "--window-size=" + size, "--screenshot=" + out_png,
                        "file://" + page_path], check=True, capture_output=True,
                       cwd=tmp)
    print("wrote %s (%s px)" % (out_png, size))


if __name__ == "__main__":
    main()
