#!/bin/sh
# Faults around the tools rather than in their input: a full disk (stdout
# on /dev/full) is status 1 with a message; a reader that goes away ends
# the writer quietly; SIGINT and SIGTERM during rm-train leave a loadable
# checkpoint that --resume continues, and so does kill -9 at any moment,
# checkpoint writes included; tiny files declaring huge sizes fail fast
# with a clear message under a 2 GB address-space limit.
name=t-faults; . "$(dirname "$0")/common.sh"
PATH=$RM_TOP/tests/bin:$PATH
n=0

rm-synth -n 60 --seed 5 > d.jsonl || fail "rm-synth"
rm-tokenize -q -j 1 -t bytes -m 96 d.jsonl -o p.rmt || fail "rm-tokenize"
tiny="-q -j 1 --layers 1 --heads 2 --width 16 --context 96 --batch-size 8 --lr 1e-3 --seed 2"
# shellcheck disable=SC2086
rm-train $tiny --steps 2 -o ck p.rmt || fail "rm-train"
rm-vote -j 1 ck p.rmt -o v.rmt && rm-vote -j 1 --jsonl ck p.rmt -o v.jsonl || fail "rm-vote"
rm-strength -q v.rmt v.rmt -o s.jsonl || fail "rm-strength"

# ---- a full disk: status 1 and a message naming the output ----------------
full() {
	n=$((n + 1))
	"$@" >/dev/full 2>err </dev/null
	rc=$?
	[ $rc -eq 1 ] || { cat err; fail "$* >/dev/full: status $rc, not 1"; }
	[ "$(wc -l <err)" -eq 1 ] || { cat err; fail "$* >/dev/full: not one line on stderr"; }
	grep -qi "^rm-[a-z]*: .*\(stdout\|standard output\|write\|space\)" err ||
		fail "$* >/dev/full: unclear message: $(cat err)"
}
full rm-synth -n 50
full rm-tokenize -q -j 1 -t bytes d.jsonl
full rm-cat p.rmt
full rm-cat d.jsonl
full rm-vote -j 1 ck p.rmt
full rm-vote -j 1 --jsonl ck p.rmt
full rm-strength -q v.rmt v.rmt
full rm-filter -q -s s.jsonl --flip-lowest 0.1 d.jsonl
full rm-eval v.rmt
n=$((n + 1))
# shellcheck disable=SC2086
rm-train $tiny --steps 1 --log /dev/full --log-every 1 -o fulllog p.rmt 2>err
[ $? -eq 1 ] && grep -q "^rm-train: step 1: --log /dev/full: write failed: No space left on device" err || fail "rm-train --log /dev/full: $(cat err)"
n=$((n + 1))
printf '{"prompt":"p","responses":["a","bb","ccc"]}\n%.0s' 1 2 3 4 |
	rm-tokenize -q -t bytes -s group -o g.rmt || fail "groups"
rm-metastep -q -j 1 --steps 1 --lr 1e-3 --log /dev/full --log-every 1 --init ck \
	-o fullmeta p.rmt g.rmt 2>err
[ $? -eq 1 ] && grep -q "^rm-metastep: step 1: --log /dev/full: write failed: No space left on device" err || fail "rm-metastep --log /dev/full: $(cat err)"

# ---- the reader goes away: the writer ends quietly, without hanging -------
rm-synth -n 20000 --seed 1 > big.jsonl || fail "big rm-synth"
rm-tokenize -q -t bytes -m 64 big.jsonl -o big.rmt || fail "big rm-tokenize"
gone() {
	n=$((n + 1))
	rm -f err rc
	{ timeout 120 "$@" 2>err; echo $? >rc; } | head -c 100 >/dev/null
	rc=$(cat rc)
	[ "$rc" -ne 124 ] || fail "$* | head: hung"
	[ ! -s err ] || fail "$* | head: said something: $(cat err)"
	case $rc in 0|1|141) ;; *) fail "$* | head: status $rc" ;; esac
}
gone rm-synth -n 200000
gone cat big.jsonl
gone rm-cat big.rmt
gone rm-cat big.jsonl
gone rm-tokenize -q -t bytes big.jsonl
gone rm-tokenize -q -t bytes -z big.jsonl
gone rm-vote --jsonl ck big.rmt
python3 -c '
import random
r = random.Random(1)
with open("bigv.jsonl", "w") as v, open("bigs.jsonl", "w") as s:
    for i in range(20000):
        v.write("{\"id\":%d,\"chosen\":%.4f,\"rejected\":%.4f}\n" % (i, r.random(), r.random()))
        s.write("{\"id\":%d,\"strength_mean\":%.4f}\n" % (i, r.gauss(0, 1)))
