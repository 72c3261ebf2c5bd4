# Sourced by shell tests: name=NAME; . "$(dirname "$0")/common.sh"
# Sets RM_TOP, puts bin/ first on PATH, skips (77) without python3, makes a
# scratch directory $t (removed at exit) and cds into it; fail MSG exits 1.
set -u
: "${RM_TOP:=$(cd "$(dirname "$0")/.." && pwd)}"
PATH=$RM_TOP/bin:$PATH
command -v python3 >/dev/null || { echo "no python3"; exit 77; }
t=$RM_TOP/tests/tmp/$name.$$
mkdir -p "$t"
trap 'rm -rf "$t"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
cd "$t" || exit 1
# check_synopsis PROG: -h and man/PROG.1 SYNOPSIS name the same options.
check_synopsis() {
	python3 "$RM_TOP/tests/check-synopsis.py" "$1" "$RM_TOP/man/$1.1" ||
		fail "-h and man page disagree"
}
