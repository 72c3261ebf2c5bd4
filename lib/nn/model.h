/*
 * model.h - the GPT-2 reward model (DESIGN.md section 5).
 *
 * Token and learned position embeddings, pre-LayerNorm blocks (causal
 * multi-head attention, GELU-tanh MLP of width 4C), final LayerNorm, then
 * reward = score . h_last, where h_last is the final-LayerNorm output at a
 * sequence's last token.  Parameter names, shapes and orientation are those
 * of Hugging Face's GPT2ForSequenceClassification (Conv1D weights [in, out]).
 *
 * Ownership: struct rm_model owns its parameter table and the two float
 * buffers params (always) and grads (after rm_model_enable_grads), which
 * share the table's layout.  A struct rm_workspace owns every activation
 * buffer for batches up to a token budget and the worker threads; it is
 * allocated once, so forward and backward never allocate.  One workspace
 * serves one model at a time and is not thread-safe.
 *
 * Batches are packed: the token ids of all sequences concatenated, plus
 * offsets.  Nothing is padded, and every computation whose result reaches
 * a sequence's reward depends only on that sequence (linear layers run one
 * BLAS call per sequence), so a sequence's reward and h_last are
 * bit-identical whether it is scored alone or in any batch, for a given
 * thread count.  Runs are bit-identical for the same inputs, seed and
 * thread count.
 */
#ifndef RM_MODEL_H
#define RM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/param.h"

struct rm_model_config {
	int n_layer;
	int n_head;
	int n_embd;        /* C; must be a multiple of n_head */
	int n_positions;   /* longest sequence */
	int vocab_size;
	float layer_norm_epsilon;  /* 1e-5 in GPT-2 */
	/* Default dropout rates (Hugging Face embd_pdrop, attn_pdrop,
	 * resid_pdrop); 0 by default.  Training copies them into a
	 * struct rm_dropout; the forward pass itself uses only that. */
	float embd_pdrop, attn_pdrop, resid_pdrop;
};

/* GPT-2 small: 12 layers, 12 heads, 768 wide, 1024 positions, 50257
 * tokens, eps 1e-5, no dropout. */
void rm_model_config_gpt2(struct rm_model_config *c);
/* 0 if usable, else RM_EUSAGE with a message naming the bad field. */
int rm_model_config_check(const struct rm_model_config *c, struct rm_error *err);

/* Index of a per-layer tensor inside its layer's run of the table. */
enum {
	RM_P_LN1_W, RM_P_LN1_B, RM_P_QKV_W, RM_P_QKV_B, RM_P_ATTPROJ_W,
	RM_P_ATTPROJ_B, RM_P_LN2_W, RM_P_LN2_B, RM_P_FC_W, RM_P_FC_B,
	RM_P_FCPROJ_W, RM_P_FCPROJ_B, RM_P_PER_LAYER
};

struct rm_model {
	struct rm_model_config cfg;
	/* The table, in this order: transformer.wte.weight,
	 * transformer.wpe.weight, then per layer the RM_P_* tensors
	 * (transformer.h.N.ln_1.weight ...), transformer.ln_f.weight,
	 * transformer.ln_f.bias, score.weight. */
	struct rm_param *params;
	size_t n_tensors;
	size_t n_params;   /* floats in each buffer */
	float *params_mem;
	float *grads_mem;  /* NULL until rm_model_enable_grads */
};

int rm_model_create(struct rm_model **out, const struct rm_model_config *c,
		    struct rm_error *err);
void rm_model_free(struct rm_model *m);
/* Allocate the gradient buffer (zeroed); no-op if present. */
int rm_model_enable_grads(struct rm_model *m, struct rm_error *err);
void rm_model_zero_grad(struct rm_model *m);

/* Table entry by Hugging Face name, or NULL. */
const struct rm_param *rm_model_find(const struct rm_model *m, const char *name);
/* Table index of layer l's tensor k (RM_P_*), and of the globals. */
size_t rm_model_layer_index(const struct rm_model *m, int l, int k);
enum { RM_P_WTE = 0, RM_P_WPE = 1 };
size_t rm_model_lnf_w_index(const struct rm_model *m);
size_t rm_model_score_index(const struct rm_model *m);

