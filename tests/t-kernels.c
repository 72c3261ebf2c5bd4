/*
 * t-kernels.c - every matrix-product path against plain loops, layer
 * forwards against double-precision formulas, the thread pool.
 *
 * rm_gemm on each path this CPU runs (avx2, openblas, onednn; forced with
 * rm_gemm_set_path, as RM_GEMM does) vs rm_gemm_ref for every transpose
 * combination, strided operands, odd sizes and tails (M, N, K around the
 * 6x16 tile and the 256 K block), beta 0 (C holding NaN must not leak) and
 * beta != 0, M = 1 and K = 0, on 1 and 3 threads, in fp32 and bf16.
 * Bound: |a - b| <= u (|alpha| sum_k |a_ik b_kj| + 10 |beta|) + u with
 * u = 1e-4: fp32 accumulation error relative to the magnitude of the terms
 * (the reference rounds the bf16 inputs the same way, so bf16 mode has the
 * same bound against it).  Against the fp32 reference, bf16 mode must be
 * within 2^-7 (two bf16 roundings of 2^-9 each, and slack) of the same
 * magnitude, and must differ from fp32 (the rounding happened).
 * The own kernels' contract: a row's bits do not depend on M, on the
 * row's place in the call or on the thread count.  Layer forwards against
 * double formulas: 1e-5 absolute on O(1) values.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/kernels.h"
#include "base/pool.h"
#include "base/rng.h"

static struct rm_rng rng;

static void
randn(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = rm_rng_normal(&rng);
}

/* max over C of |x - y| / bound(i, j) for bound u * (|alpha| Cb + 10 |beta|) + u */
static double
worst(const float *x, const float *y, const float *Cb, size_t M, size_t N, size_t ldc,
      float alpha, float beta, double u)
{
	double w = 0;
	for (size_t i = 0; i < M; i++)
		for (size_t j = 0; j < N; j++) {
			double d = fabs((double)x[i * ldc + j] - y[i * ldc + j]);
			double tol = u * (Cb[i * ldc + j] * fabsf(alpha) + fabsf(beta) * 10) + u;
			d = d == d ? d / tol : 1e30;
			w = d > w ? d : w;
		}
	return w;
}

static void
test_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, float beta, size_t pad)
{
	int bf = rm_gemm_precision() == RM_PREC_BF16;
	size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
	size_t ar = ta ? K : M, br = tb ? N : K, nc = M * ldc + 1;
	float *A = malloc((ar * lda + 1) * sizeof(float)), *B = malloc((br * ldb + 1) * sizeof(float));
	float *C0 = malloc(nc * sizeof(float)), *C1 = malloc(nc * sizeof(float));
	float *C2 = malloc(nc * sizeof(float)), *C3 = malloc(nc * sizeof(float));
	float *Aa = malloc((ar * lda + 1) * sizeof(float)), *Ba = malloc((br * ldb + 1) * sizeof(float));
	float *Cb = malloc(nc * sizeof(float));
	randn(A, ar * lda);
	randn(B, br * ldb);
	randn(C0, M * ldc);
	if (beta == 0)
		for (size_t i = 0; i < M * ldc; i++)
			C0[i] = NAN;
	memcpy(C1, C0, M * ldc * sizeof(float));
	memcpy(C2, C0, M * ldc * sizeof(float));
	memcpy(C3, C0, M * ldc * sizeof(float));
	for (size_t i = 0; i < ar * lda; i++)
		Aa[i] = fabsf(A[i]);
	for (size_t i = 0; i < br * ldb; i++)
		Ba[i] = fabsf(B[i]);
	rm_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
	rm_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
	rm_gemm_set_precision(RM_PREC_FP32);
	rm_gemm_ref(ta, tb, M, N, K, 1, Aa, lda, Ba, ldb, 0, Cb, ldc);
	rm_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C3, ldc);
	rm_gemm_set_precision(bf ? RM_PREC_BF16 : RM_PREC_FP32);
	const char *what = bf ? "bf16" : "fp32";
	CHECK(worst(C1, C2, Cb, M, N, ldc, alpha, beta, 1e-4) <= 1,
	      "gemm %s %s x%d ta=%d tb=%d M=%zu N=%zu K=%zu alpha=%g beta=%g pad=%zu",
	      rm_gemm_path_name(), what, rm_blas_threads(), ta, tb, M, N, K, (double)alpha,
	      (double)beta, pad);
	if (bf) {
		CHECK(worst(C1, C3, Cb, M, N, ldc, alpha, beta, 1.0 / 128) <= 1,
		      "bf16 gemm %s within bf16 rounding of fp32, M=%zu N=%zu K=%zu",
		      rm_gemm_path_name(), M, N, K);
		if (K > 4 && M * N > 4)
			CHECK(worst(C1, C3, Cb, M, N, ldc, alpha, beta, 1e-7) > 1,
			      "bf16 gemm %s differs from fp32, M=%zu N=%zu K=%zu",
			      rm_gemm_path_name(), M, N, K);
	}
	/* padding columns of C are untouched */
	if (pad && beta != 0) {
		int untouched = 1;
		for (size_t i = 0; i < M; i++)
			untouched &= !memcmp(&C1[i * ldc + N], &C2[i * ldc + N], pad * sizeof(float));
		CHECK(untouched, "gemm leaves ldc padding alone");
	}
	free(A), free(B), free(C0), free(C1), free(C2), free(C3), free(Aa), free(Ba), free(Cb);
}

