/*
 * bench-gemm.c - the CPU's measured peak, and rm_gemm's paths on rmkit's
 * shapes as fractions of it.
 *
 *   tests/bin/bench-gemm [-q] [-j threads] [-t tokens] [-r reps]
 *
 * 1. The CPU: vendor, family, model (CPUID), and the ISA flags that matter.
 * 2. Peak: fp32 FMA with 16 independent accumulator chains (AVX2 ymm, and
 *    AVX-512 zmm where present), bf16 dot products (vdpbf16ps) where
 *    AVX512-BF16 is present and AMX bf16 tiles (tdpbf16ps) where AMX is,
 *    each on 1 thread and on all (-j, default all cores), best of 40
 *    short rounds the threads start together (tests/peak.h).
 *    Register-only loops: the most this core's vector units do.
 * 3. Products: for GPT-2 small (C 768) and Qwen2.5-0.5B (hidden 896,
 *    intermediate 4864, 14 query and 2 key/value heads of 64) the forward
 *    (out = x W), input-gradient (dx = dy W^T) and weight-gradient
 *    (dW = x^T dy) products of each linear layer, for -t tokens (default
 *    512: a batch) and 128 (one sequence), on every path this CPU runs, in
 *    fp32 and bf16, and oneDNN's dnnl_sgemm (Debian's libdnnl2, opened at
 *    run time when installed) as a candidate beside them, on 1 thread and
 *    on all: GFLOP/s and the fraction of the
 *    fp32 FMA peak of the widest vector unit (AVX-512 where present) at the
 *    same thread count; bf16 rows also the fraction of the bf16 peak
 *    (vdpbf16ps) where the CPU has one.  -q: only the totals per model.
 * Best of -r repetitions (default 3): the machine may be shared.
 */
#include <cpuid.h>
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <immintrin.h>

#include "nn/gemm.h"
#include "peak.h"


/* ---- products ---------------------------------------------------------------- */

struct shape {
	const char *name;
	size_t in, out;
};

static float *
randbuf(size_t n)
{
	float *p = malloc(n * sizeof(float));
	uint32_t s = 12345;
	for (size_t i = 0; i < n; i++) {
		s = s * 1664525u + 1013904223u;
		p[i] = (float)((int)(s >> 9) - (1 << 22)) / (float)(1 << 23);
	}
	return p;
}

/*
 * oneDNN (Debian's libdnnl2, loaded here only, at run time) as a candidate
 * measured beside rm_gemm's paths: dnnl_sgemm is row-major like rm_gemm.
 */
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *,
			     int64_t, const float *, int64_t, float, float *, int64_t);
static dnnl_sgemm_fn dnnl_sgemm;
static void (*omp_set_threads)(int);
static int use_dnnl;

static void
load_dnnl(void)
{
	void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_GLOBAL);
	if (!h)
		return;
	dnnl_sgemm = (dnnl_sgemm_fn)dlsym(h, "dnnl_sgemm");
	omp_set_threads = (void (*)(int))dlsym(h, "omp_set_num_threads");
}

static void
product(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
	const float *B, size_t ldb, float *C, size_t ldc)
{
	if (use_dnnl)
		dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', (int64_t)M, (int64_t)N, (int64_t)K, 1,
			   A, (int64_t)lda, B, (int64_t)ldb, 0, C, (int64_t)ldc);
	else
		rm_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc);
}

/* Seconds for one product, best of reps. */
static double
time_gemm(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
	  const float *B, size_t ldb, float *C, size_t ldc, int reps)
{
	product(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t = peak_now();
		int n = 0;
		do { /* at least 20 ms per measurement */
			product(ta, tb, M, N, K, A, lda, B, ldb, C, ldc);
			n++;
		} while (peak_now() - t < 0.02);
		t = (peak_now() - t) / n;
		best = t < best ? t : best;
	}
	return best;
}

/*
 * A model's layers at T tokens: forward, input- and weight-gradient
 * products of each; prints one line per kind and a total; returns the
 * total GFLOP/s.
 */
static void
print_rate(const char *model, const char *kind, size_t T, double gf, double pk, double pk16)
{
	printf("  %-12s %-11s T=%-4zu %7.1f GFLOP/s  %5.1f%% of peak", model, kind, T, gf,
	       100 * gf / pk);
	if (pk16 > 0)
		printf("  %5.1f%% of bf16 peak", 100 * gf / pk16);
	printf("\n");
}

/* pk16: the bf16 peak at the same thread count for bf16 rows, else 0. */
static double
bench_model(const char *model, const struct shape *sh, size_t nsh, size_t T, double pk,
	    double pk16, int reps, int quiet)
{
	static const char *const kind[3] = {"forward", "input-grad", "weight-grad"};
	double tot_f = 0, tot_t = 0;
	for (int k = 0; k < 3; k++) {
		double f = 0, t = 0;
		for (size_t s = 0; s < nsh; s++) {
			size_t C = sh[s].in, OC = sh[s].out;
			float *x = randbuf(T * C), *w = randbuf(C * OC), *y = randbuf(T * OC);
			float *out = malloc((T > C ? T : C) * (OC > C ? OC : C) * sizeof(float));
			double sec;
			if (k == 0) /* out[T,OC] = x[T,C] w[C,OC] */
				sec = time_gemm(0, 0, T, OC, C, x, C, w, OC, out, OC, reps);
			else if (k == 1) /* dx[T,C] = dy[T,OC] w^T */
				sec = time_gemm(0, 1, T, C, OC, y, OC, w, OC, out, C, reps);
			else /* dw[C,OC] = x^T dy */
				sec = time_gemm(1, 0, C, OC, T, x, C, y, OC, out, OC, reps);
			f += 2.0 * T * C * OC;
			t += sec;
			free(x), free(w), free(y), free(out);
		}
		if (!quiet)
			print_rate(model, kind[k], T, f / t / 1e9, pk, pk16);
		tot_f += f, tot_t += t;
	}
	print_rate(model, "all", T, tot_f / tot_t / 1e9, pk, pk16);
	return tot_f / tot_t / 1e9;
}

