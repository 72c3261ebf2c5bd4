#!/bin/sh
# A checkpoint rm-train writes, loaded the way transformers'
# GPT2ForSequenceClassification.from_pretrained would (tests/hf_gpt2.py: its
# forward pass in plain PyTorch, config.json and model.safetensors read by
# hand), gives rm-vote's rewards.  Skips without Debian's python3-torch.
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
py=/usr/bin/python3
[ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null || { echo "skip: no torch for $py"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-hf-checkpoint.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0
rm-synth -n 64 --seed 9 -o data.jsonl || fail=1
rm-tokenize -q -t bytes -m 96 data.jsonl -o pairs.rmt || fail=1
rm-train -q -j 1 --layers 2 --heads 2 --width 32 --context 96 --steps 6 --lr 1e-3 \
	--seed 3 -o rm pairs.rmt || fail=1
grep -q '"pad_token_id":[[:space:]]*null' rm/config.json || { echo "FAIL: pad_token_id is not null"; fail=1; }
rm-vote --jsonl rm pairs.rmt >ours.jsonl || fail=1
rm-cat pairs.rmt | "$py" "$top/tests/hf_gpt2.py" rm >hf.jsonl || fail=1
"$py" - ours.jsonl hf.jsonl <<'EOP' || fail=1
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 64, (len(a), len(b))
worst = 0.0
for x, y in zip(a, b):
    assert x["id"] == y["id"]
    for k in ("chosen", "rejected"):
        d = abs(x[k] - y[k]) / (1e-4 + abs(y[k]))
        worst = max(worst, d)
# float32 on both sides, different summation orders
if worst > 1e-3:
    print("FAIL: rewards differ, worst relative difference %.3g" % worst)
    sys.exit(1)
print("128 rewards agree with the transformers-style reference, worst rel. diff %.2g" % worst)
EOP
exit $fail
