#!/bin/sh
# rm-cat: exact JSON for a hand-built tensor stream (number formats, shapes,
# escaping), JSONL pass-through (zstd, CRLF, last line), several operands
# and stdin, -o/-z, --header, per-operand errors and exit statuses, no
# output file after a failure, quiet under head.
set -u
: "${RM_TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
PATH=$RM_TOP/bin:$PATH
command -v python3 >/dev/null || { echo "no python3"; exit 77; }
t=$(mktemp -d "${TMPDIR:-/tmp}/t-rm-cat.XXXXXX") || exit 1
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

python3 "$RM_TOP/tests/check-synopsis.py" rm-cat "$RM_TOP/man/rm-cat.1" ||
	fail "-h and man page disagree"
rm-cat -h | grep -q '^usage: rm-cat' || fail "-h"
rm-cat --version | grep -q '^rm-cat (rmkit) ' || fail "--version"
rm-cat --bogus 2>/dev/null; [ $? -eq 2 ] || fail "bad option: exit status not 2"

# A stream written by hand (struct + zlib), following rmt(5).
python3 - "$t/g.rmt" "$RM_TOP/tests" <<'PY' || fail "writing the golden stream"
import struct, sys
sys.path.insert(0, sys.argv[2])
from rmt_writer import entry, record, stream
out = stream(b'{"tool": "hand",\n "eos_id": 50256}', record(
    entry("id", 4, [], struct.pack("<Q", 0)),
    entry("hash", 4, [], struct.pack("<Q", 2**64 - 1)),
    entry("chosen", 2, [3], struct.pack("<3i", 50256, -1, 0)),
    entry("margin", 5, [], struct.pack("<f", 0.1)),
    entry("target", 5, [4], struct.pack("<4f", -0.0, float("nan"), float("inf"), 1e-45)),
    entry("x", 6, [2, 2], struct.pack("<4d", 0.1, -2.5, 1e300, 5e-324)),
    entry("grid", 3, [2, 0], b""),
    entry("b", 1, [1, 1, 3], bytes([0, 7, 255])),
    entry('q"\\\t', 3, [1], struct.pack("<q", -2**63))),
    record())
open(sys.argv[1], "wb").write(out)
PY
cat > "$t/g.want" <<'EOF2'
{"id":0,"hash":18446744073709551615,"chosen":[50256,-1,0],"margin":0.100000001,"target":[-0.0,null,null,1.40129846e-45],"x":[[0.10000000000000001,-2.5],[1.0000000000000001e+300,4.9406564584124654e-324]],"grid":[[],[]],"b":[[[0,7,255]]],"q\"\\\u0009":[-9223372036854775808]}
{}
EOF2
rm-cat "$t/g.rmt" > "$t/g.out" || fail "rm-cat on the golden stream"
cmp -s "$t/g.out" "$t/g.want" || { diff "$t/g.want" "$t/g.out"; fail "golden output"; }
python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$t/g.out" ||
	fail "output is not JSON Lines"
[ "$(rm-cat --header "$t/g.rmt")" = '{"tool":"hand","eos_id":50256}' ] ||
	fail "--header: $(rm-cat --header "$t/g.rmt")"

# JSONL passes through: CRLF, no final newline, blank lines left out, zstd,
# stdin, several files; a JSON array comes out one element a line.
printf '{"a":1}\r\n{"b":"x"}\n\n{"c":[1]}' > "$t/a.jsonl"
printf '{"a":1}\n{"b":"x"}\n{"c":[1]}\n' > "$t/a.want"
rm-cat "$t/a.jsonl" | cmp -s - "$t/a.want" || fail "JSONL pass-through"
printf '[\n {"a": 1},\n {"b": "x"}, {"c": [ 1 ]}\n]\n' | rm-cat | cmp -s - "$t/a.want" ||
	fail "JSON array"
zstd -q -c "$t/a.jsonl" > "$t/a.bin"
rm-cat "$t/a.bin" | cmp -s - "$t/a.want" || fail "zstd JSONL by content"
rm-cat < "$t/g.rmt" | cmp -s - "$t/g.want" || fail "stdin"
zstd -q -c "$t/g.rmt" | rm-cat - | cmp -s - "$t/g.want" || fail "zstd stdin"
cat "$t/a.want" "$t/g.want" "$t/a.want" > "$t/three.want"
rm-cat "$t/a.jsonl" "$t/g.rmt" - < "$t/a.bin" | cmp -s - "$t/three.want" ||
	fail "several operands"

