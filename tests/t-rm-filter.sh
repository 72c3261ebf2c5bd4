#!/bin/sh
# rm-filter: join by id with hash check, byte-for-byte pass-through and
# splicing, drop / flip (swap, target) / smooth / margin / presets, log,
# unscored records, errors.
name=rm-filter; . "$(dirname "$0")/common.sh"

check_synopsis rm-filter

# Ten pairs; strength mean of id i is i/2 - 2, so -2 -1.5 ... 2.5 (ranks 0..9 = ids), written
# in reverse order with the FNV-1a 64 hash of each dataset line.
cat > d.jsonl <<'J'
{"chosen":"c0","rejected":"r0","true_margin":-1.25,"flipped":true}
{"chosen":"c1","rejected":"r1","target":0.8}
{"chosen":"c2","rejected":"r2"}
{ "chosen": "c3" , "rejected":"r3" }
{"chosen":"c4","rejected":"r4","margin":9,"x":[1,{"margin":2}]}
{"chosen":"c5","rejected":"r5"}
{"chosen":"c6","rejected":"r6"}
{"chosen":"c7","rejected":"r7"}
{"chosen":"c8","rejected":"r8"}
{"chosen":"c9","rejected":"r9"}
J
cat > fnv.py <<'PY'
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return h
PY
python3 - <<'PY'
from fnv import fnv
lines = open("d.jsonl", "rb").read().split(b"\n")[:-1]
with open("s.jsonl", "w") as f:
    for i in reversed(range(len(lines))):
        f.write('{"id":%d,"hash":%d,"strength_mean":%g,"strength_std":0.25,"n":3}\n'
                % (i, fnv(lines[i]), i / 2 - 2))
PY

# flip 10% + margin: id 0 swapped (truth follows), margin -mean = 2;
# an existing margin is replaced in place; the nested one is left alone.
rm-filter -q -s s.jsonl --preset flip10-margin --log log.jsonl d.jsonl > o.jsonl ||
	fail "flip10-margin"
sed -n 1p o.jsonl | grep -qx '{"chosen":"r0","rejected":"c0","true_margin":1.25,"flipped":false,"margin":2}' ||
	fail "swap: $(sed -n 1p o.jsonl)"
sed -n 2p o.jsonl | grep -qx '{"chosen":"c1","rejected":"r1","target":0.8,"margin":-1.5}' ||
	fail "margin: $(sed -n 2p o.jsonl)"
sed -n 4p o.jsonl | grep -qx '{ "chosen": "c3" , "rejected":"r3" ,"margin":-0.5}' ||
	fail "byte for byte: $(sed -n 4p o.jsonl)"
sed -n 5p o.jsonl | grep -qx '{"chosen":"c4","rejected":"r4","margin":0,"x":\[1,{"margin":2}\]}' ||
	fail "in place: $(sed -n 5p o.jsonl)"
[ "$(wc -l < o.jsonl)" = 10 ] || fail "all records kept"
head -n 1 log.jsonl | grep -q '^{"id":0,"hash":[0-9]*,"strength_mean":-2,"strength_std":0.25,"rank":0,"actions":\["flip","margin"\],"margin":2}$' ||
	fail "log: $(head -n 1 log.jsonl)"
sed -n 3p log.jsonl | grep -q '"actions":\["margin"\],"margin":-1}$' || fail "log line 3"

# soft label + margin: alpha 0.2 on mean < 0 (ids 0 to 3), t = 0.2 + 0.6 t.
rm-filter -q -s s.jsonl --preset soft-margin d.jsonl > o.jsonl || fail "soft-margin"
sed -n 1p o.jsonl | grep -q '"flipped":true,"target":0.8,"margin":-2}$' || fail "soft 0: $(sed -n 1p o.jsonl)"
sed -n 2p o.jsonl | grep -qx '{"chosen":"c1","rejected":"r1","target":0.68,"margin":-1.5}' ||
	fail "soft 1 (own target 0.8): $(sed -n 2p o.jsonl)"
sed -n 4p o.jsonl | grep -q '"target":0.8,"margin":-0.5}$' || fail "soft 3"
sed -n 5p o.jsonl | grep -q '"target"' && fail "mean 0 is not < 0"
# An explicit option overrides the preset, whatever the order.
rm-filter -q --smooth 0.1 -s s.jsonl --preset soft-margin d.jsonl | sed -n 3p |
	grep -qx '{"chosen":"c2","rejected":"r2","target":0.9,"margin":-1}' || fail "override"

# Flip by target: t = 1 - t; with smoothing of the top 20%.
rm-filter -q -s s.jsonl --flip-lowest 0.2 --flip-mode target --smooth 0.1 \
	--smooth-range 0.8:1 d.jsonl > o.jsonl || fail "target flip"
