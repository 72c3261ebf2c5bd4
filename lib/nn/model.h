/*
 * model.h - the reward models (DESIGN.md section 5): two families over one
 * interface.
 *
 * GPT-2: token and learned position embeddings, pre-LayerNorm blocks
 * (causal multi-head attention, GELU-tanh MLP of width 4C), final
 * LayerNorm.  Parameter names, shapes and orientation are those of Hugging
 * Face's GPT2ForSequenceClassification (Conv1D weights [in, out]).
 *
 * Llama family (Hugging Face model_type llama, mistral, qwen2, qwen3;
 * SmolLM2 is llama; lib/nn/llama.c): token embeddings, pre-RMSNorm blocks
 * (grouped-query attention with rotary positions, optional q/k/v and o
 * biases, optional per-head q/k RMSNorm; SwiGLU MLP), final RMSNorm.  Names
 * and shapes are those of LlamaForSequenceClassification and its siblings
 * (nn.Linear weights [out, in]).
 *
 * Both: reward = score . h_last, where h_last is the final norm's output at
 * a sequence's last token; score.weight is [1, C], no bias.
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
 * product per sequence, or one per batch on a row-invariant path: see
 * nn/gemm.h), so a sequence's reward and h_last are
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

/* Model families: one parameter table and forward/backward each. */
enum rm_family { RM_FAMILY_GPT2 = 0, RM_FAMILY_LLAMA = 1 };
/* Hugging Face model_type inside the llama family (names the classes a
 * checkpoint is written as; the math differs only through the flags). */
enum rm_llama_type { RM_LLAMA = 0, RM_MISTRAL, RM_QWEN2, RM_QWEN3, RM_LLAMA_N };

struct rm_model_config {
	int family;        /* enum rm_family; 0 (GPT-2) after a memset */
	int n_layer;       /* num_hidden_layers */
	int n_head;        /* num_attention_heads */
	int n_embd;        /* C (hidden_size); GPT-2: a multiple of n_head */
	int n_positions;   /* longest sequence (max_position_embeddings) */
	int vocab_size;
	float layer_norm_epsilon;  /* 1e-5 in GPT-2; rms_norm_eps (llama) */
	/* Default dropout rates (Hugging Face embd_pdrop, attn_pdrop,
	 * resid_pdrop; the llama family's attention_dropout is attn_pdrop);
	 * 0 by default.  Training copies them into a struct rm_dropout; the
	 * forward pass itself uses only that. */
	float embd_pdrop, attn_pdrop, resid_pdrop;

	/* ---- llama family only (zero for GPT-2) ---- */
	int model_type;        /* enum rm_llama_type */
	int n_kv_head;         /* num_key_value_heads; divides n_head */
	int head_dim;          /* per head; even; need not be n_embd / n_head */
	int intermediate_size; /* SwiGLU width */
	int qkv_bias;          /* q_proj, k_proj, v_proj have biases */
	int o_bias;            /* o_proj has a bias */
	int qk_norm;           /* per-head RMSNorm of q and k before rotary */
	int tie_word_embeddings; /* recorded for config.json only */
	int sliding_window;    /* > 0: sequences longer than this are refused */
	double rope_theta;
	/* rope_scaling {"rope_type": "llama3"} when rope_factor > 0 */
	double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
	int rope_original_max_positions;
};

/* GPT-2 small: 12 layers, 12 heads, 768 wide, 1024 positions, 50257
 * tokens, eps 1e-5, no dropout. */
void rm_model_config_gpt2(struct rm_model_config *c);
/* SmolLM2-135M's shape (model_type llama): 30 layers, 9 heads, 3 kv heads,
 * 576 wide, head_dim 64, intermediate 1536, 8192 positions, 49152 tokens,
 * rms_norm_eps 1e-5, rope_theta 100000, no biases, no dropout. */
void rm_model_config_llama(struct rm_model_config *c);
/* 0 if usable, else RM_EUSAGE with a message naming the bad field. */
int rm_model_config_check(const struct rm_model_config *c, struct rm_error *err);
/* "gpt2", "llama", "mistral", "qwen2", "qwen3": the Hugging Face
 * model_type of c; rm_model_type_parse is its inverse (family and
 * model_type set; -1 if unknown). */
