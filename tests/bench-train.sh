#!/bin/sh
# bench-train.sh - rm-train and rm-vote against PyTorch, in one run on one
# machine: the same GPT-2 reward model, loss, AdamW step and data shapes
# (pairs of 256-token sequences, GPT-2 vocabulary), for a small reward model
# (width 256, 4 layers, 4 heads) and GPT-2 small (768, 12, 12).
#
#   train  tokens/s of an optimizer step (forward and backward of the pairs,
#          pairwise loss, clipping, AdamW): rm-train's per-step figure from
#          its log, tests/bench_train_torch.py for PyTorch; best step.
#   vote   sequences/s: rm-vote on N pairs minus rm-vote on one pair (start-
#          up and checkpoint loading cancel out); PyTorch under no_grad.
#   FLOP/s as a fraction of the CPU's fp32 FMA peak, measured now
#          (tests/bin/bench-model -c none, tests/peak.h): per token 6 (train) or 2 (vote)
#          times the non-embedding parameters, plus 6 (2) L T C for
#          attention, bench-model's nominal accounting.
#   memory rm-train's peak RSS against params + grads + AdamW moments +
#          activation workspace (tests/bin/tool-trainmem).
# Each side at 1 and 2 threads, in fp32 and bf16 (rm-train/rm-vote
# --precision bf16; PyTorch under bf16 autocast); ratios use each side's
# best over threads and precisions, and rmkit's bf16 over its fp32.
# Environment: BENCH_CONFIGS (default "small gpt2").
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
T=256
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-train.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
have_torch=1
$py -c "import torch" 2>/dev/null || { have_torch=0; echo "(no torch: PyTorch figures skipped)"; }

# the CPU's fp32 FMA peak (tests/peak.h, via bench-model) at 1 and 2 threads
peak() { "$top/tests/bin/bench-model" -c none -j "$1" | sed -n 's/^fp32 FMA peak \([0-9.]*\) GFLOP.*/\1/p'; }
peak1=$(peak 1)
peak2=$(peak 2)
echo "fp32 FMA peak: $peak1 GFLOP/s at 1 thread, $peak2 at 2 (every % below is of these)"

# best tokens/s in an rm-train log, ignoring step 1 (warm-up)
best_log() { sed -n 's/.*"step":\([0-9]*\),.*"tokens_per_s":\([0-9.]*\).*/\1 \2/p' "$1" |
	awk '$1 > 1 && $2 > b { b = $2 } END { printf "%.1f", b }'; }
secs() { /usr/bin/time -f %e -o "$tmp/t" "$@" >/dev/null 2>&1 && cat "$tmp/t"; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }

