/*
 * kernels.c - layer forward/backward passes over flat buffers.
 *
 * Shapes are in the comments as [rows, cols], row-major.  Every matrix
 * product goes through rm_gemm (gemm.c).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/kernels.h"

/* ---- explicit SIMD -------------------------------------------------------
 *
 * Elementwise loops and row reductions run on GCC vector types of 16 floats,
 * compiled for AVX-512, AVX2 and baseline x86-64 (target_clones, picked at
 * load time).  Lanes are independent, reductions keep 16 partial sums added
 * in lane order, tails (width % 16) run in scalar code after them, and the
 * language mode (-std=c11) forbids FMA contraction: every version gives the
 * same bits, and so does a row wherever it sits in a batch.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VECTOR_FN __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define VECTOR_FN
#endif

/* 16 lanes as GCC vector types: explicit SIMD that the compiler lowers to
 * one AVX-512 register, two AVX2 or four SSE ones.  The helpers are always
 * inlined, so the psabi note about passing such vectors does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef float vf16 __attribute__((vector_size(64)));
typedef int32_t vi16 __attribute__((vector_size(64)));
#define VL 16

static inline __attribute__((always_inline)) vf16
vsplat(float x)
{
	return (vf16){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

/* where m (all ones / zeros per lane): a, else b */
static inline __attribute__((always_inline)) vf16
vselect(vi16 m, vf16 a, vf16 b)
{
	return (vf16)(((vi16)a & m) | ((vi16)b & ~m));
}

static inline __attribute__((always_inline)) vf16
vexp(vf16 x)
{
	x = vselect(x > vsplat(88.0f), vsplat(88.0f), x);
	x = vselect(x < vsplat(-87.0f), vsplat(-87.0f), x);
	vf16 fx = x * vsplat(1.44269504088896341f) + vsplat(0.5f);
	vf16 fl = __builtin_convertvector(__builtin_convertvector(fx, vi16), vf16);
	fl = fl - (vf16)((vi16)vsplat(1.0f) & (fl > fx)); /* truncation to floor */
	vf16 r = x - fl * vsplat(0.693359375f);
	r = r - fl * vsplat(-2.12194440e-4f);
	vf16 p = vsplat(1.9875691500e-4f);
	p = p * r + vsplat(1.3981999507e-3f);
	p = p * r + vsplat(8.3334519073e-3f);
	p = p * r + vsplat(4.1665795894e-2f);
	p = p * r + vsplat(1.6666665459e-1f);
	p = p * r + vsplat(5.0000001201e-1f);
	p = p * (r * r) + r + vsplat(1.0f);
	vi16 e = (__builtin_convertvector(fl, vi16) + 127) << 23;
	return p * (vf16)e;
}

/* Load n <= VL floats, zero-padded; store the first n lanes.  Call with the
 * constant VL in loops (a variable n becomes a libc memcpy call). */
static inline __attribute__((always_inline)) vf16
vload(const float *p, size_t n)
{
	vf16 v = vsplat(0.0f);
	memcpy(&v, p, n * sizeof(float));
	return v;
}

static inline __attribute__((always_inline)) void
vstore(float *p, vf16 v, size_t n)
{
	memcpy(p, &v, n * sizeof(float));
}

/* Sum of the 16 lanes, in lane order (the same bits for every lowering). */
static inline __attribute__((always_inline)) float
vhsum(vf16 v)
{
	float s = 0;
	for (int i = 0; i < VL; i++)
		s += v[i];
	return s;
}

static inline __attribute__((always_inline)) vf16
vmax(vf16 a, vf16 b)
{
	return vselect(a > b, a, b);
}

/* ---- embeddings -------------------------------------------------------- */

void
rm_encoder_forward(float *out, const int32_t *tok, const int32_t *pos,
		   const float *wte, const float *wpe, size_t N, size_t C)
{
	for (size_t i = 0; i < N; i++) {
		const float *e = wte + (size_t)tok[i] * C;
		const float *p = wpe + (size_t)pos[i] * C;
		float *o = out + i * C;
		for (size_t c = 0; c < C; c++)
			o[c] = e[c] + p[c];
	}
}