' || fail "big votes"
gone rm-strength -q bigv.jsonl bigv.jsonl
gone rm-strength -q --each bigv.jsonl bigv.jsonl
gone rm-filter -q -s bigs.jsonl --flip-lowest 0.1 big.jsonl

# ---- SIGINT, SIGTERM and kill -9 during rm-train -----------------------------
saved_step() {
	python3 - "$1" <<'PY'
import json, struct, sys
b = open(sys.argv[1] + "/training_state.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
print(json.loads(b[8:8 + n])["__metadata__"]["step"])
PY
}
# wait_step DIR PID STEP: until DIR has a checkpoint at STEP or later
wait_step() {
	i=0
	while [ "$(saved_step "$1" 2>/dev/null || echo 0)" -lt "$3" ]; do
		kill -0 "$2" 2>/dev/null || return 1
		i=$((i + 1))
		[ $i -lt 3000 ] || fail "no checkpoint at step $3 in $1"
		sleep 0.01
	done
}
# loads DIR WHAT [kill9]: DIR is a checkpoint rm-vote loads; no temporary
# files beside it, except after kill -9 (a save cut short leaves DIR.tmp,
# which the next save clears)
loads() {
	rm-vote -j 1 "$1" p.rmt -o "$1.votes" 2>err || fail "$2: $1 does not load: $(cat err)"
	[ $# -gt 2 ] || [ -z "$(ls -d "$1".*tmp* "$1"/*tmp* 2>/dev/null)" ] ||
		fail "$2: temporary files left beside $1"
}
long="--steps 400 --save-every 2"
for sig in INT TERM; do
	n=$((n + 1))
	# shellcheck disable=SC2086
	rm-train $tiny $long -o s$sig p.rmt 2>err &
	pid=$!
	wait_step s$sig $pid 4 || fail "SIG$sig: the run ended early"
	kill -$sig $pid
	wait $pid
	rc=$?
	case $sig in INT) want=130 ;; TERM) want=143 ;; esac
	[ $rc -eq $want ] || fail "SIG$sig: status $rc, not $want: $(cat err)"
	loads s$sig "SIG$sig"
	# shellcheck disable=SC2086
	rm-train $tiny $long --resume -o s$sig p.rmt || fail "SIG$sig: --resume"
	[ "$(saved_step s$sig)" -eq 400 ] || fail "SIG$sig: resumed run did not finish"
done
# kill -9 at several moments of a run that saves after every step, so some
# kills land inside a checkpoint write; each time the last checkpoint loads
# and the run resumes from it.
long="--steps 300 --save-every 1"
# shellcheck disable=SC2086
rm-train $tiny $long -o k p.rmt 2>/dev/null &
pid=$!
wait_step k $pid 1 || fail "kill -9: the run ended early"
kill -9 $pid 2>/dev/null
wait $pid
for delay in 0.05 0.13 0.21 0.34 0.55 0.08 0.17 0.29; do
	n=$((n + 1))
	before=$(saved_step k) || fail "kill -9: state unreadable"
	# shellcheck disable=SC2086
	rm-train $tiny $long --resume -o k p.rmt 2>err &
	pid=$!
	sleep $delay
	kill -9 $pid 2>/dev/null
	wait $pid
	loads k "kill -9 after ${delay}s" kill9
	after=$(saved_step k) || fail "kill -9 after ${delay}s: state unreadable"
	[ "$after" -ge "$before" ] || fail "kill -9: checkpoint went back from $before to $after"
	echo "kill -9 after ${delay}s: checkpoint at step $before, then $after"
done
# shellcheck disable=SC2086
rm-train $tiny $long --resume -o k p.rmt || fail "resume after kill -9"
[ "$(saved_step k)" -eq 300 ] || fail "kill -9: resumed run did not finish"
loads k "after the last resume"

# ---- declared sizes are bounded before allocation ---------------------------
# Each file is at most a few dozen bytes and declares gigabytes; under a
# 2 GB address-space limit the tool must fail at once with a message.
python3 - "$RM_TOP" <<'PY' || fail "making huge-size files"
import json, os, shutil, struct, sys, zlib
def crc(b): return struct.pack("<I", zlib.crc32(b))
os.makedirs("h", exist_ok=True)
head = b"\x89RMT\r\n\x1a\n" + struct.pack("<II", 1, 0)
open("h/meta-4g.rmt", "wb").write(b"\x89RMT\r\n\x1a\n" + struct.pack("<II", 1, 0xfffffff0) + b"{}")
open("h/record-4g.rmt", "wb").write(head + crc(head) + b"RECD" + struct.pack("<I", 0xfffffff0) + b"\0" * 8)
# zstd frame header asking for a 2^41-byte window (about 2 TB)
open("h/window-2t.jsonl.zst", "wb").write(b"\x28\xb5\x2f\xfd" + bytes([0x00, (41 - 10) << 3]) + b"\0" * 10)
# safetensors: 20 bytes that declare a 100 GB header
for d in ("st100g", "cfg100g"):
    shutil.copytree("ck", "h/" + d)
