#!/bin/sh
# rm-train --contrastive: every kind trains and logs cl_loss; the same seed
# gives the same bytes; SwAV's prototypes live in contrastive_state.safetensors
# (the model file stays the plain reward model) and a SIGTERM + --resume run
# ends with the same bytes as an uninterrupted one; usage errors.
name=t-rm-train-contrastive; . "$(dirname "$0")/common.sh"

rm-synth -n 120 --seed 4 > train.jsonl || fail "rm-synth"
rm-tokenize -q -t bytes -m 96 train.jsonl -o p.rmt || fail "rm-tokenize"
base="-q -j 1 --layers 2 --heads 2 --width 32 --context 96 --batch-size 8 --lr 2e-3 --seed 3"

for k in simcse simcse-diff swav swav-diff; do
	# shellcheck disable=SC2086
	rm-train $base --steps 4 --log $k.jsonl --contrastive $k -o $k p.rmt || fail "$k"
	rm-train $base --steps 4 --contrastive $k -o $k.again p.rmt || fail "$k again"
	cmp -s $k/model.safetensors $k.again/model.safetensors || fail "$k: not deterministic"
	python3 - $k <<'PY' || fail "$k: log or state"
import json, struct, sys
k = sys.argv[1]
rows = [json.loads(l) for l in open(k + ".jsonl")]
assert rows and all(r["cl_loss"] > 0 for r in rows), rows
def names(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return set(json.loads(b[8:8 + n])) - {"__metadata__"}
assert not any("contrastive" in n for n in names(k + "/model.safetensors"))
import os
swav = k.startswith("swav")
assert os.path.exists(k + "/contrastive_state.safetensors") == swav
if swav:
    assert names(k + "/contrastive_state.safetensors") == {
        "contrastive.prototypes", "exp_avg.contrastive.prototypes",
        "exp_avg_sq.contrastive.prototypes"}
PY
	cmp -s $k/contrastive_state.safetensors $k.again/contrastive_state.safetensors ||
		[ ! -f $k/contrastive_state.safetensors ] || fail "$k: state not deterministic"
done
# the contrastive term changes training
rm-train $base --steps 4 -o plain p.rmt || fail "plain"
cmp -s plain/model.safetensors simcse/model.safetensors && fail "simcse made no difference"

# SIGTERM and resume with SwAV: the prototypes and their moments come back
opts="$base --steps 60 --save-every 2 --contrastive swav-diff --prototypes 7 --cl-weight 0.3"
# shellcheck disable=SC2086
rm-train $opts -o full p.rmt || fail "uninterrupted"
rm-train $opts -o t p.rmt 2>err &
pid=$!
while [ ! -f t/training_state.safetensors ]; do
	kill -0 $pid 2>/dev/null || break
	sleep 0.01
done
kill -TERM $pid 2>/dev/null
wait $pid
rc=$?
[ $rc -eq 143 ] || [ $rc -eq 0 ] || fail "SIGTERM: status $rc"
[ $rc -eq 0 ] && echo "note: the run ended before SIGTERM"
rm-train $opts --resume -o t p.rmt || fail "resume"
cmp -s full/model.safetensors t/model.safetensors || fail "resume: model differs"
cmp -s full/contrastive_state.safetensors t/contrastive_state.safetensors ||
	fail "resume: prototypes differ"
rm-train $base --steps 60 --save-every 2 --contrastive swav-diff --prototypes 8 \
	--cl-weight 0.3 --resume -o t p.rmt 2>err
[ $? -eq 2 ] && grep -q "cl_prototypes" err || fail "other K on resume: $(cat err)"

# usage errors
for bad in "--contrastive simclr" "--cl-weight 2" "--contrastive simcse --prototypes 5" \
	   "--contrastive simcse --cl-dropout 0"; do
	# shellcheck disable=SC2086
	rm-train $base --steps 1 $bad -o u p.rmt 2>err
	[ $? -eq 2 ] || fail "$bad: not status 2"
done
exit 0
