#!/bin/sh
# Every program: a man page whose SYNOPSIS names the same options as -h,
# -h on stdout with status 0, --version with status 0, an unknown option
# with status 2; every man page renders without warnings.
set -u
top=${RM_TOP:-$(cd "$(dirname "$0")/.." && pwd)}
fail=0
no() { echo "FAIL: $*"; fail=1; }
for p in "$top"/bin/rm-*; do
	[ -x "$p" ] || continue
	name=${p##*/}
	page=$top/man/$name.1
	if [ ! -f "$page" ]; then
		no "$name: no man page"
		continue
	fi
	"$p" -h >/dev/null 2>&1 || no "$name -h: status $?"
	[ -n "$("$p" -h 2>/dev/null)" ] || no "$name -h: nothing on stdout"
	"$p" --version >/dev/null 2>&1 || no "$name --version: status $?"
	"$p" --no-such-option </dev/null >/dev/null 2>&1
	[ $? -eq 2 ] || no "$name --no-such-option: status not 2"
	/usr/bin/python3 "$top/tests/check-synopsis.py" "$p" "$page" || no "$name: -h and SYNOPSIS differ"
done
if command -v groff >/dev/null 2>&1; then
	for m in "$top"/man/*.[157]; do
		w=$(groff -mandoc -Tutf8 -ww "$m" 2>&1 >/dev/null)
		[ -z "$w" ] || no "${m##*/}: $w"
	done
fi
exit $fail
