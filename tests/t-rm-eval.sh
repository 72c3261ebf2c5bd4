#!/bin/sh
# rm-eval: hand-computed accuracy, ties, margin, Brier, ECE, reward scale,
# labels and truth from --data, length baseline, strength deciles,
# agreement and ensemble, group spreads, singles, errors.
name=rm-eval; . "$(dirname "$0")/common.sh"
mk=$RM_TOP/tests/bin/tool-mkvotes

check_synopsis rm-eval

# Model a: delta 2, -1, 0, 1 (id 2 a tie).  Model b: delta 1, 1, -1, 1.
cat > a.jsonl <<'J'
{"id":0,"chosen":2,"rejected":0}
{"id":1,"chosen":0,"rejected":1}
{"id":2,"chosen":1,"rejected":1}
{"id":3,"chosen":0.5,"rejected":-0.5}
J
printf '%s\n' '{"id":0,"chosen":1,"rejected":0}' '{"id":1,"chosen":1,"rejected":0}' \
	'{"id":2,"chosen":0,"rejected":1}' '{"id":3,"chosen":1,"rejected":0}' | "$mk" > b.rmt
# Dataset: id 1 labelled rejected (target 0); truth: id 0 chosen, id 1
# rejected (flipped), id 2 rejected (true_margin < 0), id 3 unknown.
# Lengths: chosen longer, rejected longer, equal, chosen shorter.
cat > d.jsonl <<'J'
{"chosen":"\n\nHuman: q\n\nAssistant: a long answer","rejected":"\n\nHuman: q\n\nAssistant: no","true_margin":1}
{"chosen":"\n\nHuman: q\n\nAssistant: no","rejected":"\n\nHuman: q\n\nAssistant: a long answer","target":0,"flipped":true}
{"chosen":"\n\nHuman: q\n\nAssistant: yes","rejected":"\n\nHuman: q\n\nAssistant: nah","true_margin":-0.5}
{"chosen":"\n\nHuman: q\n\nAssistant: ok","rejected":"\n\nHuman: q\n\nAssistant: okay"}
J
# Strength means 3, -1, 0, 1: ranks 3, 0, 1, 2 of 4, deciles 10, 3, 5, 8.
printf '%s\n' '{"id":0,"strength_mean":3}' '{"id":1,"strength_mean":-1}' \
	'{"id":2,"strength_mean":0}' '{"id":3,"strength_mean":1}' > s.jsonl

rm-eval --json a.jsonl > r1.json || fail "plain run"
rm-eval --json --data d.jsonl --strength s.jsonl a.jsonl b.rmt > r2.json || fail "full run"

python3 - <<'PY' || fail "numbers"
import json, math
ok = True
def close(got, want, what):
    global ok
    if want is None or got is None:
        good = got is None and want is None
    else:
        good = abs(got - want) <= 1e-6
    if not good:
        print("check failed:", what, got, "want", want); ok = False
s = lambda x: 1 / (1 + math.exp(-x))
r = json.load(open("r1.json"))
m = r["models"][0]
close(m["n"], 4, "n")
close(m["accuracy"], 0.5, "accuracy")      # ids 0, 3
close(m["ties"], 0.25, "ties")             # id 2
close(m["wrong"], 0.25, "wrong")           # id 1
close(m["margin_mean"], 0.5, "margin")     # (2 - 1 + 0 + 1) / 4
close(m["brier"], ((1-s(2))**2 + (1-s(-1))**2 + 0.25 + (1-s(1))**2) / 4, "brier")
close(m["brier"], 0.217746368, "brier literal")
close(m["ece"], 0.404800731, "ece")        # one pair per bin, y = 1
close(m["chosen_mean"], 0.875, "chosen mean")
close(m["chosen_std"], math.sqrt(2.1875 / 4), "chosen std")
close(m["rejected_mean"], 0.375, "rejected mean")
close(m["rejected_std"], math.sqrt(1.6875 / 4), "rejected std")
if "ensemble" in r or "agreement" in r or "length_baseline" in r:
    print("single model without data has extra sections"); ok = False

r = json.load(open("r2.json"))
a, b, e = r["models"][0], r["models"][1], r["ensemble"]
close(a["accuracy"], 0.75, "label accuracy")   # id 1 now right
close(a["ties"], 0.25, "label ties")
close(a["margin_mean"], 1.0, "label margin")   # (2 + 1 + 0 + 1) / 4
close(a["brier"], 0.102217078, "label brier")
close(a["ece"], 0.289271441, "label ece")
close(a["truth_n"], 3, "truth n")
close(a["truth_accuracy"], 2 / 3, "truth accuracy")
close(a["truth_ties"], 1 / 3, "truth ties")
want = [None, None, 1, None, 0, None, None, 1, None, 1]   # ids 1, 2, 3, 0
for i, (g, w) in enumerate(zip(a["decile_accuracy"], want)):
    close(g, w, "decile %d" % (i + 1))
