#!/bin/sh
# bench-bf16.sh - bf16 quality against fp32 on real preference data: the
# HH-RLHF sample (../shared/data/hh-rlhf-harmless-base-test.jsonl.zst, 2,312
# pairs; the first 2,000 train, the last 312 are held out), GPT-2 tokens cut
# at 256.
#
#   sign   one model trained in fp32, the held-out pairs scored with
#          rm-vote --precision fp32 and --precision bf16: the share of pairs
#          whose reward differences agree in sign (goal: >= 99.5%), and the
#          largest reward difference.
#   train  the model trained 3 times (seeds 1-3) in fp32 and in bf16:
#          held-out accuracy per seed, mean and spread (max - min) of each;
#          bf16 matches when its mean lies within fp32's spread of fp32's
#          mean.
# Environment: BF16_FLAGS (model and training flags; default a width-64,
# 2-layer model, 1 epoch), BF16_THREADS (default 2).
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
data=$top/../shared/data/hh-rlhf-harmless-base-test.jsonl.zst
[ -f "$data" ] || { echo "(no $data: skipped)"; exit 0; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-bf16.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
j=${BF16_THREADS:-2}
flags=${BF16_FLAGS:---layers 2 --heads 2 --width 64 --context 256 --epochs 1 --lr 1e-3 --warmup 10 --batch-size 16}
zstd -q -dc "$data" | head -n 2000 > "$tmp/train.jsonl"
zstd -q -dc "$data" | tail -n +2001 > "$tmp/test.jsonl"
for s in train test; do
	rm-tokenize -q -j $j -m 256 "$tmp/$s.jsonl" -o "$tmp/$s.rmt" || { echo "rm-tokenize failed"; exit 1; }
done
acc() { # model precision -> held-out accuracy
	rm-vote -j $j --precision "$2" --jsonl "$1" "$tmp/test.rmt" 2>/dev/null > "$tmp/v.jsonl" &&
		python3 -c "
import json
v = [json.loads(l) for l in open('$tmp/v.jsonl')]
print('%.4f' % (sum(x['chosen'] > x['rejected'] for x in v) / len(v)))"
}
for prec in fp32 bf16; do
	for seed in 1 2 3; do
		rm-train -q -j $j --seed $seed --precision $prec $flags -o "$tmp/m-$prec-$seed" \
			"$tmp/train.rmt" 2>/dev/null || { echo "rm-train $prec $seed failed"; exit 1; }
		echo "$prec $seed $(acc "$tmp/m-$prec-$seed" $prec)"
	done
done > "$tmp/acc"
rm-vote -j $j --jsonl "$tmp/m-fp32-1" "$tmp/test.rmt" > "$tmp/f.jsonl" &&
	rm-vote -j $j --precision bf16 --jsonl "$tmp/m-fp32-1" "$tmp/test.rmt" 2>/dev/null > "$tmp/b.jsonl" ||
	{ echo "rm-vote failed"; exit 1; }
python3 - "$tmp/f.jsonl" "$tmp/b.jsonl" "$tmp/acc" <<'PY'
import json, sys
f = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
same = sum((x["chosen"] - x["rejected"] > 0) == (y["chosen"] - y["rejected"] > 0) for x, y in zip(f, b))
dmax = max(abs(x[k] - y[k]) for x, y in zip(f, b) for k in ("chosen", "rejected"))
print("sign: fp32 model scored in fp32 and bf16 on %d held-out pairs: differences agree in sign "
      "on %.2f%% (goal >= 99.5%%); largest reward difference %.4f" % (len(f), 100 * same / len(f), dmax))
# pairs whose fp32 margin is larger than twice the largest bf16 error: the
# rest are ties at bf16's resolution
far = [(x, y) for x, y in zip(f, b) if abs(x["chosen"] - x["rejected"]) > 2 * dmax]
fsame = sum((x["chosen"] - x["rejected"] > 0) == (y["chosen"] - y["rejected"] > 0) for x, y in far)
print("sign: %d pairs disagree; of the %d pairs whose fp32 margin exceeds %.4f (twice the largest "
      "bf16 error) %.2f%% agree" % (len(f) - same, len(far), 2 * dmax, 100 * fsame / max(len(far), 1)))
acc = {}
for line in open(sys.argv[3]):
    p, s, a = line.split()
    acc.setdefault(p, []).append(float(a))
for p, v in acc.items():
    print("train %s: held-out accuracy %s, mean %.4f, spread %.4f"
          % (p, " ".join("%.4f" % x for x in v), sum(v) / len(v), max(v) - min(v)))
mf, mb = sum(acc["fp32"]) / 3, sum(acc["bf16"]) / 3
sp = max(acc["fp32"]) - min(acc["fp32"])
print("train: bf16 mean - fp32 mean %+.4f, fp32 spread %.4f: %s"
      % (mb - mf, sp, "within" if abs(mb - mf) <= sp else "outside"))
PY
