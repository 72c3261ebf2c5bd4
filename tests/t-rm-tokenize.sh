#!/bin/sh
# rm-tokenize: shapes and templates (checked byte for byte with the byte
# tokenizer), truncation, EOS, ids and hashes, -j invariance, invalid records,
# JSON arrays, and whole-text GPT-2 ids on the HH-RLHF sample.
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
export RMKIT_GPT2_DIR=${RMKIT_GPT2_DIR:-$top/.cache/gpt2}
py=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-rm-tokenize.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

# --- shapes, rendered texts, via the byte tokenizer (id = byte, EOS 256)
cat >"$tmp/shapes.jsonl" <<'EOS'
{"chosen":"\n\nHuman: hi\n\nAssistant: yes","rejected":"\n\nHuman: hi\n\nAssistant: no"}
{"prompt":"Q: 2+2?","chosen":" 4","rejected":" 5"}
{"prompt":[{"role":"user","content":"hi"}],"chosen":[{"role":"assistant","content":"yes"}],"rejected":[{"role":"assistant","content":"no"}]}
{"chosen":["hi","hello","how?","fine"],"rejected":["hi","hello","how?","bad"]}
{"conversations":[{"from":"system","value":"be nice"},{"from":"human","value":"hi"}],"chosen":{"from":"gpt","value":"yes"},"rejected":{"from":"gpt","value":"no"}}
{"id":77,"prompt":"P","responses":["a","bb","ccc"]}
{"prompt":"P","response":"r","margin":0.5,"target":0.8}
EOS
rm-tokenize -t bytes "$tmp/shapes.jsonl" -o "$tmp/shapes.rmt" || no "shapes: exit $?"
rm-cat "$tmp/shapes.rmt" >"$tmp/shapes.out" || no "rm-cat shapes"
$py - "$tmp/shapes.out" "$tmp/shapes.jsonl" <<'EOP' || fail=1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
src = open(sys.argv[2], 'rb').read().split(b'\n')
def txt(ids):
    assert ids[-1] == 256, ids[-1]
    return bytes(ids[:-1]).decode()
