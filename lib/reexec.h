/*
 * reexec.h - start a program on the BLAS kernels that fit the CPU.
 *
 * OpenBLAS reads OPENBLAS_CORETYPE only when it loads, and on CPU models
 * newer than its tables it falls back to generic SSE3 kernels, several
 * times slower than the AVX-512 or AVX2 ones the CPU can run
 * (rm_blas_suggest_coretype in kernels.h tells).  A program that does
 * heavy math calls rm_blas_reexec(argv) first thing in main: when a better
 * core type is known it sets OPENBLAS_CORETYPE and re-executes itself, so
 * the rest of main runs with the right kernels.  Setting OPENBLAS_CORETYPE
 * (or RM_NO_REEXEC) by hand turns this off.
 */
#ifndef RM_REEXEC_H
#define RM_REEXEC_H

/* Returns only when no re-execution is needed or it failed. */
void rm_blas_reexec(char **argv);

#endif
