#!/bin/sh
# bench-llama.sh - real-size Llama-family reward models, rmkit against
# PyTorch in one run: the exact configurations of Qwen2.5-0.5B (qwen2:
# hidden 896, 24 layers, 14 heads over 2 kv heads, intermediate 4864, vocab
# 151936, q/k/v biases) and SmolLM2-135M (llama: 576, 30 layers, 9 over 3,
# 1536, vocab 49152), random weights.  Both originals tie lm_head to the
# embeddings; a reward model has no lm_head (the score head is its own
# [1, hidden] row), so the one embedding table is all there is either way
# and the parameter counts are the originals' (494.0M and 134.5M).
#
#   train  tokens/s of an optimizer step on P pairs of T-token sequences
#          (forward, backward, pairwise loss, clipping, AdamW): rm-train's
#          best step after the first from its log; tests/bench_llama_torch.py
#          (tests/hf_llama.py's Hugging Face eager semantics) the same.
#   vote   sequences/s: rm-vote on NV pairs minus rm-vote on one pair
#          (start-up and loading cancel out); PyTorch under no_grad.
#   memory rm-train's peak RSS against params + grads + AdamW moments +
#          activation workspace (tests/bin/tool-trainmem on the config).
# rmkit at -j 2 (BENCH_LLAMA_THREADS="1 2" adds -j 1, which can win on a
# machine loaded past its cores) in fp32 (BENCH_LLAMA_PREC="fp32 bf16" adds --precision
# bf16, slower on CPUs without bf16 instructions); PyTorch at 1 and 2
# threads in fp32 (BENCH_TORCH_PREC="fp32 bf16" adds bf16 autocast, which
# bench-train measured 7-9x slower than fp32 on a Zen 3 without AVX-512:
# minutes a step at these sizes); ratios use each side's best.
# Short on purpose (a few minutes on a quiet 2-core machine): sequences of
# 32 tokens, 2 pairs a step, 2 steps of which the second is measured;
# rm-train runs with the default --batch-tokens: its activation workspace
# is sized by the largest micro-batch the data can form (one step's tokens
# here), not by the budget.
# Environment: BENCH_LLAMA (default "smollm2-135m qwen2.5-0.5b"), BENCH_T
# (sequence length, default 32), BENCH_P (pairs a step, default 2),
# BENCH_LLAMA_THREADS (default 2), BENCH_LLAMA_PREC (default fp32),
# BENCH_TORCH_PREC (default fp32).
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
T=${BENCH_T:-32}
P=${BENCH_P:-2}
S=2    # rm-train steps (the first is a warm-up)
NV=4   # pairs voted (8 sequences)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-llama.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
have_torch=1
$py -c "import torch" 2>/dev/null || { have_torch=0; echo "(no torch: PyTorch figures skipped)"; }
echo "load: $(uptime | sed 's/.*load average/load average/')"
echo "settings: T=$T tokens a sequence, $P pairs ($((2 * P * T)) tokens) a step, rm-train $S steps" \
	"(best after the first), rm-vote $((2 * NV)) sequences"

best_log() { sed -n 's/.*"step":\([0-9]*\),.*"tokens_per_s":\([0-9.]*\).*/\1 \2/p' "$1" |
	awk '$1 > 1 && $2 > b { b = $2 } END { printf "%.1f", b }'; }
secs() { /usr/bin/time -f "%e %M" -o "$tmp/t" "$@" >/dev/null 2>&1 && cat "$tmp/t"; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

config() { # NAME: its config.json as the Hugging Face hub has it
	case $1 in
	qwen2.5-0.5b) cat <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
 "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
 "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24,
 "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
 "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
 "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
 "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}
EOF
	;;
	smollm2-135m) cat <<'EOF'
{"architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
 "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
 "initializer_range": 0.041666666666666664, "intermediate_size": 1536, "is_llama_config": true,
 "max_position_embeddings": 8192, "mlp_bias": false, "model_type": "llama",
 "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
 "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_interleaved": false, "rope_scaling": null,
 "rope_theta": 100000, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
 "use_cache": true, "vocab_size": 49152}
EOF
	;;
	esac
}

