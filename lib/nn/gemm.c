/*
 * gemm.c - path dispatch, the plain-loop reference, and rmkit's own
 * blocked AVX2/FMA kernels.
 *
 * The own kernels follow the Goto/BLIS layout: C is cut into column
 * panels of NC, K into blocks of KC, rows into blocks of MC; each
 * (KC x NC) piece of op(B) is packed into 16-column strips and each
 * (MC x KC) piece of op(A) into 6-row strips, then a 6x16 micro-kernel
 * keeps a tile of C in 12 ymm registers while it streams one strip of each
 * (12 FMAs per k on 2 loads and 6 broadcasts).  Edges are zero-padded in
 * the packed strips, and the micro-kernel always runs the full tile.  With
 * at most MC rows (one sequence) each 16-column strip of op(B) is packed
 * just before its use instead, so it is read once and stays in L1.  The
 * packing loops are AVX2 too (8x8 transposes for transposed operands, the
 * bf16 rounding on 8 lanes at once).
 *
 * Why a row's result is independent of the rest of its call: every C[i,j]
 * is computed by the same operations in the same order whatever M, N, the
 * tile it lands in or the thread that runs it: for each K block in order
 * (KC is a constant), one FMA chain over k, then C = alpha*acc (+ beta*C)
 * for the first block and C += alpha*acc for the others, as separate
 * multiplies and adds (vector and scalar stores round alike; the language
 * mode forbids contraction).  Padding rows and columns only ever meet
 * zeros and are never stored.
 *
 * bf16 mode rounds the operands while packing, so the micro-kernel is the
 * same.  Threads split the columns (or, for narrow products, the rows) of
 * C between the worker threads of a pool owned by this module.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cblas.h>

#include "nn/gemm.h"
#include "base/pool.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_KERNEL 1
#else
#define HAVE_AVX2_KERNEL 0
#endif

/* ---- settings ------------------------------------------------------------ */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum rm_gemm_path path = RM_GEMM_AUTO;
static enum rm_precision precision = RM_PREC_FP32;
static int nthreads = 1;

static const char *const path_names[RM_GEMM_NPATHS] = {
	"auto", "ref", "openblas", "avx2", "onednn", "avx512",
};

/*
 * oneDNN (Debian's libdnnl2), opened at run time on first use, so programs
 * neither link it nor load it unless that path is taken: dnnl_sgemm is
 * row-major with rm_gemm's arguments.  Its OpenMP threads are told to
 * sleep when idle (OMP_WAIT_POLICY, read when libgomp loads) rather than
 * spin on cores the rest of the program needs.
 */
typedef int (*dnnl_sgemm_fn)(char, char, int64_t, int64_t, int64_t, float, const float *,
			     int64_t, const float *, int64_t, float, float *, int64_t);
static dnnl_sgemm_fn dnnl_sgemm;
static void (*dnnl_omp_threads)(int);
static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;

static void
dnnl_load(void)
{
	setenv("OMP_WAIT_POLICY", "passive", 0);
	void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	dnnl_omp_threads = (void (*)(int))dlsym(h, "omp_set_num_threads");
	dnnl_sgemm = (dnnl_sgemm_fn)dlsym(h, "dnnl_sgemm");
}

static int
have_dnnl(void)
{
	pthread_once(&dnnl_once, dnnl_load);
	return dnnl_sgemm != NULL;
}

static int
cpu_has_avx2(void)
{
#if HAVE_AVX2_KERNEL
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
	return 0;
#endif
}

static int
cpu_has_avx512(void)
{
#if HAVE_AVX2_KERNEL
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx512f");
#else
	return 0;
#endif
}

/*
 * auto: on AVX-512 processors oneDNN when libdnnl2 is installed (its
 * kernels do twice the flops per instruction of the own AVX2 ones; it
 * dispatches AVX-512 and AMX itself and knows CPUs newer than Debian's
 * OpenBLAS); else the own kernels wherever AVX2+FMA runs; OpenBLAS only
 * on older processors.  So OpenBLAS never runs by default on a CPU its
 * tables do not know (where it would fall back to SSE3 kernels; OpenBLAS
 * reads OPENBLAS_CORETYPE only when it loads, and rmkit no longer
 * re-executes itself to set it: with RM_GEMM=openblas on such a CPU, set
 * OPENBLAS_CORETYPE=Haswell or SkylakeX yourself).
 */
static enum rm_gemm_path
auto_path(void)
{
#ifndef __SANITIZE_ADDRESS__
	/* not under AddressSanitizer: LeakSanitizer's exit-time scan crashes
	 * once oneDNN's OpenMP threads exist (libgomp, measured with GCC 12) */
	if (cpu_has_avx512() && have_dnnl())
		return RM_GEMM_ONEDNN;
#endif
	if (cpu_has_avx2())
		return RM_GEMM_AVX2;
	return RM_GEMM_OPENBLAS;
}