/*
 * GPT-2 initialisation from a seed, as Hugging Face _init_weights:
 * embeddings and weights normal(0, 0.02); attn.c_proj and mlp.c_proj
 * weights normal(0, 0.02 / sqrt(2 n_layer)); biases 0; LayerNorm gains 1
 * and biases 0; score.weight normal(0, 0.02) (HF initialises the score
 * Linear like every other Linear).  Tensor i draws from the stream
 * (seed, i), so one tensor's values do not depend on the others.
 */
void rm_model_init(struct rm_model *m, uint64_t seed);
/* Initialise only score.weight (used when loading a base GPT-2). */
void rm_model_init_score(struct rm_model *m, uint64_t seed);

/* ---- batches, dropout, workspace ---------------------------------------- */

struct rm_batch {
	size_t n_seq;
	const int32_t *tokens;   /* all sequences concatenated */
	const size_t *offsets;   /* [n_seq + 1]; offsets[0] == 0; sequence i is
				    tokens[offsets[i] .. offsets[i+1]) */
};

/*
 * Dropout for one forward pass (NULL: none, the evaluation mode).  A
 * sequence's masks come from the RNG stream (seed, step, key, site), where
 * key is keys[i] (or i when keys is NULL) and site names the layer and the
 * dropout point; so masks depend on neither the batch nor the threads.  Give
 * a sequence the same key in every batch to get the same masks, and two
 * different keys (or steps) for two dropout views of it.
 */
struct rm_dropout {
	uint64_t seed, step;
	const uint64_t *keys;   /* [n_seq] or NULL */
	float embd, attn, resid;  /* probabilities of zeroing, in [0, 1) */
};

struct rm_workspace_options {
	size_t max_tokens;   /* most tokens in one batch (all sequences) */
	size_t max_seq_len;  /* longest sequence; 0 means n_positions */
	int train;           /* keep activations for backward */
	int dropout;         /* room for dropout masks (needs train: RM_EUSAGE) */
	int threads;         /* worker threads and OpenBLAS threads; >= 1 */
};

struct rm_workspace;

/*
 * Allocate everything forward and backward need for batches within the
 * budget: a training workspace keeps every layer's activations (about
 * 16 C + NH max_seq_len floats per token and layer, the latter for the attention
 * probabilities); an evaluation one keeps one layer's worth and no
 * probabilities.  Sets OpenBLAS to opts->threads threads (process-wide)
 * and starts opts->threads - 1 worker threads.
 */
int rm_workspace_create(struct rm_workspace **out, const struct rm_model *m,
			const struct rm_workspace_options *opts,
			struct rm_error *err);
void rm_workspace_free(struct rm_workspace *ws);
/* Bytes held by the workspace. */
size_t rm_workspace_bytes(const struct rm_workspace *ws);

/*
 * Seconds spent in forward and backward passes on ws since it was made or
 * reset, in total and in the linear layers and the attention (for
 * benchmarks; the clock is read a few dozen times per pass).
 */
enum {
	RM_PROF_FWD, RM_PROF_FWD_LINEAR, RM_PROF_FWD_ATTN,
	RM_PROF_BWD, RM_PROF_BWD_LINEAR, RM_PROF_BWD_ATTN, RM_PROF_N
};
void rm_workspace_profile(const struct rm_workspace *ws, double out[RM_PROF_N]);
void rm_workspace_profile_reset(struct rm_workspace *ws);

/*
 * Forward pass.  rewards[n_seq] receives the rewards; h_last (may be NULL)
 * receives [n_seq, C], the final-LayerNorm output at each sequence's last
 * token.  Fails with RM_EUSAGE (nothing computed) for an empty sequence,
 * a sequence longer than the workspace or n_positions allows, a batch over
 * the token budget, a token id outside [0, vocab_size), or dropout asked
 * of a workspace without room for it; RM_ENUM if a reward is not finite.
 */
int rm_model_forward(struct rm_model *m, struct rm_workspace *ws,
		     const struct rm_batch *b, const struct rm_dropout *drop,
		     float *rewards, float *h_last, struct rm_error *err);

/*
 * Backward pass of the last forward on ws (a train workspace): given
 * d_rewards[n_seq] = dL/dreward and optionally d_h_last[n_seq, C] =
 * dL/dh_last from other terms (contrastive losses), accumulate (+=) dL/dθ
 * into m->grads_mem.  The batch arrays of the forward need not stay alive.
 */
int rm_model_backward(struct rm_model *m, struct rm_workspace *ws,
		      const float *d_rewards, const float *d_h_last,
		      struct rm_error *err);

#endif
