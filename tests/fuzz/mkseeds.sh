#!/bin/sh
# Make the seed corpora tests/fuzz/corpus/HARNESS/ from the built tools
# (run from the top after `make`; the seeds are committed, so this is only
# needed to refresh them).  Every seed is small: the fuzzers mutate from
# valid files of each format, produced the way the tests produce them.
set -eu
cd "$(dirname "$0")/../.."
top=$(pwd)
PATH=$top/bin:$top/tests/bin:$PATH
c=tests/fuzz/corpus
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for h in prefs tstream safetensors checkpoint bpe_gpt2 bpe_hf encode votes strength; do
	rm -rf "$c/$h"
	mkdir -p "$c/$h"
done
sep() { printf '\n====\n'; }

# prefs: byte 0 = shape (0 auto .. 7 single) | 8 for chatml
rm-synth -n 3 --seed 1 --groups 2 --k 3 --groups-out "$tmp/g.jsonl" > "$tmp/s.jsonl"
{ printf '\0'; cat "$tmp/s.jsonl"; } > $c/prefs/synth
{ printf '\6'; cat "$tmp/g.jsonl"; } > $c/prefs/group
printf '\1{"chosen":"\\n\\nHuman: hi\\n\\nAssistant: yes","rejected":"\\n\\nHuman: hi\\n\\nAssistant: no","id":"0x1f"}\n' > $c/prefs/hh
printf '\2{"prompt":"p","chosen":"a","rejected":"b","hash":18446744073709551615}\r\n{"chosen":"same a","rejected":"same b"}\n' > $c/prefs/standard
printf '\13{"prompt":[{"role":"system","content":"s"},{"role":"user","content":"q"}],"chosen":[{"role":"assistant","content":"a"}],"rejected":[{"role":"assistant","content":"b"}]}\n' > $c/prefs/conv-chatml
printf '\4{"chosen":["q","a1","q2","a2"],"rejected":["q","a1","q2","b2"]}\n' > $c/prefs/turns
printf '\5{"conversations":[{"from":"human","value":"q"}],"chosen":{"from":"gpt","value":"a"},"rejected":{"from":"gpt","value":"b"}}\n' > $c/prefs/sharegpt
printf '\7[{"prompt":"p","response":"r"},{"prompt":"p2","response":"r2","id":7}]\n' > $c/prefs/single-array
printf '\0{"prompt":"p","responses":[{"role":"assistant","content":"x"},"y"]}\n\n{"bad":\n' > $c/prefs/mixed

# tstream: byte 0 = mode (1 zstd, 2 through rm_pairs_read)
rm-tokenize -q -t bytes -m 64 "$tmp/s.jsonl" -o "$tmp/p.rmt"
rm-tokenize -q -t bytes -m 64 -s group "$tmp/g.jsonl" -o "$tmp/g.rmt"
printf '{"prompt":"p","response":"r"}\n' | rm-tokenize -q -t bytes -o "$tmp/one.rmt"
tool-rmt random "$tmp/r.rmt" 3 7
for f in p g one r; do
	{ printf '\0'; cat "$tmp/$f.rmt"; } > $c/tstream/$f
	{ printf '\2'; cat "$tmp/$f.rmt"; } > $c/tstream/$f-pairs
done
{ printf '\3'; cat "$tmp/p.rmt"; } > $c/tstream/p-zstd-pairs
{ printf '\0'; zstd -q -c "$tmp/g.rmt"; } > $c/tstream/g-zstd-raw

# checkpoint and safetensors: a tiny trained model
rm-train -q -j 1 --layers 1 --heads 1 --width 4 --context 64 --vocab 257 \
	--steps 1 --batch-size 2 --save-every 1 -o "$tmp/ck" "$tmp/p.rmt"
cp "$tmp/ck/model.safetensors" $c/safetensors/model
cp "$tmp/ck/training_state.safetensors" $c/safetensors/state
cp tests/data/parity.safetensors $c/safetensors/parity 2>/dev/null || true
tool-st write "$tmp/fixed.safetensors" && cp "$tmp/fixed.safetensors" $c/safetensors/fixed
{ cat "$tmp/ck/config.json"; sep; cat "$tmp/ck/model.safetensors"; sep
  cat "$tmp/ck/training_state.safetensors"; } > $c/checkpoint/trained
{ cat "$tmp/ck/config.json"; sep; cat "$tmp/ck/model.safetensors"; } > $c/checkpoint/no-state
printf '{"n_embd":4,"n_layer":1,"n_head":1,"n_positions":8,"vocab_size":5}' > $c/checkpoint/config-only
# Hugging Face Llama-family directories as tests/hf_llama.py writes them,
# shrunk to hidden 8: each family's SequenceClassification, a causal LM in
# BF16, and index + two shards (needs Debian's python3-torch)
/usr/bin/python3 - "$tmp" <<'PY'
import os, sys
sys.path.insert(0, "tests")
import hf_llama
for k, cfg in hf_llama.KINDS.items():
    cfg.update(hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=2,
               num_key_value_heads=1, vocab_size=11, max_position_embeddings=16)
    if "head_dim" in cfg:
        cfg["head_dim"] = 6
    hf_llama.make([os.path.join(sys.argv[1], "hf-" + k), k])