static enum rm_gemm_path
resolve(enum rm_gemm_path p)
{
	if (p == RM_GEMM_AUTO || p >= RM_GEMM_NPATHS)
		return auto_path();
	if (p == RM_GEMM_AVX2 && !cpu_has_avx2())
		return auto_path();
	if (p == RM_GEMM_AVX512 && !(cpu_has_avx2() && cpu_has_avx512()))
		return auto_path();
	if (p == RM_GEMM_ONEDNN && !have_dnnl())
		return auto_path();
	return p;
}

static void
init_path(void)
{
	const char *e = getenv("RM_GEMM");
	int p = e && *e ? rm_gemm_path_parse(e) : RM_GEMM_AUTO;
	path = resolve(p < 0 ? RM_GEMM_AUTO : (enum rm_gemm_path)p);
}

static enum rm_gemm_path
cur_path(void)
{
	pthread_once(&init_once, init_path);
	return path;
}

int
rm_gemm_path_parse(const char *s)
{
	for (int i = 0; i < RM_GEMM_NPATHS; i++)
		if (!strcasecmp(s, path_names[i]))
			return i;
	return -1;
}

enum rm_gemm_path
rm_gemm_set_path(enum rm_gemm_path p)
{
	pthread_once(&init_once, init_path);
	path = resolve(p);
	return path;
}

enum rm_gemm_path
rm_gemm_get_path(void)
{
	return cur_path();
}

const char *
rm_gemm_path_name(void)
{
	return path_names[cur_path()];
}

int
rm_gemm_row_invariant(void)
{
	enum rm_gemm_path p = cur_path();
	return p == RM_GEMM_AVX2 || p == RM_GEMM_AVX512 || p == RM_GEMM_REF;
}

void
rm_gemm_set_reference(int on)
{
	rm_gemm_set_path(on ? RM_GEMM_REF : RM_GEMM_AUTO);
	if (!on) /* back to what the environment asked for */
		init_path();
}

int
rm_gemm_is_reference(void)
{
	return cur_path() == RM_GEMM_REF;
}

void
rm_gemm_set_precision(enum rm_precision p)
{
	precision = p == RM_PREC_BF16 ? RM_PREC_BF16 : RM_PREC_FP32;
}

enum rm_precision
rm_gemm_precision(void)
{
	return precision;
}

int
rm_precision_parse(const char *s)
{
	if (!strcasecmp(s, "fp32"))
		return RM_PREC_FP32;
	if (!strcasecmp(s, "bf16"))
		return RM_PREC_BF16;
	return -1;
}

const char *
rm_precision_name(enum rm_precision p)
{
	return p == RM_PREC_BF16 ? "bf16" : "fp32";
}

int
rm_gemm_bf16_native(void)
{
	return 0;
}

const char *
rm_blas_core(void)
{
	return openblas_get_corename();
}

float
rm_bf16_round(float x)
{
	uint32_t u;
	memcpy(&u, &x, sizeof u);
	if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it a (quiet) NaN */
		u |= 0x00400000u;
	else
		u += 0x7fffu + ((u >> 16) & 1u);
	u &= 0xffff0000u;
	memcpy(&x, &u, sizeof x);
	return x;
}

/* ---- reference ------------------------------------------------------------ */

void
rm_gemm_ref(int transa, int transb, size_t M, size_t N, size_t K, float alpha,
	    const float *A, size_t lda, const float *B, size_t ldb, float beta,
	    float *C, size_t ldc)
{
	int bf = precision == RM_PREC_BF16;
	for (size_t i = 0; i < M; i++)
		for (size_t j = 0; j < N; j++) {
			double s = 0;
			for (size_t k = 0; k < K; k++) {
				float a = transa ? A[k * lda + i] : A[i * lda + k];
				float b = transb ? B[j * ldb + k] : B[k * ldb + j];
				if (bf)
					a = rm_bf16_round(a), b = rm_bf16_round(b);
				s += (double)a * b;
			}
			float *c = &C[i * ldc + j];
			*c = (float)(alpha * s + (beta == 0 ? 0.0 : (double)beta * *c));
		}
}

/* ---- per-thread buffers ----------------------------------------------------- */

struct tbuf {
	float *p;
	size_t n;
};
enum { BUF_A, BUF_B, BUF_CA, BUF_CB, NBUF };
static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void
buf_free(void *v)
{
	struct tbuf *b = v;
	for (int i = 0; i < NBUF; i++)
		free(b[i].p);
	free(b);
}

static void
buf_init(void)
{
	(void)pthread_key_create(&buf_key, buf_free);
}

/* The calling thread's buffer `which` of at least n floats, or NULL. */
static float *
tbuf_get(int which, size_t n)
{
	pthread_once(&buf_once, buf_init);
	struct tbuf *b = pthread_getspecific(buf_key);
	if (!b) {
		if (!(b = calloc(NBUF, sizeof *b)))
			return NULL;
		if (pthread_setspecific(buf_key, b) != 0) {
			free(b);
			return NULL;
		}
	}
	if (b[which].n < n) {
		free(b[which].p);
		b[which].n = 0;
		if (!(b[which].p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63)))
			return NULL;
		b[which].n = n;
	}
	return b[which].p;
}

/* ---- threads ----------------------------------------------------------------- */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct rm_pool *pool;  /* guarded by pool_mu while in use */
static int pool_size;

