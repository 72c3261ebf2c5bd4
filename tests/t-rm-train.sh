#!/bin/sh
# rm-train: a tiny model learns synthetic pairs; same seed and -j give the
# same bytes, another seed does not; the log and evaluation; the options'
# errors; a sequence over the context; a non-finite loss names the records
# and keeps the last checkpoint; --init from a checkpoint without a head.
name=t-rm-train; . "$(dirname "$0")/common.sh"
check_synopsis rm-train

rm-synth -n 240 --seed 4 --test 60 --test-out test.jsonl > train.jsonl || fail "rm-synth"
rm-tokenize -q -t bytes -m 128 train.jsonl -o p.rmt || fail "rm-tokenize"
rm-tokenize -q -t bytes -m 128 test.jsonl -o e.rmt || fail "rm-tokenize test"
tiny="--layers 1 --heads 2 --width 32 --context 128"
run() { rm-train -q $tiny --epochs 2 --batch-size 16 --lr 3e-3 "$@" p.rmt; }

run -j 1 --seed 3 -o a --log a.jsonl --log-every 5 --eval e.rmt --eval-every 10 ||
	fail "training failed"
for f in model.safetensors config.json training_state.safetensors training_run.json; do
	[ -s "a/$f" ] || fail "no $f"
done
[ ! -e a.tmp ] || fail "a.tmp left behind"
run -j 1 --seed 3 -o b || fail "second run"
cmp -s a/model.safetensors b/model.safetensors || fail "-j 1: same seed, different model"
cmp -s a/training_state.safetensors b/training_state.safetensors || fail "different state"
run -j 2 --seed 3 -o c && run -j 2 --seed 3 -o d || fail "-j 2 runs"
cmp -s c/model.safetensors d/model.safetensors || fail "-j 2: same seed, different model"
run -j 1 --seed 4 -o e || fail "seed 4"
cmp -s a/model.safetensors e/model.safetensors && fail "another seed, same model"
# bf16 products: same seed, same bits; not the fp32 model; fp32 checkpoints
run -j 2 --seed 3 --precision bf16 -o bf1 2>/dev/null &&
	run -j 2 --seed 3 --precision bf16 -o bf2 2>/dev/null || fail "bf16 runs"
cmp -s bf1/model.safetensors bf2/model.safetensors || fail "bf16: same seed, different model"
cmp -s bf1/model.safetensors c/model.safetensors && fail "bf16 model equals the fp32 one"
cmp -s bf1/config.json c/config.json || fail "bf16 changed config.json"

python3 - <<'PY' || fail "log"
import json
lines = [json.loads(l) for l in open("a.jsonl")]
train = [l for l in lines if "loss" in l]
ev = [l for l in lines if "eval_loss" in l]
keys = {"step", "epoch", "loss", "accuracy", "reward_chosen_mean", "reward_chosen_std",
        "reward_rejected_mean", "reward_rejected_std", "margin_mean", "lr", "grad_norm",
        "tokens_per_s"}
assert all(set(l) == keys for l in train), train[0]
assert [l["step"] for l in train] == list(range(5, 31, 5)), [l["step"] for l in train]
assert [l["step"] for l in ev] == [10, 20, 30], ev
assert abs(train[-1]["epoch"] - 2) < 1e-9 and train[-1]["lr"] == 0.003
assert all(0 <= l["eval_accuracy"] <= 1 for l in ev)
# it learns: the synthetic labels are mostly right
assert train[-1]["loss"] < train[0]["loss"], (train[0]["loss"], train[-1]["loss"])
PY

# usage errors: status 2, no output
rm-train p.rmt 2>err; [ $? -eq 2 ] || fail "no -o: not status 2"
rm-train -o x --schedule wavy p.rmt 2>err; [ $? -eq 2 ] || fail "bad schedule"
rm-train -o x --init a --config a/config.json p.rmt 2>err; [ $? -eq 2 ] || fail "init+config"
rm-train -o x $tiny --heads 3 p.rmt 2>err; [ $? -eq 2 ] || fail "width not multiple of heads"
rm-train -o x $tiny --batch-tokens 50 p.rmt 2>err; [ $? -eq 2 ] || fail "budget below a pair"
grep -q "more than the batch budget of 50 tokens" err || fail "budget message: $(cat err)"
[ ! -e x ] || fail "output after a usage error"

# data errors: a sequence over the context names the record; --truncate
rm-train -q -o x --layers 1 --heads 2 --width 32 --context 64 p.rmt 2>err
[ $? -eq 1 ] || fail "long sequence: not status 1"
grep -q "^rm-train: p.rmt: record [0-9]*: sequence '[a-z]*' has [0-9]* tokens, more than 64" err ||
	fail "long sequence message: $(cat err)"
rm-train -q -o x --layers 1 --heads 2 --width 32 --context 64 --steps 2 --truncate p.rmt ||
	fail "--truncate"
echo '{"chosen":"a","rejected":"b"}' > j.jsonl
rm-train -o y j.jsonl 2>err; [ $? -eq 1 ] || fail "JSONL input"
grep -q "not a token stream" err || fail "JSONL message: $(cat err)"

# non-finite: an infinite position embedding (position 100 only) stops the
# first step that reaches it, naming its records; the checkpoint stays
python3 - <<'PY' || fail "poisoning"
import json, struct, shutil
shutil.copytree("a", "bad")
p = "bad/model.safetensors"
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
t = h["transformer.wpe.weight"]
off = 8 + n + t["data_offsets"][0] + 100 * t["shape"][1] * 4
b[off:off + 4] = struct.pack("<f", float("inf"))
open(p, "wb").write(b)
PY
rm-train -q -j 1 -o nf --init bad --steps 40 --batch-size 4 --save-every 1 p.rmt 2>err
[ $? -eq 1 ] || fail "non-finite: not status 1"
grep -q "^rm-train: step [0-9]*: non-finite reward in the batch of records with ids [0-9]" err ||
	fail "non-finite message: $(cat err)"
s=$(sed -n 's/.*step \([0-9]*\):.*/\1/p' err)
if [ "$s" -gt 1 ]; then
	[ -f nf/training_state.safetensors ] || fail "no checkpoint kept"
	python3 - "$s" <<'PY' || fail "kept checkpoint is not the last good step"
import json, struct, sys
b = open("nf/training_state.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
m = json.loads(b[8:8 + n])["__metadata__"]
assert int(m["step"]) == int(sys.argv[1]) - 1, (m["step"], sys.argv[1])
PY
fi

# --init from a directory without score.weight: a new head, said on stderr
python3 - <<'PY' || fail "headless copy"
import json, struct, shutil
shutil.copytree("a", "base")
p = "base/model.safetensors"
b = open(p, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
del h["score.weight"]
hb = json.dumps(h).encode()
hb += b" " * (-len(hb) % 8)
open(p, "wb").write(struct.pack("<Q", len(hb)) + hb + b[8 + n:])
PY
rm-train -j 1 -o f --init base --steps 2 p.rmt 2>err || fail "--init base: $(cat err)"
grep -q "no reward head.*initialised from seed 1" err || fail "head message: $(cat err)"
exit 0
