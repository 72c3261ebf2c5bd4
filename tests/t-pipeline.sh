#!/bin/sh
# End to end, tiny and seeded: the ensemble pipeline (GNU parallel, M=2),
# strength, the experiments' comparison on two methods, the report; then a
# second make finds nothing to do, and a member whose run was cut short
# resumes.  Skips without GNU parallel or python3.
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
command -v parallel >/dev/null 2>&1 || { echo "skip: no GNU parallel"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "skip: no python3"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-pipeline.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }
cd "$tmp" || exit 1
rm-synth -n 240 --seed 5 --test 100 --test-out test.jsonl -o train.jsonl || no "rm-synth"
flags='--layers 1 --heads 2 --width 32 --context 128 --epochs 1 --lr 2e-3 --batch-size 16'
# The members go through GNU parallel's --sshloginfile (":" is this host).
echo ":" >hosts
make --no-print-directory -f "$top/pipelines/ensemble.mk" DATA=train.jsonl OUT=run M=2 \
	JOBS=2 HOSTS=hosts TOKENIZE_FLAGS='-t bytes -m 128' TRAIN_FLAGS="$flags" >make.log 2>&1 ||
	{ no "ensemble.mk"; tail -20 make.log; }
[ "$(wc -l <run/strength.jsonl)" -eq 240 ] || no "strength.jsonl: not 240 records"
head -n 1 run/strength.jsonl | grep -q '"n":2' || no "strength: n is not 2"
[ -s run/strength-groups.tsv ] || no "no group table"
# Nothing left to do the second time round.
make -q -f "$top/pipelines/ensemble.mk" DATA=train.jsonl OUT=run M=2 \
	TOKENIZE_FLAGS='-t bytes -m 128' TRAIN_FLAGS="$flags" || no "second make would redo work"
# A member cut short (no stamp, its vote missing) is finished by a re-run.
rm -f run/ens/2.done run/votes/2.rmt run/votes/.done run/strength.jsonl
make --no-print-directory -f "$top/pipelines/ensemble.mk" DATA=train.jsonl OUT=run M=2 \
	JOBS=2 TOKENIZE_FLAGS='-t bytes -m 128' TRAIN_FLAGS="$flags" >>make.log 2>&1 || no "resume"
[ -f run/votes/2.rmt ] && [ "$(wc -l <run/strength.jsonl)" -eq 240 ] || no "resumed ensemble incomplete"
make --no-print-directory -f "$top/pipelines/experiments.mk" compare DATA=train.jsonl \
	TEST=test.jsonl OUT=run METHODS='baseline flip10-margin' EVAL_EVERY=5 \
	TOKENIZE_FLAGS='-t bytes -m 128' TRAIN_FLAGS="$flags" >>make.log 2>&1 ||
	{ no "experiments.mk"; tail -20 make.log; }
for m in baseline flip10-margin; do
	grep -q '"accuracy"' "run/compare/$m.eval.json" 2>/dev/null || no "no evaluation of $m"
done
python3 "$top/pipelines/report.py" run --truth train.jsonl >report.out 2>&1 || no "report.py"
grep -q 'flip 10% + margin' run/report.md || no "report lacks the comparison"
grep -q 'ROC AUC' run/report.md || no "report lacks strength against truth"
# split.py: JSON Lines or a JSON array, compressed or not, every tenth held out
python3 -c 'import json; print(json.dumps([{"chosen": "c%d" % i, "rejected": "r"} for i in range(20)]))' |
	zstd -q >arr.json.zst