void
rm_blas_set_threads(int n)
{
	n = n < 1 ? 1 : n > 1024 ? 1024 : n;
	nthreads = n;
	openblas_set_num_threads(n);
}

int
rm_blas_threads(void)
{
	return nthreads;
}

/* The pool with at least n threads, locked; NULL (unlocked) when another
 * call holds it or it cannot be made: then the caller runs alone. */
static struct rm_pool *
pool_take(int n)
{
	if (pthread_mutex_trylock(&pool_mu) != 0)
		return NULL;
	if (pool_size < n) {
		struct rm_error err;
		rm_pool_free(pool);
		pool = NULL;
		pool_size = 0;
		if (rm_pool_create(&pool, n, &err) == 0)
			pool_size = n;
	}
	if (!pool) {
		pthread_mutex_unlock(&pool_mu);
		return NULL;
	}
	return pool;
}

void
rm_gemm_parallel(size_t ntasks, rm_pool_fn fn, void *ctx)
{
	struct rm_pool *p = nthreads > 1 && ntasks > 1 ? pool_take(nthreads) : NULL;
	if (!p) {
		for (size_t t = 0; t < ntasks; t++)
			fn(ctx, t, 0);
		return;
	}
	rm_pool_run(p, ntasks, fn, ctx);
	pthread_mutex_unlock(&pool_mu);
}

/* ---- own kernels ---------------------------------------------------------------- */

#define MR 6
#define NR 16
#define KC 256
#ifndef MC
#define MC 240   /* multiple of MR: the packed A block (240 KB) stays in L2 */
#endif
#define NC 2048  /* multiple of NR */

struct gemm_args {
	int ta, tb, bf;
	int wide; /* the 12x32 AVX-512 kernel where whole tiles fit */
	size_t M, N, K;
	float alpha, beta;
	const float *A, *B;
	size_t lda, ldb, ldc;
	float *C;
	/* task t covers rows [t * mstep, ..) and columns [t * nstep, ..) of C
	 * (one of the two steps spans the whole dimension) */
	size_t mstep, nstep;
};

/* rm_bf16_round without branches, so that packing loops vectorise */
static inline __attribute__((always_inline)) float
cvt(float x, int bf)
{
	if (!bf)
		return x;
	uint32_t u, r;
	memcpy(&u, &x, sizeof u);
	r = u + 0x7fffu + ((u >> 16) & 1u);
	r = (u & 0x7fffffffu) > 0x7f800000u ? u | 0x00400000u : r;
	r &= 0xffff0000u;
	memcpy(&x, &r, sizeof x);
	return x;
}

/* op(B)[pc.., jc..] (kc x nc) into strips of NR columns, zero-padded. */
static inline __attribute__((always_inline, unused)) void
pack_b_impl(float *dst, const struct gemm_args *g, size_t pc, size_t kc,
	    size_t jc, size_t nc, int bf)
{
	for (size_t j0 = 0; j0 < nc; j0 += NR) {
		size_t w = nc - j0 < NR ? nc - j0 : NR;
		float *d = dst + j0 * kc;
		if (!g->tb) {
			const float *s = g->B + pc * g->ldb + jc + j0;
			for (size_t k = 0; k < kc; k++, s += g->ldb, d += NR) {
				size_t l = 0;
				for (; l < w; l++)
					d[l] = cvt(s[l], bf);
				for (; l < NR; l++)
					d[l] = 0;
			}
		} else {
			size_t l = 0;
			for (; l < w; l++) {
				const float *s = g->B + (jc + j0 + l) * g->ldb + pc;
				for (size_t k = 0; k < kc; k++)
					d[k * NR + l] = cvt(s[k], bf);
			}
			for (; l < NR; l++)
				for (size_t k = 0; k < kc; k++)
					d[k * NR + l] = 0;
		}
	}
}

/* op(A)[ic.., pc..] (mc x kc) into strips of MR rows, zero-padded. */
static inline __attribute__((always_inline, unused)) void
pack_a_impl(float *dst, const struct gemm_args *g, size_t ic, size_t mc,
	    size_t pc, size_t kc, int bf)
{
	for (size_t i0 = 0; i0 < mc; i0 += MR) {
		size_t h = mc - i0 < MR ? mc - i0 : MR;
		float *d = dst + i0 * kc;
		if (!g->ta) {
			const float *s = g->A + (ic + i0) * g->lda + pc;
			size_t lda = g->lda;
			if (h == MR)
				for (size_t k = 0; k < kc; k++, d += MR)
					for (size_t r = 0; r < MR; r++)
						d[r] = cvt(s[r * lda + k], bf);
			else
				for (size_t k = 0; k < kc; k++, d += MR) {
					size_t r = 0;
					for (; r < h; r++)
						d[r] = cvt(s[r * lda + k], bf);
					for (; r < MR; r++)
						d[r] = 0;
				}
		} else {
			const float *s = g->A + pc * g->lda + ic + i0;
			for (size_t k = 0; k < kc; k++, s += g->lda, d += MR) {
				size_t r = 0;
				for (; r < h; r++)
					d[r] = cvt(s[r], bf);
				for (; r < MR; r++)
					d[r] = 0;
			}
		}
	}
}

