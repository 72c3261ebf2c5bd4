/*
 * train.h - the reward-model training loop as a library: one optimizer step
 * at a time, evaluation, checkpoint save and resume.
 *
 * A struct rm_trainer owns the model, its workspace, the AdamW state, the
 * learning-rate schedule, an RNG and the data position (epoch and place in
 * that epoch's order).  The data is borrowed.  Everything the hot path
 * needs is allocated by rm_trainer_create; rm_trainer_step does not call
 * malloc.
 *
 * One step (DESIGN.md sections 6, 7):
 *   - the next `accum` micro-batches of the epoch's order, each as many
 *     pairs as fit batch_tokens tokens and batch_size pairs (a step never
 *     crosses an epoch boundary: the last step of an epoch may be short);
 *   - per pair z = (r_c - r_r) - s*m, target t(1 - a) + (1 - t)a, the loss of
 *     lib/nn/loss.h, averaged over every pair of the step;
 *   - each micro-batch's gradient computed into zeroed buffers and the
 *     micro-batches summed in their order, in one place (train.c:
 *     reduce_grads), by lib/train/dist.h: under MPI rank b mod N computes
 *     micro-batch b and the sum is the same fixed-order sum, so N ranks
 *     give the one-process result; then clipped to a global norm, then
 *     one AdamW step at the schedule's rate on every rank.
 * The order of an epoch comes from (seed, epoch) alone, dropout masks from
 * (seed, step, record, sequence), so a step depends only on the state
 * saved in a checkpoint: a resumed run ends bit-identical to an
 * uninterrupted one with the same thread count.
 *
 * A non-finite reward, loss or gradient norm stops the step before the
 * parameters change, with RM_ENUM and a message naming the ids of the
 * step's records.
 */
#ifndef RM_TRAIN_H
#define RM_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "train/checkpoint.h"
#include "nn/contrastive.h"
#include "base/error.h"
#include "nn/model.h"
#include "nn/optim.h"
#include "train/pairs.h"
#include "base/rng.h"

/* Everything that decides the training math (saved with the state). */
struct rm_train_options {
	size_t batch_size;       /* most pairs per micro-batch, 0: no limit */
	size_t batch_tokens;     /* most tokens per micro-batch (> 0) */
	int accum;               /* micro-batches per step (>= 1) */
	uint64_t epochs;         /* used when steps == 0 */
	uint64_t steps;          /* total optimizer steps, 0: from epochs */
	int shuffle;             /* shuffle each epoch (1 by default) */
	uint64_t seed;           /* data order, dropout, head init */
	double label_smoothing;  /* a: t -> t(1 - a) + (1 - t)a, in [0, 0.5] */
	double margin_scale;     /* s: m -> s*m */
	double lr, min_lr_ratio; /* peak rate; floor of the decay */
	enum rm_lr_kind schedule;
	uint64_t warmup;
	struct rm_adamw_config adamw;
	double clip;             /* global gradient norm, 0: off */
	float dropout;           /* embeddings, attention, residual; 0: off */
	int save_dtype;          /* model.safetensors: RM_DT_F32 (0: f32) or RM_DT_BF16 */

	/* ---- contrastive learning (lib/nn/contrastive.h, issue 5) ----------
	 * kind RM_CL_NONE: off.  Otherwise every micro-batch goes through
	 * the model twice in one packed batch (two dropout views at rate
	 * cl.dropout, which replaces `dropout`), so a micro-batch holds as
	 * many pairs as fit batch_tokens / 2; the pairwise loss is the mean
	 * over both views, plus cl.weight times the contrastive loss. */
	struct rm_cl_config cl;
};

/* Defaults: see rm-train(1).  batch_size 32, batch_tokens 16384, ... */
void rm_train_options_default(struct rm_train_options *o);
/* 0 if usable, else RM_EUSAGE naming the option. */
int rm_train_options_check(const struct rm_train_options *o,
			   struct rm_error *err);