python3 "$top/pipelines/split.py" arr.json.zst a-train.jsonl a-test.jsonl || no "split.py on an array"
[ "$(wc -l <a-train.jsonl)" -eq 18 ] && [ "$(cat a-test.jsonl)" = '{"chosen":"c9","rejected":"r"}
{"chosen":"c19","rejected":"r"}' ] || no "split.py: $(cat a-test.jsonl)"
python3 "$top/pipelines/split.py" a-train.jsonl b-train.jsonl b-test.jsonl 3 || no "split.py on JSONL"
[ "$(wc -l <b-train.jsonl) $(wc -l <b-test.jsonl)" = "12 6" ] || no "split.py every 3"
# split.py by prompt: PandaLM-style records, several per prompt; no prompt on
# both sides, and the split says so.
python3 -c '
import json
for i in range(60):
    print(json.dumps({"instruction": "q%d" % (i % 23), "input": "",
                      "response1": "a%d" % i, "response2": "b%d" % (i % 7),
                      "annotator1": 1 + i % 2}))' > multi.jsonl
python3 "$top/pipelines/split.py" --info s.json multi.jsonl m-train.jsonl m-test.jsonl ||
	no "split.py by prompt"
python3 - <<'PY' || no "a prompt on both sides of the split"
import json
p = lambda f: {json.loads(l)["instruction"] for l in open(f)}
tr, te = p("m-train.jsonl"), p("m-test.jsonl")
assert tr and te and not (tr & te), (tr & te)
assert len(te) == 2, te            # prompts q9 and q19: one in ten of 23
s = json.load(open("s.json"))
assert s["test_prompts_in_train"] == 0 and s["test_records_duplicating_train"] == 0, s
assert s["train_records"] + s["test_records"] == 60, s
PY
# A test set of one's own: its overlap with training is counted, not hidden.
head -n 5 multi.jsonl > own-test.jsonl
python3 "$top/pipelines/split.py" --test own-test.jsonl --info s2.json multi.jsonl o-train.jsonl o-test.jsonl ||
	no "split.py --test"
grep -q '"test_prompts_in_train": 5' s2.json && grep -q '"test_records_duplicating_train": 5' s2.json ||
	no "split.py --test overlap: $(cat s2.json)"
cmp -s own-test.jsonl o-test.jsonl || no "split.py --test copies the test set"
# make demo DATA=: the user's file is read first (errors name it), then split.
make --no-print-directory -f "$top/pipelines/demo.mk" OUT=d DATA=multi.jsonl \
	TOKENIZE_FLAGS='-t bytes' d/split.json >>make.log 2>&1 || no "demo.mk data step"
grep -q '"test_prompts_in_train": 0' d/split.json || no "demo split: $(cat d/split.json)"
# Rated data (UltraFeedback's layout, prompts repeated): split by record and
# prompt, so every pair of a record, and of a prompt, is on one side; the
# tokenized pairs of the two sides share no prompt.
python3 -c '
import json
for i in range(50):
    print(json.dumps({"instruction": "q%d" % (i % 17), "completions": [
        {"response": "r%d.%d" % (i, j), "fine-grained_score": (i + j) % 4}
        for j in range(4)]}))' > rated.jsonl
make --no-print-directory -f "$top/pipelines/demo.mk" OUT=r DATA=rated.jsonl \
	TOKENIZE_FLAGS='-t bytes' r/split.json >>make.log 2>&1 || no "demo.mk on rated data"
rm-tokenize -q -t bytes r/train.jsonl -o r-train.rmt && rm-tokenize -q -t bytes r/test.jsonl -o r-test.rmt ||
	no "tokenize the rated split"
python3 - <<'PY' || no "rated split"
import json, subprocess
def pairs(f):
    out = subprocess.run(["rm-cat", f], capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines()]
tr, te = pairs("r-train.rmt"), pairs("r-test.rmt")
prompt = lambda r: tuple(r["chosen"][:r["prompt_len"]])
assert tr and te and not ({prompt(r) for r in tr} & {prompt(r) for r in te})
assert len(tr) + len(te) == 50 * 6, (len(tr), len(te))
for side in (tr, te):   # all six pairs of every record, on its side
    by = {}
    for r in side:
        by.setdefault(r["source_id"], set()).add(r["pair_index"])
    assert all(v == set(range(6)) for v in by.values()), by
s = json.load(open("r/split.json"))
assert s["test_prompts_in_train"] == 0 and s["test_records_with_all_responses_in_train"] == 0, s
assert s["test_prompts"] == 1 and s["test_records"] == 3, s   # q9: one prompt in ten of 17
PY
# A layout of one's own through LAYOUT_FLAGS: the split groups by its
# prompt key too (without it every record would be a prompt of its own).
python3 -c '
import json
for i in range(40):
    print(json.dumps({"ask": "q%d" % (i % 13), "replies": ["a%d" % i, "b%d" % i, "c"],
                      "prefs": ["A", "B", "same"]}))' > own.jsonl
make --no-print-directory -f "$top/pipelines/demo.mk" OUT=w DATA=own.jsonl TOKENIZE_FLAGS='-t bytes' \
	LAYOUT_FLAGS='--shape codes --prompt-key ask --responses-key replies --codes-key prefs --label-values A,B,same' \
	w/split.json >>make.log 2>&1 || no "demo.mk with LAYOUT_FLAGS"
python3 - <<'PY' || no "split by an own prompt key"
import json
p = lambda f: [json.loads(l)["ask"] for l in open(f)]
tr, te = p("w/train.jsonl"), p("w/test.jsonl")
assert te and not (set(tr) & set(te)) and len(set(te)) == 1 and len(te) == 3, (tr, te)
s = json.load(open("w/split.json"))
assert s["test_prompts"] == 1 and s["test_prompts_in_train"] == 0, s
PY
printf '{"instruction":"x","input":"","response1":7,"response2":"b","annotator1":1}\n' > bad.jsonl
make --no-print-directory -f "$top/pipelines/demo.mk" OUT=e DATA=bad.jsonl \
	TOKENIZE_FLAGS='-t bytes' e/split.json >e.log 2>&1 && no "demo.mk took bad data"
grep -q "bad.jsonl:1: field 'response1' is a number, not a string" e.log || no "error names the data: $(cat e.log)"
[ $fail -eq 0 ] && echo "pipeline ok"
exit $fail
