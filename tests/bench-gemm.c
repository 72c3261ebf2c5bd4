/*
 * bench-gemm.c - the CPU's measured peak, and rm_gemm's paths on rmkit's
 * shapes as fractions of it.
 *
 *   tests/bin/bench-gemm [-q] [-j threads] [-t tokens] [-r reps]
 *
 * 1. The CPU: vendor, family, model (CPUID), and the ISA flags that matter.
 * 2. Peak: fp32 FMA with 12 independent accumulator chains (AVX2 ymm, and
 *    AVX-512 zmm where present), bf16 dot products (vdpbf16ps) where
 *    AVX512-BF16 is present and AMX bf16 tiles (tdpbf16ps) where AMX is,
 *    each on 1 thread and on all (-j, default all cores), best of 3.
 *    Register-only loops: the most this core's vector units do.
 * 3. Products: for GPT-2 small (C 768) and Qwen2.5-0.5B (hidden 896,
 *    intermediate 4864, 14 query and 2 key/value heads of 64) the forward
 *    (out = x W), input-gradient (dx = dy W^T) and weight-gradient
 *    (dW = x^T dy) products of each linear layer, for -t tokens (default
 *    512: a batch) and 128 (one sequence), on every path this CPU runs, in
 *    fp32 and bf16, on 1 thread and on all: GFLOP/s and the fraction of the
 *    fp32 FMA peak of the widest vector unit (AVX-512 where present) at the
 *    same thread count.  -q: only the totals per model.
 * Best of -r repetitions (default 3): the machine may be shared.
 */
#include <cpuid.h>
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

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- CPU ------------------------------------------------------------------ */

static void
print_cpu(void)
{
	unsigned a, b, c, d;
	char vendor[13] = {0}, brand[49] = {0};
	__cpuid(0, a, b, c, d);
	memcpy(vendor, &b, 4), memcpy(vendor + 4, &d, 4), memcpy(vendor + 8, &c, 4);
	__cpuid(1, a, b, c, d);
	unsigned fam = (a >> 8) & 0xf, model = (a >> 4) & 0xf;
	if (fam == 0xf)
		fam += (a >> 20) & 0xff;
	if (fam == 0x6 || fam >= 0xf)
		model += ((a >> 16) & 0xf) << 4;
	__cpuid(0x80000000, a, b, c, d);
	if (a >= 0x80000004) {
		unsigned *w = (unsigned *)brand;
		for (unsigned i = 0; i < 3; i++)
			__cpuid(0x80000002 + i, w[4 * i], w[4 * i + 1], w[4 * i + 2], w[4 * i + 3]);
	}
	printf("cpu: %s family %u model %u (%s), %ld cores online\n", vendor, fam, model,
	       brand, sysconf(_SC_NPROCESSORS_ONLN));
	static const char *const flags[] = {"avx", "avx2", "fma", "avx512f", "avx512bw",
					    "avx512vl", "avx512bf16", "amx-tile", "amx-bf16"};
	printf("isa:");
	__builtin_cpu_init();
#define F(s) if (__builtin_cpu_supports(s)) printf(" %s", s)
	F("avx"); F("avx2"); F("fma"); F("avx512f"); F("avx512bw"); F("avx512vl");
	F("avx512bf16"); F("amx-tile"); F("amx-bf16");
#undef F
	(void)flags;
	printf("\n");
}

/* ---- peak loops ------------------------------------------------------------ */

#define ITERS 20000000L

__attribute__((target("avx2,fma"))) static double
loop_fma256(void)
{
	__m256 x = _mm256_set1_ps(1.0f + 1e-7f), y = _mm256_set1_ps(1e-7f);
	__m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2), c3 = _mm256_set1_ps(3), c4 = _mm256_set1_ps(4),
	       c5 = _mm256_set1_ps(5), c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7), c8 = _mm256_set1_ps(8), c9 = _mm256_set1_ps(9),
	       c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);
	for (long it = 0; it < ITERS; it++) {
		c0 = _mm256_fmadd_ps(c0, x, y); c1 = _mm256_fmadd_ps(c1, x, y); c2 = _mm256_fmadd_ps(c2, x, y);
		c3 = _mm256_fmadd_ps(c3, x, y); c4 = _mm256_fmadd_ps(c4, x, y); c5 = _mm256_fmadd_ps(c5, x, y);
		c6 = _mm256_fmadd_ps(c6, x, y); c7 = _mm256_fmadd_ps(c7, x, y); c8 = _mm256_fmadd_ps(c8, x, y);
		c9 = _mm256_fmadd_ps(c9, x, y); c10 = _mm256_fmadd_ps(c10, x, y); c11 = _mm256_fmadd_ps(c11, x, y);
		__asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5),
				 "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
	}
	c0 = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
	__asm__ volatile("" ::"v"(c0));
	return 12.0 * 8 * 2 * ITERS;
}