int
main(int argc, char **argv)
{
	int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), reps = 3, quiet = 0, opt;
	size_t tokens = 512;
	while ((opt = getopt(argc, argv, "j:t:r:q")) != -1) {
		if (opt == 'j')
			threads = atoi(optarg);
		else if (opt == 't')
			tokens = (size_t)atol(optarg);
		else if (opt == 'r')
			reps = atoi(optarg);
		else if (opt == 'q')
			quiet = 1;
		else {
			fprintf(stderr, "usage: bench-gemm [-q] [-j threads] [-t tokens] [-r reps]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 256)
		threads = 1;
	print_cpu();
	__builtin_cpu_init();
	int has512 = __builtin_cpu_supports("avx512f");
	int has_bf16 = has512 && __builtin_cpu_supports("avx512bf16");
	int has_amx = __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16");
	int tc[2] = {1, threads};
	double pk[2] = {0, 0}, pk16[2] = {0, 0};
	for (int i = 0; i < (threads > 1 ? 2 : 1); i++) {
		int n = tc[i];
		double p256 = peak(loop_fma256, n), p512 = has512 ? peak(loop_fma512, n) : 0;
		printf("peak %d thread%s: fp32 FMA avx2 %.1f GFLOP/s", n, n > 1 ? "s" : "", p256);
		if (has512)
			printf(", avx512 %.1f", p512);
		if (has_bf16)
			printf(", bf16 vdpbf16ps %.1f", pk16[i] = peak(loop_bf16, n));
		if (has_amx) {
			double a = peak_isolated(loop_amx, n);
			if (a > 0)
				printf(", AMX bf16 %.1f", a);
			else
				printf(", AMX bf16 not measured (tile state refused or faulted)");
		}
		printf("\n");
		pk[i] = p512 > p256 ? p512 : p256;
	}
	if (threads == 1)
		pk[1] = pk[0], pk16[1] = pk16[0];
	static const struct shape gpt2[] = {
		{"qkv", 768, 2304}, {"attn.proj", 768, 768}, {"fc", 768, 3072}, {"fc.proj", 3072, 768},
	};
	static const struct shape qwen[] = {
		{"q", 896, 896}, {"k+v", 896, 256}, {"o", 896, 896}, {"gate+up", 896, 9728},
		{"down", 4864, 896},
	};
	/* candidates: rm_gemm's paths in fp32 and bf16, then oneDNN's sgemm */
	static const enum rm_gemm_path paths[] = {RM_GEMM_AVX2, RM_GEMM_AVX512, RM_GEMM_OPENBLAS,
						   RM_GEMM_AUTO};
	load_dnnl();
	for (size_t pi = 0; pi < sizeof paths / sizeof *paths; pi++) {
		use_dnnl = paths[pi] == RM_GEMM_AUTO;
		if (use_dnnl && !dnnl_sgemm) {
			printf("onednn: libdnnl.so.2 not installed (Debian libdnnl2), not measured\n");
			continue;
		}
		if (!use_dnnl && rm_gemm_set_path(paths[pi]) != paths[pi])
			continue;
		for (int prec = 0; prec < (use_dnnl ? 1 : 2); prec++) {
			rm_gemm_set_precision(prec ? RM_PREC_BF16 : RM_PREC_FP32);
			for (int i = 0; i < (threads > 1 ? 2 : 1); i++) {
				rm_blas_set_threads(tc[i]);
				if (use_dnnl && omp_set_threads)
					omp_set_threads(tc[i]);
				printf("%s %s, %d thread%s (%% of the fp32 FMA peak%s at %d):\n",
				       use_dnnl ? "onednn-sgemm" : rm_gemm_path_name(),
				       prec ? "bf16" : "fp32", tc[i], tc[i] > 1 ? "s" : "",
				       prec && pk16[i] > 0 ? " and of the bf16 peak" : "", tc[i]);
				size_t Ts[2] = {tokens, 128};
				for (int ti = 0; ti < (tokens == 128 ? 1 : 2); ti++) {
					double p16 = prec ? pk16[i] : 0;
					bench_model("gpt2-small", gpt2, 4, Ts[ti], pk[i], p16, reps, quiet);
					bench_model("qwen2.5-0.5b", qwen, 5, Ts[ti], pk[i], p16, reps, quiet);
				}
				fflush(stdout);
			}
		}
	}
	rm_gemm_set_precision(RM_PREC_FP32);
	return 0;
}
