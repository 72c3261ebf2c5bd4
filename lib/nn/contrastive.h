/*
 * contrastive.h - contrastive losses on reward-model representations
 * (PAPER.md section 3, DESIGN.md section 1.3): SimCSE and SwAV, per
 * response or on the preference difference, forward and backward,
 * independent of the model.
 *
 * Input: two views h_s, h_t [2P, C] of the representations of P pairs,
 * the final hidden state the reward head reads, from two forward passes
 * with different dropout masks.  Rows are in the order rm_pairs_pack
 * gives: row i < P is pair i's chosen response, row P + i its rejected one.
 * The instances (N = 2P of them, per view) are
 *
 *   simcse, swav            x_i = h_i                       (each response)
 *   simcse-diff, swav-diff  x_i = h_c,i - h_r,i,  x_{P+i} = -x_i   (i < P)
 *
 * and every instance is L2-normalised, z = x / max(|x|, 1e-8).
 *
 * SimCSE (PAPER.md Eq. 9): S_ij = z_s,i . z_t,j / tau, and
 *   l_i(s->t) = -S_ii + log sum_j exp(S_ij)      (other instances: negatives)
 *   l_i(t->s) = -S_ii + log sum_j exp(S_ji)
 *   L = (1/N) sum_i [l_i(s->t) + l_i(t->s)] / 2   (symmetric, the default)
 *   L = (1/N) sum_i l_i(s->t)                    (symmetric = 0: Eq. 9 as printed)
 * The two dropout views are exchangeable, so the default averages both
 * directions: the loss does not depend on which pass is called s, every
 * instance of both views is an anchor once, and it costs nothing more (one
 * similarity matrix).  Its scale is that of Eq. 9.  In the -diff variant
 * the instance's own negation is among the negatives, at cosine -1.
 *
 * SwAV (PAPER.md Eqs. 7-8, Caron et al. 2020): K prototypes c_k [K, C]
 * (learnable, kept at unit norm), scores u_nk = z_n . c_k;
 *   codes q = Sinkhorn-Knopp(exp(u / eps)), eps 0.05, 3 iterations, each
 *     instance's code summing to 1, computed per view and held constant
 *     (no gradient flows through q, as in SwAV);
 *   p_n = softmax_k(u_n / tau), tau 0.1;
 *   L = (1/N) sum_n [ -sum_k q_s,nk log p_t,nk - sum_k q_t,nk log p_s,nk ]
 * the swapped prediction l(h_t, q_s) + l(h_s, q_t) summed as Eq. 7 writes
 * it (SwAV's code averages the two terms; the paper's beta values go with
 * its own form, so we keep the sum).  The prototypes enter the forward as
 * they are; rm_cl_normalize_prototypes projects them back onto the unit
 * sphere after each optimizer step, as SwAV does before each iteration
 * (so they get no weight decay: decay on a normalised vector does nothing).
 *
 * Everything is computed in double, in a fixed order on one thread: the
 * same inputs give bit-identical results.  Logs of sums use log-sum-exp.
 *
 * Ownership: a struct rm_cl owns its scratch buffers, sized once by
 * rm_cl_create for up to max_pairs pairs, and (SwAV) the prototypes with
 * their gradient, described by a one-entry parameter table
 * ("contrastive.prototypes", [K, C]) so that an optimizer and a checkpoint
 * writer can walk it like the model's.  Forward and backward never
 * allocate.  Not thread-safe.
 */
#ifndef RM_CONTRASTIVE_H
#define RM_CONTRASTIVE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "nn/optim.h"
#include "nn/param.h"

enum rm_cl_kind {
	RM_CL_NONE = 0,
	RM_CL_SIMCSE = 1,
	RM_CL_SIMCSE_DIFF = 2,
	RM_CL_SWAV = 3,
	RM_CL_SWAV_DIFF = 4,
};

/* Name of the prototype tensor in a training state, and that state's file
 * in a checkpoint directory (beside the model, which stays HF-loadable). */
#define RM_CL_PROTO_NAME "contrastive.prototypes"
#define RM_CL_STATE_FILE "contrastive_state.safetensors"

struct rm_cl_config {
	enum rm_cl_kind kind;
	double weight;        /* beta in L = L_rm + beta L_cl */
	double temp;          /* tau */
	size_t prototypes;    /* K (SwAV kinds) */
	double sinkhorn_eps;  /* epsilon of the codes (SwAV kinds) */
	int sinkhorn_iters;
	int symmetric;        /* SimCSE: average s->t and t->s (1) or s->t (0) */
	float dropout;        /* rate of the two views' dropout */
};

/*
 * The defaults of a kind (PAPER.md section 3.4; rm-train(1)):
 *   simcse, simcse-diff  beta 1,   tau 0.05 (SimCSE's), symmetric
 *   swav-diff            beta 0.5, K 20, tau 0.1, eps 0.05, 3 iterations
 *   swav                 beta 0.1, K 50, tau 0.1, eps 0.05, 3 iterations
 *   all                  dropout 0.05
 * RM_CL_NONE gives weight 0 and nothing else to do.
 */