/*
 * Row invariance of a row-invariant path: the rows of C computed in one
 * call of M rows equal, bit for bit, each row computed alone, a block of
 * rows taken from the middle, and the same call on another thread count.
 */
static void
test_row_invariance(int ta, int tb, size_t M, size_t N, size_t K)
{
	size_t lda = ta ? M : K, ldb = tb ? K : N, bytes = M * N * sizeof(float);
	float *A = malloc(M * K * sizeof(float)), *B = malloc(K * N * sizeof(float));
	float *C0 = malloc(bytes), *C = malloc(bytes), *R = malloc(bytes);
	randn(A, M * K);
	randn(B, K * N);
	randn(C0, M * N);
	memcpy(C, C0, bytes);
	rm_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, C, N);
	memcpy(R, C0, bytes);
	for (size_t i = 0; i < M; i++) /* row i alone */
		rm_gemm(ta, tb, 1, N, K, 0.5f, ta ? A + i : A + i * K, lda, B, ldb, 0.75f,
			R + i * N, N);
	CHECK(!memcmp(C, R, bytes), "%s %s: rows alone equal rows of one call (ta=%d tb=%d M=%zu N=%zu K=%zu)",
	      rm_gemm_path_name(), rm_precision_name(rm_gemm_precision()), ta, tb, M, N, K);
	/* rows 5.. in a call of M - 5 rows (no longer aligned to the tile) */
	memcpy(R, C0, bytes);
	rm_gemm(ta, tb, M - 5, N, K, 0.5f, ta ? A + 5 : A + 5 * K, lda, B, ldb, 0.75f, R + 5 * N, N);
	CHECK(!memcmp(C + 5 * N, R + 5 * N, bytes - 5 * N * sizeof(float)),
	      "%s: rows from the middle equal (M=%zu N=%zu K=%zu)", rm_gemm_path_name(), M, N, K);
	/* another thread count */
	int th = rm_blas_threads();
	memcpy(R, C0, bytes);
	rm_blas_set_threads(th == 1 ? 3 : 1);
	rm_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 0.75f, R, N);
	rm_blas_set_threads(th);
	CHECK(!memcmp(C, R, bytes), "%s: same bits on 1 and 3 threads (M=%zu N=%zu K=%zu)",
	      rm_gemm_path_name(), M, N, K);
	free(A), free(B), free(C0), free(C), free(R);
}