#if HAVE_AVX2_KERNEL
/* cvt on 8 lanes: the same bits as cvt (and so as rm_bf16_round) */
__attribute__((target("avx2,fma"))) static inline __m256
cvt8(__m256 v, int bf)
{
	if (!bf)
		return v;
	__m256i u = _mm256_castps_si256(v);
	__m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
	__m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), lsb));
	__m256i mag = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
	__m256i nan = _mm256_cmpgt_epi32(mag, _mm256_set1_epi32(0x7f800000));
	r = _mm256_blendv_epi8(r, _mm256_or_si256(u, _mm256_set1_epi32(0x00400000)), nan);
	return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u)));
}

/* lanes [0, n) on, the rest off, for maskload */
__attribute__((target("avx2,fma"))) static inline __m256i
lanes(size_t n)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* r[0..7] := the 8x8 transpose of r[0..7] */
__attribute__((target("avx2,fma"))) static inline void
transpose8(__m256 r[8])
{
	__m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
	__m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
	__m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
	__m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
	__m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
	__m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
	__m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
	__m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
	r[0] = _mm256_permute2f128_ps(u0, u4, 0x20), r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
	r[1] = _mm256_permute2f128_ps(u1, u5, 0x20), r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
	r[2] = _mm256_permute2f128_ps(u2, u6, 0x20), r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
	r[3] = _mm256_permute2f128_ps(u3, u7, 0x20), r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

/* One strip of NR columns: op(B)[pc.., j..] (kc x w, w <= NR), zero-padded
 * to NR columns; the same values as pack_b_impl. */
__attribute__((target("avx2,fma"))) static void
pack_b_strip(float *d, const struct gemm_args *g, size_t pc, size_t kc, size_t j,
	     size_t w, int bf)
{
	if (!g->tb) {
		const float *s = g->B + pc * g->ldb + j;
		size_t ldb = g->ldb;
		if (w == NR) {
			for (size_t k = 0; k < kc; k++, s += ldb, d += NR) {
				_mm256_store_ps(d, cvt8(_mm256_loadu_ps(s), bf));
				_mm256_store_ps(d + 8, cvt8(_mm256_loadu_ps(s + 8), bf));
			}
			return;
		}
		__m256i m0 = lanes(w), m1 = lanes(w > 8 ? w - 8 : 0);
		for (size_t k = 0; k < kc; k++, s += ldb, d += NR) {
			_mm256_store_ps(d, cvt8(_mm256_maskload_ps(s, m0), bf));
			_mm256_store_ps(d + 8, cvt8(_mm256_maskload_ps(s + 8, m1), bf));
		}
		return;
	}
	/* op(B)[k, l] = B[(j + l) * ldb + pc + k]: rows of B, transposed in
	 * 8x8 blocks */
	const float *s = g->B + j * g->ldb + pc;
	size_t ldb = g->ldb, k8 = kc / 8 * 8;
	for (size_t l0 = 0; l0 < NR; l0 += 8) {
		size_t n = w > l0 ? (w - l0 < 8 ? w - l0 : 8) : 0;
		size_t k = 0;
		__m256 r[8];
		if (n == 8)
			for (; k < k8; k += 8) {
				for (int q = 0; q < 8; q++)
					r[q] = _mm256_loadu_ps(s + (l0 + q) * ldb + k);
				transpose8(r);
				for (int q = 0; q < 8; q++)
					_mm256_store_ps(d + (k + q) * NR + l0, cvt8(r[q], bf));
			}
		for (; k < kc; k++)
			for (size_t q = 0; q < 8; q++)
				d[k * NR + l0 + q] = q < n ? cvt(s[(l0 + q) * ldb + k], bf) : 0;
	}
}

/* One strip of MR rows: op(A)[i.., pc..] (h x kc, h <= MR), zero-padded
 * to MR rows; writes up to 2 floats past the strip's end (the buffers have
 * room).  The same values as pack_a_impl. */
__attribute__((target("avx2,fma"))) static void
pack_a_strip(float *d, const struct gemm_args *g, size_t i, size_t h, size_t pc,
	     size_t kc, int bf)
{
	size_t lda = g->lda;
	if (g->ta) { /* op(A)[r, k] = A[(pc + k) * lda + i + r] */
		const float *s = g->A + pc * lda + i;
		__m256i m = lanes(h);
		for (size_t k = 0; k < kc; k++, s += lda, d += MR)
			_mm256_storeu_ps(d, cvt8(_mm256_maskload_ps(s, m), bf));
		return;
	}
	const float *s = g->A + i * lda + pc;
	size_t k = 0;
	if (h == MR) {
		size_t k8 = kc / 8 * 8;
		for (; k < k8; k += 8) {
			__m256 r[8];
			for (int q = 0; q < MR; q++)
				r[q] = _mm256_loadu_ps(s + q * lda + k);
			r[6] = r[7] = _mm256_setzero_ps();
			transpose8(r);
			for (int q = 0; q < 8; q++) /* each store's last 2 lanes are overwritten */
				_mm256_storeu_ps(d + (k + q) * MR, cvt8(r[q], bf));
		}
	}
	for (; k < kc; k++)
		for (size_t r = 0; r < MR; r++)
			d[k * MR + r] = r < h ? cvt(s[r * lda + k], bf) : 0;
}

static void
pack_b(float *dst, const struct gemm_args *g, size_t pc, size_t kc, size_t jc, size_t nc)
{
	for (size_t j0 = 0; j0 < nc; j0 += NR)
		pack_b_strip(dst + j0 * kc, g, pc, kc, jc + j0, nc - j0 < NR ? nc - j0 : NR, g->bf);
}

static void
pack_a(float *dst, const struct gemm_args *g, size_t ic, size_t mc, size_t pc, size_t kc)
{
	for (size_t i0 = 0; i0 < mc; i0 += MR)
		pack_a_strip(dst + i0 * kc, g, ic + i0, mc - i0 < MR ? mc - i0 : MR, pc, kc, g->bf);
}
#else
static void
pack_b(float *dst, const struct gemm_args *g, size_t pc, size_t kc, size_t jc, size_t nc)
{
	if (g->bf)
		pack_b_impl(dst, g, pc, kc, jc, nc, 1);
	else
		pack_b_impl(dst, g, pc, kc, jc, nc, 0);
}

static void
pack_a(float *dst, const struct gemm_args *g, size_t ic, size_t mc, size_t pc, size_t kc)
{
	if (g->bf)
		pack_a_impl(dst, g, ic, mc, pc, kc, 1);
	else
		pack_a_impl(dst, g, ic, mc, pc, kc, 0);
}
#endif

/* Combine a finished tile acc (MR x NR, row-major) into C's h x w corner:
 * the same arithmetic as the vector stores. */
static void
store_edge(float *C, size_t ldc, const float *acc, size_t h, size_t w, float alpha,
	   float beta, int first)
{
	for (size_t r = 0; r < h; r++)
		for (size_t l = 0; l < w; l++) {
			float *c = C + r * ldc + l, t = alpha * acc[r * NR + l];
			if (!first)
				*c = *c + t;
			else if (beta == 0)
				*c = t;
			else
				*c = t + beta * *c;
		}
}

#if HAVE_AVX2_KERNEL
__attribute__((target("avx2,fma"))) static inline __m256
combine8(__m256 acc, const float *c, __m256 va, __m256 vb, float beta, int first)
{
	__m256 t = _mm256_mul_ps(va, acc);
	if (!first)
		return _mm256_add_ps(_mm256_loadu_ps(c), t);
	if (beta == 0)
		return t;
	return _mm256_add_ps(t, _mm256_mul_ps(vb, _mm256_loadu_ps(c)));
}

/* C[0:h, 0:w] (first ? = alpha*acc (+ beta*C) : += alpha*acc), acc the sum
 * over k < kc of a[k*MR + r] * b[k*NR + l].  alpha and beta are read from
 * *g only after the loop: held in registers across it they would push an
 * accumulator out of the 16 ymm registers. */
__attribute__((target("avx2,fma"))) static void
ukernel_avx2(size_t kc, const float *a, const float *b, float *C, size_t ldc, size_t h,
	     size_t w, const struct gemm_args *g, int first)
{
	__m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
	       c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
	for (size_t r = 0; r < h; r++) { /* the tile of C, needed after the loop */
		__builtin_prefetch(C + r * ldc, 1);
		__builtin_prefetch(C + r * ldc + 15, 1);
	}
#pragma GCC unroll 4
	for (size_t k = 0; k < kc; k++, a += MR, b += NR) {
		__m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8), x;
		x = _mm256_broadcast_ss(a + 0);
		c00 = _mm256_fmadd_ps(x, b0, c00);
		c01 = _mm256_fmadd_ps(x, b1, c01);
		x = _mm256_broadcast_ss(a + 1);
		c10 = _mm256_fmadd_ps(x, b0, c10);
		c11 = _mm256_fmadd_ps(x, b1, c11);
		x = _mm256_broadcast_ss(a + 2);
		c20 = _mm256_fmadd_ps(x, b0, c20);
		c21 = _mm256_fmadd_ps(x, b1, c21);
		x = _mm256_broadcast_ss(a + 3);
		c30 = _mm256_fmadd_ps(x, b0, c30);
		c31 = _mm256_fmadd_ps(x, b1, c31);
		x = _mm256_broadcast_ss(a + 4);
		c40 = _mm256_fmadd_ps(x, b0, c40);
		c41 = _mm256_fmadd_ps(x, b1, c41);
		x = _mm256_broadcast_ss(a + 5);
		c50 = _mm256_fmadd_ps(x, b0, c50);
		c51 = _mm256_fmadd_ps(x, b1, c51);
	}
	float alpha = g->alpha, beta = g->beta;
	if (h == MR && w == NR) {
		__m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
#define ROW(r, x0, x1) do { \
		float *c = C + (r) * ldc; \
		_mm256_storeu_ps(c, combine8(x0, c, va, vb, beta, first)); \
		_mm256_storeu_ps(c + 8, combine8(x1, c + 8, va, vb, beta, first)); \
	} while (0)
		ROW(0, c00, c01);
		ROW(1, c10, c11);
		ROW(2, c20, c21);
		ROW(3, c30, c31);
		ROW(4, c40, c41);
		ROW(5, c50, c51);
#undef ROW
		return;
	}
	float t[MR * NR] __attribute__((aligned(32)));
	_mm256_store_ps(t + 0, c00), _mm256_store_ps(t + 8, c01);
	_mm256_store_ps(t + 16, c10), _mm256_store_ps(t + 24, c11);
	_mm256_store_ps(t + 32, c20), _mm256_store_ps(t + 40, c21);
	_mm256_store_ps(t + 48, c30), _mm256_store_ps(t + 56, c31);
	_mm256_store_ps(t + 64, c40), _mm256_store_ps(t + 72, c41);
	_mm256_store_ps(t + 80, c50), _mm256_store_ps(t + 88, c51);
	store_edge(C, ldc, t, h, w, alpha, beta, first);
}
#endif

