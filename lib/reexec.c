/*
 * reexec.c - re-execute with OPENBLAS_CORETYPE set (see reexec.h).
 */
#include <stdlib.h>
#include <unistd.h>

#include "kernels.h"
#include "reexec.h"

void
rm_blas_reexec(char **argv)
{
	const char *ct = rm_blas_suggest_coretype();
	if (!ct || getenv("RM_NO_REEXEC"))
		return;
	if (setenv("OPENBLAS_CORETYPE", ct, 1) == 0)
		execv("/proc/self/exe", argv);
	/* exec failed: go on with the kernels we have */
}
