/*
 * kernels.h - the numeric layers of the model over flat float buffers.
 *
 * Layout: activations are row-major [rows, width]; weights follow Hugging
 * Face's Conv1D orientation [in, out], so a linear layer is out = inp * w.
 * Forward functions overwrite their outputs.  Backward functions accumulate
 * (+=) into parameter gradients and, unless a flag says otherwise, into
 * input gradients, as in llm.c.  Nothing here allocates, prints or fails.
 *
 * Every matrix product goes through rm_gemm (nn/gemm.h: the paths, own
 * kernels or OpenBLAS, precision and threads).  rm_gemm_set_reference(1)
 * switches the whole process to a plain-loop reference (double
 * accumulation) that tests use as an oracle.
 *
 * Determinism: every path gives bit-identical results for identical
 * arguments and thread count.  Only where rm_gemm_row_invariant() is 1 is
 * a row's result also independent of the row count M of the call
 * (OpenBLAS picks kernels, edge paths and thread splits by shape); callers
 * that need a row's output to be independent of its neighbours (the
 * model's forward pass) must otherwise make calls whose shape depends
 * only on that row's own sequence.
 */
#ifndef RM_KERNELS_H
#define RM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "nn/gemm.h"

/* ---- layers ------------------------------------------------------------ */

/* out[N,C] = wte[tok[i]] + wpe[pos[i]] (token ids must be < V: caller). */
void rm_encoder_forward(float *out, const int32_t *tok, const int32_t *pos,
			const float *wte, const float *wpe, size_t N, size_t C);
/* dwte[tok[i]] += dout[i]; dwpe[pos[i]] += dout[i], rows in order. */
void rm_encoder_backward(float *dwte, float *dwpe, const float *dout,
			 const int32_t *tok, const int32_t *pos, size_t N,
			 size_t C);

/* out = (inp - mean) * rstd * w + b per row; saves mean[N], rstd[N]. */
void rm_layernorm_forward(float *out, float *mean, float *rstd,
			  const float *inp, const float *w, const float *b,
			  size_t N, size_t C, float eps);
/* dinp += ...; dw += ...; db += ... (dw, db may be NULL to skip). */
void rm_layernorm_backward(float *dinp, float *dw, float *db,
			   const float *dout, const float *inp, const float *w,
			   const float *mean, const float *rstd, size_t N,
			   size_t C);

/* out[N,OC] = inp[N,C] * w[C,OC] + bias (bias may be NULL). */
void rm_matmul_forward(float *out, const float *inp, const float *w,
		       const float *bias, size_t N, size_t C, size_t OC);
/*
 * dinp = dout * w^T (accumulate ? += : =), dw += inp^T * dout,
 * dbias += column sums of dout.  Any of dinp, dw, dbias may be NULL.
 */
void rm_matmul_backward(float *dinp, float *dw, float *dbias,
			const float *dout, const float *inp, const float *w,
			size_t N, size_t C, size_t OC, int accumulate);
/* dbias[OC] += sum over rows of dout[N,OC], rows in order. */
void rm_bias_backward(float *dbias, const float *dout, size_t N, size_t OC);

/* GELU with the tanh approximation ("gelu_new"). */
void rm_gelu_forward(float *out, const float *inp, size_t n);
/* dinp = dout * gelu'(inp) (overwrites; dinp may alias dout). */
void rm_gelu_backward(float *dinp, const float *inp, const float *dout,
		      size_t n);

/* out = a + b, or out = a + b * mask * scale when mask is not NULL. */
void rm_residual_forward(float *out, const float *a, const float *b,
			 const uint8_t *mask, float scale, size_t n);
/* out = inp * mask * scale (mask 1 keeps); out may alias inp. */
void rm_dropout_apply(float *out, const float *inp, const uint8_t *mask,
		      float scale, size_t n);

/*
 * Causal attention for one sequence of T tokens and one head of width hd,
 * for the queries q0..T-1 (q0 = 0: all; q0 = T-1: the last token only).
 * q, k, v: [T, hd] with row stride ldqkv (views into the packed qkv rows).
 * y: [T - q0, hd] with row stride ldy, the outputs of rows q0...  att:
 * [T, T] softmax probabilities saved for backward (rows q0.. written,
 * entries above the diagonal 0).  mask (T*T, may be NULL): attention
 * dropout, 1 keeps, kept probabilities times scale; then scratch holds
 * T*T floats.
 */
void rm_attention_forward(float *y, size_t ldy, float *att, const float *q,
			  const float *k, const float *v, size_t ldqkv,
			  size_t T, size_t q0, size_t hd, const uint8_t *mask,
			  float scale, float *scratch);
/*
 * Backward of the above: overwrites dq, dk, dv ([T, hd], row stride
 * ldqkv; dq rows before q0 become 0) from dy ([T - q0, hd], stride ldy);
 * scratch holds 2*T*T floats.
 */
void rm_attention_backward(float *dq, float *dk, float *dv, size_t ldqkv,
			   const float *dy, size_t ldy, const float *att,
			   const float *q, const float *k, const float *v,
			   size_t T, size_t q0, size_t hd, const uint8_t *mask,
			   float scale, float *scratch);

#endif
