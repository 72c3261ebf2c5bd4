#!/bin/sh
# Data-parallel rm-train and rm-metastep under mpirun on localhost: -np 2
# gives the bytes -np 1 (and a plain run without mpirun) gives, for the
# pairwise loss with dropout and --eval, a SwAV run and a MetaRM round; a
# run resumes at -np 2 from an -np 1 checkpoint; kill -9 of one rank ends
# the job non-zero without hanging and leaves the last checkpoint loadable;
# a rank with other data stops every rank with a message naming it.
# Skips without mpirun or without an MPI build (make MPI=0).
name=t-mpi; . "$(dirname "$0")/common.sh"

mpi_setup
mpi() { np=$1; shift; timeout 300 mpirun -np "$np" "$@"; }

rm-synth -n 96 --seed 4 > train.jsonl || fail "rm-synth"
rm-synth -n 24 --seed 5 > eval.jsonl || fail "rm-synth eval"
rm-tokenize -q -t bytes -m 96 train.jsonl -o p.rmt || fail "rm-tokenize"
rm-tokenize -q -t bytes -m 96 eval.jsonl -o e.rmt || fail "rm-tokenize eval"
net="-q -j 1 --layers 2 --heads 2 --width 32 --context 96 --seed 3 --lr 2e-3"

same() {  # dir1 dir2 what
	for f in model.safetensors training_state.safetensors contrastive_state.safetensors \
		metarm_state.json; do
		[ -f "$1/$f" ] || [ ! -f "$2/$f" ] || fail "$3: $1/$f missing"
		[ ! -f "$1/$f" ] || cmp -s "$1/$f" "$2/$f" || fail "$3: $f differs"
	done
}
# the logs agree but for the speed
samelog() {
	sed 's/"tokens_per_s":[0-9.e+-]*,\{0,1\}//' "$1" > "$1.x"
	sed 's/"tokens_per_s":[0-9.e+-]*,\{0,1\}//' "$2" > "$2.x"
	cmp -s "$1.x" "$2.x" || { diff "$1.x" "$2.x" | head; fail "$3: logs differ"; }
}

# pairwise loss, dropout, 2 and 3 micro-batches a step, eval split over ranks
for acc in 2 3; do
	o="$net --steps 5 --batch-size 8 --accum $acc --dropout 0.1 --eval e.rmt --eval-every 2"
	# shellcheck disable=SC2086
	rm-train $o --log a$acc.jsonl -o a$acc p.rmt || fail "plain run, accum $acc"
	# shellcheck disable=SC2086
	mpi 1 rm-train $o --log b$acc.jsonl -o b$acc p.rmt || fail "np 1, accum $acc"
	# shellcheck disable=SC2086
	mpi 2 rm-train $o --log c$acc.jsonl -o c$acc p.rmt || fail "np 2, accum $acc"
	same a$acc b$acc "np 1 vs plain, accum $acc"
	same a$acc c$acc "np 2 vs np 1, accum $acc"
	samelog a$acc.jsonl c$acc.jsonl "np 2 vs np 1, accum $acc"
done
grep -q eval_loss c2.jsonl || fail "no eval in the log"
# it really ran on two ranks (rank 0 says so)
# shellcheck disable=SC2086
mpi 2 rm-train $(echo $net | sed 's/-q //') --steps 2 --accum 2 -o n2 p.rmt 2>n2.err ||
	fail "np 2 not quiet"
grep -q "(2 ranks; rank 0 spent [0-9.]*% of it exchanging, [0-9.]*% waiting" n2.err || { cat n2.err; fail "rank 0 does not report 2 ranks"; }
[ "$(wc -l < n2.err)" -eq 1 ] || { cat n2.err; fail "more than rank 0 spoke"; }
# more ranks than micro-batches: the third rank idles, same result
# shellcheck disable=SC2086
mpi 3 rm-train $net --steps 5 --batch-size 8 --accum 2 --dropout 0.1 --eval e.rmt \
	--eval-every 2 -o d2 p.rmt || fail "np 3"
same a2 d2 "np 3 vs np 1"
# the stream on standard input (mpirun gives it to rank 0 only)
# shellcheck disable=SC2086
mpi 2 rm-train $net --steps 5 --batch-size 8 --accum 2 --dropout 0.1 --eval e.rmt \
	--eval-every 2 -o s2 < p.rmt || fail "np 2 from stdin"
same a2 s2 "np 2 from stdin"

# a contrastive mode with prototypes (a second gradient buffer)
o="$net --steps 4 --batch-size 8 --accum 2 --contrastive swav-diff"
# shellcheck disable=SC2086
rm-train $o -o sw1 p.rmt || fail "swav np 1"
# shellcheck disable=SC2086
mpi 2 rm-train $o -o sw2 p.rmt || fail "swav np 2"
same sw1 sw2 "swav-diff np 2 vs np 1"

# a MetaRM round: meta batches of several micro-batches (small token budget)
rm-synth -n 64 --seed 6 --groups 16 --k 4 --groups-out g.jsonl > mp.jsonl || fail "rm-synth groups"
rm-tokenize -q -t bytes -m 96 mp.jsonl -o mp.rmt || fail "tokenize pairs"
rm-tokenize -q -t bytes -m 96 -s group g.jsonl -o g.rmt || fail "tokenize groups"
# shellcheck disable=SC2086
rm-train $net --steps 2 -o base mp.rmt || fail "base"
o="-q -j 1 --init base --lr 1e-3 --meta-lr 1e-2 --batch-size 8 --accum 2 --meta-batch 4
   --batch-tokens 512 --log-every 1"
