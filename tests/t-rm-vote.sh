#!/bin/sh
# rm-vote: pairs, single responses and groups; the tensor stream and
# --jsonl agree (as rm-cat prints); rewards do not depend on the batch
# budget; input order kept; accuracy matches rm-train's evaluation; errors
# name the file and record; no output file after a failure.
name=t-rm-vote; . "$(dirname "$0")/common.sh"
check_synopsis rm-vote

rm-synth -n 150 --seed 6 --test 50 --test-out test.jsonl --groups 12 --k 3 \
	--groups-out g.jsonl > train.jsonl || fail "rm-synth"
for f in train test g; do
	rm-tokenize -q -t bytes -m 128 $f.jsonl -o $f.rmt || fail "rm-tokenize $f"
done
python3 -c "
import json
for l in open('test.jsonl'):
    r = json.loads(l)
    print(json.dumps({'prompt': '', 'response': r['chosen']}))
" > s.jsonl
rm-tokenize -q -t bytes -m 128 -s single s.jsonl -o s.rmt || fail "rm-tokenize singles"
rm-train -q -j 1 --layers 1 --heads 2 --width 32 --context 128 --epochs 2 --lr 3e-3 \
	--batch-size 16 --eval test.rmt --log log.jsonl -o m train.rmt || fail "rm-train"

rm-vote -j 1 m test.rmt -o v.rmt || fail "vote"
rm-vote -j 1 --jsonl m test.rmt > v.jsonl || fail "vote --jsonl"
rm-cat v.rmt > v.cat || fail "rm-cat"
cmp -s v.cat v.jsonl || fail "--jsonl differs from rm-cat of the stream"
rm-vote -j 1 -b 300 m < test.rmt > v2.rmt || fail "vote, small batches, stdin"
cmp -s v.rmt v2.rmt || fail "rewards depend on the batch budget"
rm-vote -j 1 -z m test.rmt > v3.rmt.zst || fail "vote -z"
zstd -q -dc v3.rmt.zst | cmp -s - v.rmt || fail "-z differs"

python3 - <<'PY' || fail "votes"
import json, math
votes = [json.loads(l) for l in open("v.jsonl")]
toks = [json.loads(l) for l in open("test.jsonl")]
assert [v["id"] for v in votes] == list(range(len(toks))), "order or ids"
assert all(set(v) == {"id", "hash", "chosen", "rejected"} for v in votes)
assert all(isinstance(v["hash"], int) and v["hash"] >= 0 for v in votes)
acc = sum(v["chosen"] > v["rejected"] for v in votes) / len(votes)
ev = [json.loads(l) for l in open("log.jsonl") if "eval_accuracy" in l][-1]
assert abs(acc - ev["eval_accuracy"]) < 1e-9, (acc, ev)
PY

rm-vote -j 1 --jsonl m s.rmt > s.votes || fail "singles"
rm-vote -j 1 --jsonl m g.rmt > g.votes || fail "groups"
python3 - <<'PY' || fail "singles and groups"
import json
s = [json.loads(l) for l in open("s.votes")]
assert len(s) == 50 and all(set(v) == {"id", "hash", "reward"} for v in s)
g = [json.loads(l) for l in open("g.votes")]
assert len(g) == 12 and all(set(v) == {"id", "hash", "rewards"} and len(v["rewards"]) == 3
                            for v in g), g[0]
PY

# --precision bf16: the same records, rewards near fp32's, the same bits for
# another batch budget; bf16 without bf16 instructions says so once; a bad
# value is a usage error
rm-vote -j 1 --precision bf16 --jsonl m test.rmt > vb.jsonl 2> vb.err || fail "vote bf16"
rm-vote -j 2 -b 300 --precision bf16 --jsonl m test.rmt > vb2.jsonl 2>/dev/null ||
	fail "vote bf16, small batches"
cmp -s vb.jsonl vb2.jsonl || fail "bf16 rewards depend on the batch budget"
python3 - <<'PY' || fail "bf16 votes"
import json
a = [json.loads(l) for l in open("v.jsonl")]
b = [json.loads(l) for l in open("vb.jsonl")]
assert [x["id"] for x in a] == [x["id"] for x in b]
d = [abs(x[k] - y[k]) for x, y in zip(a, b) for k in ("chosen", "rejected")]
assert max(d) < 0.05 and max(d) > 0, max(d)
PY
if grep -q avx512_bf16 /proc/cpuinfo; then :; else
	[ "$(grep -c 'precision bf16' vb.err)" = 1 ] || fail "bf16 note: $(cat vb.err)"
fi
rm-vote --precision fp16 m test.rmt > /dev/null 2> bad.err
[ $? -eq 2 ] && grep -q "'fp16' is not fp32 or bf16" bad.err || fail "--precision fp16: $(cat bad.err)"

# errors
if command -v script >/dev/null; then  # a terminal on stdout: refused, status 2
	script -qec "rm-vote -j 1 m test.rmt" /dev/null > tty.out
	[ $? -eq 2 ] || fail "binary output to a terminal: not status 2"
	grep -q "refusing to write binary data to a terminal" tty.out || fail "tty: $(cat tty.out)"
	script -qec "rm-vote -j 1 --jsonl m test.rmt" /dev/null > tty.out || fail "--jsonl to a tty"
fi
rm-vote 2>err; [ $? -eq 2 ] || fail "no checkpoint: not status 2"
rm-vote -j 1 nowhere test.rmt -o x.rmt 2>err; [ $? -eq 1 ] || fail "no checkpoint dir"
[ ! -e x.rmt ] || fail "output left after a failure"
rm-vote -j 1 m test.jsonl -o x.rmt 2>err; [ $? -eq 1 ] || fail "JSONL input"
grep -q "test.jsonl: not a token stream" err || fail "JSONL message: $(cat err)"
rm-tokenize -q -t bytes test.jsonl -o long.rmt || fail "untruncated tokenize"
rm-vote -j 1 m long.rmt -o x.rmt 2>err; [ $? -eq 1 ] || fail "long: not status 1"
grep -q "^rm-vote: long.rmt: record [0-9]*: sequence '[a-z]*' has [0-9]* tokens, more than 128" err ||
	fail "long message: $(cat err)"
[ ! -e x.rmt ] || fail "output left after a long sequence"
rm-vote -j 1 --truncate m long.rmt -o x.rmt || fail "--truncate"
rm-vote -j 1 -b 100 m test.rmt -o x.rmt 2>err; [ $? -eq 1 ] || fail "budget: not status 1"
grep -q "has [0-9]* tokens, more than the batch budget of 100" err || fail "budget: $(cat err)"
exit 0
