/*
 * blas_init.c - make OpenBLAS use a fast kernel on processors it does not
 * know.
 *
 * Debian 12's OpenBLAS (0.3.21, built for every architecture) picks its
 * kernels by CPU model when it loads.  Processors newer than it (Sapphire
 * and Emerald Rapids, for instance) are not in its table, so it falls back
 * to the "Prescott" kernels: SSE3 code 5 to 8 times slower at sgemm than
 * the AVX-512 kernels the same processor runs well (measured with
 * tests/bench-model).  OpenBLAS reads OPENBLAS_CORETYPE only while it
 * loads, before main(), so this constructor (linked into every program and
 * test, outside lib/librm.a) re-executes the program once with the variable
 * set when OpenBLAS chose Prescott but the CPU has AVX-512 (SkylakeX
 * kernels) or AVX2 with FMA (Haswell kernels): rm_blas_suggest_coretype()
 * in nn/gemm.h decides.  Since rm_gemm has its own kernels (AVX2) and
 * oneDNN (AVX-512), this happens only where the products still run on
 * OpenBLAS: RM_GEMM=openblas, or an AVX-512 CPU without libdnnl2.  An
 * OPENBLAS_CORETYPE already in the environment is
 * always respected; RM_NO_REEXEC turns this off.  The new image also
 * starts OpenBLAS with one thread (see below) unless OPENBLAS_NUM_THREADS
 * is set.
 */
#include <stdlib.h>
#include <unistd.h>

#include "nn/kernels.h"

__attribute__((constructor)) static void
rm_blas_pick_kernel(int argc, char **argv, char **envp)
{
	const char *want;

	(void)argc;
	(void)envp;
	if (argv == NULL || getenv("RM_NO_REEXEC") != NULL)
		return;
	want = rm_blas_suggest_coretype();
	/* only when the products run on OpenBLAS at all: rmkit's own kernels
	 * (AVX2) and oneDNN (AVX-512) pick their code themselves */
	if (want == NULL || rm_gemm_get_path() != RM_GEMM_OPENBLAS ||
	    setenv("OPENBLAS_CORETYPE", want, 1) != 0)
		return;
	/*
	 * Start OpenBLAS with one thread: its idle workers spin for a while
	 * after they start, taking a core from programs that never multiply
	 * a matrix (rm-tokenize lost 10% at -j 2), and the model code sets the
	 * count it wants (rm_blas_set_threads, from -j) before any BLAS call.
	 */
	setenv("OPENBLAS_NUM_THREADS", "1", 0);
	execv("/proc/self/exe", argv);
	/* Could not re-execute: go on with the slow kernels. */
}