#if !HAVE_AVX2_KERNEL
/* never called: resolve() picks the own path only where AVX2 runs */
static void
ukernel_avx2(size_t kc, const float *a, const float *b, float *C, size_t ldc, size_t h,
	     size_t w, const struct gemm_args *g, int first)
{
	(void)kc, (void)a, (void)b, (void)C, (void)ldc, (void)h, (void)w;
	(void)g, (void)first;
	abort();
}
#endif

#if HAVE_AVX2_KERNEL
__attribute__((target("avx512f"))) static inline __m512
combine16(__m512 acc, const float *c, __m512 va, __m512 vb, float beta, int first)
{
	__m512 t = _mm512_mul_ps(va, acc);
	if (!first)
		return _mm512_add_ps(_mm512_loadu_ps(c), t);
	if (beta == 0)
		return t;
	return _mm512_add_ps(t, _mm512_mul_ps(vb, _mm512_loadu_ps(c)));
}

/*
 * A whole 2MR x 2NR tile: rows from the packed A strips a0 and a1 (MR rows
 * each), columns from the packed B strips b0 and b1 (NR each).  Each
 * element is ukernel_avx2's chain (FMAs over k in order from 0, then
 * combine8's arithmetic), so the bits are the same; 24 zmm accumulators,
 * 2 loads and 12 broadcasts per 24 FMAs.
 */
