/*
 * peak.h - the CPU and its measured peak, for the benchmarks (bench-gemm,
 * bench-model): vendor, family, model and ISA flags from CPUID, and
 * register-only loops of 16 independent accumulator chains (12 FMA on ymm,
 * 16 on zmm, vdpbf16ps; 4 AMX tdpbf16ps tiles) on n threads at once, best of
 * 40 short synchronized rounds.
 */
#ifndef RM_TEST_PEAK_H
#define RM_TEST_PEAK_H

#include <cpuid.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <immintrin.h>

__attribute__((unused)) static double
peak_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- CPU ------------------------------------------------------------------ */

__attribute__((unused)) static void
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
	printf("isa:");
	__builtin_cpu_init();
#define F(s) if (__builtin_cpu_supports(s)) printf(" %s", s)
	F("avx"); F("avx2"); F("fma"); F("avx512f"); F("avx512bw"); F("avx512vl");
	F("avx512bf16"); F("amx-tile"); F("amx-bf16");
#undef F
	printf("\n");
}

/* ---- peak loops ------------------------------------------------------------ */

/*
 * Each loop runs `iters` iterations of 16 independent accumulator chains
 * (12 for AVX2, which has 16 registers; more than latency x pipes on any
 * x86 core today: Zen 5 needs 8) and returns the flops done.  The empty asm keeps the chains in
 * registers and the loop from being folded.
 */
