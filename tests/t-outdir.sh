#!/bin/sh
# Output directories (checkpoints) and output files behind symbolic links,
# stale temporary directories, and two runs writing one directory:
# a link is followed on purpose (its target replaced, the link kept), a
# link where a temporary directory goes is refused and left alone, a
# second writer is refused at once naming the first, and a lock left by a
# killed run does not block the next one.
name=t-outdir; . "$(dirname "$0")/common.sh"

rm-synth -n 40 --seed 5 > d.jsonl || fail "rm-synth"
rm-tokenize -q -j 1 -t bytes -m 96 d.jsonl -o p.rmt || fail "rm-tokenize"
printf '{"prompt":"p","responses":["a","bb","ccc"]}\n%.0s' 1 2 3 4 |
	rm-tokenize -q -t bytes -s group -o g.rmt || fail "groups"
tiny="-q -j 1 --layers 1 --heads 2 --width 16 --context 96 --batch-size 8 --lr 1e-3 --seed 2"
# shellcheck disable=SC2086
train() { rm-train $tiny "$@"; }
files() { (cd "$1" && ls | tr '\n' ' '); }
ckfiles="config.json model.safetensors training_run.json training_state.safetensors "

train --steps 2 -o real p.rmt || fail "rm-train"
sum0=$(cat real/model.safetensors | cksum)

# ---- -o LINK: the target is replaced, the link stays ------------------------
ln -s real link
train --steps 2 --seed 3 -o link p.rmt || fail "rm-train -o link"
[ -L link ] || fail "-o link: the link was replaced"
[ "$(files real)" = "$ckfiles" ] || fail "-o link: target holds $(files real)"
[ "$(cat real/model.safetensors | cksum)" != "$sum0" ] || fail "-o link: target not rewritten"
rm-vote -j 1 link p.rmt >/dev/null || fail "-o link: checkpoint does not load"
train --steps 4 --seed 3 -o link p.rmt || fail "rm-train -o link (again)"
train --steps 4 --seed 3 --resume -o link/ p.rmt || fail "rm-train --resume -o link/"
[ -L link ] && [ "$(files real)" = "$ckfiles" ] || fail "--resume -o link/: $(files real)"
rm-metastep -q -j 1 --steps 1 --lr 1e-3 --init real -o mlink p.rmt g.rmt 2>err ||
	fail "rm-metastep: $(cat err)"
mv mlink mreal && ln -s mreal mlink
rm-metastep -q -j 1 --steps 2 --lr 1e-3 --init real -o mlink p.rmt g.rmt 2>err ||
	fail "rm-metastep -o link: $(cat err)"
