#!/bin/sh
# Run every test: compiled tests (tests/bin/t-*) and shell tests (tests/t-*.sh).
# Exit status per test: 0 pass, 77 skip (message on stdout), anything else fail.
# Ends with one summary line "N passed, N failed, N skipped"; exits 1 on any failure.
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)
export RM_TOP="$top" PATH="$top/bin:$PATH"
mkdir -p tests/tmp
pass=0 fail=0 skip=0 failed=
for t in tests/bin/t-* tests/t-*.sh; do
	[ -e "$t" ] || continue
	case $t in *.sh) cmd="sh $t" ;; *) cmd=$t ;; esac
	name=${t##*/}
	log=tests/tmp/$name.log
	start=$(date +%s)
	$cmd >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); echo "ok      $name (${secs}s)" ;;
	77) skip=$((skip + 1)); echo "skip    $name: $(tail -n 1 "$log")" ;;
	*) fail=$((fail + 1)); failed="$failed $name"
	   echo "FAIL    $name (exit $rc)"; sed 's/^/        /' "$log" | tail -n 40 ;;
	esac
done
[ -n "$failed" ] && echo "failed:$failed"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