/*
 * avx512 runs each element's chain of FMAs in avx2's order: the same bits
 * on both paths, whole 12x32 tiles and edges, every transpose, both
 * precisions, 1 and 3 threads.
 */
static void
test_avx512_is_avx2(int ta, int tb, size_t M, size_t N, size_t K, float beta)
{
	size_t lda = ta ? M : K, ldb = tb ? K : N, bytes = M * N * sizeof(float);
	float *A = malloc(M * K * sizeof(float)), *B = malloc(K * N * sizeof(float));
	float *C0 = malloc(bytes), *C1 = malloc(bytes), *C2 = malloc(bytes);
	randn(A, M * K);
	randn(B, K * N);
	randn(C0, M * N);
	memcpy(C1, C0, bytes);
	memcpy(C2, C0, bytes);
	rm_gemm_set_path(RM_GEMM_AVX2);
	rm_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, C1, N);
	rm_gemm_set_path(RM_GEMM_AVX512);
	rm_gemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, beta, C2, N);
	CHECK(!memcmp(C1, C2, bytes), "avx512 %s x%d: avx2's bits (ta=%d tb=%d M=%zu N=%zu K=%zu)",
	      rm_precision_name(rm_gemm_precision()), rm_blas_threads(), ta, tb, M, N, K);
	free(A), free(B), free(C0), free(C1), free(C2);
}

