#!/bin/sh
# Run every benchmark: tests/bench-*.sh scripts, then tests/bin/bench-*
# programs.  Each prints its own figures and ratios against the reference it
# names, measured in the same run.  Timings live here, never in tests.
cd "$(dirname "$0")/.." || exit 2
top=$(pwd)
export RM_TOP="$top" PATH="$top/bin:$PATH"
status=0
# the machine's load beside the figures: timings on a shared machine mean
# little, the ratios measured side by side a bit more
echo "make bench $(date -u '+%Y-%m-%d %H:%M UTC'); load average$(uptime | sed 's/.*load average//')"
for b in tests/bench-*.sh tests/bin/bench-*; do
	[ -e "$b" ] || continue
	echo "== ${b##*/}"
	case $b in *.sh) sh "$b" ;; *) "$b" ;; esac || { echo "(${b##*/} failed)"; status=1; }
	echo "(load average$(uptime | sed 's/.*load average//'))"
	echo
done
exit $status
