#!/bin/sh
# A short pipeline with every stage under valgrind (memcheck: invalid
# reads and writes, uses of uninitialised values, definite leaks):
# rm-synth | rm-tokenize, then a tiny rm-train, then rm-vote | rm-eval.
# Skipped without valgrind, and under sanitizers (RM_SANITIZED, as
# make check-asan sets), which valgrind cannot run.
name=t-valgrind; . "$(dirname "$0")/common.sh"
command -v valgrind >/dev/null || { echo "no valgrind"; exit 77; }
[ -z "${RM_SANITIZED:-}" ] || { echo "sanitized build"; exit 77; }
export OPENBLAS_NUM_THREADS=1
vg="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
# st NAME CMD...: run CMD under valgrind, its status into NAME.rc
st() {
	f=$1
	shift
	# shellcheck disable=SC2086
	$vg "$@" 2>"$f.err"
	echo $? >"$f.rc"
}
check() {
	for f in "$@"; do
		rc=$(cat "$f.rc")
		[ "$rc" -eq 0 ] || { cat "$f.err"; fail "$f: status $rc under valgrind"; }
	done
}
st synth rm-synth -n 24 --seed 2 | st tokenize rm-tokenize -q -j 1 -t bytes -m 64 > p.rmt
check synth tokenize
st train rm-train -q -j 1 --layers 1 --heads 2 --width 16 --context 64 --steps 3 \
	--batch-size 8 --save-every 2 -o ck p.rmt
check train
st vote rm-vote -j 1 ck p.rmt | st eval rm-eval --json > report.json
check vote eval
python3 -c "
import json
m = json.load(open('report.json'))['models'][0]
assert m['n'] == 24 and 0 <= m['accuracy'] <= 1, m
" || fail "report: $(cat report.json)"
echo "5 stages clean under valgrind"
