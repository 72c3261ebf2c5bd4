/*
 * t-kernels.c - the BLAS path against plain loops, layer forwards against
 * double-precision formulas, the thread pool.
 *
 * rm_gemm (cblas_sgemm) vs rm_gemm_ref for every transpose combination,
 * strided operands, beta 0 (C holding NaN must not leak) and beta != 0,
 * M = 1 and K = 0: |a - b| <= 1e-4 (|alpha| sum_k |a_ik b_kj| + 10 |beta|)
 * + 1e-4, float rounding relative to the magnitude of the terms.  Layer forwards
 * against double formulas: 1e-5 absolute on O(1) values.
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

static void
test_gemm(int ta, int tb, size_t M, size_t N, size_t K, float alpha, float beta, size_t pad)
{
	size_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
	size_t ar = ta ? K : M, br = tb ? N : K;
	float *A = malloc((ar * lda + 1) * sizeof(float)), *B = malloc((br * ldb + 1) * sizeof(float));
	float *C1 = malloc((M * ldc + 1) * sizeof(float)), *C2 = malloc((M * ldc + 1) * sizeof(float));
	float *Aa = malloc((ar * lda + 1) * sizeof(float)), *Ba = malloc((br * ldb + 1) * sizeof(float));
	float *Cb = malloc((M * ldc + 1) * sizeof(float));
	randn(A, ar * lda);
	randn(B, br * ldb);
	randn(C1, M * ldc);
	if (beta == 0)
		for (size_t i = 0; i < M * ldc; i++)
			C1[i] = NAN;
	memcpy(C2, C1, M * ldc * sizeof(float));
	for (size_t i = 0; i < ar * lda; i++)
		Aa[i] = fabsf(A[i]);
	for (size_t i = 0; i < br * ldb; i++)
		Ba[i] = fabsf(B[i]);
	rm_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
	rm_gemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
	rm_gemm_ref(ta, tb, M, N, K, 1, Aa, lda, Ba, ldb, 0, Cb, ldc);
	int ok = 1;
	for (size_t i = 0; i < M && ok; i++)
		for (size_t j = 0; j < N; j++) {
			double a = C1[i * ldc + j], b = C2[i * ldc + j];
			double tol = 1e-4 * (Cb[i * ldc + j] * fabsf(alpha) + fabsf(beta) * 10) + 1e-4;
			if (!(fabs(a - b) <= tol)) {
				ok = 0;
				break;
			}
		}
	CHECK(ok, "gemm ta=%d tb=%d M=%zu N=%zu K=%zu alpha=%g beta=%g pad=%zu", ta, tb, M, N,
	      K, (double)alpha, (double)beta, pad);
	/* padding columns of C are untouched */
	if (pad && beta != 0) {
		int untouched = 1;
		for (size_t i = 0; i < M; i++)
			untouched &= !memcmp(&C1[i * ldc + N], &C2[i * ldc + N], pad * sizeof(float));
		CHECK(untouched, "gemm leaves ldc padding alone");
	}
	free(A), free(B), free(C1), free(C2), free(Aa), free(Ba), free(Cb);
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
		{64, 192, 64}, {100, 48, 300}, {2, 768, 64},
	};
	for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
		for (int ta = 0; ta < 2; ta++)
			for (int tb = 0; tb < 2; tb++) {
				test_gemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 1, 0, 0);
				test_gemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], 0.5f, 1, 3);
				test_gemm(ta, tb, shapes[s][0], shapes[s][1], shapes[s][2], -2, 0.25f, 1);
			}
	/* the switch routes rm_gemm to the reference */
	rm_gemm_set_reference(1);
	CHECK(rm_gemm_is_reference(), "reference switch");
	test_gemm(0, 1, 9, 9, 9, 1, 0, 0);
	rm_gemm_set_reference(0);
	test_layers(12); /* shorter than one 16-lane vector */
	test_layers(37); /* vectors and a tail */
	test_layers(32);
	test_pool(1);
	test_pool(2);
	test_pool(3);
	printf("blas core %s, suggested coretype %s\n", rm_blas_core(),
	       rm_blas_suggest_coretype() ? rm_blas_suggest_coretype() : "(none)");
	return check_done();
}