for name in ${BENCH_LLAMA:-smollm2-135m qwen2.5-0.5b}; do
	d=$tmp/$name
	mkdir -p "$d" && config $name > "$d/config.json"
	V=$($py -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$d/config.json")
	"$top/tests/bin/tool-mkpairs" -n $((P * S)) -T $T -V $V > "$tmp/p.rmt"
	"$top/tests/bin/tool-mkpairs" -n $NV -T $T -V $V -s 2 > "$tmp/v.rmt"
	"$top/tests/bin/tool-mkpairs" -n 1 -T $T -V $V -s 3 > "$tmp/v1.rmt"
	"$top/tests/bin/tool-trainmem" "$d" $((2 * P * T)) $T 2 > "$tmp/mem" ||
		{ echo "tool-trainmem failed"; exit 1; }
	np=$(awk '$1 == "params" { printf "%.1f", $2 / 4e6 }' "$tmp/mem")
	echo
	echo "== $name ($np M parameters), T=$T, $P pairs a step"
	ours_t=0 ours_v=0 rss1=
	for jp in $(for j in ${BENCH_LLAMA_THREADS:-2}; do
			for p in ${BENCH_LLAMA_PREC:-fp32}; do echo "$j:$p"; done; done); do
		j=${jp%%:*} prec=${jp#*:}
		/usr/bin/time -f "%M %e" -o "$tmp/rss" rm-train -q -j $j -o "$tmp/m" --config "$d" \
			--steps $S --batch-size $P --save-every 0 \
			--log "$tmp/log" --log-every 1 \
			--precision $prec "$tmp/p.rmt" 2>"$tmp/err" ||
			{ echo "rm-train failed: $(tail -n 3 "$tmp/err")"; exit 1; }
		tps=$(best_log "$tmp/log")
		read -r rss wall < "$tmp/rss"
		set -- $(secs rm-vote -j $j --precision $prec "$tmp/m" "$tmp/v1.rmt" -o "$tmp/o.rmt")
		t1=$1 vrss=$2
		set -- $(secs rm-vote -j $j --precision $prec "$tmp/m" "$tmp/v.rmt" -o "$tmp/o.rmt")
		tn=$1
		sps=$(awk -v a="$t1" -v b="$tn" -v n=$NV 'BEGIN { printf "%.2f", 2 * (n - 1) / (b - a) }')
		echo "rmkit  -j $j $prec: train $tps tokens/s (whole run ${wall}s with start-up and" \
			"saving), peak RSS $((rss / 1024)) MB; vote $sps seq/s, rm-vote peak RSS $((vrss / 1024)) MB"
		ours_t=$(max $ours_t $tps)
		ours_v=$(max $ours_v $sps)
		rss1=${rss1:-$rss}
	done
	awk -v r=$rss1 '{ m[$1] = $2; printf "%s%s %.0f MB", (NR > 1 ? ", " : "memory: "), $1, $2 / 1048576 }
		END { printf "; rm-train peak RSS %.0f MB = %.3f x the sum\n", r / 1024, r * 1024 / m["total"] }' "$tmp/mem"
	rm -rf "$tmp/m"
	[ $have_torch = 1 ] || continue
	$py "$top/tests/bench_llama_torch.py" "$d/config.json" $T $P 1 1 2 > "$tmp/torch" 2>"$tmp/err" ||
		{ echo "torch bench failed: $(tail -n 3 "$tmp/err")"; continue; }
	while read -r _ what _ th val rest; do
		case $what in
		train) echo "torch  -${th#threads=} ${rest##*prec=}: train ${val#tokens_per_s=} tokens/s" ;;
		vote) echo "torch  -${th#threads=} ${rest##*prec=}: vote ${val#seqs_per_s=} seq/s" ;;
		peak_rss_mb=*) echo "torch peak RSS ${what#peak_rss_mb=} MB (all its runs)" ;;
		esac
	done < "$tmp/torch"
	tt=$(awk '$2 == "train" { sub("tokens_per_s=", "", $5); if ($5 + 0 > b) b = $5 + 0 } END { print b }' "$tmp/torch")
	tv=$(awk '$2 == "vote" { sub("seqs_per_s=", "", $5); if ($5 + 0 > b) b = $5 + 0 } END { print b }' "$tmp/torch")
	awk -v a=$ours_t -v b=$tt -v c=$ours_v -v d=$tv -v n=$name 'BEGIN {
		printf "%s: rm-train / torch %.2fx (best %.1f vs %.1f tokens/s); rm-vote / torch %.2fx (best %.2f vs %.2f seq/s)\n",
			n, a / b, a, b, c / d, c, d }'
done
echo "load: $(uptime | sed 's/.*load average/load average/')"