__attribute__((target("avx512f"))) static void
ukernel_avx512(size_t kc, const float *a0, const float *a1, const float *b0,
	       const float *b1, float *C, size_t ldc, const struct gemm_args *g, int first)
{
	__m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
	       c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00,
	       c60 = c00, c61 = c00, c70 = c00, c71 = c00, c80 = c00, c81 = c00, c90 = c00,
	       c91 = c00, ca0 = c00, ca1 = c00, cb0 = c00, cb1 = c00;
	for (size_t r = 0; r < 2 * MR; r++) {
		__builtin_prefetch(C + r * ldc, 1);
		__builtin_prefetch(C + r * ldc + 31, 1);
	}
#pragma GCC unroll 2
	for (size_t k = 0; k < kc; k++, a0 += MR, a1 += MR, b0 += NR, b1 += NR) {
		__m512 x0 = _mm512_load_ps(b0), x1 = _mm512_load_ps(b1), x;
#define R(a, i, y0, y1) \
		x = _mm512_set1_ps((a)[i]); \
		y0 = _mm512_fmadd_ps(x, x0, y0); \
		y1 = _mm512_fmadd_ps(x, x1, y1)
		R(a0, 0, c00, c01); R(a0, 1, c10, c11); R(a0, 2, c20, c21);
		R(a0, 3, c30, c31); R(a0, 4, c40, c41); R(a0, 5, c50, c51);
		R(a1, 0, c60, c61); R(a1, 1, c70, c71); R(a1, 2, c80, c81);
		R(a1, 3, c90, c91); R(a1, 4, ca0, ca1); R(a1, 5, cb0, cb1);
#undef R
	}
	float alpha = g->alpha, beta = g->beta;
	__m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#define ROW(r, y0, y1) do { \
		float *c = C + (r) * ldc; \
		_mm512_storeu_ps(c, combine16(y0, c, va, vb, beta, first)); \
		_mm512_storeu_ps(c + 16, combine16(y1, c + 16, va, vb, beta, first)); \
	} while (0)
	ROW(0, c00, c01); ROW(1, c10, c11); ROW(2, c20, c21); ROW(3, c30, c31);
	ROW(4, c40, c41); ROW(5, c50, c51); ROW(6, c60, c61); ROW(7, c70, c71);
	ROW(8, c80, c81); ROW(9, c90, c91); ROW(10, ca0, ca1); ROW(11, cb0, cb1);
#undef ROW
}
#else
static void
ukernel_avx512(size_t kc, const float *a0, const float *a1, const float *b0,
	       const float *b1, float *C, size_t ldc, const struct gemm_args *g, int first)
{
	(void)kc, (void)a0, (void)a1, (void)b0, (void)b1, (void)C, (void)ldc;
	(void)g, (void)first;
	abort();
}
#endif