hf_llama.make([os.path.join(sys.argv[1], "hf-causal-bf16"), "llama", "--causal-lm", "--bf16"])
hf_llama.make([os.path.join(sys.argv[1], "hf-shards"), "qwen2", "--shards", "2"])
hf_llama.make([os.path.join(sys.argv[1], "hf-shards-bf16"), "qwen3", "--shards", "2", "--bf16"])
PY
for k in llama mistral qwen2 qwen3 causal-bf16; do
	{ cat "$tmp/hf-$k/config.json"; sep; cat "$tmp/hf-$k/model.safetensors"; } > $c/checkpoint/hf-$k
done
for k in shards shards-bf16; do
	{ cat "$tmp/hf-$k/config.json"; sep; cat "$tmp/hf-$k/model.safetensors.index.json"; sep
	  cat "$tmp/hf-$k/model-00001-of-00002.safetensors"; sep
	  cat "$tmp/hf-$k/model-00002-of-00002.safetensors"; } > $c/checkpoint/hf-$k
done

# tokenizers: tiny vocabularies in both formats (from t-bpe's shape)
python3 - "$c" <<'PY'
import json, sys
c = sys.argv[1]
bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xa1, 0xad)) + list(range(0xae, 0x100))
cs, n = bs[:], 0
for b in range(256):
    if b not in bs:
        bs.append(b); cs.append(256 + n); n += 1
u = {b: chr(ch) for b, ch in zip(bs, cs)}
def t(s): return "".join(u[b] for b in s.encode())
vocab = {u[b]: b for b in range(256)}
merges = [("h", "e"), ("l", "l"), ("he", "ll"), (" ", "w"), ("o", "r"), (" w", "or")]
for a, b in merges:
    vocab[t(a + b)] = len(vocab)
vocab["<|endoftext|>"] = len(vocab)
enc = json.dumps(vocab)
voc = "#version: 0.2\n" + "".join(t(a) + " " + t(b) + "\n" for a, b in merges)
text = "hello world, héllo wörld! 123 'll 're\n\n  x"
sep = "\n====\n"
open(c + "/bpe_gpt2/tiny", "w").write(enc + sep + voc + sep + text)
open(c + "/bpe_gpt2/no-text", "w").write(enc + sep + voc)
hf = {"version": "1.0", "added_tokens": [{"id": len(vocab) - 1, "content": "<|endoftext|>", "special": True}],
      "normalizer": None, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
      "post_processor": None, "decoder": {"type": "ByteLevel"},
      "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                "ignore_merges": False, "vocab": vocab, "merges": [t(a) + " " + t(b) for a, b in merges]}}
open(c + "/bpe_hf/strings", "w").write(json.dumps(hf) + sep + text)
hf["model"]["merges"] = [[t(a), t(b)] for a, b in merges]
hf["model"]["ignore_merges"] = True
hf["pre_tokenizer"]["add_prefix_space"] = True
open(c + "/bpe_hf/pairs", "w").write(json.dumps(hf) + sep + text)
PY
i=0
while IFS= read -r line; do
	i=$((i + 1))
	printf '%s' "$line" | python3 -c 'import json,sys; sys.stdout.write(json.loads(sys.stdin.read()))' \
		> $c/encode/edge$i 2>/dev/null || rm -f $c/encode/edge$i
done < tests/bpe-edge.jsonl
printf 'Hello world \xff\xfe bad utf8 \xc0\xaf and emoji \xf0\x9f\x98\x80' > $c/encode/bytes

# votes: rm-vote output (tensor stream and JSONL), zstd, and lined-up pairs
rm-vote -j 1 "$tmp/ck" "$tmp/p.rmt" -o "$tmp/v.rmt"
rm-vote -j 1 --jsonl "$tmp/ck" "$tmp/p.rmt" -o "$tmp/v.jsonl"
cp "$tmp/v.rmt" $c/votes/rmt
cp "$tmp/v.jsonl" $c/votes/jsonl
zstd -q -c "$tmp/v.jsonl" > $c/votes/jsonl-zstd
{ cat "$tmp/v.rmt"; sep; cat "$tmp/v.jsonl"; } > $c/votes/two
printf '{"id":0,"delta":1.5}\n{"id":1,"rewards":[1,2,3]}\n{"id":"0x2","reward":0.5,"hash":"12"}\n' > $c/votes/kinds

# strength
rm-strength -q "$tmp/v.rmt" "$tmp/v.rmt" > $c/strength/ens
printf '{"id":0,"strength_mean":0.5}\n{"id":1,"strength_mean":-1,"strength_std":0.2,"hash":"0xff"}\n{"id":2,"strength_mean":0.5}\n' > $c/strength/ties