close(b["accuracy"], 0.5, "b accuracy")        # ids 0, 3 right; 1, 2 wrong
close(r["agreement"], 0.5, "agreement")       # same sign on ids 0 and 3
close(e["accuracy"], 0.5, "ensemble accuracy")  # mean deltas 1.5, 0, -0.5, 1
close(e["ties"], 0.25, "ensemble ties")
lb = r["length_baseline"]
close(lb["n"], 4, "length n")
close(lb["accuracy"], 0.5, "length accuracy")  # ids 0, 1 right; 2 tie; 3 wrong
close(lb["ties"], 0.25, "length ties")
close(lb["truth_accuracy"], 1.0, "length vs truth")  # ids 0, 1
import sys
sys.exit(0 if ok else 1)
PY

# The table: a row per model and the ensemble.
rm-eval --data d.jsonl a.jsonl b.rmt > table.txt || fail "table"
grep -q '^a.jsonl  *4   0.7500 0.2500 0.0000   1.0000 0.1022 0.2893   0.8750  0.7395   0.3750  0.6495$' table.txt ||
	fail "table row: $(cat table.txt)"
grep -q '^ensemble ' table.txt || fail "ensemble row"
grep -q '^agreement (same sign of delta, model pairs): 0.5000$' table.txt || fail "agreement line"

# Groups: |r_i - r_j| = 1, 3, 2 and 0.5; true order right for 3 of 4.
cat > g.jsonl <<'J'
{"prompt":"\n\nHuman: q\n\nAssistant:","responses":[" a"," b"," c"],"true_scores":[0,1,3]}
{"prompt":"\n\nHuman: q\n\nAssistant:","responses":[" a"," b"],"true_scores":[1,0]}
J
printf '%s\n' '{"id":0,"rewards":[1,2,4]}' '{"id":1,"rewards":[0,0.5]}' > gv.jsonl
"$mk" < gv.jsonl > gv.rmt
rm-eval --json --data g.jsonl gv.rmt > r3.json || fail "groups"
python3 - <<'PY' || fail "group numbers"
import json
m = json.load(open("r3.json"))["models"][0]
want = {"groups": 2, "pairs": 4, "abs_diff_mean": 1.625, "truth_order_accuracy": 0.75}
q = {"min": 0.5, "10%": 0.65, "25%": 0.875, "50%": 1.5, "75%": 2.25, "90%": 2.7, "max": 3}
bad = [k for k in want if abs(m[k] - want[k]) > 1e-9] + \
      [k for k in q if abs(m["abs_diff_quantiles"][k] - q[k]) > 1e-9]
if bad:
    print("group mismatch:", bad, m); raise SystemExit(1)
PY
printf '%s\n' '{"id":0,"reward":1}' '{"id":1,"reward":3}' | rm-eval --json |
	grep -qx '{"kind":"single","models":\[{"name":"-","n":2,"reward_mean":2,"reward_std":1}\]}' ||
	fail "singles"

# Errors.
rm-eval --data g.jsonl a.jsonl > /dev/null 2>err.txt; [ $? = 1 ] || fail "id missing exit"
grep -q '^rm-eval: a.jsonl:3: id 2 is not in g.jsonl$' err.txt || fail "id missing: $(cat err.txt)"
printf '{"id":0,"hash":5,"delta":1}\n' > h.jsonl
rm-eval --data d.jsonl h.jsonl > /dev/null 2>err.txt; [ $? = 1 ] || fail "hash exit"
grep -q '^rm-eval: h.jsonl:1: id 0: hash 5 does not match d.jsonl:1 (hash ' err.txt ||
	fail "hash: $(cat err.txt)"
printf '{"id":0,"delta":1}\n{"id":1,"reward":1}\n' | rm-eval > /dev/null 2>err.txt
[ $? = 1 ] || fail "mixed kinds exit"
grep -q 'single scores after pair scores' err.txt || fail "mixed kinds: $(cat err.txt)"
rm-eval --data g.jsonl -o out.json a.jsonl 2>/dev/null; [ -e out.json ] && fail "output left behind"
rm-eval --json -o out.json a.jsonl && cmp -s out.json r1.json || fail "-o"
rm-eval --bogus >/dev/null 2>&1; [ $? = 2 ] || fail "usage"
rm-eval --data - - < a.jsonl >/dev/null 2>&1; [ $? = 2 ] || fail "stdin twice"
# The largest scores read (+-1e100, beyond is refused: t-badinput) give
# finite statistics over many pairs: the margin mean and the stds stay valid JSON.
python3 -c '
for i in range(5000): print("{\"id\":%d,\"chosen\":%s,\"rejected\":%s}" % (i, "1e100" if i % 3 else "-1e100", "-1e100"))' > huge.jsonl
rm-eval --json huge.jsonl > huge.json || fail "huge scores"
python3 -c '
import json, math, sys
m = json.load(open("huge.json"))["models"][0]
sys.exit(not all(math.isfinite(m[k]) for k in ("margin_mean", "chosen_mean", "chosen_std", "rejected_std")))' ||
	fail "huge scores: $(cat huge.json)"

echo ok