sed -n 1p o.jsonl | grep -q '"chosen":"c0".*"target":0}$' || fail "target 0: $(sed -n 1p o.jsonl)"
sed -n 2p o.jsonl | grep -q '"target":0.2}$' || fail "1 - 0.8"
sed -n 3p o.jsonl | grep -qx '{"chosen":"c2","rejected":"r2"}' || fail "untouched"
sed -n 9p o.jsonl | grep -q '"target":0.9}$' || fail "smoothed top"

# Drops: keep the 30-50% bucket (ids 3, 4); by mean value.
rm-filter -q -s s.jsonl --drop-below 0.3 --drop-above 0.5 d.jsonl | grep -o '"c[0-9]"' |
	tr -d '\n' | grep -qx '"c3""c4"' || fail "bucket"
[ "$(rm-filter -q -s s.jsonl --drop-mean-below 0 d.jsonl | wc -l)" = 6 ] || fail "drop-mean-below"
rm-filter -s s.jsonl --drop-mean-above 1 d.jsonl 2>err.txt >/dev/null || fail "drop-mean-above"
grep -qx 'rm-filter: 10 records: 7 kept, 3 dropped, 0 flipped, 0 smoothed, 0 margins, 0 unscored' err.txt ||
	fail "summary: $(cat err.txt)"

# Margin scale and clamp; nothing else changes.
rm-filter -q -s s.jsonl --margin=0.5 --margin-clamp -0.5,1 d.jsonl > o.jsonl || fail "clamp"
sed 's/,"x":.*//' o.jsonl | grep -o '"margin":[-0-9.]*' | tr '\n' ' ' |
	grep -qx '"margin":-0.5 "margin":-0.5 "margin":-0.5 "margin":-0.25 "margin":0 "margin":0.25 "margin":0.5 "margin":0.75 "margin":1 "margin":1 ' ||
	fail "margins: $(grep -o '"margin":[-0-9.]*' o.jsonl | tr '\n' ' ')"

# Flip only what the ensemble disagrees with: strength mean i/2 - 1 gives ids
# 0 and 1 means -1 and -0.5, id 2 mean 0; of the lowest 30% (ids 0-2) the
# default flips 0 and 1 and leaves 2 alone; --flip-by-rank flips all three.
python3 -c '
import json
for l in open("s.jsonl"):
    r = json.loads(l); r["strength_mean"] = r["id"] / 2 - 1
    print(json.dumps(r))' > s3.jsonl
rm-filter -s s3.jsonl --flip-lowest 0.3 d.jsonl 2>err.txt > o.jsonl || fail "flip by mean"
grep -o '"chosen":"[cr][0-9]"' o.jsonl | head -n 3 | tr '\n' ' ' |
	grep -qx '"chosen":"r0" "chosen":"r1" "chosen":"c2" ' || fail "only mean < 0 flipped: $(head -n 3 o.jsonl)"
grep -q '^rm-filter: 10 records: 10 kept, 0 dropped, 2 flipped,' err.txt || fail "flip count: $(cat err.txt)"
grep -qx 'rm-filter: 2 flipped at strength mean -1 to -0.5 (average -0.75)' err.txt ||
	fail "flip strengths: $(cat err.txt)"
grep -qx 'rm-filter: 1 pairs in the flip quantile left alone: their strength mean is >= 0 (--flip-by-rank flips them too)' err.txt ||
	fail "spared count: $(cat err.txt)"
# A preset leaves a pair with positive strength alone: all means >= 1 here.
sed 's/"strength_mean":[-0-9.e]*,/"strength_mean":1,/' s.jsonl > spos.jsonl
rm-filter -q -s spos.jsonl --preset flip10-margin d.jsonl | grep -c '"chosen":"r' |
	grep -qx 0 || fail "preset flipped a pair the ensemble agrees with"
rm-filter -q -s s3.jsonl --flip-lowest 0.3 --flip-by-rank d.jsonl |
	grep -o '"chosen":"[cr][0-9]"' | head -n 4 | tr '\n' ' ' |
	grep -qx '"chosen":"r0" "chosen":"r1" "chosen":"r2" "chosen":"c4" ' || fail "--flip-by-rank"
rm-filter -s s.jsonl --flip-by-rank d.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "--flip-by-rank alone"

# No policy: the dataset passes through unchanged, compressed input too.
zstd -q -c d.jsonl > d.jsonl.zst
rm-filter -q -s s.jsonl d.jsonl.zst | cmp -s - d.jsonl || fail "identity"