__attribute__((target("avx512f"))) static double
loop_fma512(void)
{
	__m512 x = _mm512_set1_ps(1.0f + 1e-7f), y = _mm512_set1_ps(1e-7f);
	__m512 c0 = _mm512_set1_ps(0), c1 = _mm512_set1_ps(1), c2 = _mm512_set1_ps(2), c3 = _mm512_set1_ps(3), c4 = _mm512_set1_ps(4),
	       c5 = _mm512_set1_ps(5), c6 = _mm512_set1_ps(6), c7 = _mm512_set1_ps(7), c8 = _mm512_set1_ps(8), c9 = _mm512_set1_ps(9),
	       c10 = _mm512_set1_ps(10), c11 = _mm512_set1_ps(11);
	for (long it = 0; it < ITERS; it++) {
		c0 = _mm512_fmadd_ps(c0, x, y); c1 = _mm512_fmadd_ps(c1, x, y); c2 = _mm512_fmadd_ps(c2, x, y);
		c3 = _mm512_fmadd_ps(c3, x, y); c4 = _mm512_fmadd_ps(c4, x, y); c5 = _mm512_fmadd_ps(c5, x, y);
		c6 = _mm512_fmadd_ps(c6, x, y); c7 = _mm512_fmadd_ps(c7, x, y); c8 = _mm512_fmadd_ps(c8, x, y);
		c9 = _mm512_fmadd_ps(c9, x, y); c10 = _mm512_fmadd_ps(c10, x, y); c11 = _mm512_fmadd_ps(c11, x, y);
		__asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5),
				 "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
	}
	c0 = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
	__asm__ volatile("" ::"v"(c0));
	return 12.0 * 16 * 2 * ITERS;
}

/* vdpbf16ps: per lane two bf16 products added to an fp32 sum: 64 flops. */
__attribute__((target("avx512f,avx512bf16"))) static double
loop_bf16(void)
{
	__m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = x;
	__m512 c0 = _mm512_set1_ps(0), c1 = _mm512_set1_ps(1), c2 = _mm512_set1_ps(2), c3 = _mm512_set1_ps(3), c4 = _mm512_set1_ps(4),
	       c5 = _mm512_set1_ps(5), c6 = _mm512_set1_ps(6), c7 = _mm512_set1_ps(7), c8 = _mm512_set1_ps(8), c9 = _mm512_set1_ps(9),
	       c10 = _mm512_set1_ps(10), c11 = _mm512_set1_ps(11);
	for (long it = 0; it < ITERS; it++) {
		c0 = _mm512_dpbf16_ps(c0, x, y); c1 = _mm512_dpbf16_ps(c1, x, y); c2 = _mm512_dpbf16_ps(c2, x, y);
		c3 = _mm512_dpbf16_ps(c3, x, y); c4 = _mm512_dpbf16_ps(c4, x, y); c5 = _mm512_dpbf16_ps(c5, x, y);
		c6 = _mm512_dpbf16_ps(c6, x, y); c7 = _mm512_dpbf16_ps(c7, x, y); c8 = _mm512_dpbf16_ps(c8, x, y);
		c9 = _mm512_dpbf16_ps(c9, x, y); c10 = _mm512_dpbf16_ps(c10, x, y); c11 = _mm512_dpbf16_ps(c11, x, y);
		__asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5),
				 "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
	}
	c0 = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
	__asm__ volatile("" ::"v"(c0));
	return 12.0 * 16 * 4 * ITERS;
}

/*
 * AMX: four 16x16 fp32 accumulator tiles, A and B tiles of 16 rows x 32
 * bf16; one tdpbf16ps is 16*16*32*2 flops.  Linux hands out the tile state
 * only on request (arch_prctl ARCH_REQ_XCOMP_PERM).
 */
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
struct tilecfg {
	uint8_t palette, start;
	uint8_t pad[14];
	uint16_t colsb[16];
	uint8_t rows[16];
};
static uint16_t amx_buf[16 * 32] __attribute__((aligned(64)));

__attribute__((target("amx-tile,amx-bf16"))) static double
loop_amx(void)
{
	if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
		return 0;
	struct tilecfg cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.palette = 1;
	for (int i = 0; i < 8; i++)
		cfg.colsb[i] = 64, cfg.rows[i] = 16;
	_tile_loadconfig(&cfg);
	for (int i = 0; i < 16 * 32; i++)
		amx_buf[i] = 0x3f80;
	_tile_zero(0);
	_tile_zero(1);
	_tile_zero(2);
	_tile_zero(3);
	_tile_loadd(4, amx_buf, 64);
	_tile_loadd(5, amx_buf, 64);
	_tile_loadd(6, amx_buf, 64);
	_tile_loadd(7, amx_buf, 64);
	long n = ITERS / 4;
	for (long it = 0; it < n; it++) {
		_tile_dpbf16ps(0, 4, 6);
		_tile_dpbf16ps(1, 4, 7);
		_tile_dpbf16ps(2, 5, 6);
		_tile_dpbf16ps(3, 5, 7);
	}
	_tile_stored(0, amx_buf, 64);
	_tile_release();
	return 4.0 * 16 * 16 * 32 * 2 * n;
}

struct peak_arg {
	double (*fn)(void);
	double flops;
};

static void *
peak_thread(void *p)
{
	struct peak_arg *a = p;
	a->flops = a->fn();
	return NULL;
}

