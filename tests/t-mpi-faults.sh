#!/bin/sh
# Failures under mpirun -np 2 end the whole job promptly, non-zero, with a
# message naming the rank and the step, never a hang: rank 0's disk full
# while it writes a checkpoint and while it writes the --log (a small tmpfs
# in a private mount namespace: needs root and unshare -m, else those
# cases skip with the reason).
# Skips without mpirun or without an MPI build (make MPI=0).
name=t-mpi-faults; . "$(dirname "$0")/common.sh"

mpi_setup
rm-synth -n 64 --seed 4 > train.jsonl || fail "rm-synth"
rm-tokenize -q -t bytes -m 96 train.jsonl -o p.rmt || fail "rm-tokenize"
net="-q -j 1 --layers 2 --heads 2 --width 32 --context 96 --seed 3 --lr 2e-3"
o="$net --batch-size 8 --accum 2"

# in_tmpfs KB CMD...: CMD in a private mount namespace where full/ is a
# tmpfs of KB kilobytes
in_tmpfs() {
	kb=$1; shift
	mkdir -p full
	# shellcheck disable=SC2016
	timeout 120 unshare -m sh -c 'mount -t tmpfs -o size="$0"k rmkit-full full && shift 0 && exec "$@"' \
		"$kb" "$@"
}
if [ "$(id -u)" != 0 ]; then
	echo "skip the full-disk cases: not root (they mount a tmpfs)"
elif ! unshare -m true 2>/dev/null; then
	echo "skip the full-disk cases: unshare -m is not permitted here"
else
	# the checkpoint at step 3 does not fit
	# shellcheck disable=SC2086
	in_tmpfs 64 mpirun -np 2 rm-train $o --steps 300 --save-every 3 -o full/ck p.rmt 2>ck.err
	rc=$?
	[ $rc -ne 124 ] || fail "the job hung when the checkpoint filled the disk"
	[ $rc -ne 0 ] || fail "the job exited 0 with a full disk"
	grep -q "rm-train: step 3: rank 0: .*No space left on device" ck.err ||
		{ cat ck.err; fail "checkpoint: message"; }
	echo "checkpoint on a full disk: exit $rc, $(grep -m 1 'step 3' ck.err)"
	# the log fills after a few dozen lines
	# shellcheck disable=SC2086
	in_tmpfs 16 mpirun -np 2 rm-train $o --steps 300 --log full/log.jsonl --log-every 1 \
		-o lg p.rmt 2>lg.err
	rc=$?
	[ $rc -ne 124 ] || fail "the job hung when the log filled the disk"
	[ $rc -ne 0 ] || fail "the job exited 0 with a full disk"
	grep -q "rm-train: rank 0: step [0-9]*: --log full/log.jsonl: write failed: No space left on device" lg.err ||
		{ cat lg.err; fail "log: message"; }
	echo "log on a full disk: exit $rc, $(head -n 1 lg.err)"
	[ ! -d lg ] || fail "a checkpoint was written after the log failed"
	# rm-metastep: the same check
fi
echo ok
