#!/bin/sh
# rm-metastep: a MetaRM round from an rm-train checkpoint logs J and |dr|,
# is deterministic, changes the model unlike a plain round (--meta-lr 0),
# resumes bit-identically after SIGTERM; usage and data errors.
name=t-rm-metastep; . "$(dirname "$0")/common.sh"
check_synopsis rm-metastep

rm-synth -n 120 --seed 6 --groups 24 --k 5 --groups-out g.jsonl > p.jsonl || fail "rm-synth"
rm-tokenize -q -t bytes -m 96 p.jsonl -o p.rmt || fail "tokenize pairs"
rm-tokenize -q -t bytes -m 96 -s group g.jsonl -o g.rmt || fail "tokenize groups"
rm-train -q -j 1 --layers 2 --heads 2 --width 32 --context 96 --steps 6 --lr 2e-3 \
	-o base p.rmt || fail "rm-train"

opts="-q -j 1 --init base --lr 1e-3 --meta-lr 1e-2 --batch-size 8 --meta-batch 4 --log-every 1"
# shellcheck disable=SC2086
rm-metastep $opts --log m.jsonl -o m p.rmt g.rmt || fail "metastep"
rm-metastep $opts -o m2 p.rmt g.rmt || fail "metastep again"
cmp -s m/model.safetensors m2/model.safetensors || fail "not deterministic"
rm-metastep $opts --meta-lr 0 -o plain p.rmt g.rmt || fail "plain"
cmp -s m/model.safetensors plain/model.safetensors && fail "the meta step changed nothing"
python3 - <<'PY' || fail "log"
import json
rows = [json.loads(l) for l in open("m.jsonl")]
assert len(rows) == 15 and rows[-1]["step"] == 15, len(rows)   # 120 pairs / 8
for r in rows:
    k = 5
    assert (k - 1) / (2 * k) - 1e-6 <= r["j"] <= (k - 1) / k, r   # J's range
    assert r["abs_delta_mean"] > 0 and 0 <= r["accuracy"] <= 1 and r["loss"] > 0
st = json.load(open("m/metarm_state.json"))
assert st["groups"] == "24" and st["meta_batch"] == "4", st
PY

# SIGTERM, then --resume: the same bytes
opts2="$opts --save-every 1 --steps 40"
# shellcheck disable=SC2086
rm-metastep $opts2 -o full p.rmt g.rmt || fail "uninterrupted"
rm-metastep $opts2 -o t p.rmt g.rmt 2>err &
pid=$!
while [ ! -f t/metarm_state.json ]; do
	kill -0 $pid 2>/dev/null || break
	sleep 0.01
done
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
[ $rc -eq 143 ] || [ $rc -eq 0 ] || fail "SIGTERM: status $rc"
rm-metastep -q -j 1 --resume --lr 1e-3 --meta-lr 1e-2 --batch-size 8 --meta-batch 4 \
	--save-every 1 --steps 40 -o t p.rmt g.rmt || fail "resume"
cmp -s full/model.safetensors t/model.safetensors || fail "resume: model differs"
cmp -s full/metarm_state.json t/metarm_state.json || fail "resume: meta position differs"
rm-metastep -q -j 1 --resume --lr 1e-3 --meta-lr 1e-3 --batch-size 8 --meta-batch 4 \
	--save-every 1 --steps 40 -o t p.rmt g.rmt 2>err
[ $? -eq 2 ] && grep -q "meta_lr" err || fail "other meta-lr on resume: $(cat err)"

# errors
rm-metastep -q -o u p.rmt g.rmt 2>err; [ $? -eq 2 ] || fail "no --init: not 2"
rm-metastep -q --init base -o u p.rmt 2>err; [ $? -eq 2 ] || fail "one file: not 2"
rm-metastep -q --init base -o u p.rmt p.rmt 2>err; [ $? -eq 1 ] || fail "pairs as groups: not 1"
grep -q "rm-metastep: " err || fail "message: $(cat err)"
exit 0