static void
test_layers(size_t C_)
{
	enum { N = 5, CMAX = 40 };
	size_t C = C_;
	float x[N * CMAX], w[CMAX], b[CMAX], out[N * CMAX], mean[N], rstd[N];
	randn(x, N * C);
	randn(w, C);
	randn(b, C);
	for (size_t i = 0; i < C; i++)
		x[i] = 1000.0f + 0.001f * (float)i; /* large offset, tiny spread */
	rm_layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-5f);
	for (size_t i = 0; i < N; i++) {
		double m = 0, v = 0;
		for (size_t c = 0; c < C; c++)
			m += x[i * C + c];
		m /= C;
		for (size_t c = 0; c < C; c++)
			v += (x[i * C + c] - m) * (x[i * C + c] - m);
		v /= C;
		for (size_t c = 0; c < C; c++) {
			double ref = (x[i * C + c] - m) / sqrt(v + 1e-5) * w[c] + b[c];
			CHECK_CLOSE(out[i * C + c], ref, i == 0 ? 2e-2 : 1e-5, 1e-5, "layernorm");
		}
	}
	float g[N * CMAX];
	rm_gelu_forward(g, x + C, (N - 1) * C);
	for (size_t i = 0; i < (N - 1) * C; i++) {
		double v = x[C + i];
		double ref = 0.5 * v * (1 + tanh(sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
		CHECK_CLOSE(g[i], ref, 1e-6, 1e-6, "gelu");
	}
	/* attention forward against a double-precision naive version */
	enum { T = 150, HD = 4 };
	static float qkv[T * 3 * HD], y[T * HD], att[T * T], scratch[2 * T * T];
	randn(qkv, T * 3 * HD);
	rm_attention_forward(y, HD, att, qkv, qkv + HD, qkv + 2 * HD, 3 * HD, T, 0, HD, NULL, 1, scratch);
	for (int i = 0; i < T; i++) {
		double s[T], mx = -1e300, sum = 0;
		for (int j = 0; j <= i; j++) {
			s[j] = 0;
			for (int d = 0; d < HD; d++)
				s[j] += (double)qkv[i * 3 * HD + d] * qkv[j * 3 * HD + HD + d];
			s[j] /= sqrt(HD);
			mx = s[j] > mx ? s[j] : mx;
		}
		for (int j = 0; j <= i; j++)
			sum += s[j] = exp(s[j] - mx);
		for (int d = 0; d < HD; d++) {
			double o = 0;
			for (int j = 0; j <= i; j++)
				o += s[j] / sum * qkv[j * 3 * HD + 2 * HD + d];
			CHECK_CLOSE(y[i * HD + d], o, 1e-5, 1e-5, "attention");
		}
		for (int j = i + 1; j < T; j++)
			CHECK(att[i * T + j] == 0, "att above diagonal is 0");
	}
}

struct pool_ctx {
	atomic_int *hits;
	int nthreads;
	atomic_int bad_thread;
};

static void
pool_task(void *p, size_t t, int thread)
{
	struct pool_ctx *c = p;
	atomic_fetch_add(&c->hits[t], 1);
	if (thread < 0 || thread >= c->nthreads)
		atomic_store(&c->bad_thread, 1);
}

static void
test_pool(int n)
{
	struct rm_pool *p;
	struct rm_error err;
	CHECK(rm_pool_create(&p, n, &err) == 0, "%s", err.msg);
	enum { NT = 1000 };
	static atomic_int hits[NT];
	for (int rep = 0; rep < 50; rep++) {
		for (int i = 0; i < NT; i++)
			atomic_init(&hits[i], 0);
		struct pool_ctx c = {hits, n, 0};
		rm_pool_run(p, (size_t)(rep * 20 + 1) % NT, pool_task, &c);
		int ok = !atomic_load(&c.bad_thread);
		for (int i = 0; i < NT; i++)
			ok &= atomic_load(&hits[i]) == (i < (rep * 20 + 1) % NT);
		CHECK(ok, "pool(%d) runs every task once, rep %d", n, rep);
	}
	rm_pool_free(p);
	CHECK(rm_pool_create(&p, 0, &err) == RM_EUSAGE, "pool of 0 threads refused");
	rm_pool_free(NULL);
}

int
main(void)
{
	rm_rng_seed(&rng, 99);
	static const size_t shapes[][3] = {
		{1, 1, 1}, {1, 7, 5}, {7, 1, 5}, {3, 4, 0}, {5, 3, 17}, {33, 65, 31},
		{64, 192, 64}, {100, 48, 300}, {2, 768, 64}, {13, 33, 257}, {6, 16, 256},
		{131, 37, 513}, {250, 41, 270},
	};
	size_t nshapes = sizeof shapes / sizeof *shapes;
	static const enum rm_gemm_path paths[] = {RM_GEMM_AVX2, RM_GEMM_AVX512, RM_GEMM_OPENBLAS,
						   RM_GEMM_ONEDNN, RM_GEMM_REF};
	for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
		if (paths[p] == RM_GEMM_ONEDNN && getenv("RM_SANITIZED")) {
			/* LeakSanitizer crashes at exit once libgomp's threads exist */
			printf("onednn not tested under the sanitizers\n");
			continue;
		}
		if (rm_gemm_set_path(paths[p]) != paths[p]) {
			printf("path %d not runnable on this CPU: skipped (auto is %s)\n", (int)paths[p],
			       rm_gemm_path_name());
			continue;
		}
		for (int prec = 0; prec < 2; prec++)
			for (int th = 1; th <= (paths[p] == RM_GEMM_REF ? 1 : 3); th += 2) {
				rm_gemm_set_precision(prec ? RM_PREC_BF16 : RM_PREC_FP32);
				rm_blas_set_threads(th);
				for (size_t s = 0; s < nshapes; s++)
					for (int ta = 0; ta < 2; ta++)
						for (int tb = 0; tb < 2; tb++) {
							const size_t *d = shapes[s];
							test_gemm(ta, tb, d[0], d[1], d[2], 1, 0, 0);
							test_gemm(ta, tb, d[0], d[1], d[2], 0.5f, 1, 3);
							test_gemm(ta, tb, d[0], d[1], d[2], -2, 0.25f, 1);
						}
				if (rm_gemm_row_invariant() && paths[p] != RM_GEMM_REF)
					for (int ta = 0; ta < 2; ta++)
						for (int tb = 0; tb < 2; tb++) {
							test_row_invariance(ta, tb, 37, 200, 300);
							test_row_invariance(ta, tb, 130, 70, 40);
							/* more rows than one block (MC) */
							test_row_invariance(ta, tb, 251, 45, 270);
						}
			}
	}
	if (rm_gemm_set_path(RM_GEMM_AVX512) == RM_GEMM_AVX512 &&
	    rm_gemm_set_path(RM_GEMM_AVX2) == RM_GEMM_AVX2) {
		static const size_t sq[][3] = {
			{12, 32, 7}, {24, 64, 300}, {37, 200, 300}, {251, 45, 270}, {130, 97, 513},
			{5, 768, 64},
		};
		for (int prec = 0; prec < 2; prec++)
			for (int th = 1; th <= 3; th += 2) {
				rm_gemm_set_precision(prec ? RM_PREC_BF16 : RM_PREC_FP32);
				rm_blas_set_threads(th);
				for (size_t s = 0; s < sizeof sq / sizeof *sq; s++)
					for (int ta = 0; ta < 2; ta++)
						for (int tb = 0; tb < 2; tb++) {
							test_avx512_is_avx2(ta, tb, sq[s][0], sq[s][1],
									    sq[s][2], 0);
							test_avx512_is_avx2(ta, tb, sq[s][0], sq[s][1],
									    sq[s][2], 0.75f);
						}
			}
	} else
		printf("avx512 not runnable on this CPU: its bits against avx2 not compared\n");
	rm_gemm_set_precision(RM_PREC_FP32);
	rm_blas_set_threads(1);
	rm_gemm_set_path(RM_GEMM_AUTO);
	CHECK(rm_gemm_path_parse("avx512") == RM_GEMM_AVX512 &&
	      rm_gemm_path_parse("onednn") == RM_GEMM_ONEDNN &&
	      rm_gemm_path_parse("AVX2") == RM_GEMM_AVX2 && rm_gemm_path_parse("openblas") ==
	      RM_GEMM_OPENBLAS && rm_gemm_path_parse("ref") == RM_GEMM_REF &&
	      rm_gemm_path_parse("auto") == RM_GEMM_AUTO && rm_gemm_path_parse("x") < 0,
	      "path names");
	CHECK(rm_precision_parse("bf16") == RM_PREC_BF16 && rm_precision_parse("fp32") ==
	      RM_PREC_FP32 && rm_precision_parse("fp16") < 0, "precision names");
	/* bf16 rounding: ties to even, NaN stays NaN, infinities stay */
	CHECK(rm_bf16_round(1.0f + 1.0f / 256) == 1.0f, "tie to even (down)");
	CHECK(rm_bf16_round(1.0f + 3.0f / 256) == 1.0f + 4.0f / 256, "tie to even (up)");
	CHECK(rm_bf16_round(1.0f + 1.0f / 200) == 1.0f + 1.0f / 128, "nearest");
	CHECK(isnan(rm_bf16_round(NAN)) && isinf(rm_bf16_round(INFINITY)), "nan, inf");
	/* the switch routes rm_gemm to the reference */
	rm_gemm_set_reference(1);
	CHECK(rm_gemm_is_reference(), "reference switch");
	test_gemm(0, 1, 9, 9, 9, 1, 0, 0);
	rm_gemm_set_reference(0);
	CHECK(!rm_gemm_is_reference(), "reference switch off");
	test_layers(12); /* shorter than one 16-lane vector */
	test_layers(37); /* vectors and a tail */
	test_layers(32);
	test_pool(1);
	test_pool(2);
	test_pool(3);
	printf("auto path %s; blas core %s\n", rm_gemm_path_name(), rm_blas_core());
	return check_done();
}