/*
 * One packed block of mc rows of A (ap, strips of MR) times w <= 2 NR
 * packed columns of B (bp, strips of NR, kc apart by strip) into C's
 * corner c: whole 2MR x 2NR tiles on the wide kernel, the rest on the
 * 6x16 one (the same arithmetic either way).
 */
static void
block_tiles(const struct gemm_args *g, size_t kc, const float *ap, size_t mc,
	    const float *bp, size_t w, float *c, int first)
{
	size_t ir = 0, ldc = g->ldc;
	if (g->wide && w == 2 * NR)
		for (; ir + 2 * MR <= mc; ir += 2 * MR)
			ukernel_avx512(kc, ap + ir * kc, ap + (ir + MR) * kc, bp, bp + NR * kc,
				       c + ir * ldc, ldc, g, first);
	for (size_t jr = 0; jr < w; jr += NR) {
		size_t wj = w - jr < NR ? w - jr : NR;
		for (size_t i = ir; i < mc; i += MR) {
			size_t h = mc - i < MR ? mc - i : MR;
			ukernel_avx2(kc, ap + i * kc, bp + jr * kc, c + i * ldc + jr, ldc, h, wj,
				     g, first);
		}
	}
}

/* n cut into the fewest pieces of at most cap, of about equal size and a
 * multiple of unit each: the size of one piece. */
static size_t
balanced(size_t n, size_t cap, size_t unit)
{
	size_t pieces = (n + cap - 1) / cap, step = (n + pieces - 1) / pieces;
	return (step + unit - 1) / unit * unit;
}

/* Rows [m0, m1) x columns [n0, n1) of C, on the calling thread; -1 (and
 * nothing written) without memory for the packed panels.
 *
 * At most MC rows (one sequence): for each KC piece of K in order, the
 * rows of op(A) are packed once (they stay in L2), then each strip of NR
 * columns of op(B) is packed (it stays in L1) and multiplied into every
 * row strip at once, so op(B) is read once and its packing is fused with
 * its use.  More rows: the Goto order above, with blocks of rows and
 * columns of equal sizes (whole strips) of at most MC and NC. */
static int
own_block(const struct gemm_args *g, size_t m0, size_t m1, size_t n0, size_t n1)
{
	size_t kcap = g->K < KC ? g->K : KC;
	size_t mu = g->wide ? 2 * MR : MR, nu = g->wide ? 2 * NR : NR; /* tile */
	size_t mcs = balanced(m1 - m0, MC, mu);
	if (m1 - m0 <= MC) {
		float *bp = tbuf_get(BUF_B, kcap * nu);
		float *ap = tbuf_get(BUF_A, kcap * mcs + 8);
		if (!ap || !bp)
			return -1;
		for (size_t ic = m0; ic < m1; ic += mcs) {
			size_t mc = m1 - ic < mcs ? m1 - ic : mcs;
			for (size_t pc = 0; pc < g->K; pc += KC) {
				size_t kc = g->K - pc < KC ? g->K - pc : KC;
				int first = pc == 0;
				pack_a(ap, g, ic, mc, pc, kc);
				for (size_t jr = n0; jr < n1; jr += nu) {
					size_t w = n1 - jr < nu ? n1 - jr : nu;
					pack_b(bp, g, pc, kc, jr, w);
					block_tiles(g, kc, ap, mc, bp, w, g->C + ic * g->ldc + jr,
						    first);
				}
			}
		}
		return 0;
	}
	size_t ncs = balanced(n1 - n0, NC, nu);
	float *bp = tbuf_get(BUF_B, kcap * ncs);
	float *ap = tbuf_get(BUF_A, kcap * mcs + 8);
	if (!ap || !bp)
		return -1;
	for (size_t jc = n0; jc < n1; jc += ncs) {
		size_t nc = n1 - jc < ncs ? n1 - jc : ncs;
		for (size_t pc = 0; pc < g->K; pc += KC) {
			size_t kc = g->K - pc < KC ? g->K - pc : KC;
			int first = pc == 0;
			pack_b(bp, g, pc, kc, jc, nc);
			for (size_t ic = m0; ic < m1; ic += mcs) {
				size_t mc = m1 - ic < mcs ? m1 - ic : mcs;
				pack_a(ap, g, ic, mc, pc, kc);
				for (size_t jr = 0; jr < nc; jr += nu) {
					size_t w = nc - jr < nu ? nc - jr : nu;
					block_tiles(g, kc, ap, mc, bp + jr * kc, w,
						    g->C + ic * g->ldc + jc + jr, first);
				}
			}
		}
	}
	return 0;
}

