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
# mpi_setup: skip (77) without mpirun or an MPI build; the environment for
# mpirun on localhost as root, oversubscribed, in containers.
mpi_setup() {
	command -v mpirun >/dev/null 2>&1 || { echo "no mpirun (openmpi-bin)"; exit 77; }
	ldd "$RM_TOP/bin/rm-train" 2>/dev/null | grep -q libmpi ||
		{ echo "rm-train built without MPI"; exit 77; }
	# CI runs as root; containers often lack the ptrace rights of the
	# single-copy transport.
	export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
	export OMPI_MCA_btl_vader_single_copy_mechanism=none OMPI_MCA_rmaps_base_oversubscribe=1
	export OMPI_MCA_btl=self,vader
	# under ASan: MPI's own allocations live until exit
	[ "${RM_SANITIZED:-0}" = 1 ] && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
	return 0
}
# rank_pid PID R: the process of rank R among PID's descendants (PID is
# mpirun or a timeout above it), empty when there is none
rank_pid() {
	for c in $(pgrep -P "$1"); do
		if tr '\0' '\n' < /proc/"$c"/environ 2>/dev/null |
			grep -qx "OMPI_COMM_WORLD_RANK=$2\|PMI_RANK=$2"; then
			echo "$c"
			return 0
		fi
		r=$(rank_pid "$c" "$2")
		[ -z "$r" ] || { echo "$r"; return 0; }
	done
}
