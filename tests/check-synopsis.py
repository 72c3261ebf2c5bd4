#!/usr/bin/env python3
"""check-synopsis.py PROG MANPAGE: the options named in PROG -h and in the
SYNOPSIS of MANPAGE (mdoc) are the same set.  Exit 0 when they agree."""
import re
import subprocess
import sys

prog, page = sys.argv[1], sys.argv[2]
helptext = subprocess.run([prog, "-h"], capture_output=True, text=True,
                          check=True).stdout


def flags_of_help(text):
    out = set()
    for tok in re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", text):
        if tok.startswith("--"):
            out.add(tok)
        else:
            out.update("-" + c for c in tok[1:])
    return out


def flags_of_synopsis(path):
    out, on = set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith(".Sh"):
            on = line.split()[1] == "SYNOPSIS"
            continue
        if not on:
            continue
        words = line.split()
        for i, w in enumerate(words[:-1]):
            if w.lstrip(".") == "Fl":
                f = words[i + 1]
                if f.startswith("-"):
                    out.add("-" + f)
                else:
                    out.update("-" + c for c in f)
    return out


def usage_block(text):
    """The synopsis part of -h: the "usage:" line and its indented
    continuation lines (what follows is a description of the options)."""
    out, on = [], False
    for line in text.splitlines():
        if line.startswith("usage:"):
            on = True
        elif on and not line[:1].isspace():
            break
        if on:
            out.append(line)
    return "\n".join(out) if out else text


h, m = flags_of_help(usage_block(helptext)), flags_of_synopsis(page)
if h != m:
    print("-h and man page SYNOPSIS differ:", file=sys.stderr)
    print("  only in -h:", sorted(h - m), file=sys.stderr)
    print("  only in man:", sorted(m - h), file=sys.stderr)
    sys.exit(1)