for cfg in ${BENCH_CONFIGS:-small gpt2}; do
	case $cfg in
	small) L=4 H=4 C=256 P=4 S=6 NV=32 ;;
	gpt2) L=12 H=12 C=768 P=2 S=4 NV=8 ;;
	esac
	shape="--layers $L --heads $H --width $C --context $T"
	# FLOPs per token (nominal) from the shape
	ne=$(awk -v L=$L -v C=$C 'BEGIN { printf "%.0f", L * (12 * C * C + 13 * C) + 3 * C }')
	ftrain=$(awk -v n=$ne -v L=$L -v T=$T -v C=$C 'BEGIN { print 6 * n + 6 * L * T * C }')
	fvote=$(awk -v n=$ne -v L=$L -v T=$T -v C=$C 'BEGIN { print 2 * n + 2 * L * T * C }')
	echo
	echo "== $cfg: L=$L H=$H C=$C, T=$T, vocab 50257; train steps of $P pairs ($((2 * P * T)) tokens)"
	"$top/tests/bin/tool-mkpairs" -n $((P * (S + 1))) -T $T > "$tmp/p.rmt"
	"$top/tests/bin/tool-mkpairs" -n $NV -T $T -s 2 > "$tmp/v.rmt"
	"$top/tests/bin/tool-mkpairs" -n 1 -T $T -s 3 > "$tmp/v1.rmt"
	ours_t=0 ours_v=0
	for prec in fp32 bf16; do
	best_t=0 best_v=0
	for j in 1 2; do
		/usr/bin/time -f "%M" -o "$tmp/rss" rm-train -q -j $j -o "$tmp/m" $shape --steps $S \
			--batch-size $P --save-every 0 --log "$tmp/log" --log-every 1 \
			--precision $prec "$tmp/p.rmt" 2>/dev/null ||
			{ echo "rm-train failed"; exit 1; }
		tps=$(best_log "$tmp/log")
		rss=$(cat "$tmp/rss")
		t1=$(secs rm-vote -j $j --precision $prec "$tmp/m" "$tmp/v1.rmt" -o "$tmp/o.rmt")
		tn=$(secs rm-vote -j $j --precision $prec "$tmp/m" "$tmp/v.rmt" -o "$tmp/o.rmt")
		sps=$(awk -v a="$t1" -v b="$tn" -v n=$NV 'BEGIN { printf "%.2f", 2 * (n - 1) / (b - a) }')
		pk=$(eval echo \$peak$j)
		echo "rmkit  -j $j $prec: train $tps tokens/s ($(awk -v t=$tps -v f=$ftrain -v p=$pk \
			'BEGIN { printf "%.1f GFLOP/s, %.0f%% of peak", t * f / 1e9, 100 * t * f / 1e9 / p }')), peak RSS $((rss / 1024)) MB;" \
			"vote $sps seq/s ($(awk -v s=$sps -v f=$fvote -v T=$T -v p=$pk \
			'BEGIN { printf "%.1f GFLOP/s, %.0f%% of peak", s * T * f / 1e9, 100 * s * T * f / 1e9 / p }'))"
		best_t=$(max $best_t $tps)
		best_v=$(max $best_v $sps)
	done
	[ $prec = fp32 ] && { f32_t=$best_t; f32_v=$best_v; }
	ours_t=$(max $ours_t $best_t)
	ours_v=$(max $ours_v $best_v)
	done
	awk -v a=$best_t -v b=$f32_t -v c=$best_v -v d=$f32_v -v cfg=$cfg 'BEGIN {
		printf "%s: rmkit bf16 / fp32: rm-train %.2fx, rm-vote %.2fx\n", cfg, a / b, c / d }'
	"$top/tests/bin/tool-trainmem" $L $H $C 50257 $T $((2 * P * T)) $T 2 > "$tmp/mem"
	awk '{ printf "%s%s %.0f MB", (NR > 1 ? ", " : "rm-train memory: "), $1, $2 / 1048576 } END { print "" }' "$tmp/mem"
	[ $have_torch = 1 ] || continue
	$py "$top/tests/bench_train_torch.py" $cfg $P $((S - 2)) 1 2 > "$tmp/torch" ||
		{ echo "torch bench failed"; continue; }
	while read -r _ what _ th val rest; do
		j=${th#threads=}
		prec=${rest##*prec=}
		pk=$(eval echo \$peak$j)
		case $what in
		train) v=${val#tokens_per_s=}
			echo "torch  -j $j $prec: train $v tokens/s ($(awk -v t=$v -v f=$ftrain -v p=$pk \
				'BEGIN { printf "%.1f GFLOP/s, %.0f%% of peak", t * f / 1e9, 100 * t * f / 1e9 / p }'))" ;;
		vote) v=${val#seqs_per_s=}
			echo "torch  -j $j $prec: vote $v seq/s ($(awk -v s=$v -v f=$fvote -v T=$T -v p=$pk \
				'BEGIN { printf "%.1f GFLOP/s, %.0f%% of peak", s * T * f / 1e9, 100 * s * T * f / 1e9 / p }'))" ;;
		esac
	done < "$tmp/torch"
	tt=$(awk '$2 == "train" { sub("tokens_per_s=", "", $5); if ($5 + 0 > b) b = $5 + 0 } END { print b }' "$tmp/torch")
	tv=$(awk '$2 == "vote" { sub("seqs_per_s=", "", $5); if ($5 + 0 > b) b = $5 + 0 } END { print b }' "$tmp/torch")
	awk -v a=$ours_t -v b=$tt -v c=$ours_v -v d=$tv -v cfg=$cfg 'BEGIN {
		printf "%s: rm-train / torch %.2fx (best %.1f vs %.1f tokens/s); rm-vote / torch %.2fx (best %.2f vs %.2f seq/s); best of threads and precisions\n",
			cfg, a / b, a, b, c / d, c, d }'
done
