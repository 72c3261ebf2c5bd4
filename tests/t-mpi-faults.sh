#!/bin/sh
# Failures under mpirun -np 2 end the whole job promptly, non-zero, with a
# message naming the rank and the step, never a hang: rank 0's disk full
# while it writes a checkpoint and while it writes the --log (a small tmpfs
# in a private mount namespace: needs root and unshare -m, else those
# cases skip with the reason), and a non-finite reward on rank 1 only, in
# training and in --eval (real data: a starting checkpoint whose embedding
# of '~' is NaN, and '~' only in the records rank 1 scores).
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

# a non-finite reward on rank 1: '~' only in the second micro-batch of
# step 1 (records 8..15 without shuffling: '~' in 12..15) and in the second half of the
# evaluation set (records 4..7), and the embedding of '~' (byte 126) NaN
python3 - <<'PY' || fail "making the data"
import json
recs = [json.loads(l) for l in open("train.jsonl")][:16]
for x in recs:
    for k in ("chosen", "rejected"):
        x[k] = x[k].replace("~", "")
def put(name, rows, bad):
    with open(name, "w") as f:
        for i, x in enumerate(rows):
            y = dict(x)
            if i in bad:
                y["chosen"] += " ~"
            f.write(json.dumps(y) + "\n")
put("clean.jsonl", recs, ())
put("bad.jsonl", recs, range(12, 16))
put("ebad.jsonl", recs[:8], range(4, 8))
PY
for f in clean bad ebad; do
	rm-tokenize -q -t bytes -m 96 $f.jsonl -o $f.rmt || fail "rm-tokenize $f"
done
# shellcheck disable=SC2086
rm-train $net --steps 1 -o base clean.rmt || fail "base"
python3 - base/model.safetensors <<'PY' || fail "poisoning the embedding"
import json, struct, sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
n = struct.unpack("<Q", b[:8])[0]
t = json.loads(b[8:8 + n])["transformer.wte.weight"]
w = t["shape"][1]
o = 8 + n + t["data_offsets"][0] + 126 * w * 4
b[o:o + 4 * w] = struct.pack("<%df" % w, *[float("nan")] * w)
open(p, "wb").write(b)
PY
o="-q -j 1 --init base --no-shuffle --steps 2 --batch-size 8 --accum 2"
# shellcheck disable=SC2086
timeout 120 mpirun -np 2 rm-train $o -o nf bad.rmt 2>nf.err
rc=$?
[ $rc -ne 124 ] || fail "the job hung on rank 1's non-finite reward"
[ $rc -ne 0 ] || fail "the job exited 0 with a non-finite reward"
grep -q "rm-train: rank 1: step 1: non-finite reward in the batch of records with ids 8, 9, 10, 11, 12, 13, 14, 15" nf.err ||
	{ cat nf.err; fail "training: message"; }
[ ! -d nf ] || fail "a checkpoint was written"
echo "non-finite reward on rank 1: exit $rc, $(head -n 1 nf.err)"
# shellcheck disable=SC2086
timeout 120 mpirun -np 2 rm-train $o --eval ebad.rmt --eval-every 1 -o ne clean.rmt 2>ne.err
rc=$?
[ $rc -ne 124 ] || fail "the job hung on rank 1's non-finite evaluation"
[ $rc -ne 0 ] || fail "the job exited 0 with a non-finite evaluation"
grep -q "rm-train: step 1: evaluation: rank 1: records with ids 4, 5, 6, 7: non-finite reward" ne.err ||
	{ cat ne.err; fail "--eval: message"; }
echo "non-finite --eval reward on rank 1: exit $rc, $(head -n 1 ne.err)"
echo ok
