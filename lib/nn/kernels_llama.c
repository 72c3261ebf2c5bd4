/*
 * kernels_llama.c - RMSNorm, rotary embedding, SwiGLU and nn.Linear
 * layers (see kernels_llama.h).
 */
#include <math.h>
#include <string.h>

#include "nn/kernels.h"
#include "nn/kernels_llama.h"

void
rm_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w,
		   size_t N, size_t C, float eps)
{
	for (size_t i = 0; i < N; i++) {
		const float *x = inp + i * C;
		float *y = out + i * C;
		double ss = 0;
		for (size_t c = 0; c < C; c++)
			ss += (double)x[c] * x[c];
		float r = (float)(1.0 / sqrt(ss / (double)C + (double)eps));
		for (size_t c = 0; c < C; c++)
			y[c] = x[c] * r * w[c];
		rstd[i] = r;
	}
}

/*
 * y = w * x * r with r = (mean(x^2) + eps)^-1/2:
 *   dx = r g - x r^3 (x . g) / C with g = w * dy;  dw += dy * x * r.
 */
void
rm_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
		    const float *w, const float *rstd, size_t N, size_t C)
{
	for (size_t i = 0; i < N; i++) {
		const float *x = inp + i * C, *dy = dout + i * C;
		float *dx = dinp + i * C;
		double r = rstd[i], xg = 0;
		for (size_t c = 0; c < C; c++)
			xg += (double)x[c] * w[c] * dy[c];
		float k = (float)(r * r * r * xg / (double)C);
		float rf = (float)r;
		for (size_t c = 0; c < C; c++) {
			dx[c] += rf * w[c] * dy[c] - x[c] * k;
			if (dw)
				dw[c] += dy[c] * x[c] * rf;
		}
	}
}

void
rm_rope_tables(float *cos_t, float *sin_t, size_t T, size_t hd, double theta,
	       double factor, double low_freq_factor, double high_freq_factor,
	       int original_max)
{
	size_t h = hd / 2;
	for (size_t i = 0; i < h; i++) {
		/* transformers: 1 / base ** (arange(0, dim, 2).float() / dim), float32 */
		float inv = 1.0f / powf((float)theta, (float)(2 * i) / (float)hd);
		if (factor > 0) { /* _compute_llama3_parameters */
			double wavelen = 2 * M_PI / (double)inv;
			double lo = (double)original_max / low_freq_factor;
			double hi = (double)original_max / high_freq_factor;
			if (wavelen > lo) {
				inv = (float)((double)inv / factor);
			} else if (!(wavelen < hi)) {
				double sm = ((double)original_max / wavelen - low_freq_factor) /
					    (high_freq_factor - low_freq_factor);
				inv = (float)((1 - sm) * (double)inv / factor + sm * (double)inv);
			}
		}
		for (size_t t = 0; t < T; t++) {
			/* the angle as transformers forms it: a float product */
			float a = (float)t * inv;
			cos_t[t * h + i] = (float)cos((double)a);
			sin_t[t * h + i] = (float)sin((double)a);
		}
	}
}

static void
rotate(float *x, size_t nh, size_t hd, const float *c, const float *s, float sign)
{
	size_t h = hd / 2;
	for (size_t k = 0; k < nh; k++, x += hd)
		for (size_t i = 0; i < h; i++) {
			float x1 = x[i], x2 = x[i + h], si = sign * s[i];
			x[i] = x1 * c[i] - x2 * si;
			x[i + h] = x2 * c[i] + x1 * si;
		}
}

void
rm_rope_forward(float *x, size_t nh, size_t hd, const float *c, const float *s)
{
	rotate(x, nh, hd, c, s, 1.0f);
}

void
rm_rope_backward(float *dx, size_t nh, size_t hd, const float *c, const float *s)
{
	rotate(dx, nh, hd, c, s, -1.0f);
}

void
rm_swiglu_forward(float *out, const float *gu, size_t N, size_t I)
{
	for (size_t r = 0; r < N; r++) {
		const float *g = gu + r * 2 * I, *u = g + I;
		float *o = out + r * I;
		for (size_t i = 0; i < I; i++)
			o[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
	}
}

/* silu(g) = g s, s = sigmoid(g); silu'(g) = s (1 + g (1 - s)). */
void
rm_swiglu_backward(float *dgu, const float *gu, const float *dout, size_t N, size_t I)
{
	for (size_t r = 0; r < N; r++) {
		const float *g = gu + r * 2 * I, *u = g + I, *d = dout + r * I;
		float *dg = dgu + r * 2 * I, *du = dg + I;
		for (size_t i = 0; i < I; i++) {
			float s = 1.0f / (1.0f + expf(-g[i]));
			du[i] = d[i] * g[i] * s;
			dg[i] = d[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
		}
	}
}

void
rm_linear_forward(float *out, const float *inp, const float *w, const float *bias,
		  size_t N, size_t C, size_t OC)
{
	rm_gemm(0, 1, N, OC, C, 1.0f, inp, C, w, C, 0.0f, out, OC);
	if (bias)
		for (size_t i = 0; i < N; i++)
			for (size_t o = 0; o < OC; o++)
				out[i * OC + o] += bias[o];
}

void
rm_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
		   const float *inp, const float *w, size_t N, size_t C, size_t OC,
		   int accumulate)
{
	if (dinp)
		rm_gemm(0, 0, N, C, OC, 1.0f, dout, OC, w, C, accumulate ? 1.0f : 0.0f, dinp, C);
	if (dw)
		rm_gemm(1, 0, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
	if (dbias)
		rm_bias_backward(dbias, dout, N, OC);
}
