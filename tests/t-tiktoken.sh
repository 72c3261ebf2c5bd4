#!/bin/sh
# Parity of our GPT-2 tokenizer with js-tiktoken (getEncoding("gpt2"),
# encode(text, [], [])): every chosen and rejected text of the HH-RLHF test
# file, the edge cases of tests/bpe-edge.jsonl, and random texts built to
# stress the pattern and long merges; the same for the tokenizer.json loader
# on GPT-2's vocabulary; then the character classes of every code point
# assigned in our Unicode tables against the JavaScript engine's.
# Skips (77) without the shared data, node, js-tiktoken or the GPT-2 files.
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
data=$top/../shared/data/hh-rlhf-harmless-base-test.jsonl.zst
tool=$top/tests/bin/tool-bpe
js=$top/tests/tiktoken.cjs
export RMKIT_GPT2_DIR=${RMKIT_GPT2_DIR:-$top/.cache/gpt2}
mods=${RM_NODE_MODULES:-$top/.cache/npm/node_modules}

skip() { echo "skip: $*"; exit 77; }
[ -f "$data" ] || skip "no $data"
command -v zstd >/dev/null 2>&1 || skip "no zstd"
command -v node >/dev/null 2>&1 || skip "no node"
[ -f "$mods/js-tiktoken/package.json" ] || skip "no js-tiktoken in $mods (make deps)"
[ -f "$RMKIT_GPT2_DIR/encoder.json" ] && [ -f "$RMKIT_GPT2_DIR/vocab.bpe" ] ||
	skip "no encoder.json/vocab.bpe in $RMKIT_GPT2_DIR (make deps)"
[ -x "$tool" ] || { echo "FAIL: $tool not built"; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/t-tiktoken.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# compare NAME TEXTS [SPEC]: fail with the first differing text and both id
# lists (SPEC: our tokenizer, default gpt2)
compare() {
	[ -f "$tmp/$1.js" ] || node "$js" encode <"$2" >"$tmp/$1.js" ||
		{ echo "FAIL: js-tiktoken on $1"; exit 1; }
	"$tool" -t "${3:-gpt2}" <"$2" >"$tmp/$1.c" || { echo "FAIL: tool-bpe on $1"; exit 1; }
	nt=$(wc -l <"$2")
	nj=$(wc -l <"$tmp/$1.js")
	nc=$(wc -l <"$tmp/$1.c")
	if [ "$nt" -ne "$nj" ] || [ "$nt" -ne "$nc" ]; then
		echo "FAIL: $1: $nt texts, $nj js-tiktoken lines, $nc tool-bpe lines"
		exit 1
	fi
	line=$(awk 'NR == FNR { a[FNR] = $0; next } a[FNR] != $0 { print FNR; exit }' \
		"$tmp/$1.js" "$tmp/$1.c")
	if [ -n "$line" ]; then
		echo "FAIL: $1: text $line of $nt differs"
		echo "text (JSON):"; sed -n "${line}p" "$2"
		echo "js-tiktoken:"; sed -n "${line}p" "$tmp/$1.js"
		echo "ours:"; sed -n "${line}p" "$tmp/$1.c"
		exit 1
	fi
	echo "ok: $1${3:+ (${3##*/})}: $nt texts, $(tr ',' '\n' <"$tmp/$1.c" | grep -c .) tokens, identical"
}

zstd -dc "$data" | node "$js" texts >"$tmp/hh.jsonl" || { echo "FAIL: reading $data"; exit 1; }
n=$(wc -l <"$tmp/hh.jsonl")
[ "$n" -eq 4624 ] || { echo "FAIL: expected 4624 texts in $data, got $n"; exit 1; }
compare hh "$tmp/hh.jsonl"
compare edge "$top/tests/bpe-edge.jsonl"
node "$js" fuzz 600 20240601 >"$tmp/fuzz.jsonl" || exit 1
compare fuzz "$tmp/fuzz.jsonl"
# The tokenizer.json loader (Hugging Face merge rules) on GPT-2's vocabulary.
node "$js" hfjson "$RMKIT_GPT2_DIR/encoder.json" "$RMKIT_GPT2_DIR/vocab.bpe" \
	>"$tmp/tokenizer.json" || exit 1
compare hh "$tmp/hh.jsonl" "$tmp/tokenizer.json"
compare edge "$top/tests/bpe-edge.jsonl" "$tmp/tokenizer.json"

# Character classes: ours ('.' = unassigned in our Unicode version, skipped)
# against the engine's regex classes.
"$tool" -u >"$tmp/cls.c" && node "$js" classes >"$tmp/cls.js" || {
	echo "FAIL: class dumps"; exit 1; }
node -e '
const fs = require("fs");
const [c, cv] = fs.readFileSync(process.argv[1], "utf8").split("\n");
const [j, jv] = fs.readFileSync(process.argv[2], "utf8").split("\n");
let bad = [], newer = 0;
for (let i = 0; i < 0x110000; i++) {
	if (c[i] === ".") { if (j[i] !== "O") newer++; continue; }
	if (c[i] !== j[i]) bad.push("U+" + i.toString(16).toUpperCase().padStart(4, "0") +
		" ours " + c[i] + " js " + j[i]);
}
if (bad.length) {
	console.log("FAIL: character classes differ at " + bad.length + " code points: " +
		bad.slice(0, 20).join(", "));
	process.exit(1);
}
console.log("ok: classes of all code points assigned in Unicode " + cv +
	" match node (Unicode " + jv + "); " + newer +
	" code points assigned later are letters/numbers there, other here");
' "$tmp/cls.c" "$tmp/cls.js" || exit 1