static void
own_task(void *ctx, size_t t, int thread)
{
	(void)thread;
	struct gemm_args *g = ctx;
	size_t m0 = g->mstep ? t * g->mstep : 0, n0 = g->nstep ? t * g->nstep : 0;
	size_t m1 = g->mstep ? m0 + g->mstep : g->M, n1 = g->nstep ? n0 + g->nstep : g->N;
	if (m1 > g->M)
		m1 = g->M;
	if (n1 > g->N)
		n1 = g->N;
	if (m0 >= m1 || n0 >= n1 || own_block(g, m0, m1, n0, n1) == 0)
		return;
	/* no memory for the packed panels (nothing written yet): this piece
	 * by the reference, which needs none */
	rm_gemm_ref(g->ta, g->tb, m1 - m0, n1 - n0, g->K, g->alpha,
		    g->ta ? g->A + m0 : g->A + m0 * g->lda, g->lda,
		    g->tb ? g->B + n0 * g->ldb : g->B + n0, g->ldb, g->beta,
		    g->C + m0 * g->ldc + n0, g->ldc);
}

static void
own_gemm(struct gemm_args *g)
{
	int nt = nthreads;
	double flops = 2.0 * (double)g->M * (double)g->N * (double)g->K;
	if (flops < 4e6) /* below ~0.1 ms a wake-up costs more than it gains */
		nt = 1;
	struct rm_pool *p = nt > 1 ? pool_take(nt) : NULL;
	if (!p)
		nt = 1;
	/* split the wider dimension in whole tiles, one piece per thread */
	size_t mu = g->wide ? 2 * MR : MR, nu = g->wide ? 2 * NR : NR;
	size_t nstrips = (g->N + nu - 1) / nu, mstrips = (g->M + mu - 1) / mu;
	g->mstep = g->nstep = 0;
	if (nt > 1 && nstrips >= (size_t)nt * 4)
		g->nstep = (nstrips + (size_t)nt - 1) / (size_t)nt * nu;
	else if (nt > 1 && mstrips >= (size_t)nt)
		g->mstep = (mstrips + (size_t)nt - 1) / (size_t)nt * mu;
	else if (nt > 1 && nstrips >= (size_t)nt)
		g->nstep = (nstrips + (size_t)nt - 1) / (size_t)nt * nu;
	else
		nt = 1;
	if (nt > 1)
		rm_pool_run(p, (size_t)nt, own_task, g);
	else
		own_task(g, 0, 0);
	if (p)
		pthread_mutex_unlock(&pool_mu);
}

/* ---- OpenBLAS ----------------------------------------------------------------- */

/* A copy of the op's operand X (rows x cols, stride ld) rounded to bf16. */
static const float *
rounded_copy(int which, const float *X, size_t rows, size_t cols, size_t ld)
{
	float *d = tbuf_get(which, rows * ld);
	if (!d)
		return NULL;
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < cols; j++)
			d[i * ld + j] = cvt(X[i * ld + j], 1);
	return d;
}

/* OpenBLAS or oneDNN; bf16 through rounded copies of the operands.
 * -1 without memory for them (nothing written). */
static int
library_gemm(const struct gemm_args *g, int onednn)
{
	const float *A = g->A, *B = g->B;
	if (g->bf) {
		A = rounded_copy(BUF_CA, A, g->ta ? g->K : g->M, g->ta ? g->M : g->K, g->lda);
		B = rounded_copy(BUF_CB, B, g->tb ? g->N : g->K, g->tb ? g->K : g->N, g->ldb);
		if (!A || !B)
			return -1;
	}
	/* the OpenMP team size is per calling thread: set it on this one */
	if (onednn && dnnl_omp_threads)
		dnnl_omp_threads(nthreads);
	if (onednn && dnnl_sgemm(g->ta ? 'T' : 'N', g->tb ? 'T' : 'N', (int64_t)g->M,
				 (int64_t)g->N, (int64_t)g->K, g->alpha, A, (int64_t)g->lda, B,
				 (int64_t)g->ldb, g->beta, g->C, (int64_t)g->ldc) == 0)
		return 0;
	cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans,
		    g->tb ? CblasTrans : CblasNoTrans, (int)g->M, (int)g->N, (int)g->K,
		    g->alpha, A, (int)g->lda, B, (int)g->ldb, g->beta, g->C, (int)g->ldc);
	return 0;
}

/* ---- dispatch ------------------------------------------------------------------- */

void
rm_gemm(int transa, int transb, size_t M, size_t N, size_t K, float alpha,
	const float *A, size_t lda, const float *B, size_t ldb, float beta,
	float *C, size_t ldc)
{
	if (M == 0 || N == 0)
		return;
	enum rm_gemm_path p = cur_path();
	if (p == RM_GEMM_REF) {
		rm_gemm_ref(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	if (K == 0) { /* BLAS would leave C alone for alpha*0; be explicit */
		for (size_t i = 0; i < M; i++)
			for (size_t j = 0; j < N; j++)
				C[i * ldc + j] = beta == 0 ? 0 : beta * C[i * ldc + j];
		return;
	}
	struct gemm_args g = {transa != 0, transb != 0, precision == RM_PREC_BF16,
			      p == RM_GEMM_AVX512, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C,
			      0, 0};
	if (p == RM_GEMM_AVX2 || p == RM_GEMM_AVX512) {
		own_gemm(&g);
		return;
	}
	if (library_gemm(&g, p == RM_GEMM_ONEDNN) == 0)
		return;
	/* out of memory for a rounded copy: the reference needs none */
	rm_gemm_ref(transa, transb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