def fnv(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & 0xffffffffffffffff
    return h
want = [
    ("\n\nHuman: hi\n\nAssistant:", [" yes", " no"]),
    ("Q: 2+2?", [" 4", " 5"]),
    ("\n\nHuman: hi\n\nAssistant:", [" yes", " no"]),
    ("\n\nHuman: hi\n\nAssistant: hello\n\nHuman: how?\n\nAssistant:", [" fine", " bad"]),
    ("\n\nSystem: be nice\n\nHuman: hi\n\nAssistant:", [" yes", " no"]),
]
bad = 0
for i, (p, rs) in enumerate(want):
    r = recs[i]
    got = [txt(r['chosen']), txt(r['rejected'])]
    exp = [p + x for x in rs]
    if got != exp or r['prompt_len'] != len(p.encode()):
        print('record', i, 'got', got, r['prompt_len'], 'want', exp, len(p)); bad = 1
    if r['id'] != i or r['hash'] != fnv(src[i]):
        print('record', i, 'id/hash', r['id'], r['hash']); bad = 1
g = recs[5]
offs = g['offsets']
seqs = [bytes(g['responses'][offs[k]:offs[k+1]][:-1]).decode() for k in range(3)]
if g['id'] != 77 or seqs != ['Pa', 'Pbb', 'Pccc'] or g['prompt_len'] != 1:
    print('group', g); bad = 1
s = recs[6]
if txt(s['response']) != 'Pr' or abs(s['margin'] - 0.5) > 1e-7 or abs(s['target'] - 0.8) > 1e-6:
    print('single', s); bad = 1
sys.exit(bad)
EOP

# --- chatml template and --no-eos
rm-tokenize -t bytes -T chatml --no-eos -s conversational "$tmp/shapes.jsonl" 2>/dev/null >/dev/null &&
	no "forced conversational shape accepted hh strings"
sed -n 3p "$tmp/shapes.jsonl" | rm-tokenize -t bytes -T chatml --no-eos | rm-cat >"$tmp/chatml.out"
$py - "$tmp/chatml.out" <<'EOP' || fail=1
import json, sys
r = json.loads(open(sys.argv[1]).read())
p = "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
if bytes(r['chosen']).decode() != p + "yes<|im_end|>\n" or r['prompt_len'] != len(p):
    print('chatml', bytes(r['chosen'])); sys.exit(1)
EOP

# --- truncation: oldest prompt tokens go first; overlong responses cut or dropped
printf '%s\n' '{"prompt":"0123456789","chosen":"abc","rejected":"abcdef"}' \
	'{"prompt":"01","chosen":"abcdefghijklmnop","rejected":"x"}' >"$tmp/long.jsonl"
rm-tokenize -t bytes -m 10 "$tmp/long.jsonl" 2>"$tmp/long.err" | rm-cat >"$tmp/long.out"
grep -q '2 records: 2 truncated, 0 dropped' "$tmp/long.err" || no "truncation summary: $(cat "$tmp/long.err")"
$py - "$tmp/long.out" <<'EOP' || fail=1
import json, sys
a, b = [json.loads(l) for l in open(sys.argv[1])]
ok = (bytes(a['chosen'][:-1]) == b'789abc' and bytes(a['rejected'][:-1]) == b'789abcdef'
      and a['prompt_len'] == 3 and len(a['rejected']) == 10
      and bytes(b['chosen'][:-1]) == b'abcdefghi' and b['prompt_len'] == 0
      and bytes(b['rejected'][:-1]) == b'x')
if not ok:
    print(a, b); sys.exit(1)
EOP
n=$(rm-tokenize -t bytes -m 10 --overlong drop "$tmp/long.jsonl" 2>/dev/null | rm-cat | wc -l)
[ "$n" -eq 1 ] || no "--overlong drop kept $n records"

# --- invalid records: located error, exit 1, no output file; -k skips
printf '%s\n' '{"chosen":"a","rejected":"b"}' '{"chosen":"a"}' 'not json' \
	'{"chosen":"a","rejected":"b"}' >"$tmp/bad.jsonl"
rm-tokenize -t bytes "$tmp/bad.jsonl" -o "$tmp/bad.rmt" 2>"$tmp/bad.err"
[ $? -eq 1 ] || no "invalid record: exit status"
grep -q "bad.jsonl:2: field 'rejected' is missing" "$tmp/bad.err" || no "message: $(cat "$tmp/bad.err")"
[ ! -e "$tmp/bad.rmt" ] || no "partial output left behind"
ls "$tmp" | grep -q 'bad.rmt.tmp' && no "temporary file left behind"
rm-tokenize -k -t bytes "$tmp/bad.jsonl" 2>"$tmp/skip.err" | rm-cat >"$tmp/skip.out" || no "-k: exit status"
[ "$(grep -c '^{"id":' "$tmp/skip.err")" -eq 2 ] || no "-k: skip lines: $(cat "$tmp/skip.err")"
[ "$(grep -o '^{"id":[0-9]*' "$tmp/skip.err" | tr '\n' ' ')" = '{"id":1 {"id":2 ' ] ||
	no "-k: skipped ids: $(cat "$tmp/skip.err")"
[ "$(cut -c1-8 "$tmp/skip.out" | tr '\n' ' ')" = '{"id":0, {"id":3, ' ] || no "-k: kept ids $(cut -c1-8 "$tmp/skip.out")"
rm-tokenize --bogus </dev/null >/dev/null 2>&1; [ $? -eq 2 ] || no "bad option: exit status not 2"
rm-tokenize -m x </dev/null >/dev/null 2>&1; [ $? -eq 2 ] || no "bad number: exit status not 2"
rm-tokenize -t bytes -s nope </dev/null >/dev/null 2>&1; [ $? -eq 2 ] || no "bad shape: exit status not 2"

# --- GPT-2 on real data: whole-text ids, shared prompt, -j invariance, zstd
data=$top/../shared/data/hh-rlhf-harmless-base-test.jsonl.zst
lf=$top/../shared/data/llamafactory-dpo-en-demo.json.zst
if [ -f "$data" ] && [ -f "$top/.cache/gpt2/encoder.json" ]; then
	rm-tokenize -j 1 "$data" -o "$tmp/hh1.rmt" || no "hh -j1"
	rm-tokenize -j 2 "$data" -o "$tmp/hh2.rmt.zst" || no "hh -j2"
	zstd -qdc "$tmp/hh2.rmt.zst" | cmp -s - "$tmp/hh1.rmt" || no "-j 1 and -j 2 differ"
	zstd -qdc "$data" | head -n 40 >"$tmp/hh40.jsonl"
	$py -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    print(json.dumps(r["chosen"])); print(json.dumps(r["rejected"]))' "$tmp/hh40.jsonl" |
		"$top/tests/bin/tool-bpe" >"$tmp/hh40.ids"
	rm-tokenize "$tmp/hh40.jsonl" | rm-cat >"$tmp/hh40.out"
	$py - "$tmp/hh40.out" "$tmp/hh40.ids" <<'EOP' || fail=1
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
ids = [json.loads(l) for l in open(sys.argv[2])]
bad = 0
for i, r in enumerate(recs):
    pl = r['prompt_len']
    if r['chosen'] != ids[2*i] + [50256] or r['rejected'] != ids[2*i+1] + [50256]:
        print('record', i, 'ids differ from the whole-text encoding'); bad = 1
    if not (0 < pl < len(r['chosen'])) or r['chosen'][:pl] != r['rejected'][:pl]:
        print('record', i, 'prompt_len', pl); bad = 1
sys.exit(bad)
EOP
	[ "$(rm-cat "$tmp/hh1.rmt" | wc -l)" -eq 2312 ] || no "hh: not 2312 records"
	if [ -f "$lf" ]; then
		rm-tokenize "$lf" | rm-cat | wc -l >"$tmp/lf.n" || no "llamafactory"
		[ "$(cat "$tmp/lf.n")" -eq 300 ] || no "llamafactory: $(cat "$tmp/lf.n") records"
	fi
else
	echo "note: shared data or GPT-2 files absent, real-data part skipped"
fi
# --- a model directory: tokenizer.json + tokenizer_config.json, the header
# fields rmt(5) documents, and an unknown chat_template refused with -T named
if command -v node >/dev/null 2>&1 && [ -f "$RMKIT_GPT2_DIR/encoder.json" ]; then
	mkdir -p "$tmp/model"
	node "$top/tests/tiktoken.cjs" hfjson "$RMKIT_GPT2_DIR/encoder.json" \
		"$RMKIT_GPT2_DIR/vocab.bpe" >"$tmp/model/tokenizer.json" || no "hfjson"
	printf '%s\n' '{"eos_token":{"content":"<|endoftext|>"},"chat_template":"{{ messages }}"}' \
		>"$tmp/model/tokenizer_config.json"
	sed -n 3p "$tmp/shapes.jsonl" >"$tmp/conv.jsonl"
	rm-tokenize -t "$tmp/model" "$tmp/conv.jsonl" >/dev/null 2>"$tmp/err" &&
		no "unknown chat_template accepted"
	grep -q 'chat_template is not one rm-tokenize knows; pick a built-in with -T' "$tmp/err" ||
		no "unknown chat_template: $(cat "$tmp/err")"
	rm-tokenize -t "$tmp/model" -T chatml "$tmp/conv.jsonl" -o "$tmp/model.rmt" ||
		no "-t DIR -T chatml"
	rm-cat --header "$tmp/model.rmt" >"$tmp/model.hdr" || no "header"
	$py - "$tmp/model.hdr" "$tmp/model/tokenizer.json" <<'EOP' || fail=1
import json, sys
h = json.load(open(sys.argv[1]))
b = open(sys.argv[2], 'rb').read()
x = 0xcbf29ce484222325
for c in b:
    x = ((x ^ c) * 0x100000001b3) & (2**64 - 1)
want = {'tokenizer': 'hf', 'tokenizer_file_hash': '%016x' % x, 'template': 'chatml',
        'template_source': 'built-in', 'eos_policy': 'none', 'eos_id': 50256,
        'bos_policy': 'none', 'bos_id': -1, 'vocab_size': 50257}
bad = {k: (h.get(k), v) for k, v in want.items() if h.get(k) != v}
for k in ('tokenizer_hash', 'special_tokens', 'template_hash', 'max_len'):
    if k not in h:
        bad[k] = 'missing'
if bad:
    print('header:', bad); sys.exit(1)
EOP
	rm-tokenize -t "$tmp/model" -T chatml --eos "$tmp/conv.jsonl" | rm-cat --header |
		grep -q '"eos_id":50256,"eos_policy":"append"' || no "--eos with eos_token"
fi
# HH transcripts through a chat template: split into turns, the same ids as
# the conversation written as messages; transcripts that differ before the
# last turn share only the turns before it; an empty last answer is a
# response; raw text (-T hh) is left as it is
printf '%s\n' '{"chosen":"\n\nHuman: Hi\n\nAssistant: A\n\nHuman: And?\n\nAssistant: B","rejected":"\n\nHuman: Hi\n\nAssistant: A\n\nHuman: And?\n\nAssistant: C"}' \
	'{"chosen":"\n\nHuman: Hi\n\nAssistant: A\n\nHuman: And?\n\nAssistant: B","rejected":"\n\nHuman: Hi\n\nAssistant: D\n\nHuman: And?\n\nAssistant: C"}' \
	'{"chosen":"\n\nHuman: Hi\n\nAssistant: ","rejected":"\n\nHuman: Hi\n\nAssistant: No"}' \
	'{"chosen":"\n\nHuman: Hi","rejected":"\n\nHuman: Hi\n\nAssistant: No"}' >"$tmp/hhc.jsonl"
u='{"role":"user","content":'; a='{"role":"assistant","content":'
printf '%s\n' "{\"prompt\":[$u\"Hi\"},$a\"A\"},$u\"And?\"}],\"chosen\":[$a\"B\"}],\"rejected\":[$a\"C\"}]}" \
	"{\"prompt\":[$u\"Hi\"}],\"chosen\":[$a\"\"}],\"rejected\":[$a\"No\"}]}" >"$tmp/hhc-conv.jsonl"
rm-tokenize -q -T chatml -k "$tmp/hhc.jsonl" 2>"$tmp/hhc.err" | rm-cat | cut -d, -f3- >"$tmp/hhc.all" ||
	no "HH transcripts through chatml"
sed -n '1p;3p' "$tmp/hhc.all" >"$tmp/hhc.out"
p2=$(sed -n '2s/.*"prompt_len":\([0-9]*\).*/\1/p' "$tmp/hhc.all")
p3=$(sed -n '3s/.*"prompt_len":\([0-9]*\).*/\1/p' "$tmp/hhc.all")
[ -n "$p2" ] && [ "$p2" = "$p3" ] ||
	no "transcripts that differ early: prompt_len $p2, want the first turn's $p3"
rm-tokenize -q -T chatml "$tmp/hhc-conv.jsonl" | rm-cat | cut -d, -f3- >"$tmp/hhc-conv.out" ||
	no "the same conversations as messages"
cmp -s "$tmp/hhc.out" "$tmp/hhc-conv.out" && [ -s "$tmp/hhc.out" ] ||
	no "HH transcripts through chatml differ from the same conversations as messages"
grep -q "hhc.jsonl:4: field 'chosen' does not end with an Assistant turn" "$tmp/hhc.err" ||
	no "an HH transcript without an answer: $(cat "$tmp/hhc.err")"
rm-tokenize -q -T hh "$tmp/hhc.jsonl" -k 2>/dev/null | rm-cat | head -1 |
	grep -q '"prompt_len":20' || no "-T hh: HH transcripts as raw text"
# --merge-turns: two Human turns in a row, which gemma's template refuses as
# its Jinja original does, joined by a blank line (and two Assistant turns);
# the same ids as the joined conversation written as messages, for a
# transcript and for messages in a row; the header says so
printf '%s\n' '{"chosen":"\n\nHuman: Hi\n\nHuman: There\n\nAssistant: A\n\nAssistant: more","rejected":"\n\nHuman: Hi\n\nHuman: There\n\nAssistant: B"}' \
	"{\"prompt\":[$u\"Hi\"},$u\"There\"}],\"chosen\":[$a\"A\"}],\"rejected\":[$a\"B\"}]}" >"$tmp/mt.jsonl"
printf '%s\n' "{\"prompt\":[$u\"Hi\\n\\nThere\"}],\"chosen\":[$a\"A\\n\\nmore\"}],\"rejected\":[$a\"B\"}]}" \
	"{\"prompt\":[$u\"Hi\\n\\nThere\"}],\"chosen\":[$a\"A\"}],\"rejected\":[$a\"B\"}]}" >"$tmp/mt-joined.jsonl"
rm-tokenize -q -T gemma "$tmp/mt.jsonl" 2>"$tmp/mt.err" >/dev/null &&
	no "gemma: roles that do not alternate accepted"
grep -q 'template gemma: conversation roles must alternate' "$tmp/mt.err" ||
	no "gemma, roles that do not alternate: $(cat "$tmp/mt.err")"
rm-tokenize -q -T gemma --merge-turns "$tmp/mt.jsonl" -o "$tmp/mt.rmt" &&
	rm-tokenize -q -T gemma "$tmp/mt-joined.jsonl" -o "$tmp/mt-joined.rmt" ||
	no "--merge-turns"
rm-cat "$tmp/mt.rmt" | cut -d, -f3- >"$tmp/mt.out"
rm-cat "$tmp/mt-joined.rmt" | cut -d, -f3- >"$tmp/mt-joined.out"
[ "$(wc -l <"$tmp/mt.out")" -eq 2 ] && cmp -s "$tmp/mt.out" "$tmp/mt-joined.out" ||
	no "--merge-turns: differs from the joined conversations"
rm-cat --header "$tmp/mt.rmt" | grep -q '"merge_turns":true}$' ||
	no "--merge-turns: not in the header"

[ $fail -eq 0 ] && echo "all rm-tokenize checks passed"
exit $fail