/* GFLOP/s of fn on n threads at once, best of 3. */
static double
peak(double (*fn)(void), int n)
{
	double best = 0;
	for (int r = 0; r < 3; r++) {
		pthread_t tid[256];
		struct peak_arg arg[256];
		double t = now(), flops = 0;
		for (int i = 0; i < n; i++) {
			arg[i].fn = fn;
			pthread_create(&tid[i], NULL, peak_thread, &arg[i]);
		}
		for (int i = 0; i < n; i++) {
			pthread_join(tid[i], NULL);
			flops += arg[i].flops;
		}
		t = now() - t;
		if (flops / t / 1e9 > best)
			best = flops / t / 1e9;
	}
	return best;
}

/* The same in a child process: an untested instruction set (AMX here)
 * that faults costs its figure, not the benchmark.  0 when it failed. */
static double
peak_isolated(double (*fn)(void), int n)
{
	int fd[2];
	double v = 0;
	if (pipe(fd) != 0)
		return 0;
	pid_t pid = fork();
	if (pid == 0) {
		close(fd[0]);
		v = peak(fn, n);
		if (write(fd[1], &v, sizeof v) != sizeof v)
			_exit(1);
		_exit(0);
	}
	close(fd[1]);
	if (pid < 0 || read(fd[0], &v, sizeof v) != sizeof v)
		v = 0;
	close(fd[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return v;
}

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

/* Seconds for one product, best of reps. */
static double
time_gemm(int ta, int tb, size_t M, size_t N, size_t K, const float *A, size_t lda,
	  const float *B, size_t ldb, float *C, size_t ldc, int reps)
{
	rm_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc);
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		double t = now();
		int n = 0;
		do { /* at least 20 ms per measurement */
			rm_gemm(ta, tb, M, N, K, 1, A, lda, B, ldb, 0, C, ldc);
			n++;
		} while (now() - t < 0.02);
		t = (now() - t) / n;
		best = t < best ? t : best;
	}
	return best;
}

/*
 * A model's layers at T tokens: forward, input- and weight-gradient
 * products of each; prints one line per kind and a total; returns the
 * total GFLOP/s.
 */
static double
bench_model(const char *model, const struct shape *sh, size_t nsh, size_t T, double pk,
	    int reps, int quiet)
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
			printf("  %-12s %-11s T=%-4zu %7.1f GFLOP/s  %5.1f%% of peak\n", model,
			       kind[k], T, f / t / 1e9, 100 * f / t / 1e9 / pk);
		tot_f += f, tot_t += t;
	}
	printf("  %-12s %-11s T=%-4zu %7.1f GFLOP/s  %5.1f%% of peak\n", model, "all", T,
	       tot_f / tot_t / 1e9, 100 * tot_f / tot_t / 1e9 / pk);
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
	double pk[2] = {0, 0};
	for (int i = 0; i < (threads > 1 ? 2 : 1); i++) {
		int n = tc[i];
		double p256 = peak(loop_fma256, n), p512 = has512 ? peak(loop_fma512, n) : 0;
		printf("peak %d thread%s: fp32 FMA avx2 %.1f GFLOP/s", n, n > 1 ? "s" : "", p256);
		if (has512)
			printf(", avx512 %.1f", p512);
		if (has_bf16)
			printf(", bf16 vdpbf16ps %.1f", peak(loop_bf16, n));
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
		pk[1] = pk[0];
	static const struct shape gpt2[] = {
		{"qkv", 768, 2304}, {"attn.proj", 768, 768}, {"fc", 768, 3072}, {"fc.proj", 3072, 768},
	};
	static const struct shape qwen[] = {
		{"q", 896, 896}, {"k+v", 896, 256}, {"o", 896, 896}, {"gate+up", 896, 9728},
		{"down", 4864, 896},
	};
	static const enum rm_gemm_path paths[] = {RM_GEMM_AVX2, RM_GEMM_OPENBLAS};
	for (size_t pi = 0; pi < sizeof paths / sizeof *paths; pi++) {
		if (rm_gemm_set_path(paths[pi]) != paths[pi])
			continue;
		for (int prec = 0; prec < 2; prec++) {
			rm_gemm_set_precision(prec ? RM_PREC_BF16 : RM_PREC_FP32);
			for (int i = 0; i < (threads > 1 ? 2 : 1); i++) {
				rm_blas_set_threads(tc[i]);
				printf("%s %s, %d thread%s (%% of the fp32 FMA peak at %d):\n",
				       rm_gemm_path_name(), prec ? "bf16" : "fp32", tc[i],
				       tc[i] > 1 ? "s" : "", tc[i]);
				size_t Ts[2] = {tokens, 128};
				for (int ti = 0; ti < (tokens == 128 ? 1 : 2); ti++) {
					bench_model("gpt2-small", gpt2, 4, Ts[ti], pk[i], reps, quiet);
					bench_model("qwen2.5-0.5b", qwen, 5, Ts[ti], pk[i], reps, quiet);
				}
				fflush(stdout);
			}
		}
	}
	rm_gemm_set_precision(RM_PREC_FP32);
	return 0;
}