#define PEAK_CHAINS(T, set1, op)                                                          \
	T c0 = set1(0), c1 = set1(1), c2 = set1(2), c3 = set1(3), c4 = set1(4), c5 = set1(5),  \
	  c6 = set1(6), c7 = set1(7), c8 = set1(8), c9 = set1(9), c10 = set1(10),              \
	  c11 = set1(11), c12 = set1(12), c13 = set1(13), c14 = set1(14), c15 = set1(15);      \
	for (long it = 0; it < iters; it++) {                                              \
		c0 = op(c0); c1 = op(c1); c2 = op(c2); c3 = op(c3); c4 = op(c4); c5 = op(c5);      \
		c6 = op(c6); c7 = op(c7); c8 = op(c8); c9 = op(c9); c10 = op(c10);                 \
		c11 = op(c11); c12 = op(c12); c13 = op(c13); c14 = op(c14); c15 = op(c15);         \
		__asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4),          \
				 "+v"(c5), "+v"(c6), "+v"(c7));                                  \
		__asm__ volatile("" : "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11), "+v"(c12),       \
				 "+v"(c13), "+v"(c14), "+v"(c15));                               \
	}                                                                                  \
	c0 = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11 + c12 + c13 +     \
	     c14 + c15;                                                                    \
	__asm__ volatile("" ::"v"(c0))

/* AVX2 has 16 ymm registers: 12 chains, x and y */
__attribute__((target("avx2,fma"), unused)) static double
loop_fma256(long iters)
{
	__m256 x = _mm256_set1_ps(1.0f + 1e-7f), y = _mm256_set1_ps(1e-7f);
	__m256 c0 = _mm256_set1_ps(0), c1 = _mm256_set1_ps(1), c2 = _mm256_set1_ps(2),
	       c3 = _mm256_set1_ps(3), c4 = _mm256_set1_ps(4), c5 = _mm256_set1_ps(5),
	       c6 = _mm256_set1_ps(6), c7 = _mm256_set1_ps(7), c8 = _mm256_set1_ps(8),
	       c9 = _mm256_set1_ps(9), c10 = _mm256_set1_ps(10), c11 = _mm256_set1_ps(11);
	for (long it = 0; it < iters; it++) {
		c0 = _mm256_fmadd_ps(c0, x, y); c1 = _mm256_fmadd_ps(c1, x, y); c2 = _mm256_fmadd_ps(c2, x, y);
		c3 = _mm256_fmadd_ps(c3, x, y); c4 = _mm256_fmadd_ps(c4, x, y); c5 = _mm256_fmadd_ps(c5, x, y);
		c6 = _mm256_fmadd_ps(c6, x, y); c7 = _mm256_fmadd_ps(c7, x, y); c8 = _mm256_fmadd_ps(c8, x, y);
		c9 = _mm256_fmadd_ps(c9, x, y); c10 = _mm256_fmadd_ps(c10, x, y); c11 = _mm256_fmadd_ps(c11, x, y);
		__asm__ volatile("" : "+v"(c0), "+v"(c1), "+v"(c2), "+v"(c3), "+v"(c4), "+v"(c5),
				 "+v"(c6), "+v"(c7), "+v"(c8), "+v"(c9), "+v"(c10), "+v"(c11));
	}
	c0 = c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11;
	__asm__ volatile("" ::"v"(c0));
	return 12.0 * 8 * 2 * (double)iters;
}

__attribute__((target("avx512f"), unused)) static double
loop_fma512(long iters)
{
	__m512 x = _mm512_set1_ps(1.0f + 1e-7f), y = _mm512_set1_ps(1e-7f);
#define OP(c) _mm512_fmadd_ps(c, x, y)
	PEAK_CHAINS(__m512, _mm512_set1_ps, OP);
#undef OP
	return 16.0 * 16 * 2 * (double)iters;
}

/* vdpbf16ps: per lane two bf16 products added to an fp32 sum: 64 flops. */
__attribute__((target("avx512f,avx512bf16"), unused)) static double
loop_bf16(long iters)
{
	__m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80), y = x;
#define OP(c) _mm512_dpbf16_ps(c, x, y)
	PEAK_CHAINS(__m512, _mm512_set1_ps, OP);
#undef OP
	return 16.0 * 16 * 4 * (double)iters;
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

__attribute__((target("amx-tile,amx-bf16"), unused)) static double
loop_amx(long iters)
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
	long n = iters;
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

/*
 * The peak is the best of PEAK_ROUNDS short rounds (about 2 ms each on a
 * 4 GHz core), all n threads starting each round together at a barrier
 * and the round ending when the last one is done.  One long run measures
 * the machine's load as much as the core: on a shared Zen 5 one 40 ms run
 * read 133 GFLOP/s for AVX-512 where the core does 223, and oneDNN then
 * seemed to reach 138% of peak.  A short round that no other process
 * interrupted is what the core does.
 */
#define PEAK_ROUNDS 40
#define PEAK_ITERS 1000000L

struct peak_arg {
	double (*fn)(long);
	pthread_barrier_t *bar;
	int id;
	double flops, best; /* best: thread 0's best round, s */
};

__attribute__((unused)) static void *
peak_thread(void *p)
{
	struct peak_arg *a = p;
	a->flops = a->fn(PEAK_ITERS / 10); /* warm up: clocks, the tile state */
	a->best = 1e30;
	for (int r = 0; r < PEAK_ROUNDS; r++) {
		pthread_barrier_wait(a->bar);
		double t = peak_now();
		a->flops = a->fn(PEAK_ITERS);
		pthread_barrier_wait(a->bar);
		t = peak_now() - t;
		if (a->id == 0 && t < a->best)
			a->best = t;
	}
	return NULL;
}

/* GFLOP/s of fn on n threads at once, best of PEAK_ROUNDS rounds. */
__attribute__((unused)) static double
peak(double (*fn)(long), int n)
{
	pthread_t tid[256];
	struct peak_arg arg[256];
	pthread_barrier_t bar;
	if (n < 1)
		n = 1;
	if (n > 256)
		n = 256;
	pthread_barrier_init(&bar, NULL, (unsigned)n);
	for (int i = 0; i < n; i++) {
		arg[i] = (struct peak_arg){.fn = fn, .bar = &bar, .id = i};
		if (i > 0)
			pthread_create(&tid[i], NULL, peak_thread, &arg[i]);
	}
	peak_thread(&arg[0]);
	double flops = arg[0].flops;
	for (int i = 1; i < n; i++) {
		pthread_join(tid[i], NULL);
		flops += arg[i].flops;
	}
	pthread_barrier_destroy(&bar);
	return flops / arg[0].best / 1e9;
}

/* The same in a child process: an untested instruction set (AMX here)
 * that faults costs its figure, not the benchmark.  0 when it failed. */
__attribute__((unused)) static double
peak_isolated(double (*fn)(long), int n)
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

/* fp32 FMA peak of the widest vector unit on n threads, GFLOP/s. */
__attribute__((unused)) static double
peak_fp32(int n)
{
	__builtin_cpu_init();
	double p = peak(loop_fma256, n);
	if (__builtin_cpu_supports("avx512f")) {
		double q = peak(loop_fma512, n);
		p = q > p ? q : p;
	}
	return p;
}

#endif
