/*
 * checkpoint.h - model checkpoints as Hugging Face directories.
 *
 * A checkpoint is a directory with model.safetensors and config.json laid
 * out exactly as transformers' GPT2ForSequenceClassification saves them
 * (tensor names from the model's parameter table, Conv1D [in, out]
 * orientation, float32, "format": "pt" metadata; config with model_type
 * "gpt2", architectures, n_embd, n_layer, n_head, n_positions, n_ctx,
 * vocab_size, num_labels 1 with id2label/label2id, token ids,
 * layer_norm_epsilon, activation_function "gelu_new", dropouts ...), so
 * AutoModelForSequenceClassification.from_pretrained(dir) loads it as is.
 * Training state for resume lives beside it in training_state.safetensors.
 * Every file is written atomically (temporary file, fsync, rename).
 *
 * Loading also accepts a pretrained GPT-2 directory (GPT2Model or
 * GPT2LMHeadModel: names without the "transformer." prefix or with it,
 * no score.weight, extra buffers such as h.N.attn.bias and lm_head.weight);
 * the reward head is then initialised and the caller is told so.  Any
 * other tensor the model does not have is refused, as is a training state
 * whose tensors are not exactly the model's, each with its shape.
 */
#ifndef RM_CHECKPOINT_H
#define RM_CHECKPOINT_H

#include <stdint.h>

#include "base/error.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "base/rng.h"

/* Special token ids written to config.json (-1: vocab_size - 1, which is
 * GPT-2's <|endoftext|> 50256 for its vocabulary). */
struct rm_token_ids {
	int bos, eos, pad;
	/* The tokenizer and template of the stream the model was trained on
	 * (config.json "rmkit_tokenizer"; "" when unknown, as for a base
	 * model from elsewhere); tmpl_hash is the template text's hash. */
	char tokenizer[64], tokenizer_hash[32], tmpl[32], tmpl_hash[32];
};

struct rm_pairs;
/*
 * 0 if the stream p (named name) was made by the tokenizer and template
 * the checkpoint dir records in ids, or either side does not say; else
 * RM_EDATA with a message naming both and the override option (the
 * program's, given as override).
 */
int rm_checkpoint_check_tokenizer(const struct rm_token_ids *ids, const char *dir,
				  const struct rm_pairs *p, const char *name,
				  const char *override, struct rm_error *err);

struct rm_checkpoint_info {
	int head_initialized;   /* score.weight was absent and got initialised */
	int prefixed;           /* names carried the "transformer." prefix */
	struct rm_token_ids ids;  /* from config.json (-1 when absent) */
};

/*
 * Write dir/model.safetensors and dir/config.json (dir is created if
 * missing, mode 0777 & ~umask).  ids may be NULL.
 */
int rm_checkpoint_save(const struct rm_model *m, const char *dir,
		       const struct rm_token_ids *ids, struct rm_error *err);
/* The same with the weights as RM_DT_F32 or RM_DT_BF16 (rounded to
 * nearest even; config.json's torch_dtype says which). */
int rm_checkpoint_save_dtype(const struct rm_model *m, const char *dir,
			     const struct rm_token_ids *ids, int dtype, struct rm_error *err);

/* Parse dir/config.json into c, with GPT2Config's defaults for absent
 * keys; refuses configurations this model does not implement. */
int rm_checkpoint_read_config(const char *dir, struct rm_model_config *c,
			      struct rm_token_ids *ids, struct rm_error *err);

/*
 * Create *out from dir: config, then every tensor of the table by name,
 * shape-checked, converted from F32/F16/BF16/F64.  A missing score.weight
 * is initialised from head_seed (info->head_initialized = 1); any other
 * missing tensor or wrong shape fails with RM_EDATA naming it.  info may
 * be NULL.
 */
int rm_checkpoint_load(struct rm_model **out, const char *dir,
		       uint64_t head_seed, struct rm_checkpoint_info *info,
		       struct rm_error *err);

/* ---- training state (resume) --------------------------------------------- */

struct rm_train_state {
	uint64_t step;          /* optimizer steps taken */
	uint64_t data_pos;      /* position in the data (records consumed) */
	uint64_t epoch;
	struct rm_rng rng;      /* data-order / dropout generator */
};

/*
 * dir/training_state.safetensors: the AdamW moments (exp_avg.NAME,
 * exp_avg_sq.NAME by the model's table) and the state above as metadata.
 */
int rm_checkpoint_save_state(const struct rm_model *m, const struct rm_adamw *opt,
			     const struct rm_train_state *st, const char *dir,
			     struct rm_error *err);
/* Restore into opt (initialised for m->n_params) and *st. */
int rm_checkpoint_load_state(const struct rm_model *m, struct rm_adamw *opt,
			     struct rm_train_state *st, const char *dir,
			     struct rm_error *err);

#endif