# Output options.
rm-cat -o "$t/o.jsonl" "$t/g.rmt" && cmp -s "$t/o.jsonl" "$t/g.want" || fail "-o"
rm-cat -o "$t/o.jsonl.zst" "$t/g.rmt" && zstd -q -dc "$t/o.jsonl.zst" |
	cmp -s - "$t/g.want" || fail "-o .zst"
rm-cat -z "$t/g.rmt" | zstd -q -dc | cmp -s - "$t/g.want" || fail "-z"
ls "$t" | grep -q tmp && fail "temporary files left"

# Neither a tensor stream nor JSON: refused, located; a damaged magic is
# named as one (t-badinput has more).
head -c 2000 "$RM_TOP/bin/rm-cat" > "$t/elf"
rm-cat "$t/elf" > "$t/o" 2> "$t/e" && fail "binary accepted"
grep -q "^rm-cat: $t/elf:1: invalid UTF-8 at byte [0-9]* (neither a tensor stream nor JSON)$" "$t/e" ||
	fail "binary message: $(cat "$t/e")"
[ -s "$t/o" ] && fail "binary printed"
printf 'a plain line\n' | rm-cat 2> "$t/e" && fail "text accepted"
grep -q "^rm-cat: <stdin>:1: invalid JSON (neither" "$t/e" || fail "text message: $(cat "$t/e")"
{ printf '\211RMU'; tail -c +5 "$t/g.rmt"; } | rm-cat 2> "$t/e" > /dev/null &&
	fail "damaged magic accepted"
grep -q "damaged tensor stream magic (89 52 4d 55 " "$t/e" || fail "magic message: $(cat "$t/e")"

# Errors: reported per operand, the others still printed, exit 1.
rm-cat "$t/none" "$t/a.jsonl" > "$t/o" 2> "$t/e"; rc=$?
[ $rc -eq 1 ] || fail "missing file: exit $rc"
cmp -s "$t/o" "$t/a.want" || fail "missing file stopped the others"
grep -q "^rm-cat: $t/none: No such file or directory$" "$t/e" ||
	fail "missing file message: $(cat "$t/e")"
python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-30] ^= 1     # inside the body of the (empty) second record
open(sys.argv[2], "wb").write(b)' "$t/g.rmt" "$t/bad.rmt"
rm-cat "$t/bad.rmt" > "$t/o" 2> "$t/e"; rc=$?
[ $rc -eq 1 ] || fail "damaged stream: exit $rc"
head -n 1 "$t/g.want" | cmp -s - "$t/o" || fail "records before the damage"
[ "$(cat "$t/e")" = "rm-cat: $t/bad.rmt: record 1: crc mismatch" ] ||
	fail "damage message: $(cat "$t/e")"
head -c 100 "$t/g.rmt" > "$t/cut.rmt"
rm-cat "$t/cut.rmt" > /dev/null 2> "$t/e" && fail "truncated stream accepted"
grep -q "cut.rmt: record 0: truncated" "$t/e" || fail "cut message: $(cat "$t/e")"
rm-cat -o "$t/never.jsonl" "$t/a.jsonl" "$t/bad.rmt" 2>/dev/null &&
	fail "-o with a damaged input succeeded"
[ -e "$t/never.jsonl" ] && fail "-o left a file after an error"
ls "$t" | grep -q "never.jsonl.tmp" && fail "-o left a temporary file"
rm-cat --header "$t/a.jsonl" > /dev/null 2> "$t/e" && fail "--header on JSONL"
grep -q "not a tensor stream" "$t/e" || fail "--header message: $(cat "$t/e")"
rm-cat -o "$t/no/such/dir/x" "$t/a.jsonl" 2> /dev/null; [ $? -eq 1 ] ||
	fail "-o into a missing directory"

# A string kept by rm-tokenize --keep prints as a string (escaped).
printf '%s\n' '{"chosen":"a","rejected":"b","src":"x\"y\u00e9\t"}' |
	rm-tokenize -t bytes --keep src | rm-cat > "$t/k" || fail "keep string"
grep -o '"src":.*' "$t/k" | grep -qxF '"src":"x\"yé\u0009"}' || fail "kept string: $(cat "$t/k")"

# Quiet when the reader stops early.
"$RM_TOP/tests/bin/tool-rmt" random "$t/big.rmt" 20000 5 || fail "tool-rmt"
rm-cat "$t/big.rmt" 2> "$t/e" | head -n 1 > /dev/null
[ -s "$t/e" ] && fail "noise under head: $(cat "$t/e")"
echo ok
