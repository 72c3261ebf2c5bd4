#!/bin/sh
# rm-train --resume: after kill -9 mid-run and after SIGTERM, a resumed run
# ends with the same bytes as an uninterrupted one; resume refuses other
# options or other data; the log is appended to.
name=t-resume; . "$(dirname "$0")/common.sh"

rm-synth -n 200 --seed 9 > train.jsonl || fail "rm-synth"
rm-tokenize -q -t bytes -m 96 train.jsonl -o p.rmt || fail "rm-tokenize"
opts="-q -j 1 --layers 2 --heads 2 --width 32 --context 96 --steps 80 --batch-size 8
      --lr 2e-3 --schedule cosine --warmup 10 --dropout 0.1 --seed 5 --save-every 3"
# shellcheck disable=SC2086
rm-train $opts -o full p.rmt || fail "uninterrupted run"

same() {
	cmp -s full/model.safetensors "$1/model.safetensors" || fail "$2: model differs"
	cmp -s full/training_state.safetensors "$1/training_state.safetensors" || fail "$2: state differs"
}
saved_step() {
	python3 - "$1" <<'PY'
import json, struct, sys
b = open(sys.argv[1] + "/training_state.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n])["__metadata__"]["step"])
PY
}

# kill -9 once a few checkpoints exist, then resume
rm-train $opts -o k --log k.jsonl p.rmt &
pid=$!
i=0
while [ ! -f k/training_state.safetensors ] || [ "$(saved_step k 2>/dev/null || echo 0)" -lt 9 ]; do
	i=$((i + 1))
	[ $i -lt 2000 ] || fail "no checkpoint appeared"
	kill -0 $pid 2>/dev/null || break
	sleep 0.01
done
kill -9 $pid 2>/dev/null
wait $pid
s=$(saved_step k) || fail "checkpoint unreadable after kill -9"
echo "killed after a checkpoint at step $s"
[ "$s" -lt 80 ] || echo "note: the run ended before the kill"
rm-train $opts --resume -o k --log k.jsonl p.rmt || fail "resume after kill -9"
same k "kill -9"
python3 -c "
import json
steps = [json.loads(l)['step'] for l in open('k.jsonl')]
assert steps[-1] == 80 and steps[0] == 10, steps
" || fail "log not appended"

# SIGTERM: finish the step, save, status 143; resume
term() { # DIR [options]: start a run into DIR, SIGTERM it after its first checkpoint
	d=$1; shift
	# shellcheck disable=SC2086
	rm-train $opts "$@" -o "$d" p.rmt 2>err &
	pid=$!
	while [ ! -f "$d/training_state.safetensors" ]; do
		kill -0 $pid 2>/dev/null || break
		sleep 0.01
	done
	kill -TERM $pid 2>/dev/null
	wait $pid
	rc=$?
	if [ $rc -eq 143 ]; then
		grep -q "terminated at step [0-9]* of 80: checkpoint saved in $d" err ||
			fail "SIGTERM message: $(cat err)"
	else
		[ $rc -eq 0 ] || fail "SIGTERM: status $rc"
		echo "note: the run ended before SIGTERM"
	fi
}
term t
rm-train $opts --resume -o t p.rmt || fail "resume after SIGTERM"
same t "SIGTERM"

# --save-dtype is kept: a BF16 run resumed without it still writes BF16
# (from the rounded weights, so not the bytes of an uninterrupted run:
# rm-train(1) says so)
term bf --save-dtype bf16
rm-train $opts --resume -o bf p.rmt || fail "resume of a bf16 run"
python3 - bf <<'PY' || fail "resumed bf16 run saved another dtype"
import json, struct, sys
b = open(sys.argv[1] + "/model.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
assert {v["dtype"] for k, v in h.items() if k != "__metadata__"} == {"BF16"}, h
assert json.load(open(sys.argv[1] + "/config.json"))["torch_dtype"] == "bfloat16"
PY

# resuming a finished run changes nothing
rm-train $opts --resume -o t p.rmt || fail "resume of a finished run"
same t "finished"

# refusals: other options, other data, nothing to resume
rm-train $opts --lr 1e-3 --resume -o t p.rmt 2>err
[ $? -eq 2 ] || fail "other lr: not status 2"
grep -q "option 'lr' differs" err || fail "other lr message: $(cat err)"
rm-train $opts --resume -o t --layers 3 p.rmt 2>err
[ $? -eq 2 ] || fail "other shape: not status 2"
rm-synth -n 200 --seed 10 | rm-tokenize -q -t bytes -m 96 -o q.rmt || fail "other data"
rm-train $opts --resume -o t q.rmt 2>err
[ $? -eq 1 ] || fail "other data: not status 1"
grep -q "training data differs" err || fail "other data message: $(cat err)"
rm-train $opts --resume -o nothing p.rmt 2>err
[ $? -eq 1 ] || fail "nothing to resume: not status 1"
exit 0
