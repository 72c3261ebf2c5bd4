#!/bin/sh
# rm-synth: determinism, exact fractions, fields and truth, splits, groups,
# compression, usage errors, no partial output.
name=rm-synth; . "$(dirname "$0")/common.sh"

check_synopsis rm-synth

rm-synth -n 500 --seed 7 -o "$t/a.jsonl" --test 100 --test-out "$t/test.jsonl" \
	--groups 20 --k 4 --groups-out "$t/g.jsonl" || fail "rm-synth failed"
rm-synth -n 500 --seed 7 > "$t/b.jsonl" || fail "stdout run failed"
cmp -s "$t/a.jsonl" "$t/b.jsonl" || fail "same seed, different bytes"
rm-synth -n 500 --seed 8 > "$t/c.jsonl" || fail "seed 8 failed"
cmp -s "$t/a.jsonl" "$t/c.jsonl" && fail "different seeds, same bytes"
# Adding splits does not change the training pairs; -z round-trips.
rm-synth -n 500 --seed 7 -z -o "$t/a.jsonl.zst" || fail "-z failed"
zstd -q -dc "$t/a.jsonl.zst" | cmp -s - "$t/a.jsonl" || fail "-z differs"
rm-synth -n 500 --seed 7 -o "$t/d.jsonl.zst" || fail ".zst name failed"
zstd -q -dc "$t/d.jsonl.zst" | cmp -s - "$t/a.jsonl" || fail ".zst name differs"

python3 - "$t" <<'PY' || fail "content checks"
import json, sys
t = sys.argv[1]
def load(p):
    return [json.loads(l) for l in open(f"{t}/{p}", encoding="utf-8")]
pairs, test, groups = load("a.jsonl"), load("test.jsonl"), load("g.jsonl")
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("check failed:", msg); ok = False
check(len(pairs) == 500 and len(test) == 100 and len(groups) == 20, "counts")
check(sum(p["flipped"] for p in pairs) == 100, "exactly 20% flipped")
check(sum(p["tie"] for p in pairs) == 100, "exactly 20% ties")
check(not any(p["flipped"] and p["tie"] for p in pairs), "flip and tie disjoint")
for p in pairs + test:
    check(set(p) == {"chosen", "rejected", "true_margin", "flipped", "tie"}, "fields")
    c, r = p["chosen"], p["rejected"]
    check(c.startswith("\n\nHuman: ") and c.count("\n\nAssistant: ") == 1, "hh form")
    cut = c.index("\n\nAssistant:") + len("\n\nAssistant:")
    check(r[:cut] == c[:cut], "shared prompt")
    m = p["true_margin"]
    if p["flipped"]:
        check(m <= -0.5, "flipped pair has a clear negative margin")
    elif p["tie"]:
        check(0 <= m < 0.8, "tie margin near 0: %g" % m)
    else:
        check(m >= 0.5, "ordinary pair margin >= --min-margin")
check(not any(p["flipped"] or p["tie"] for p in test), "test split is clean")
check(test[0]["chosen"] != pairs[0]["chosen"], "test differs from train")
for g in groups:
    check(set(g) == {"prompt", "responses", "true_scores"}, "group fields")
    check(g["prompt"].startswith("\n\nHuman: ") and g["prompt"].endswith("\n\nAssistant:"), "group prompt")
    check(len(g["responses"]) == 4 and len(g["true_scores"]) == 4, "k = 4")
    check(all(x.startswith(" ") for x in g["responses"]), "responses start with a space")
# The groups are shifted: longer responses, higher quality on average.
import statistics as st
def resp(s): return s[s.index("\n\nAssistant:") + 12:]
tl = st.mean(len(resp(p["chosen"])) for p in test)
gl = st.mean(len(x) for g in groups for x in g["responses"])
check(gl > 1.5 * tl, "group responses longer (%g vs %g)" % (gl, tl))
sys.exit(0 if ok else 1)
PY

# --flip 0 --ties 0: nothing flipped; --flip 1: everything flipped.
rm-synth -n 50 --flip 0 --ties 0 | grep -q '"flipped":true' && fail "--flip 0 flipped"
[ "$(rm-synth -n 50 --flip 1 --ties 0 | grep -c '"flipped":true')" = 50 ] ||
	fail "--flip 1"

# --min-margin is a promise for every pair but ties (it used to keep the
# clearest of 200 draws, which at 3 left a tenth of the pairs short).
rm-synth -n 400 --min-margin 3 --test 50 --test-out tm.jsonl > m3.jsonl || fail "--min-margin 3"
python3 - m3.jsonl tm.jsonl <<'PY' || fail "--min-margin 3 broken"
import json, sys
ps = [json.loads(l) for f in sys.argv[1:] for l in open(f)]
short = [p["true_margin"] for p in ps if not p["tie"] and abs(p["true_margin"]) < 3]
sys.exit(print("short of 3:", short[:5]) if short else 0)
PY
rm-synth --min-margin 5.5 >/dev/null 2>err; [ $? = 2 ] && grep -q "from 0 to 5" err ||
	fail "--min-margin past 5: $(cat err)"

# Usage errors exit 2; a failed write leaves no file behind.
rm-synth --flip 0.7 --ties 0.5 >/dev/null 2>&1; [ $? = 2 ] || fail "flip+ties > 1"
rm-synth --test 5 >/dev/null 2>&1; [ $? = 2 ] || fail "--test without --test-out"
rm-synth -n x >/dev/null 2>&1; [ $? = 2 ] || fail "bad -n"
rm-synth extra >/dev/null 2>&1; [ $? = 2 ] || fail "operand"
rm-synth -n 10 -o "$t/x.jsonl" --groups 2 --groups-out "$t/nodir/g.jsonl" 2>"$t/err"
[ $? = 1 ] || fail "unwritable groups file"
[ -e "$t/x.jsonl" ] && fail "partial output left behind"
grep -q '^rm-synth: ' "$t/err" || fail "message format: $(cat "$t/err")"
# Quiet under a closed pipe.
rm-synth -n 100000 2>"$t/err" | head -n 1 >/dev/null
[ -s "$t/err" ] && fail "noise under | head: $(cat "$t/err")"
rm-synth --version | grep -q '^rm-synth (rmkit) ' || fail "--version"
echo "ok"
