/*
 * kernels_llama.h - the numeric layers the Llama family adds to kernels.h:
 * RMSNorm, rotary position embedding (Hugging Face's rotate-half
 * convention, llama3 frequency scaling), SwiGLU, and linear layers with
 * nn.Linear weights [out, in].
 *
 * Same conventions as kernels.h: row-major flat buffers, forward functions
 * overwrite their outputs, backward functions accumulate (+=) into weight
 * gradients (and input gradients where said); nothing allocates, prints or
 * fails.  Matrix products go through rm_gemm.
 */
#ifndef RM_KERNELS_LLAMA_H
#define RM_KERNELS_LLAMA_H

#include <stddef.h>

/* out = inp * rstd * w per row of C, rstd = 1 / sqrt(mean(inp^2) + eps)
 * (saved, [N]), computed in double as transformers' float32 upcast does. */
void rm_rmsnorm_forward(float *out, float *rstd, const float *inp, const float *w,
			size_t N, size_t C, float eps);
/* dinp += d/dinp; dw += d/dw (dw may be NULL). */
void rm_rmsnorm_backward(float *dinp, float *dw, const float *dout, const float *inp,
			 const float *w, const float *rstd, size_t N, size_t C);

/*
 * Rotary tables: cos[t, i], sin[t, i] of t * inv_freq[i] for t < T,
 * i < hd / 2, where inv_freq[i] = 1 / theta^(2i / hd) in float as
 * transformers computes it, rescaled as rope_type "llama3" does when
 * factor > 0 (low_freq_factor, high_freq_factor, original_max positions).
 */
void rm_rope_tables(float *cos_t, float *sin_t, size_t T, size_t hd, double theta,
		    double factor, double low_freq_factor, double high_freq_factor,
		    int original_max);
/*
 * Rotate nh heads of width hd (contiguous, one token) in place by the
 * table rows c, s: x1' = x1 c - x2 s, x2' = x2 c + x1 s with x1 the first
 * half of a head and x2 the second (rotate_half).  Backward is the inverse
 * rotation (sign of s flipped), also in place on the gradient.
 */
void rm_rope_forward(float *x, size_t nh, size_t hd, const float *c, const float *s);
void rm_rope_backward(float *dx, size_t nh, size_t hd, const float *c, const float *s);

/* out[N, I] = silu(gu[:, 0:I]) * gu[:, I:2I] (gu rows are gate | up). */
void rm_swiglu_forward(float *out, const float *gu, size_t N, size_t I);
/* dgu[N, 2I] = the gradient of the above given dout (overwrites). */
void rm_swiglu_backward(float *dgu, const float *gu, const float *dout, size_t N,
			size_t I);

/* out[N,OC] = inp[N,C] * w[OC,C]^T + bias (bias may be NULL). */
void rm_linear_forward(float *out, const float *inp, const float *w,
		       const float *bias, size_t N, size_t C, size_t OC);
/* dinp = dout * w (accumulate ? += : =), dw += dout^T * inp, dbias +=
 * column sums of dout; any of dinp, dw, dbias may be NULL. */
void rm_linear_backward(float *dinp, float *dw, float *dbias, const float *dout,
			const float *inp, const float *w, size_t N, size_t C,
			size_t OC, int accumulate);

#endif
