#!/bin/sh
# bench-mpi.sh - data-parallel rm-train on this machine, and a projection
# to more hosts.
#
# The same global batch (2 micro-batches of P pairs of 256-token sequences,
# GPT-2 vocabulary) three ways: mpirun -np 2 -j 1 (a micro-batch per rank),
# -np 1 -j 2 and -np 1 -j 1 (both micro-batches in one process), for the
# small reward model (width 256, 4 layers) and GPT-2 small.
#   tokens/s  rm-train's per-step figure from its log, best step after the
#             first (rank 0's wall clock, communication included)
#   comm      rank 0's shares of the run's wall time in the gradient
#             exchange and in waiting (a barrier before it) for the slower rank
#
# Projection (printed after the measurements): H hosts, one rank each,
# every host computing one micro-batch per step (the global batch grows
# with H).  A step is the compute time of one micro-batch, t_c, then the
# exchange, which moves about 2 (H - 1) / H of the fp32 gradient bytes per
# host, as a ring all-reduce does (lib/train/dist.h: an all-to-all of the
# slices, then an all-gather), over a link of B bit/s, with no overlap:
#     t_comm = 2 (H - 1) / H * 4 P_model / (B / 8)
#     speed-up = H t_c / (t_c + t_comm)
# t_c is measured here for GPT-2 small (-np 1 -j 2, one micro-batch) and
# scaled by the non-embedding parameters (the FLOPs per token, 6 of them
# each) for Qwen2.5-0.5B: 357.9M of its 494.0M against GPT-2 small's 85.1M
# of 124.4M; every parameter's gradient is exchanged.
# Latency, the host's own memory bandwidth and stragglers are left out, so
# the figures are upper bounds.
# Environment: BENCH_CONFIGS (default "small gpt2").
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
PATH=$top/bin:$PATH
command -v mpirun >/dev/null 2>&1 || { echo "(no mpirun: skipped)"; exit 0; }
ldd "$top/bin/rm-train" 2>/dev/null | grep -q libmpi || { echo "(rm-train built without MPI: skipped)"; exit 0; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_btl=self,vader
T=256
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-mpi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

best_log() { sed -n 's/.*"step":\([0-9]*\),.*"tokens_per_s":\([0-9.]*\).*/\1 \2/p' "$1" |
	awk '$1 > 1 && $2 > b { b = $2 } END { printf "%.1f", b }'; }
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
gpt2_tc=
for cfg in ${BENCH_CONFIGS:-small gpt2}; do
	case $cfg in
	small) L=4 H=4 C=256 P=4 S=6 ;;
	gpt2) L=12 H=12 C=768 P=2 S=4 ;;
	esac
	shape="--layers $L --heads $H --width $C --context $T"
	echo
	echo "== $cfg: L=$L H=$H C=$C, T=$T, vocab 50257; steps of 2 micro-batches of $P pairs ($((4 * P * T)) tokens)"
	"$top/tests/bin/tool-mkpairs" -n $((2 * P * (S + 1))) -T $T > "$tmp/p.rmt"
	o="-j 1 -o $tmp/m $shape --steps $S --batch-size $P --accum 2 --save-every 0 --log-every 1"
	for how in "2 1" "1 2" "1 1"; do
		set -- $how
		rm -rf "$tmp/m"
		# shellcheck disable=SC2086
		mpirun --bind-to none -np $1 rm-train $o -j $2 --log "$tmp/log" "$tmp/p.rmt" 2> "$tmp/err" ||
			{ cat "$tmp/err"; echo "rm-train failed"; exit 1; }
		tps=$(best_log "$tmp/log")
		comm=$(sed -n 's/.*rank 0 spent \([0-9.]*\)% of it exchanging, \([0-9.]*\)% waiting.*/exchanging \1%, waiting \2% of the run/p' "$tmp/err")
		echo "-np $1 -j $2: $tps tokens/s${comm:+; rank 0 $comm}"
		eval "tps_$1_$2=$tps"
	done
	# shellcheck disable=SC2154
	awk -v a="$tps_2_1" -v b="$tps_1_2" -v c="$tps_1_1" 'BEGIN {
		printf "-np 2 -j 1 is %.2fx -np 1 -j 2 and %.2fx -np 1 -j 1\n", a / b, a / c }'
	# one micro-batch's compute at -np 1 -j 2, for the projection
	[ "$cfg" = gpt2 ] && gpt2_tc=$(awk -v t="$tps_1_2" -v n=$((2 * P * T)) 'BEGIN { print n / t }') &&
		gpt2_tok=$((2 * P * T))
done
[ -n "$gpt2_tc" ] || exit 0
echo
echo "== projection: one rank per host, a micro-batch of $gpt2_tok tokens per host and step"
awk -v tc="$gpt2_tc" 'BEGIN {
	n[1] = "GPT-2 small"; p[1] = 124.44e6; ne[1] = 85.06e6
	n[2] = "Qwen2.5-0.5B"; p[2] = 494.03e6; ne[2] = 357.90e6
	for (m = 1; m <= 2; m++) {
		t = tc * ne[m] / ne[1]
		printf "%s: %.0f MB of gradient, compute %.1f s per micro-batch (this machine, 2 cores)\n",
			n[m], 4 * p[m] / 1e6, t
		for (g = 10; g <= 25; g += 15)
			for (h = 8; h <= 64; h *= 8) {
				c = 2 * (h - 1) / h * 4 * p[m] / (g * 1e9 / 8)
				printf "  %2d hosts, %2d Gbit/s: exchange %.2f s, speed-up %.1f of %d (%.0f%%)\n",
					h, g, c, h * t / (t + c), h, 100 * t / (t + c)
			}
	}
}'