/* The options as a JSON object text (malloc'd; NULL when out of memory). */
char *rm_train_options_json(const struct rm_train_options *o);
/* Parse what rm_train_options_json wrote over *o (unknown keys fail). */
int rm_train_options_parse(struct rm_train_options *o, const char *json,
			   struct rm_error *err);
/*
 * The first option that differs between a and b, as its JSON key
 * ("lr", "batch_size"...), or NULL when they agree.
 */
const char *rm_train_options_diff(const struct rm_train_options *a,
				  const struct rm_train_options *b);

/* Statistics of one step (or of an evaluation: loss and accuracy). */
struct rm_train_stats {
	uint64_t step;            /* steps done, this one included */
	double epoch;             /* epochs done, fractional */
	size_t pairs, tokens, micro_batches;
	double loss, accuracy;    /* mean over pairs; accuracy at margin 0 */
	double rc_mean, rc_std, rr_mean, rr_std;  /* rewards, population std */
	double delta_mean;        /* mean of r_c - r_r */
	double lr, grad_norm;     /* grad_norm before clipping */
	double cl_loss;           /* contrastive loss (before the weight), 0 when off */
};

struct rm_trainer {
	/* read-only for callers */
	struct rm_train_options opt;
	struct rm_model *model;
	struct rm_workspace *ws;
	const struct rm_pairs *data;
	struct rm_adamw adamw;
	struct rm_lr_schedule sched;
	struct rm_rng rng;
	uint64_t step;            /* steps done */
	uint64_t total_steps;
	uint64_t epoch;           /* epoch of the data position */
	size_t pos;               /* records of that epoch already used */
	uint64_t steps_per_epoch; /* of epoch 0 (others may differ by one) */
	int threads;
	uint64_t fingerprint;     /* of the data */
	struct rm_token_ids ids;  /* for config.json: the data's end-of-text (may be set) */

	/* private: the epoch order and the step's buffers */
	size_t *order;
	uint64_t order_epoch;
	size_t max_seqs;
	size_t ws_tokens;        /* the workspace's batch size in tokens */
	int32_t *b_tokens;
	size_t *b_offsets, *mb_start, *mb_len;
	uint64_t *b_keys;
	float *b_rewards, *b_drewards, *b_margin, *b_target;
	struct rm_dist_sum *sum;  /* the micro-batches' sum over ranks (dist.h) */
	void *mb_recs;            /* [accum] micro-batch records */

	/* ---- extensions (issue 5): contrastive learning, MetaRM ---------- */
	struct rm_cl *cl;          /* owned, when opt.cl.kind != RM_CL_NONE */
	struct rm_adamw cl_adamw;  /* the SwAV prototypes' moments */
	float *cl_h, *cl_dh;       /* both views' h_last and dL/dh_last */
	/*
	 * MetaRM (lib/train/metarm.h): when apply_to is set, the step takes its
	 * gradient at the current parameters, then copies apply_to[n_params]
	 * over them before the optimizer update (the update of theta with the
	 * gradient at theta').  save_extra (if set) writes more files into
	 * the checkpoint directory being built, before it is swapped in.
	 */
	const float *apply_to;
	int (*save_extra)(void *ctx, const char *dir, struct rm_error *err);
	void *save_extra_ctx;
};

/*
 * rm_train_memory_check - whether a model of config c can be trained in
 * this machine's memory: its weights, gradients and two AdamW moments
 * (16 bytes a parameter) must fit in the physical memory and the address
 * space limit (RLIMIT_AS).  0, or RM_ENOMEM
 * before anything is allocated ("a model of N parameters needs X GiB to
 * train ..., more than the Y GiB of this machine"), RM_EUSAGE for an
 * unusable config.
 */
int rm_train_memory_check(const struct rm_model_config *c, struct rm_error *err);

/*
 * A set besides the training pairs that the trainer's workspace must take:
 * batches of at most max_records of its records (0: any number) within
 * batch_tokens, as rm_metarm packs its groups; an evaluation set is
 * {set, 1} (rm_trainer_eval packs records up to the workspace's size).
 */