void
rm_encoder_backward(float *dwte, float *dwpe, const float *dout,
		    const int32_t *tok, const int32_t *pos, size_t N, size_t C)
{
	for (size_t i = 0; i < N; i++) {
		float *e = dwte + (size_t)tok[i] * C;
		float *p = dwpe + (size_t)pos[i] * C;
		const float *d = dout + i * C;
		for (size_t c = 0; c < C; c++) {
			e[c] += d[c];
			p[c] += d[c];
		}
	}
}

/* ---- layernorm --------------------------------------------------------- */

VECTOR_FN void
rm_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
		     const float *w, const float *b, size_t N, size_t C,
		     float eps)
{
	size_t Cv = C / VL * VL;
	for (size_t i = 0; i < N; i++) {
		const float *x = inp + i * C;
		/* two passes (mean, then squared deviations): no cancellation */
		vf16 acc = vsplat(0.0f);
		for (size_t c = 0; c < Cv; c += VL)
			acc += vload(x + c, VL);
		float s = vhsum(acc);
		for (size_t c = Cv; c < C; c++)
			s += x[c];
		float m = s / (float)C;
		/* corrected two-pass (Chan, Golub, LeVeque): the sum of the
		 * deviations from the first mean fixes its rounding error, which
		 * matters when the row's offset is large against its spread */
		vf16 vm = vsplat(m), acd = vsplat(0.0f);
		acc = vsplat(0.0f);
		for (size_t c = 0; c < Cv; c += VL) {
			vf16 d = vload(x + c, VL) - vm;
			acd += d;
			acc += d * d;
		}
		float sd = vhsum(acd), v = vhsum(acc);
		for (size_t c = Cv; c < C; c++) {
			sd += x[c] - m;
			v += (x[c] - m) * (x[c] - m);
		}
		float corr = sd / (float)C;
		v = v / (float)C - corr * corr;
		m += corr;
		vm = vsplat(m);
		float r = 1.0f / sqrtf((v > 0 ? v : 0) + eps);
		vf16 vr = vsplat(r);
		float *o = out + i * C;
		for (size_t c = 0; c < Cv; c += VL)
			vstore(o + c, (vload(x + c, VL) - vm) * vr * vload(w + c, VL) + vload(b + c, VL), VL);
		for (size_t c = Cv; c < C; c++)
			o[c] = (x[c] - m) * r * w[c] + b[c];
		mean[i] = m;
		rstd[i] = r;
	}
}

VECTOR_FN void
rm_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
		      const float *inp, const float *w, const float *mean,
		      const float *rstd, size_t N, size_t C)
{
	size_t Cv = C / VL * VL;
	for (size_t i = 0; i < N; i++) {
		const float *dy = dout + i * C, *x = inp + i * C;
		float m = mean[i], r = rstd[i];
		vf16 vm = vsplat(m), vr = vsplat(r);
		/* dxhat = dy * w; dx = r * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) */
		vf16 a = vsplat(0.0f), bb = vsplat(0.0f);
		for (size_t c = 0; c < Cv; c += VL) {
			vf16 xh = (vload(x + c, VL) - vm) * vr;
			vf16 dxh = vload(dy + c, VL) * vload(w + c, VL);
			a += dxh;
			bb += dxh * xh;
		}
		float sa = vhsum(a), sb = vhsum(bb);
		for (size_t c = Cv; c < C; c++) {
			float xh = (x[c] - m) * r, dxh = dy[c] * w[c];
			sa += dxh;
			sb += dxh * xh;
		}
		float ma = sa / (float)C, mb = sb / (float)C;
		vf16 vma = vsplat(ma), vmb = vsplat(mb);
		float *dx = dinp + i * C;
		for (size_t c = 0; c < Cv; c += VL) {
			vf16 xh = (vload(x + c, VL) - vm) * vr, d = vload(dy + c, VL);
			vf16 dxh = d * vload(w + c, VL);
			vstore(dx + c, vload(dx + c, VL) + vr * (dxh - vma - xh * vmb), VL);
			if (dw)
				vstore(dw + c, vload(dw + c, VL) + d * xh, VL);
			if (db)
				vstore(db + c, vload(db + c, VL) + d, VL);
		}
		for (size_t c = Cv; c < C; c++) {
			float xh = (x[c] - m) * r, dxh = dy[c] * w[c];
			dx[c] += r * (dxh - ma - xh * mb);
			if (dw)
				dw[c] += dy[c] * xh;
			if (db)
				db[c] += dy[c];
		}
	}
}