void rm_cl_config_default(struct rm_cl_config *c, enum rm_cl_kind kind);
/* 0 if usable, else RM_EUSAGE naming the field. */
int rm_cl_config_check(const struct rm_cl_config *c, struct rm_error *err);
/* "none", "simcse", "simcse-diff", "swav", "swav-diff" and back (-1 if
 * unknown). */
const char *rm_cl_kind_name(enum rm_cl_kind k);
int rm_cl_kind_parse(const char *name);
/* 1 for the SwAV kinds (they have prototypes). */
int rm_cl_has_prototypes(enum rm_cl_kind k);

struct rm_cl {
	struct rm_cl_config cfg;
	size_t C, max_pairs;
	/* SwAV kinds: the table (one entry, offset 0), the prototypes and
	 * their gradient (K * C floats each); NULL and zero otherwise. */
	struct rm_param proto;
	float *proto_mem, *proto_grad;
	/* Tests only: when set, a SwAV forward reuses the codes of the
	 * previous forward instead of computing new ones, so that finite
	 * differences see the stop-gradient loss backward differentiates. */
	int freeze_codes;

	/* private: state of the last forward, scratch */
	size_t n_pairs, n;
	double *zs, *zt, *ns, *nt;  /* normalised instances [N, C], norms [N] */
	double *a, *b;              /* SimCSE: softmax rows, columns [N, N];
				       SwAV: p_s, p_t [N, K] */
	double *ga, *gb;            /* backward: dL/dS or dL/du_s, dL/du_t */
	double *qs, *qt;            /* SwAV codes [N, K] */
	double *dz, *dx, *dw;       /* scratch [N, C] */
	double *cd;                 /* prototypes in double [K, C] */
};

/*
 * rm_cl_create - a loss for representations of width C and up to
 * max_pairs pairs per forward.  SwAV kinds get prototypes initialised by
 * rm_cl_init_prototypes(cl, 0); call it again with the run's seed.
 */
int rm_cl_create(struct rm_cl **out, const struct rm_cl_config *c, size_t C,
		 size_t max_pairs, struct rm_error *err);
void rm_cl_free(struct rm_cl *cl);

/* Prototypes from the stream (seed, "prototypes"): standard normal rows,
 * then unit norm.  No-op without prototypes. */
void rm_cl_init_prototypes(struct rm_cl *cl, uint64_t seed);
/* Rescale each prototype to unit norm (after an optimizer step). */
void rm_cl_normalize_prototypes(struct rm_cl *cl);
void rm_cl_zero_grad(struct rm_cl *cl);

/*
 * rm_cl_forward - the loss of P pairs' two views hs, ht [2P, C] (rows as
 * above) into *loss (unweighted: beta is the caller's).  Keeps what
 * rm_cl_backward needs; hs and ht need not stay alive.  RM_EUSAGE when
 * P is 0 or over max_pairs, RM_ENUM when an input or the loss is not
 * finite.
 */
int rm_cl_forward(struct rm_cl *cl, size_t n_pairs, const float *hs,
		  const float *ht, double *loss, struct rm_error *err);

/*
 * rm_cl_backward - gradient of scale * loss of the last forward:
 * accumulates (+=) into d_hs, d_ht [2P, C] (either may be NULL) and into
 * proto_grad.  Pass scale = beta (divided by the number of micro-batches
 * a step averages over).
 */
void rm_cl_backward(struct rm_cl *cl, double scale, float *d_hs, float *d_ht);

/*
 * rm_cl_save_state - dir/contrastive_state.safetensors (atomically): the
 * prototypes as "contrastive.prototypes" and, when o is not NULL, their
 * AdamW moments as "exp_avg.contrastive.prototypes" and
 * "exp_avg_sq.contrastive.prototypes" with the optimizer's step count in the
 * metadata, beside the kind.  No-op (0) for kinds without prototypes.
 */
int rm_cl_save_state(const struct rm_cl *cl, const struct rm_adamw *o,
		     const char *dir, struct rm_error *err);
/* Load what rm_cl_save_state wrote into cl and o (o may be NULL); fails
 * naming the file when it is missing, of another kind or shape. */
int rm_cl_load_state(struct rm_cl *cl, struct rm_adamw *o, const char *dir,
		     struct rm_error *err);

/*
 * rm_sinkhorn - SwAV's codes: from scores u [N, K] (row-major), the
 * transport plan of exp(u / eps) with equal mass per prototype, written to
 * q [N, K] with each row summing to 1 (after `iters` alternations of
 * prototype then instance normalisation; the last makes rows exact).
 * Shifted by the largest score before exp, which the normalisations undo.
 */
void rm_sinkhorn(double *q, const double *u, size_t N, size_t K, double eps,
		 int iters);

/*
 * Row-wise L2 normalisation, z = x / max(|x|, 1e-8), norm[N] = that
 * denominator; and its backward, dx += (dz - z (z . dz)) / norm (or
 * dz / norm where the floor applies).
 */
void rm_l2norm_forward(double *z, double *norm, const double *x, size_t N,
		       size_t C);
void rm_l2norm_backward(double *dx, const double *dz, const double *z,
			const double *norm, size_t N, size_t C);

#endif