const char *rm_model_type_name(const struct rm_model_config *c);
int rm_model_type_parse(const char *name, struct rm_model_config *c);

/* Slot of a per-layer tensor of GPT-2 (rm_model_layer_index). */
enum {
	RM_P_LN1_W, RM_P_LN1_B, RM_P_QKV_W, RM_P_QKV_B, RM_P_ATTPROJ_W,
	RM_P_ATTPROJ_B, RM_P_LN2_W, RM_P_LN2_B, RM_P_FC_W, RM_P_FC_B,
	RM_P_FCPROJ_W, RM_P_FCPROJ_B, RM_P_PER_LAYER
};
/* Slots of a llama-family layer; optional tensors (biases, q/k norms) are
 * absent from the table when the config has none (index RM_NO_TENSOR).
 * q, k, v weights are consecutive in the buffers (one [qd + 2 kd, C]
 * matrix), as are their biases and the gate and up weights. */
enum {
	RM_L_LN1, RM_L_Q, RM_L_K, RM_L_V, RM_L_QB, RM_L_KB, RM_L_VB, RM_L_QN,
	RM_L_KN, RM_L_O, RM_L_OB, RM_L_LN2, RM_L_GATE, RM_L_UP, RM_L_DOWN,
	RM_L_PER_LAYER
};
#define RM_NO_TENSOR ((size_t)-1)

struct rm_model {
	struct rm_model_config cfg;
	/* The table.  GPT-2, in this order: transformer.wte.weight,
	 * transformer.wpe.weight, then per layer the RM_P_* tensors
	 * (transformer.h.N.ln_1.weight ...), transformer.ln_f.weight,
	 * transformer.ln_f.bias, score.weight.  Llama family:
	 * model.embed_tokens.weight, per layer the RM_L_* tensors that exist
	 * (model.layers.N.input_layernorm.weight ...), model.norm.weight,
	 * score.weight. */
	struct rm_param *params;
	size_t n_tensors;
	size_t n_params;   /* floats in each buffer */
	float *params_mem;
	float *grads_mem;  /* NULL until rm_model_enable_grads */
	size_t *slots;     /* [n_layer * per-layer slots]: table indices */
	int n_slots;       /* slots per layer: RM_P_PER_LAYER or RM_L_PER_LAYER */
	size_t i_norm;     /* final norm weight (GPT-2: its bias follows) */
};

int rm_model_create(struct rm_model **out, const struct rm_model_config *c,
		    struct rm_error *err);
/* The number of parameters (floats, without alignment gaps) a model of
 * config c has, without allocating them; 0 if c is unusable (err set). */
size_t rm_model_param_count(const struct rm_model_config *c, struct rm_error *err);
void rm_model_free(struct rm_model *m);
/* Allocate the gradient buffer (zeroed); no-op if present. */
int rm_model_enable_grads(struct rm_model *m, struct rm_error *err);
void rm_model_zero_grad(struct rm_model *m);

/* Table entry by Hugging Face name, or NULL. */
const struct rm_param *rm_model_find(const struct rm_model *m, const char *name);
/* Table index of layer l's tensor k (RM_P_* or RM_L_* by family;
 * RM_NO_TENSOR when absent), and of the globals. */
size_t rm_model_layer_index(const struct rm_model *m, int l, int k);
enum { RM_P_WTE = 0, RM_P_WPE = 1 };  /* the token embedding is 0 in both */
size_t rm_model_lnf_w_index(const struct rm_model *m);
size_t rm_model_score_index(const struct rm_model *m);

/*
 * Initialisation from a seed, as Hugging Face _init_weights: embeddings
 * and weights normal(0, 0.02); GPT-2's attn.c_proj and mlp.c_proj weights
 * normal(0, 0.02 / sqrt(2 n_layer)); biases 0; LayerNorm and RMSNorm gains
 * 1 and biases 0; score.weight normal(0, 0.02) (HF initialises the score
 * Linear like every other Linear).  Tensor i draws from the stream
 * (seed, i), so one tensor's values do not depend on the others.
 */
void rm_model_init(struct rm_model *m, uint64_t seed);
/* Initialise only score.weight (used when loading a base model). */
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