# A JSON array, pretty-printed, gives the bytes its compact JSON Lines form
# gives: numbers in fields rm-filter does not own are not re-printed, and the
# hash of an element is that of its compact text (s.jsonl's hashes match).
python3 - <<'PY'
import re
lines = open("d.jsonl").read().split("\n")[:-1]
odd = ',"big":9007199254740993,"f":0.30000000000000004,"h":1e400,' \
      '"m":1.7976931348623157e308,"z":-0.0,"u":"\\u00e9 \\" ]"}'
comp = [re.sub(r'\s+(?=[:,}"])|(?<=[:,{])\s+', "", l)[:-1] + odd for l in lines]
open("dc.jsonl", "w").write("".join(c + "\n" for c in comp))
pretty = [c.replace('{"', '{\n    "').replace(',"', ',\n    "').replace('":', '" :  ')
          for c in comp]
open("da.json", "w").write("[\n  " + ",\n\t".join(pretty) + "\n]\n")
PY
python3 - <<'PY'
from fnv import fnv
lines = open("dc.jsonl", "rb").read().split(b"\n")[:-1]
with open("sc.jsonl", "w") as f:
    for i in range(len(lines)):
        f.write('{"id":%d,"hash":%d,"strength_mean":%g,"strength_std":0.25}\n'
                % (i, fnv(lines[i]), i / 2 - 2))
PY
rm-filter -q -s sc.jsonl --preset flip10-margin dc.jsonl > oc.jsonl || fail "compact lines"
rm-filter -q -s sc.jsonl --preset flip10-margin da.json > oa.jsonl || fail "JSON array"
cmp -s oc.jsonl oa.jsonl || fail "JSON array: not the bytes of its JSON Lines form: $(diff oc.jsonl oa.jsonl | head -4)"
[ "$(grep -c '"big":9007199254740993,"f":0.30000000000000004,"h":1e400,"m":1.7976931348623157e308,"z":-0.0,"u":"\\u00e9 \\" ]"' oa.jsonl)" = 10 ] ||
	fail "JSON array: numbers changed: $(head -n 1 oa.jsonl)"
zstd -q -c da.json | rm-filter -q -s sc.jsonl --preset flip10-margin | cmp -s - oc.jsonl ||
	fail "JSON array from a pipe, compressed"

# Errors: hash mismatch, unscored record; no output file left.
sed 's/^{"chosen":"c2"/{"chosen":"C2"/' d.jsonl > bad.jsonl
rm-filter -q -s s.jsonl -o out.jsonl bad.jsonl 2>err.txt; [ $? = 1 ] || fail "hash mismatch exit"
grep -q '^rm-filter: bad.jsonl:3: id 2: hash [0-9]* does not match s.jsonl:8 (hash [0-9]*)' err.txt ||
	fail "hash message: $(cat err.txt)"
[ -e out.jsonl ] && fail "output left behind"
grep -v '"id":9,' s.jsonl > s8.jsonl
rm-filter -q -s s8.jsonl --margin d.jsonl >/dev/null 2>err.txt; [ $? = 1 ] || fail "unscored exit"
grep -q "^rm-filter: d.jsonl:10: id 9 has no strength record in s8.jsonl" err.txt || fail "unscored: $(cat err.txt)"
rm-filter -q -s s8.jsonl --margin --keep-unscored --log log.jsonl d.jsonl | tail -n 1 |
	grep -qx '{"chosen":"c9","rejected":"r9"}' || fail "--keep-unscored"
tail -n 1 log.jsonl | grep -q '"actions":\["unscored"\]}$' || fail "unscored log"
printf '{"id":1,"strength_mean":0}\n{"id":1,"strength_mean":1}\n' > dup.jsonl
rm-filter -q -s dup.jsonl d.jsonl >/dev/null 2>err.txt; [ $? = 1 ] || fail "duplicate id"
grep -q "dup.jsonl:2: id 1 already on line 1" err.txt || fail "dup message: $(cat err.txt)"

# Killed by SIGPIPE (its reader stopped early): no temporary --log file left.
for i in $(seq 1 3000); do cat d.jsonl; done > big.jsonl
rm-filter -q -s s.jsonl --keep-unscored --margin --log biglog.jsonl big.jsonl | head -n 1 > /dev/null
ls | grep -q 'biglog' && fail "SIGPIPE left: $(ls | grep biglog)"

# Usage errors.
rm-filter d.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "no -s"
rm-filter -s s.jsonl --smooth-range 'mean~0' --smooth 0.1 d.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "bad range"
rm-filter -s s.jsonl --preset nope d.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "bad preset"
rm-filter -s s.jsonl --smooth 0.7 d.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "alpha > 0.5"
echo ok