/* ---- linear layers ----------------------------------------------------- */

void
rm_matmul_forward(float *out, const float *inp, const float *w,
		  const float *bias, size_t N, size_t C, size_t OC)
{
	/* out[N,OC] = bias + inp[N,C] * w[C,OC]: filling out with the bias and
	 * accumulating (beta 1) spares BLAS its pass that zeroes C */
	if (!bias) {
		rm_gemm(0, 0, N, OC, C, 1.0f, inp, C, w, OC, 0.0f, out, OC);
		return;
	}
	for (size_t i = 0; i < N; i++)
		memcpy(out + i * OC, bias, OC * sizeof(float));
	rm_gemm(0, 0, N, OC, C, 1.0f, inp, C, w, OC, 1.0f, out, OC);
}

VECTOR_FN void
rm_bias_backward(float *dbias, const float *dout, size_t N, size_t OC)
{
	size_t ov = OC / VL * VL;
	for (size_t i = 0; i < N; i++) {
		const float *d = dout + i * OC;
		for (size_t j = 0; j < ov; j += VL)
			vstore(dbias + j, vload(dbias + j, VL) + vload(d + j, VL), VL);
		for (size_t j = ov; j < OC; j++)
			dbias[j] += d[j];
	}
}

void
rm_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
		   const float *inp, const float *w, size_t N, size_t C,
		   size_t OC, int accumulate)
{
	/* dinp[N,C] = dout[N,OC] * w[C,OC]^T */
	if (dinp)
		rm_gemm(0, 1, N, C, OC, 1.0f, dout, OC, w, OC,
			accumulate ? 1.0f : 0.0f, dinp, C);
	/* dw[C,OC] += inp[N,C]^T * dout[N,OC] */
	if (dw)
		rm_gemm(1, 0, C, OC, N, 1.0f, inp, C, dout, OC, 1.0f, dw, OC);
	if (dbias)
		rm_bias_backward(dbias, dout, N, OC);
}

/* ---- GELU (tanh approximation, Hugging Face "gelu_new") ---------------- */

/*
 * 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3):
 * the sigmoid form has no cancellation for negative x.  The exponential is
 * computed here from basic operations (Cephes expf: range reduction by ln 2
 * and a degree-6 polynomial, within 2 ulp) on 16-lane vectors; the
 * functions are compiled for AVX-512, AVX2 and baseline x86-64 and picked at
 * load time.  Lanes are independent and the language mode (-std=c11)
 * forbids FMA contraction, so every version and every position in the
 * array gives the same bits.
 */
#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */
#define GELU_C 0.044715f

static inline __attribute__((always_inline)) vf16
gelu_vec(vf16 x)
{
	vf16 u = vsplat(GELU_K) * (x + vsplat(GELU_C) * x * x * x);
	return x / (vsplat(1.0f) + vexp(vsplat(-2.0f) * u));
}

static inline __attribute__((always_inline)) vf16
gelu_grad_vec(vf16 x, vf16 d)
{
	vf16 u = vsplat(GELU_K) * (x + vsplat(GELU_C) * x * x * x);
	vf16 s = vsplat(1.0f) / (vsplat(1.0f) + vexp(vsplat(-2.0f) * u));
	vf16 du = vsplat(2.0f * GELU_K) * (vsplat(1.0f) + vsplat(3.0f * GELU_C) * x * x);
	return d * (s + x * s * (vsplat(1.0f) - s) * du);
}

VECTOR_FN void
rm_gelu_forward(float *out, const float *inp, size_t n)
{
	size_t nv = n / VL * VL, i = 0;
	for (; i + 4 * VL <= nv; i += 4 * VL) { /* four independent chains */
		vf16 a = gelu_vec(vload(inp + i, VL)), b = gelu_vec(vload(inp + i + VL, VL));
		vf16 c = gelu_vec(vload(inp + i + 2 * VL, VL)), d = gelu_vec(vload(inp + i + 3 * VL, VL));
		vstore(out + i, a, VL);
		vstore(out + i + VL, b, VL);
		vstore(out + i + 2 * VL, c, VL);
		vstore(out + i + 3 * VL, d, VL);
	}
	for (; i < nv; i += VL)
		vstore(out + i, gelu_vec(vload(inp + i, VL)), VL);
	if (nv < n) /* the tail as a zero-padded vector: the same bits per lane */
		vstore(out + nv, gelu_vec(vload(inp + nv, n - nv)), n - nv);
}

