#!/bin/sh
# safetensors files cross-checked against Python reading and writing them
# by hand (tests/st_cross.py): ours load there, theirs load here.
command -v python3 >/dev/null 2>&1 || { echo "python3 not found"; exit 77; }
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-safetensors-py.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
python3 "$top/tests/st_cross.py" "$top/tests/bin/tool-st" "$tmp"