struct rm_train_fit {
	const struct rm_pairs *set;
	size_t max_records;
};

/*
 * rm_train_batch_bound - the most tokens a batch of at most max_records
 * consecutive records (0: any number) of p within budget tokens can hold,
 * in any order of the records: the sum of the max_records largest records,
 * or budget when that is less.  0 for an empty set.
 */
size_t rm_train_batch_bound(const struct rm_pairs *p, size_t max_records, size_t budget);

/*
 * rm_trainer_create - take ownership of model (also on failure) and set up
 * training on data: gradients, a training workspace sized for the largest
 * micro-batch the data can form (rm_train_batch_bound of its pairs within
 * --batch-size and --batch-tokens, twice that with two contrastive views)
 * and for the sets of also[0..n_also) (evaluation pairs, MetaRM's groups),
 * AdamW moments, the schedule over the total step count.  The workspace
 * scales with the data's longest records, not the token budget: short
 * sequences train a large model within the budget's default.  Fails naming
 * the record when one does not fit the budget or holds a token outside
 * the model's vocabulary.  threads >= 1.
 */
int rm_trainer_create(struct rm_trainer **out, struct rm_model *model,
		      const struct rm_pairs *data,
		      const struct rm_train_options *o,
		      const struct rm_train_fit *also, size_t n_also,
		      int threads, struct rm_error *err);
/* Tokens the trainer's workspace takes in one batch. */
size_t rm_trainer_workspace_tokens(const struct rm_trainer *t);
void rm_trainer_free(struct rm_trainer *t);

/* 1 when every step is done. */
int rm_trainer_done(const struct rm_trainer *t);

/*
 * rm_trainer_step - one optimizer step (see above); fills st (may be NULL).
 * On failure the parameters and the data position are unchanged.
 */
int rm_trainer_step(struct rm_trainer *t, struct rm_train_stats *st,
		    struct rm_error *err);

/*
 * rm_trainer_eval - loss and accuracy over a set of pairs with the current
 * parameters, no dropout, each pair's own target and margin 0 (the
 * training's smoothing and margins do not apply): st->loss, st->accuracy,
 * reward means and stds.  Training state is untouched.
 */
int rm_trainer_eval(struct rm_trainer *t, const struct rm_pairs *eval,
		    struct rm_train_stats *st, struct rm_error *err);

/*
 * rm_trainer_save - write the checkpoint directory dir: model.safetensors
 * and config.json, training_state.safetensors (lib/train/checkpoint.h: AdamW
 * moments, step, data position, RNG) and training_run.json (the options,
 * the data's fingerprint and size, the step count).  The directory is
 * built beside dir as dir.tmp and swapped in with one rename, so dir always
 * holds a complete checkpoint, the old or the new one.  An existing dir
 * holding other files is refused (rm_train_dir_check), and so are a
 * symbolic link under the name dir or dir.tmp: callers resolve and lock
 * the name once per run with rm_outdir_lock (stream/outdir.h).  With
 * several ranks (lib/train/dist.h) a collective: rank 0 writes, every rank
 * gets its result.
 */
int rm_trainer_save(struct rm_trainer *t, const char *dir,
		    struct rm_error *err);

/*
 * rm_train_dir_check - 0 when dir is missing or holds only checkpoint
 * files (so a save may replace it), and so do dir.tmp and dir.old (which a
 * save clears), else RM_EUSAGE naming a stranger or a symbolic link.
 */
int rm_train_dir_check(const char *dir, struct rm_error *err);

/*
 * rm_train_state_options - the options saved in dir's training state, for
 * a program to resume with them.
 */
int rm_train_state_options(const char *dir, struct rm_train_options *o,
			   struct rm_error *err);

/*
 * rm_trainer_resume - continue from dir: its parameters (the trainer's
 * model must have the same shape), AdamW moments, step, RNG and data
 * position.  Fails when the options differ from the saved ones or the
 * data is not the same.
 */
int rm_trainer_resume(struct rm_trainer *t, const char *dir,
		      struct rm_error *err);

#endif
