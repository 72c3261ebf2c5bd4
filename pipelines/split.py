#!/usr/bin/env python3
"""split.py DATA TRAIN TEST [EVERY]: hold out every EVERY-th record (default
10) of a preference dataset for testing.

DATA is JSON Lines or one JSON array of records, plain or zstd-compressed
(through `zstd -dcf`); TRAIN and TEST are written as JSON Lines, each
through a temporary file renamed into place.  Records are copied as they
are (JSON Lines) or re-serialised compactly (array elements).
"""
import json
import os
import subprocess
import sys


def records(path):
    raw = subprocess.run(["zstd", "-qdcf", path], check=True,
                         capture_output=True).stdout.decode("utf-8")
    text = raw.lstrip("\ufeff \t\r\n")
    if text.startswith("["):
        return [json.dumps(r, ensure_ascii=False, separators=(",", ":"))
                for r in json.loads(text)]
    return [l.rstrip("\r") for l in raw.split("\n") if l.strip()]


def write(path, lines):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for l in lines:
            f.write(l + "\n")
    os.replace(tmp, path)


def main():
    if len(sys.argv) not in (4, 5):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    every = int(sys.argv[4]) if len(sys.argv) == 5 else 10
    recs = records(sys.argv[1])
    write(sys.argv[2], [r for i, r in enumerate(recs) if (i + 1) % every])
    write(sys.argv[3], [r for i, r in enumerate(recs) if (i + 1) % every == 0])


if __name__ == "__main__":
    main()
