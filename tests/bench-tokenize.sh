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
