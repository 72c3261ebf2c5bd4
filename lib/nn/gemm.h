/*
 * gemm.h - the one matrix-product layer: C = alpha op(A) op(B) + beta C.
 *
 * Several paths compute the same product; one is picked per process when
 * the first product runs (or rm_gemm_set_path is called):
 *
 *   avx2      rmkit's own blocked kernels (6x16 FMA micro-kernel, AVX2+FMA).
 *             A row's result depends only on that row, K and the operands:
 *             never on M, on the row's place in the call or on the thread
 *             count, so a batch may go through one call (row invariance).
 *   avx512    the same blocking and packing with a 12x32 AVX-512 micro-
 *             kernel (two packed strips of A by two of B) where whole
 *             tiles fit, the 6x16 one at the edges; every element is the
 *             same chain of FMAs in the same order, so its results are
 *             bit for bit avx2's (and row-invariant), at twice the flops
 *             per instruction.
 *   openblas  cblas_sgemm (Debian's OpenBLAS); results may depend on M.
 *   onednn    dnnl_sgemm (Debian's libdnnl2, opened at run time when this
 *             path is first asked for); results may depend on M.
 *   ref       plain loops with double accumulation: the test oracle.
 *
 * "auto" (the default) is onednn on AVX-512 CPUs when libdnnl.so.2 loads
 * (not under AddressSanitizer), else avx2 where AVX2+FMA runs, else
 * openblas.
 * RM_GEMM=avx2|avx512|openblas|onednn|ref|auto in the environment forces a path
 * (one the CPU or the installation cannot run falls back to auto's
 * choice), so every path can be tested on any machine.
 *
 * Precision (process-wide, default fp32): in bf16 mode both inputs of
 * every product are rounded to bfloat16 (round to nearest even) and the
 * products are summed in fp32; C, alpha and beta stay fp32.  No path here
 * has native bf16 instructions yet: rm_gemm_bf16_native() says whether
 * the products run on bf16 hardware (0: fp32 FMA on rounded inputs, the
 * same numbers at fp32 speed).
 *
 * Threads: rm_blas_set_threads sets how many threads one product may use
 * (the own kernels' worker threads, OpenBLAS's or oneDNN's OpenMP ones).  Calls from several
 * threads at once are safe; a call that finds the workers busy runs on
 * its caller's thread alone (the same bits, see above).
 *
 * Nothing here prints or fails; buffers the kernels need (packed panels,
 * one set per calling thread) are allocated on first use and kept.
 */
#ifndef RM_GEMM_H
#define RM_GEMM_H

#include <stddef.h>

#include "base/pool.h"

enum rm_gemm_path { RM_GEMM_AUTO, RM_GEMM_REF, RM_GEMM_OPENBLAS, RM_GEMM_AVX2,
		    RM_GEMM_ONEDNN, RM_GEMM_AVX512, RM_GEMM_NPATHS };
enum rm_precision { RM_PREC_FP32, RM_PREC_BF16 };

/* Threads for one product (process-wide; n < 1 counts as 1). */
void rm_blas_set_threads(int n);
int rm_blas_threads(void);

/*
 * Run fn(ctx, task, thread) for every task in [0, ntasks) on the product
 * threads (rm_blas_set_threads), or on the caller alone when another call
 * holds them; thread is in [0, rm_blas_threads()).  For memory-bound
 * passes next to the products (the optimizer step, the gradient norm):
 * a task must write only its own outputs, so the result does not depend
 * on the thread count.
 */
void rm_gemm_parallel(size_t ntasks, rm_pool_fn fn, void *ctx);

/* The path in use ("avx2", "avx512", "openblas", "onednn", "ref"). */
const char *rm_gemm_path_name(void);
enum rm_gemm_path rm_gemm_get_path(void);
/* Force a path (RM_GEMM_AUTO: the default choice).  Returns the path
 * actually taken: one the CPU cannot run gives auto's choice. */
enum rm_gemm_path rm_gemm_set_path(enum rm_gemm_path p);
/* Parse "auto", "avx2", "avx512", "openblas", "onednn", "ref"; -1 if unknown. */
int rm_gemm_path_parse(const char *s);
/* 1 when a row's result cannot depend on the other rows of its call. */
int rm_gemm_row_invariant(void);

void rm_gemm_set_precision(enum rm_precision p);
enum rm_precision rm_gemm_precision(void);
/* "fp32" / "bf16" to a precision; -1 if unknown. */
int rm_precision_parse(const char *s);
const char *rm_precision_name(enum rm_precision p);
/* 1 if bf16 products run on bf16 instructions (none do yet: 0). */
int rm_gemm_bf16_native(void);

/* The BLAS kernel family OpenBLAS uses, e.g. "Haswell", "Prescott". */
const char *rm_blas_core(void);

/* 1: every rm_gemm uses the plain-loop reference; 0: the chosen path.
 * (rm_gemm_set_path(RM_GEMM_REF) by another name, kept for the tests.) */
void rm_gemm_set_reference(int on);
int rm_gemm_is_reference(void);

/*
 * C[M,N] = alpha * op(A) * op(B) + beta * C, all row-major; op(A) is
 * [M,K] (A itself [K,M] with lda >= M when transa), op(B) [K,N].
 * With beta == 0, C is not read (may hold garbage or NaN).
 */
void rm_gemm(int transa, int transb, size_t M, size_t N, size_t K,
	     float alpha, const float *A, size_t lda, const float *B,
	     size_t ldb, float beta, float *C, size_t ldc);
/* The plain-loop reference (double accumulation; in bf16 mode it rounds
 * the inputs as the other paths do). */
void rm_gemm_ref(int transa, int transb, size_t M, size_t N, size_t K,
		 float alpha, const float *A, size_t lda, const float *B,
		 size_t ldb, float beta, float *C, size_t ldc);

/* x rounded to the nearest bfloat16 (ties to even), as a float. */
float rm_bf16_round(float x);

#endif
