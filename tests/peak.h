/*
 * peak.h - the CPU and its measured peak, for the benchmarks (bench-gemm,
 * bench-model): vendor, family, model and ISA flags from CPUID, and
 * register-only loops of 12 independent accumulator chains (FMA on ymm and
 * zmm, vdpbf16ps, AMX tdpbf16ps) on n threads at once.
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

#define ITERS 20000000L

__attribute__((target("avx2,fma"), unused)) static double
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

__attribute__((target("avx512f"), unused)) static double
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
__attribute__((target("avx512f,avx512bf16"), unused)) static double
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

__attribute__((target("amx-tile,amx-bf16"), unused)) static double
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

__attribute__((unused)) static void *
peak_thread(void *p)
{
	struct peak_arg *a = p;
	a->flops = a->fn();
	return NULL;
}

/* GFLOP/s of fn on n threads at once, best of 3. */
__attribute__((unused)) static double
peak(double (*fn)(void), int n)
{
	double best = 0;
	for (int r = 0; r < 3; r++) {
		pthread_t tid[256];
		struct peak_arg arg[256];
		double t = peak_now(), flops = 0;
		for (int i = 0; i < n; i++) {
			arg[i].fn = fn;
			pthread_create(&tid[i], NULL, peak_thread, &arg[i]);
		}
		for (int i = 0; i < n; i++) {
			pthread_join(tid[i], NULL);
			flops += arg[i].flops;
		}
		t = peak_now() - t;
		if (flops / t / 1e9 > best)
			best = flops / t / 1e9;
	}
	return best;
}

/* The same in a child process: an untested instruction set (AMX here)
 * that faults costs its figure, not the benchmark.  0 when it failed. */
__attribute__((unused)) static double
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
