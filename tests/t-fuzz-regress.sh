#!/bin/sh
# Replay the fuzzers' saved findings (tests/fuzz/regress/HARNESS/) and
# their seed corpora (tests/fuzz/corpus/HARNESS/) through the harnesses,
# built without libFuzzer as tests/bin/tool-fuzzreplay.  Each input once;
# a harness abort (crash, sanitizer report, broken invariant) fails.
name=t-fuzz-regress; . "$(dirname "$0")/common.sh"
replay=$RM_TOP/tests/bin/tool-fuzzreplay
[ -x "$replay" ] || fail "tests/bin/tool-fuzzreplay not built"
for src in "$RM_TOP"/tests/fuzz/*.c "$RM_TOP"/tests/fuzz/*.h; do
	[ "$src" -nt "$replay" ] && fail "tool-fuzzreplay older than $src: make again"
done
export RMKIT_GPT2_DIR=${RMKIT_GPT2_DIR:-$RM_TOP/.cache/gpt2}
total=0
for d in "$RM_TOP"/tests/fuzz/corpus/* "$RM_TOP"/tests/fuzz/regress/*; do
	[ -d "$d" ] || continue
	h=${d##*/}
	set -- "$d"/*
	[ -e "$1" ] || continue
	TMPDIR=$t "$replay" "$h" "$@" >out 2>err || {
		cat err
		fail "$h: an input of ${d#"$RM_TOP"/} fails the harness"
	}
	total=$((total + $#))
done
[ "$total" -gt 0 ] || fail "no inputs"
echo "$total fuzz inputs replayed"