# shellcheck disable=SC2086
rm-metastep $o --log m1.jsonl -o m1 mp.rmt g.rmt || fail "metastep np 1"
# shellcheck disable=SC2086
mpi 2 rm-metastep $o --log m2.jsonl -o m2 mp.rmt g.rmt || fail "metastep np 2"
same m1 m2 "MetaRM np 2 vs np 1"
samelog m1.jsonl m2.jsonl "MetaRM np 2 vs np 1"

# resume at -np 2 from an -np 1 checkpoint (killed mid-run)
saved_step() {
	python3 - "$1" <<'PY'
import json, struct, sys
b = open(sys.argv[1] + "/training_state.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n])["__metadata__"]["step"])
PY
}
wait_ckpt() {  # dir pid: until a checkpoint at step >= 3 or the run ended
	i=0
	while [ ! -f "$1/training_state.safetensors" ] || [ "$(saved_step "$1" 2>/dev/null || echo 0)" -lt 3 ]; do
		i=$((i + 1))
		[ $i -lt 6000 ] || fail "no checkpoint appeared in $1"
		kill -0 "$2" 2>/dev/null || break
		sleep 0.01
	done
}
# 300 steps (about 3 s alone) so that the runs killed after their step-3
# checkpoint are still running when the kill comes: at 60 (under 1 s) a
# run could end before the poll saw its checkpoint, and the test then
# found no rank to kill
o="$net --steps 300 --batch-size 8 --accum 2 --dropout 0.1 --save-every 3"
# shellcheck disable=SC2086
rm-train $o -o full p.rmt || fail "uninterrupted run"
# shellcheck disable=SC2086
rm-train $o -o r p.rmt &
pid=$!
wait_ckpt r $pid
kill -9 $pid 2>/dev/null
wait $pid
echo "np 1 killed after a checkpoint at step $(saved_step r)"
# shellcheck disable=SC2086
mpi 2 rm-train $o --resume -o r p.rmt || fail "resume at np 2"
same full r "resumed at np 2 vs np 1"

# kill -9 of one rank: the job fails, promptly; the checkpoint stays usable
# shellcheck disable=SC2086
timeout 120 mpirun -np 2 rm-train $o -o k p.rmt 2>k.err &
mp=$!
wait_ckpt k $mp
rank=$(rank_pid $mp 1)
[ -n "$rank" ] || fail "no rank 1 under mpirun"
kill -9 "$rank"
wait $mp
rc=$?
[ $rc -ne 0 ] || fail "the job exited 0 after a rank was killed"
[ $rc -ne 124 ] || fail "the job hung after a rank was killed"
echo "job after kill -9 of rank 1 (pid $rank): exit $rc, checkpoint at step $(saved_step k)"
# mpirun may return while the surviving rank is still being torn down and
# still holds the output lock: wait (bounded) until the lock is free
n=0
while [ -f k.lock ] && ! flock -n k.lock true 2>/dev/null && [ $n -lt 100 ]; do
	sleep 0.2; n=$((n + 1))
done
# shellcheck disable=SC2086
mpi 2 rm-train $o --resume -o k p.rmt || fail "resume after kill -9 of a rank"
same full k "resumed after kill -9"

# SIGTERM to one rank: every rank stops after the same step, rank 0 saves
# shellcheck disable=SC2086
timeout 120 mpirun -np 2 rm-train $o -o tt p.rmt 2>tt.err &
mp=$!
wait_ckpt tt $mp
rank=$(rank_pid $mp 1)
[ -n "$rank" ] || fail "no rank 1 under mpirun"
kill -TERM "$rank"
wait $mp
rc=$?
[ $rc -ne 124 ] || fail "the job hung after SIGTERM to a rank"
if [ $rc -eq 0 ]; then
	echo "note: the run ended before SIGTERM"
else
	grep -q "terminated at step [0-9]* of 300: checkpoint saved in tt" tt.err ||
		echo "note: exit $rc without rank 0's message (mpirun tore rank 0 down first; seen once under load)"
	echo "job after SIGTERM to rank 1 (pid $rank): exit $rc, checkpoint at step $(saved_step tt)"
fi
# shellcheck disable=SC2086
mpi 2 rm-train $o --resume -o tt p.rmt || fail "resume after SIGTERM to a rank"
same full tt "resumed after SIGTERM"

# a rank with other data: every rank stops, the message names the rank
mkdir -p h1
cp p.rmt h1/x.rmt
rm-tokenize -q -t bytes -m 96 eval.jsonl -o h2.rmt || fail "tokenize"
cat > pick.sh <<EOF
#!/bin/sh
r=\${OMPI_COMM_WORLD_RANK:-0}
if [ "\$r" = 1 ]; then exec rm-train "\$@" h2.rmt; else exec rm-train "\$@" h1/x.rmt; fi
EOF
chmod +x pick.sh
# shellcheck disable=SC2086
mpi 2 ./pick.sh $net --steps 2 -o bad 2>bad.err && fail "ranks with other data trained"
grep -q "rank 1: the training data differs" bad.err || { cat bad.err; fail "message"; }
[ ! -d bad ] || fail "a checkpoint was written"
echo ok