VECTOR_FN void
rm_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n)
{
	size_t nv = n / VL * VL, i = 0;
	for (; i + 2 * VL <= nv; i += 2 * VL) { /* two independent chains */
		vf16 a = gelu_grad_vec(vload(inp + i, VL), vload(dout + i, VL));
		vf16 b = gelu_grad_vec(vload(inp + i + VL, VL), vload(dout + i + VL, VL));
		vstore(dinp + i, a, VL);
		vstore(dinp + i + VL, b, VL);
	}
	for (; i < nv; i += VL)
		vstore(dinp + i, gelu_grad_vec(vload(inp + i, VL), vload(dout + i, VL)), VL);
	if (nv < n)
		vstore(dinp + nv, gelu_grad_vec(vload(inp + nv, n - nv), vload(dout + nv, n - nv)),
		       n - nv);
}

/* ---- residual and dropout ---------------------------------------------- */

VECTOR_FN void
rm_residual_forward(float *out, const float *a, const float *b,
		    const uint8_t *mask, float scale, size_t n)
{
	if (!mask) {
		size_t nv = n / VL * VL;
		for (size_t i = 0; i < nv; i += VL)
			vstore(out + i, vload(a + i, VL) + vload(b + i, VL), VL);
		for (size_t i = nv; i < n; i++)
			out[i] = a[i] + b[i];
		return;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = a[i] + (mask[i] ? b[i] * scale : 0.0f);
}

void
rm_dropout_apply(float *out, const float *inp, const uint8_t *mask,
		 float scale, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = mask[i] ? inp[i] * scale : 0.0f;
}

/* ---- causal attention, one sequence and one head ------------------------ */

/*
 * Rows are processed in blocks of ATT_BLOCK queries; block [i0, i1) only
 * needs keys [0, i1), so the products skip most of the masked upper
 * triangle (at T = 256, 10/16 of the full squares).  Products that sum
 * over blocks (dk, dv) run in a fixed order: the last block first with
 * beta 0, then the others.
 */
#define ATT_BLOCK 64

VECTOR_FN static void
softmax_causal_rows(float *att, size_t T, size_t i0, size_t i1)
{
	for (size_t i = i0; i < i1; i++) {
		float *a = att + i * T;
		size_t n = i + 1, nv = n / VL * VL;
		vf16 vmx = vsplat(-INFINITY);
		for (size_t j = 0; j < nv; j += VL)
			vmx = vmax(vmx, vload(a + j, VL));
		float mx = -INFINITY;
		for (int l = 0; l < VL; l++)
			mx = vmx[l] > mx ? vmx[l] : mx;
		for (size_t j = nv; j < n; j++)
			mx = a[j] > mx ? a[j] : mx;
		vf16 vm = vsplat(mx), acc = vsplat(0.0f);
		for (size_t j = 0; j < nv; j += VL) {
			vf16 e = vexp(vload(a + j, VL) - vm);
			vstore(a + j, e, VL);
			acc += e;
		}
		float sum = vhsum(acc);
		if (nv < n) { /* tail: the same vexp on a padded vector */
			vf16 e = vexp(vload(a + nv, n - nv) - vm);
			vstore(a + nv, e, n - nv);
			for (size_t j = nv; j < n; j++)
				sum += a[j];
		}
		vf16 inv = vsplat(1.0f / sum);
		for (size_t j = 0; j < nv; j += VL)
			vstore(a + j, vload(a + j, VL) * inv, VL);
		for (size_t j = nv; j < n; j++)
			a[j] *= inv[0];
		for (size_t j = n; j < T; j++)
			a[j] = 0.0f;
	}
}

void
rm_attention_forward(float *y, size_t ldy, float *att, const float *q,
		     const float *k, const float *v, size_t ldqkv, size_t T,
		     size_t q0, size_t hd, const uint8_t *mask, float scale,
		     float *scratch)
{
	float sc = 1.0f / sqrtf((float)hd);
	y -= q0 * ldy; /* y holds rows q0.. only */
	for (size_t i0 = q0; i0 < T; i0 += ATT_BLOCK) {
		size_t i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T, nb = i1 - i0;
		/* att[i0:i1, 0:i1] = q[i0:i1] k[0:i1]^T / sqrt(hd) */
		rm_gemm(0, 1, nb, i1, hd, sc, q + i0 * ldqkv, ldqkv, k, ldqkv, 0.0f,
			att + i0 * T, T);
		softmax_causal_rows(att, T, i0, i1);
		const float *p = att + i0 * T;
		if (mask) {
			rm_dropout_apply(scratch, p, mask + i0 * T, scale, nb * T);
			p = scratch;
		}
		/* y[i0:i1] = p[i0:i1, 0:i1] v[0:i1] */
		rm_gemm(0, 0, nb, hd, i1, 1.0f, p, T, v, ldqkv, 0.0f, y + i0 * ldy, ldy);
	}
}

void
rm_attention_backward(float *dq, float *dk, float *dv, size_t ldqkv,
		      const float *dy, size_t ldy, const float *att,
		      const float *q, const float *k, const float *v, size_t T,
		      size_t q0, size_t hd, const uint8_t *mask, float scale,
		      float *scratch)
{
	float sc = 1.0f / sqrtf((float)hd);
	float *dp = scratch, *pd = scratch + T * T;
	size_t nblk = (T - q0 + ATT_BLOCK - 1) / ATT_BLOCK;
	dy -= q0 * ldy; /* dy holds rows q0.. only */
	for (size_t i = 0; i < q0; i++) /* queries not asked for */
		memset(dq + i * ldqkv, 0, hd * sizeof(float));
	/* last block first: it covers every key, so beta 0 initialises dk, dv */
	for (size_t bi = nblk; bi-- > 0;) {
		size_t i0 = q0 + bi * ATT_BLOCK, i1 = i0 + ATT_BLOCK < T ? i0 + ATT_BLOCK : T;
		size_t nb = i1 - i0;
		float beta = bi == nblk - 1 ? 0.0f : 1.0f;
		const float *a = att + i0 * T, *p = a;
		if (mask) {
			rm_dropout_apply(pd + i0 * T, a, mask + i0 * T, scale, nb * T);
			p = pd + i0 * T;
		}
		/* dv[0:i1] (+)= p[i0:i1, 0:i1]^T dy[i0:i1] */
		rm_gemm(1, 0, i1, hd, nb, 1.0f, p, T, dy + i0 * ldy, ldy, beta, dv, ldqkv);
		/* dp[i0:i1, 0:i1] = dy[i0:i1] v[0:i1]^T */
		float *d = dp + i0 * T;
		rm_gemm(0, 1, nb, i1, hd, 1.0f, dy + i0 * ldy, ldy, v, ldqkv, 0.0f, d, T);
		if (mask)
			for (size_t i = 0; i < nb; i++)
				rm_dropout_apply(d + i * T, d + i * T, mask + (i0 + i) * T, scale, i0 + i + 1);
		/* softmax backward: ds = att * (dp - rowsum(att * dp)) */
		for (size_t i = 0; i < nb; i++) {
			const float *ar = a + i * T;
			float *dr = d + i * T;
			size_t row = i0 + i;
			float s = 0;
			for (size_t j = 0; j <= row; j++)
				s += ar[j] * dr[j];
			for (size_t j = 0; j <= row; j++)
				dr[j] = ar[j] * (dr[j] - s);
			for (size_t j = row + 1; j < i1; j++)
				dr[j] = 0.0f;
		}
		/* dq[i0:i1] = ds k[0:i1] / sqrt(hd);  dk[0:i1] (+)= ds^T q[i0:i1] / sqrt(hd) */
		rm_gemm(0, 0, nb, hd, i1, sc, d, T, k, ldqkv, 0.0f, dq + i0 * ldqkv, ldqkv);
		rm_gemm(1, 0, i1, hd, nb, sc, d, T, q + i0 * ldqkv, ldqkv, beta, dk, ldqkv);
	}
}
