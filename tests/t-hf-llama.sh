#!/bin/sh
# The Llama family against an independent PyTorch implementation of
# transformers' modeling code (tests/hf_llama.py), reading the same
# checkpoint files: rewards, pairwise loss, h_last and every gradient within
# 1e-5 + 1e-4 |ref| on tiny random llama (GQA, llama3 rope scaling), mistral,
# qwen2 (biases) and qwen3 (head_dim != hidden / heads, q/k norm)
# checkpoints, a BF16 one and a sharded one, read and mapped.  Then the tools on the family:
# rm-train --init on a *ForCausalLM directory, rm-vote on a
# *ForSequenceClassification one, both scored as transformers would; and
# bad checkpoints refused by name with status 1.  Skips without Debian's
# python3-torch.
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
py=/usr/bin/python3
hf=$top/tests/hf_llama.py
grads=$top/tests/bin/tool-grads
[ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null || { echo "skip: no torch for $py"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-hf-llama.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 1
fail=0

# torch starts twice (hf_llama.py batch): once to write every checkpoint
# and its sequences, once for every reference computation
sets="llama:llama mistral:mistral qwen2:qwen2 qwen3:qwen3 llama-bf16:llama:--bf16:--seed:2
      qwen3-shards:qwen3:--shards:3:--seed:3"
for s in $sets; do
	d=${s%%:*}
	echo "make $(echo "$s" | tr : ' ')"
	echo "seqs $d 16 $d.seqs"
done >make.cmds
echo "make base qwen2 --causal-lm --vocab 257 --seed 5" >>make.cmds
echo "make seqcls qwen3 --vocab 257 --seed 6" >>make.cmds
"$py" "$hf" batch <make.cmds >make.out 2>&1 || { echo "FAIL: making checkpoints"; cat make.out; fail=1; }
grep -q '"BF16"' llama-bf16/model.safetensors || { echo "FAIL: not a BF16 file"; fail=1; }
[ -f qwen3-shards/model-00003-of-00003.safetensors ] || { echo "FAIL: no shards"; fail=1; }
for s in $sets; do
	d=${s%%:*}
	"$grads" -j 2 "$d" "$d.seqs" "$d.grads" 2>/dev/null || { echo "FAIL: tool-grads $d"; fail=1; }
	echo "check $d $d.seqs $d.grads"
done >ref.cmds
# the mapped, sliced path (RM_ST_MAP_MIN, a test knob: these files are far
# under 1 MiB, so read above) loads the same weights: F32, BF16, shards
for d in llama llama-bf16 qwen3-shards; do
	RM_ST_MAP_MIN=1024 "$grads" -j 2 "$d" "$d.seqs" "$d.mapped" 2>/dev/null &&
		cmp -s "$d.grads" "$d.mapped" || { echo "FAIL: $d mapped in 16 KiB slices differs from read"; fail=1; }
done
# the comparison can fail: a reference with another rope_theta disagrees
cp -r llama wrong && sed 's/"rope_theta": 500.0/"rope_theta": 400.0/' llama/config.json >wrong/config.json
echo "! check wrong llama.seqs llama.grads > wrong.out" >>ref.cmds

# tools: a causal LM base for rm-train --init, then rm-vote as transformers
rm-synth -n 48 --seed 9 -o data.jsonl || fail=1
rm-tokenize -q -t bytes -m 64 data.jsonl -o pairs.rmt || fail=1
rm-train -j 2 --init base --steps 4 --lr 1e-3 --seed 3 -o rm pairs.rmt 2>init.err || { cat init.err; fail=1; }
grep -q "no reward head (score.weight): initialised" init.err || { echo "FAIL: --init did not say the head is new"; cat init.err; fail=1; }
grep -q '"Qwen2ForSequenceClassification"' rm/config.json || { echo "FAIL: architectures"; fail=1; }
rm-train -q -j 2 --init base --steps 4 --lr 1e-3 --seed 3 -o rm2 pairs.rmt || fail=1
cmp -s rm/model.safetensors rm2/model.safetensors || { echo "FAIL: same seed, other bits"; fail=1; }
rm-train -q -j 2 --init base --steps 4 --lr 1e-3 --seed 3 --save-dtype bf16 -o rmb pairs.rmt || fail=1
grep -q '"torch_dtype":[[:space:]]*"bfloat16"' rmb/config.json || { echo "FAIL: bf16 config"; fail=1; }
rm-cat pairs.rmt >pairs.jsonl || fail=1
for d in rm rmb seqcls; do
	rm-vote --jsonl "$d" pairs.rmt >"ours-$d.jsonl" || fail=1
	RM_ST_MAP_MIN=1024 rm-vote --jsonl "$d" pairs.rmt | cmp -s - "ours-$d.jsonl" ||
		{ echo "FAIL: rm-vote $d mapped differs from read"; fail=1; }
	echo "score $d < pairs.jsonl > hf-$d.jsonl"
done >>ref.cmds
"$py" "$hf" batch <ref.cmds >ref.out 2>&1 || fail=1
grep -v '^batch: ok' ref.out
for d in rm rmb seqcls; do
	"$py" - "ours-$d.jsonl" "hf-$d.jsonl" "$d" <<'EOP' || fail=1
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
assert len(a) == len(b) == 48, (len(a), len(b))
worst = max(abs(x[k] - y[k]) / (1e-4 + abs(y[k])) for x, y in zip(a, b) for k in ("chosen", "rejected"))
if worst > 1e-3:
    print("FAIL: %s: rm-vote and the reference differ, worst relative %.3g" % (sys.argv[3], worst))
    sys.exit(1)
print("%s: 96 rm-vote rewards agree with the transformers-style reference, worst %.2g" % (sys.argv[3], worst))
EOP
done

# the tokenizer belongs to the model: a stream with another template is
# refused, naming both, unless --any-tokenizer
grep -q '"rmkit_tokenizer"' rm/config.json || { echo "FAIL: no rmkit_tokenizer in config.json"; fail=1; }
rm-tokenize -q -t bytes -T chatml -m 64 data.jsonl -o chatml.rmt || fail=1
rm-vote rm chatml.rmt -o v.rmt 2>tok.err
rc=$?
if [ $rc -ne 1 ] || ! grep -q "template chatml" tok.err || ! grep -q "template hh" tok.err ||
	! grep -q -- "--any-tokenizer" tok.err || [ -e v.rmt ]; then
	echo "FAIL: another template: status $rc"; cat tok.err; fail=1
fi
rm-vote --any-tokenizer rm chatml.rmt -o v.rmt || { echo "FAIL: --any-tokenizer"; fail=1; }
rm-train -q --init rm --steps 1 -o rm3 chatml.rmt 2>tok.err && { echo "FAIL: rm-train --init took another template"; fail=1; }
grep -q -- "--any-tokenizer" tok.err || { echo "FAIL: rm-train --init message"; cat tok.err; fail=1; }
rm-train -q --init rm --any-tokenizer --steps 1 -o rm3 chatml.rmt || fail=1

# bad checkpoints: status 1, a message naming the problem, no output
bad() { # what expected-text dir
	rm -f bad.out
	rm-vote --jsonl "$3" pairs.rmt -o bad.out 2>bad.err
	rc=$?
	if [ $rc -ne 1 ] || ! grep -q -- "$2" bad.err || [ -e bad.out ]; then
		echo "FAIL: $1: status $rc, want 1 and '$2'"; cat bad.err; fail=1
	fi
}
edit() { # dir python-expression-on-cfg
	rm -rf "$1" && cp -r seqcls "$1" &&
	"$py" -c "import json,sys; c=json.load(open('$1/config.json')); $2; json.dump(c, open('$1/config.json','w'))"
}
edit b1 'c["model_type"]="gemma"'; bad "unknown model_type" 'model_type "gemma" is not supported' b1
edit b2 'c["rope_scaling"]={"rope_type":"yarn","factor":4.0}'; bad "rope_scaling yarn" 'rope_scaling type "yarn"' b2
edit b3 'c["use_sliding_window"]=True'; bad "sliding window" 'use_sliding_window' b3
edit b4 'c["num_experts"]=8'; bad "mixture of experts" 'num_experts' b4
edit b5 'c["hidden_size"]=48'; bad "shape" "has shape \[257, 32\], config.json needs \[257, 48\]" b5
edit b6 'c["num_hidden_layers"]=4000'; bad "larger than the file" 'n_layer 4000 out of range' b6
edit b7 'c["intermediate_size"]=400000'; bad "larger than the file" 'cannot be in' b7
edit b8 'c["hidden_act"]="gelu"'; bad "hidden_act" 'hidden_act gelu' b8
rm -rf s1 && cp -r qwen3-shards s1 && rm s1/model-00002-of-00003.safetensors
bad "missing shard" 'model-00002-of-00003.safetensors' s1
rm -rf s2 && cp -r qwen3-shards s2 &&
	sed 's/"model-00001-of-00003.safetensors"/"..\/x.safetensors"/' qwen3-shards/model.safetensors.index.json >s2/model.safetensors.index.json
bad "index outside the directory" 'not a .safetensors file in the directory' s2
rm -rf s3 && cp -r qwen3-shards s3 &&
	"$py" -c "import json; j=json.load(open('s3/model.safetensors.index.json')); k=sorted(j['weight_map'])[0]; del j['weight_map'][k]; json.dump(j, open('s3/model.safetensors.index.json','w'))"
bad "tensor in a shard the index does not list" 'is not listed for this shard' s3
rm -rf s4 && cp -r qwen3-shards s4 &&
	"$py" -c "import json; j=json.load(open('s4/model.safetensors.index.json')); j['weight_map']['extra.weight']='model-00001-of-00003.safetensors'; json.dump(j, open('s4/model.safetensors.index.json','w'))"
bad "index names a tensor its shard lacks" "tensor 'extra.weight' is not in" s4
exit $fail