[ -L mlink ] && [ -f mreal/metarm_state.json ] || fail "rm-metastep -o link: $(files mreal)"
ls -d ./*.tmp ./*.old ./*.lock 2>/dev/null && fail "left temporary directories or locks"

# ---- each program resumes only its own kind of run ---------------------------
train --steps 4 --resume -o mreal p.rmt 2>err
[ $? -eq 2 ] && grep -q "mreal is a MetaRM run" err || fail "rm-train --resume on MetaRM: $(cat err)"
[ -f mreal/metarm_state.json ] || fail "rm-train --resume dropped the MetaRM state"
rm-metastep -q -j 1 --steps 4 --resume -o real p.rmt g.rmt 2>err
[ $? -eq 2 ] && grep -q "real is not a MetaRM run" err || fail "rm-metastep --resume on rm-train: $(cat err)"
rm-metastep -q -j 1 --resume -o mlink p.rmt g.rmt 2>err ||
	fail "rm-metastep --resume -o link: $(cat err)"

# ---- a dangling link, a link to a file, trailing slash, empty name ----------
ln -s nowhere dangling
train --steps 1 -o dangling p.rmt 2>err
[ $? -eq 2 ] && grep -q "dangling" err || fail "-o dangling: $(cat err)"
[ -L dangling ] && [ ! -e nowhere ] || fail "-o dangling: touched"
ln -s d.jsonl flink
train --steps 1 -o flink p.rmt 2>err
[ $? -eq 2 ] && grep -q "not a directory" err || fail "-o link-to-file: $(cat err)"
cmp -s d.jsonl flink || fail "-o link-to-file: file changed"
train --steps 1 -o slash/ p.rmt || fail "-o dir/"
[ "$(files slash)" = "$ckfiles" ] || fail "-o dir/: $(files slash)"
train --steps 1 -o "" p.rmt 2>err
[ $? -eq 2 ] && grep -q "empty" err || fail "-o '': $(cat err)"

# ---- a stale temporary directory that is a link: refused up front ----------
mkdir victim && cp real/* victim/ && ln -s victim ck.tmp
train --steps 1 -o ck p.rmt 2>err
[ $? -eq 2 ] && grep -q "ck.tmp: is a symbolic link" err || fail "ck.tmp link: $(cat err)"
[ "$(files victim)" = "$ckfiles" ] && [ -L ck.tmp ] || fail "ck.tmp link: victim touched"
rm ck.tmp && ln -s victim ck.old
train --steps 1 -o ck p.rmt 2>err
[ $? -eq 2 ] && grep -q "ck.old: is a symbolic link" err || fail "ck.old link: $(cat err)"
rm ck.old
# a stale ck.tmp that is ours is cleared; one holding other files is refused
mkdir ck.tmp && cp real/config.json ck.tmp/
train --steps 1 -o ck p.rmt || fail "stale ck.tmp of ours"
[ ! -e ck.tmp ] || fail "stale ck.tmp not cleared"
mkdir ck.tmp && echo x > ck.tmp/notes.txt
train --steps 1 -o ck p.rmt 2>err
[ $? -eq 2 ] && grep -q "notes.txt" err && [ -f ck.tmp/notes.txt ] || fail "foreign ck.tmp: $(cat err)"
rm -r ck.tmp
# a link inside a stale temporary directory is not followed either
mkdir ck.tmp && ln -s ../victim/model.safetensors ck.tmp/model.safetensors
train --steps 1 -o ck p.rmt 2>err
[ $? -eq 2 ] && [ -f victim/model.safetensors ] || fail "link in ck.tmp: $(cat err)"
rm -r ck.tmp

# ---- output files behind links: the target replaced, the link kept ---------
echo old > target.jsonl && ln -s target.jsonl out.jsonl
rm-synth -n 3 -o out.jsonl || fail "rm-synth -o link"
[ -L out.jsonl ] && [ "$(wc -l <target.jsonl)" -eq 3 ] || fail "rm-synth -o link"
rm-synth -n 3 -o dangling 2>err
[ $? -ne 0 ] && grep -q dangling err && [ ! -e nowhere ] || fail "rm-synth -o dangling: $(cat err)"

# ---- two writers: the second is refused at once, naming the first ----------
wait_lock() {
	i=0
	while [ ! -s "$1" ]; do
		i=$((i + 1))
		[ $i -lt 600 ] || fail "no lock file $1"
		sleep 0.1
	done
}
# shellcheck disable=SC2086
rm-train $tiny --steps 100000000 --save-every 0 -o busy p.rmt 2>busy.err &
pid=$!
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$t"' EXIT
wait_lock busy.lock
[ "$(cat busy.lock)" = "$pid" ] || fail "lock names $(cat busy.lock), not $pid"
train --steps 1 -o busy p.rmt 2>err
rc=$?
[ $rc -eq 1 ] && grep -q "busy: another run (pid $pid) is writing it" err ||
	fail "second writer: status $rc: $(cat err)"
train --steps 1 -o "$PWD/busy/" p.rmt 2>err
[ $? -eq 1 ] && grep -q "pid $pid" err || fail "second writer by another name: $(cat err)"
rm-metastep -q -j 1 --steps 1 --init real -o busy p.rmt g.rmt 2>err
[ $? -eq 1 ] && grep -q "pid $pid" err || fail "rm-metastep as second writer: $(cat err)"
kill -TERM $pid
wait $pid
rc=$?
[ $rc -eq 143 ] || fail "first writer: status $rc: $(cat busy.err)"
[ ! -e busy.lock ] || fail "lock file left after a clean end"
[ "$(files busy)" = "$ckfiles" ] || fail "busy: $(files busy)"

# ---- a lock left by a killed run does not block ----------------------------
# shellcheck disable=SC2086
rm-train $tiny --steps 100000000 --save-every 0 -o killed p.rmt 2>/dev/null &
pid=$!
wait_lock killed.lock
kill -KILL $pid
wait $pid
[ -e killed.lock ] || fail "no stale lock to test with"
train --steps 1 -o killed p.rmt || fail "stale lock blocked the next run"
[ ! -e killed.lock ] || fail "stale lock file left"
# a lock file that is a symbolic link is refused, not followed
ln -s d.jsonl lk.lock
train --steps 1 -o lk p.rmt 2>err
[ $? -eq 1 ] && grep -q "lk.lock: .*symbolic link" err || fail "lock link: $(cat err)"
cmp -s d.jsonl lk.lock || fail "lock link: target written"
echo "outdir: ok"