open("h/st100g/model.safetensors", "wb").write(struct.pack("<Q", 100 << 30) + b"{}" + b" " * 10)
cfg = json.load(open("ck/config.json"))
cfg.update(n_embd=65536, n_layer=1000, n_head=64)
json.dump(cfg, open("h/cfg100g/config.json", "w"))
# a stream declaring a vocabulary of 2^24 (the most a header may): a model
# of 17G parameters at width 1024, refused before it is allocated
sys.path.insert(0, sys.argv[1] + "/tests")
from rmt_writer import entry, record, stream
def pr(i):
    return record(entry("id", 4, [], struct.pack("<Q", i)), entry("hash", 4, [], struct.pack("<Q", i)),
                  entry("chosen", 2, [2], struct.pack("<2i", 1, 2)),
                  entry("rejected", 2, [2], struct.pack("<2i", 1, 3)))
open("h/vocab-16m.rmt", "wb").write(stream(b'{"vocab_size":16777216}', pr(0), pr(1)))
# a JSON array file cut short after declaring nothing but its start
open("h/array-open.json", "wb").write(b"[" + b" " * 19)
PY
# (Sanitizer builds reserve terabytes of address space for their shadow
# memory, so they run without the limit.)
limit=2097152
[ -z "${RM_SANITIZED:-}" ] || limit=unlimited
huge() {
	n=$((n + 1))
	(ulimit -v $limit; timeout 60 "$@" >out 2>err </dev/null)
	rc=$?
	[ $rc -eq 1 ] || { cat err; fail "$*: status $rc under ulimit -v, not 1"; }
	[ "$(wc -l <err)" -eq 1 ] && grep -q "^rm-[a-z]*: h/" err ||
		fail "$*: unclear message: $(cat err)"
	! grep -qi "out of memory" err || fail "$*: allocated before checking: $(cat err)"
	[ ! -s out ] || fail "$*: output"
	printf "ok: %s\n" "$(cat err)"
}
huge rm-cat h/meta-4g.rmt
huge rm-cat h/record-4g.rmt
huge rm-train $tiny --steps 1 -o x h/record-4g.rmt
huge rm-tokenize -q -t bytes h/window-2t.jsonl.zst
huge rm-vote -j 1 h/st100g p.rmt
huge rm-vote -j 1 h/cfg100g p.rmt
huge rm-train -q -j 1 --steps 1 --init h/cfg100g -o x p.rmt
huge rm-tokenize -q -t bytes h/array-open.json
huge rm-train -q -j 1 --steps 1 --layers 1 --heads 4 --width 1024 -o x h/vocab-16m.rmt
[ ! -e x ] || fail "output left by a failed run"

# ---- a JSON array is streamed: memory does not grow with it ----------------
# 37 MB of array (300 KB compressed) through rm-tokenize, rm-filter and
# rm-eval --data: each must stay under 100 MB resident (reading the array
# whole took 14 times its size).  Sanitizer builds inflate memory: skipped.
if [ -z "${RM_SANITIZED:-}" ]; then
	python3 - <<'PY' || fail "making the array"
import subprocess
rec = '{"chosen":"c%d ' + "x" * 60 + '","rejected":"r","v":[1,2,{"a":null}]}'
text = "[" + ",\n".join(rec % i for i in range(300000)) + "]"
open("h/big.json.zst", "wb").write(subprocess.run(["zstd", "-q", "-c"],
    input=text.encode(), capture_output=True, check=True).stdout)
open("h/s.jsonl", "w").write('{"id":0,"strength_mean":1}\n')
PY
	for cmd in "rm-tokenize -q -j 1 -t bytes -m 16 -o /dev/null h/big.json.zst" \
	    "rm-filter -q -s h/s.jsonl --keep-unscored -o /dev/null h/big.json.zst" \
	    "rm-eval --data h/big.json.zst -o /dev/null /dev/null"; do
		n=$((n + 1))
		python3 - $cmd <<'PY' || fail "$cmd: $(cat err)"
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=open("err", "w"))
kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print("ok: %s: status %d, %d MB resident" % (sys.argv[1], p.returncode, kb >> 10))
sys.exit(p.returncode != 0 or kb > 100 << 10)
PY
	done
fi

echo "$n fault cases, all handled"
