#!/bin/sh
# The tensor stream format as documented: tests/rmt_reader.py, a reader
# written from rmt(5) alone, must see exactly what rm-cat prints, on random
# streams covering every dtype, rank, extreme values and odd names; both
# must reject the same damaged streams.
set -u
: "${RM_TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
PATH=$RM_TOP/bin:$PATH
command -v python3 >/dev/null || { echo "no python3"; exit 77; }
t=$(mktemp -d "${TMPDIR:-/tmp}/t-rmt-python.XXXXXX") || exit 1
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
tool=$RM_TOP/tests/bin/tool-rmt
reader=$RM_TOP/tests/rmt_reader.py

for seed in 1 2 3; do
	"$tool" random "$t/r$seed.rmt" 150 $seed || fail "tool-rmt seed $seed"
	rm-cat "$t/r$seed.rmt" > "$t/r$seed.jsonl" || fail "rm-cat seed $seed"
	rm-cat --header "$t/r$seed.rmt" > "$t/h$seed.json" || fail "rm-cat --header"
done

python3 - "$t" "$RM_TOP/tests" <<'PY' || fail "rm-cat and rmt_reader.py disagree"
import json, math, struct, sys
t, tests = sys.argv[1], sys.argv[2]
sys.path.insert(0, tests)
from rmt_reader import RmtReader

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

bad = 0
def same(c, p, dtype, where):
    """c from rm-cat's JSON, p from the Python reader."""
    global bad
    if dtype == "u8" and isinstance(c, str) and isinstance(p, list):
        # rm-cat prints a one-dimensional u8 tensor of UTF-8 as a string
        ok = all(type(x) is int for x in p) and c.encode("utf-8") == bytes(p)
    elif isinstance(p, list):
        ok = isinstance(c, list) and len(c) == len(p)
        if ok:
            return all(same(a, b, dtype, where) for a, b in zip(c, p))
    elif dtype in ("f32", "f64"):
        if not math.isfinite(p):
            ok = c is None
        else:
            ok = isinstance(c, (int, float)) and (
                f32(c) == p if dtype == "f32" else float(c) == p)
            # -0.0 must stay negative
            ok = ok and math.copysign(1, c) == math.copysign(1, p)
    else:
        ok = type(c) is int and c == p
    if not ok and bad < 10:
        print("%s: rm-cat %r, reader %r (%s)" % (where, c, p, dtype))
    bad += not ok
    return ok

kinds = set()
for seed in (1, 2, 3):
    path = "%s/r%d.rmt" % (t, seed)
    with open(path, "rb") as f:
        r = RmtReader(f, path)
        recs = list(r)
    cat = [json.loads(l) for l in open("%s/r%d.jsonl" % (t, seed), encoding="utf-8")]
    head = json.load(open("%s/h%d.json" % (t, seed)))
    if head != r.meta or r.meta != {"tool": "tool-rmt", "seed": seed}:
        print("header: rm-cat %r, reader %r" % (head, r.meta)); bad += 1
    if len(cat) != len(recs) or len(recs) != 150:
        print("seed %d: %d vs %d records" % (seed, len(cat), len(recs))); bad += 1
    for i, (c, p) in enumerate(zip(cat, recs)):
        if list(c) != list(p):
            print("record %d: names %r vs %r" % (i, list(c), list(p))); bad += 1
            continue
        for k, tensor in p.items():
            kinds.add((tensor.dtype, len(tensor.shape)))
            same(c[k], tensor.values, tensor.dtype, "seed %d record %d %r" % (seed, i, k))
# The random streams must really cover every dtype at every rank.
if len(kinds) != 6 * 5:
    print("coverage: %d of 30 dtype/rank pairs" % len(kinds)); bad += 1
sys.exit(1 if bad else 0)
PY

# The reader as a program, on a compressed copy, prints the same records.
if command -v zstd >/dev/null; then
	zstd -q -c "$t/r1.rmt" > "$t/r1.zst"
	python3 "$reader" "$t/r1.rmt" > "$t/p1.jsonl" || fail "rmt_reader.py plain"
	python3 "$reader" "$t/r1.zst" > "$t/p1z.jsonl" || fail "rmt_reader.py zstd"
	cmp -s "$t/p1.jsonl" "$t/p1z.jsonl" || fail "zstd changes the reader's output"
	[ "$(wc -l < "$t/p1.jsonl")" -eq 150 ] || fail "reader printed wrong count"
	rm-cat "$t/r1.zst" | cmp -s - "$t/r1.jsonl" || fail "rm-cat on zstd differs"
fi

# Damage: both refuse truncated and corrupted streams.  (Fewer than 4 bytes
# cannot show the magic: rm-cat passes them through as text.)
size=$(wc -c < "$t/r2.rmt")
for cut in 4 7 19 20 27 100 $((size / 2)) $((size - 21)) $((size - 1)); do
	head -c $cut "$t/r2.rmt" > "$t/cut.rmt"
	rm-cat "$t/cut.rmt" > /dev/null 2> "$t/err" && fail "rm-cat accepted cut at $cut"
	python3 "$reader" "$t/cut.rmt" > /dev/null 2> "$t/perr" &&
		fail "rmt_reader.py accepted cut at $cut"
	grep -q "cut.rmt" "$t/err" || fail "rm-cat message lacks the file: $(cat "$t/err")"
done
python3 -c '
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0x10
open(sys.argv[2], "wb").write(b)' "$t/r2.rmt" "$t/flip.rmt"
rm-cat "$t/flip.rmt" > /dev/null 2> "$t/err" && fail "rm-cat accepted a flipped bit"
grep -q "^rm-cat: .*flip.rmt: record [0-9]*: crc mismatch$" "$t/err" ||
	fail "rm-cat message: $(cat "$t/err")"
python3 "$reader" "$t/flip.rmt" > /dev/null 2> "$t/perr" &&
	fail "rmt_reader.py accepted a flipped bit"
grep -q "crc mismatch" "$t/perr" || fail "reader message: $(cat "$t/perr")"
# A zero-size tensor whose other dims describe too much: both refuse it.
python3 - "$t/z.rmt" "$RM_TOP/tests" <<'PY' || fail "writing z.rmt"
import sys
sys.path.insert(0, sys.argv[2])
from rmt_writer import entry, record, stream
open(sys.argv[1], "wb").write(stream(b"", record(entry("z", 1, [5, 2**40, 0], b""))))
PY
rm-cat "$t/z.rmt" > /dev/null 2> "$t/err" && fail "rm-cat accepted [5, 2^40, 0]"
grep -q "record 0: tensor 0: shape too large" "$t/err" || fail "rm-cat: $(cat "$t/err")"
python3 "$reader" "$t/z.rmt" > /dev/null 2> "$t/perr" && fail "reader accepted [5, 2^40, 0]"
grep -q "shape too large" "$t/perr" || fail "reader: $(cat "$t/perr")"
echo ok
