#!/bin/sh
# Build the libFuzzer harnesses and fuzz each for a bounded time.
#
#   sh tests/fuzz/run.sh [HARNESS ...]       (make fuzz calls this)
#
# FUZZ_SECONDS (default 30) per harness; FUZZ_JOBS (default 1) parallel
# fuzzing processes per harness; CLANG (default clang).  The library is
# compiled straight into each harness with -fsanitize=fuzzer,address,
# undefined.  Runs start from the committed seeds (corpus/HARNESS) and the
# saved findings (regress/HARNESS), and grow a working corpus in
# work/HARNESS (not committed).  A crash leaves its input in
# work/crashes/HARNESS/ and makes the run fail: fix it, then copy the input
# to regress/HARNESS/ so `make check` (t-fuzz-regress.sh) replays it.
set -u
cd "$(dirname "$0")/../.." || exit 2
top=$(pwd)
f=tests/fuzz
CLANG=${CLANG:-clang}
secs=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-1}
all="prefs tstream safetensors checkpoint bpe_gpt2 bpe_hf encode votes strength"
harnesses=${*:-$all}

command -v "$CLANG" >/dev/null || { echo "fuzz: $CLANG not found"; exit 1; }
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -pthread \
	-I/usr/include/x86_64-linux-gnu/openblas-pthread -Ilib -I$f $san"
libs="-lopenblas -lcjson -lzstd -lpcre2-8 -lutf8proc -lm -lpthread"

# the library, once, instrumented for coverage
mkdir -p $f/obj $f/bin
objs=
for c in lib/*/*.c; do
	o=$f/obj/$(basename "$c" .c).o
	if [ ! -f "$o" ] || [ "$c" -nt "$o" ] || [ -n "$(find lib -name '*.h' -newer "$o")" ]; then
		$CLANG $cflags -fsanitize=fuzzer-no-link -c -o "$o" "$c" || exit 1
	fi
	objs="$objs $o"
done
for h in $harnesses; do
	[ -f $f/fuzz_$h.c ] || { echo "fuzz: no harness $h"; exit 2; }
	$CLANG $cflags -fsanitize=fuzzer -o $f/bin/fuzz_$h $f/fuzz_$h.c $objs $libs || exit 1
done

# scratch files on tmpfs: rm_st_save and checkpoints fsync
[ -d /dev/shm ] && [ -w /dev/shm ] && export TMPDIR=${FUZZ_TMPDIR:-/dev/shm}
status=0
for h in $harnesses; do
	mkdir -p $f/work/$h $f/work/crashes/$h $f/regress/$h
	log=$top/$f/work/$h.log
	w=$top/$f/work/$h.jobs
	# -jobs makes libFuzzer run workers writing fuzz-N.log in the current
	# directory: one directory per harness, and no -jobs for one worker
	rm -rf "$w" && mkdir -p "$w"
	par=
	[ "$jobs" -gt 1 ] && par="-jobs=$jobs -workers=$jobs"
	# fuzz_encode finds the GPT-2 files relative to the top
	# shellcheck disable=SC2086
	(cd "$w" && RMKIT_GPT2_DIR=${RMKIT_GPT2_DIR:-$top/.cache/gpt2} \
	ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 \
	UBSAN_OPTIONS=print_stacktrace=1 \
	"$top/$f/bin/fuzz_$h" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
		-timeout=20 -max_len=65536 -print_final_stats=1 $par \
		-artifact_prefix="$top/$f/work/crashes/$h/" \
		"$top/$f/work/$h" "$top/$f/corpus/$h" "$top/$f/regress/$h") >"$log" 2>&1
	rc=$?
	cat "$w"/fuzz-*.log >>"$log" 2>/dev/null
	rm -rf "$w"
	execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s += $2} END {print s + 0}')
	if [ $rc -ne 0 ]; then
		status=1
		echo "fuzz_$h: FAILED after $execs executions (see $log, inputs in $f/work/crashes/$h/)"
		grep -m 3 -E 'ERROR|fuzz:|SUMMARY' "$log" | sed 's/^/    /'
	else
		echo "fuzz_$h: $execs executions in ${secs}s, no findings"
	fi
done
exit $status
