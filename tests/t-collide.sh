#!/bin/sh
# Two names for one file on one command line: an output named twice, an
# output that is an input, a log inside the checkpoint directory, standard
# input named twice.  Each is a usage error (status 2) before anything is
# read or written, and the inputs are left as they were.
name=t-collide; . "$(dirname "$0")/common.sh"

rm-synth -n 20 --seed 5 > d.jsonl || fail "rm-synth"
rm-tokenize -q -j 1 -t bytes -m 96 d.jsonl -o p.rmt || fail "rm-tokenize"
printf '{"prompt":"p","responses":["a","bb","ccc"]}\n%.0s' 1 2 3 4 |
	rm-tokenize -q -t bytes -s group -o g.rmt || fail "groups"
tiny="-q -j 1 --layers 1 --heads 2 --width 16 --context 96 --batch-size 8 --lr 1e-3 --seed 2"
# shellcheck disable=SC2086
rm-train $tiny --steps 1 -o ck p.rmt || fail "rm-train"
rm-vote -j 1 --jsonl ck p.rmt -o v.jsonl || fail "rm-vote"
rm-strength -q v.jsonl v.jsonl -o s.jsonl || fail "rm-strength"
cp d.jsonl d0.jsonl && cp s.jsonl s0.jsonl && cp v.jsonl v0.jsonl
ln d.jsonl hard.jsonl

n=0
# usage WHAT CMD...: status 2, one message with WHAT, inputs unchanged
usage() {
	want=$1
	shift
	n=$((n + 1))
	"$@" >out 2>err </dev/null
	rc=$?
	[ $rc -eq 2 ] || fail "$*: status $rc, not 2: $(cat err)"
	grep -q -- "$want" err || fail "$*: message lacks '$want': $(cat err)"
	cmp -s d.jsonl d0.jsonl && cmp -s s.jsonl s0.jsonl && cmp -s v.jsonl v0.jsonl ||
		fail "$*: an input changed"
}
usage "same file" rm-filter -q -s s.jsonl --flip-lowest 0.1 --log x.jsonl -o x.jsonl d.jsonl
usage "same file" rm-filter -q -s s.jsonl --flip-lowest 0.1 --log d.jsonl -o y.jsonl d.jsonl
usage "same file" rm-filter -q -s s.jsonl --flip-lowest 0.1 -o hard.jsonl d.jsonl
usage "same file" rm-filter -q -s s.jsonl --flip-lowest 0.1 -o ./s.jsonl d.jsonl
usage "same file" rm-strength -q --groups 2 --groups-out z.jsonl -o z.jsonl v.jsonl
usage "same file" rm-strength -q -o v.jsonl v.jsonl
usage "same file" rm-synth -n 5 --test 2 --test-out t.jsonl -o t.jsonl
usage "same file" rm-synth -n 5 --groups 2 --groups-out ./t.jsonl -o t.jsonl
# shellcheck disable=SC2086
usage "inside the output directory" rm-train $tiny --steps 1 --log ck/log.jsonl -o ck p.rmt
# shellcheck disable=SC2086
usage "same file" rm-train $tiny --steps 1 --log p.rmt -o ck2 p.rmt
# shellcheck disable=SC2086
usage "both standard input" rm-train $tiny --steps 1 --eval - -o ck2
usage "both standard input" rm-metastep -q -j 1 --steps 1 --init ck -o m - -
[ ! -e x.jsonl ] && [ ! -e z.jsonl ] && [ ! -e t.jsonl ] && [ ! -e ck2 ] && [ ! -e m ] ||
	fail "an output was written"
[ ! -e ck/log.jsonl ] || fail "log written inside ck"
# not collisions: distinct files, the standard streams
rm-filter -q -s s.jsonl --flip-lowest 0.1 --log l.jsonl -o f.jsonl d.jsonl || fail "distinct"
rm-synth -n 5 --test 2 --test-out - -o t.jsonl >/dev/null || fail "stdout and a file"
echo "$n collisions refused"
