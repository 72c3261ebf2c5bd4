/*
 * t-metarm.c - MetaRM: the difference loss J and its gradient, through the
 * model, and one meta step against the same update computed by hand.
 *
 * J of a group by hand (k = 2, 3 ties, k = 1) and dJ/dr by central
 * differences, dividing by the float step actually taken with J in double:
 * |fd - an| <= 1e-9 + 1e-6 |an| (e = 1e-3; J's third derivative is below
 * 0.1, so truncation stays under 1e-8; ties are avoided, where |.| has a
 * kink).
 *
 * Through the model (2 layers, width 16, vocabulary 50, groups of 3 to 5
 * responses): the directional derivative of the meta batch's J along a
 * random +-1 direction per tensor against rm_metarm_j's gradient, e = 2e-4,
 * |fd - an| <= 2e-4 + 1e-2 |an| (J is about 0.5 and its float evaluation
 * noisy near 3e-8, 1e-4 in the quotient; a larger e meets the curvature
 * of sigma(|dr|) where two responses score close: along wte, e = 1e-3 is
 * off by 20%).
 *
 * One meta step: theta' = theta + eta g_J, the pairwise gradient g_L at
 * theta' from the model's own forward and backward on the step's pairs,
 * then AdamW's first step on theta written out here in double.  AdamW with
 * eps = 0.5 makes the update depend on |g_L| (at step 1 with a small eps
 * it would be lr sign(g_L), blind to the look-ahead).  Every parameter:
 * |got - want| <= 1e-9 + 2.4e-7 |want| + 1e-4 |want - theta| (the float
 * update rounds m, v, the denominator and the parameter: a few ulps of
 * 6e-8 relative); and the step must differ
 * from the plain step (eta = 0) by far more than that.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "nn/loss.h"
#include "train/metarm.h"
#include "base/rng.h"
#include "testfs.h"

static struct rm_rng rng;

/* ---- J of one group ------------------------------------------------------ */

static void
test_group_values(void)
{
	float r2[2] = {1, 0}, d2[2] = {0, 0};
	double ad;
	double j = rm_metarm_group_j(2, r2, 1, d2, &ad);
	CHECK_CLOSE(j, 0.5 * rm_sigmoid(1), 1e-15, 1e-15, "J of (1, 0)");
	CHECK_CLOSE(ad, 1, 0, 0, "|dr| of (1, 0)");
	double s = rm_sigmoid(1), g = 0.5 * s * (1 - s);
	CHECK_CLOSE(d2[0], g, 1e-8, 1e-6, "dJ/dr0");
	CHECK_CLOSE(d2[1], -g, 1e-8, 1e-6, "dJ/dr1");
	float r3[3] = {0.25f, 0.25f, 0.25f}, d3[3] = {0, 0, 0};
	j = rm_metarm_group_j(3, r3, 1, d3, &ad);
	CHECK_CLOSE(j, 1.0 / 3, 1e-15, 1e-15, "J of a tie");
	CHECK(d3[0] == 0 && d3[1] == 0 && d3[2] == 0 && ad == 0, "no gradient at a tie");
	CHECK(rm_metarm_group_j(1, r3, 1, d3, &ad) == 0 && ad == 0, "k = 1");
	/* J is between (k-1)/(2k) (all tied) and (k-1)/k (all far apart) */
	float far[4] = {0, 100, 200, 300};
	CHECK_CLOSE(rm_metarm_group_j(4, far, 1, NULL, NULL), 0.75, 1e-12, 0, "far apart");
}

static void
test_group_grad(void)
{
	enum { K = 5 };
	float r[K], d[K], d2[K];
	for (int i = 0; i < K; i++)
		r[i] = (float)i * 0.7f - 1.3f + 0.2f * rm_rng_normal(&rng);
	memset(d, 0, sizeof d);
	rm_metarm_group_j(K, r, 1, d, NULL);
	double worst = 0;
	for (int i = 0; i < K; i++) {
		float s = r[i], xp = s + 1e-3f, xm = s - 1e-3f;
		r[i] = xp;
		double lp = rm_metarm_group_j(K, r, 1, NULL, NULL);
		r[i] = xm;
		double lm = rm_metarm_group_j(K, r, 1, NULL, NULL);
		r[i] = s;
		double fd = (lp - lm) / ((double)xp - xm);
		double e = fabs(fd - d[i]) / (1e-9 + 1e-6 * fabs(d[i]));
		worst = e > worst ? e : worst;
		CHECK(e <= 1, "dJ/dr[%d]: %.9g vs fd %.9g", i, d[i], fd);
	}
	printf("group J dr: worst error %.3f of tolerance\n", worst);
	/* accumulates, scaled */
	memcpy(d2, d, sizeof d);
	rm_metarm_group_j(K, r, 0.5, d2, NULL);
	int ok = 1;
	for (int i = 0; i < K; i++)
		ok &= fabsf(d2[i] - 1.5f * d[i]) <= 1e-7f;
	CHECK(ok, "group J gradient accumulates with its scale");
}

/* ---- through the model ------------------------------------------------- */

static const char meta_json[] =
	"{\"tool\":\"t-metarm\",\"tokenizer\":\"bytes\",\"vocab_size\":50,\"eos_id\":49}";

static void
put_tokens(int32_t *t, size_t n)
{
	for (size_t i = 0; i < n; i++)
		t[i] = (int32_t)rm_rng_below(&rng, 49);
	t[n - 1] = 49;
}

/* n pairs (lengths 3..8) or n groups of 3..5 responses (lengths 2..7). */
static void
write_stream(const char *path, int n, int groups)
{
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_error err;
	if (rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, meta_json, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	for (int r = 0; r < n; r++) {
		uint64_t id = (uint64_t)r, hash = 77 + (uint64_t)r;
		int32_t pl = 1, a[64], b[16];
		int64_t off[8] = {0};
		struct rm_tensor ts[6];
		size_t nt = 0;
		rm_tensor_scalar(&ts[nt++], "id", RM_DT_U64, &id);
		rm_tensor_scalar(&ts[nt++], "hash", RM_DT_U64, &hash);
		rm_tensor_scalar(&ts[nt++], "prompt_len", RM_DT_I32, &pl);
		if (groups) {
			int k = 3 + r % 3;
			for (int j = 0; j < k; j++) {
				size_t len = 2 + rm_rng_below(&rng, 6);
				put_tokens(a + off[j], len);
				off[j + 1] = off[j] + (int64_t)len;
			}
			rm_tensor_vector(&ts[nt++], "responses", RM_DT_I32, a,
					 (uint64_t)off[k]);
			rm_tensor_vector(&ts[nt++], "offsets", RM_DT_I64, off,
					 (uint64_t)k + 1);
		} else {
			size_t lc = 3 + rm_rng_below(&rng, 6), lr = 3 + rm_rng_below(&rng, 6);
			put_tokens(a, lc);
			put_tokens(b, lr);
			rm_tensor_vector(&ts[nt++], "chosen", RM_DT_I32, a, lc);
			rm_tensor_vector(&ts[nt++], "rejected", RM_DT_I32, b, lr);
		}
		if (rm_tsw_write(w, ts, nt, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			exit(1);
		}
	}
	if (rm_tsw_close(w, &err) < 0 || rm_out_commit(out, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
}

struct setup {
	struct rm_pairs *pairs, *groups;
	struct rm_trainer *tr;
	struct rm_metarm *mr;
};

static void
setup(struct setup *s, double meta_lr)
{
	struct rm_error err;
	struct rm_model_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 16,
				      .n_positions = 16, .vocab_size = 50,
				      .layer_norm_epsilon = 1e-5f};
	struct rm_model *m;
	CHECK(rm_model_create(&m, &cfg, &err) == 0, "%s", err.msg);
	rm_model_init(m, 3);
	/* larger weights than GPT-2's init: rewards spread enough that J moves */
	struct rm_rng w;
	rm_rng_seed(&w, 5);
	for (size_t i = 0; i < m->n_params; i++)
		m->params_mem[i] += 0.2f * rm_rng_normal(&w);
	CHECK(rm_pairs_load(&s->pairs, tpath("pairs.rmt"), NULL, &err) == 0, "%s", err.msg);
	CHECK(rm_pairs_load(&s->groups, tpath("groups.rmt"), NULL, &err) == 0, "%s", err.msg);
	struct rm_train_options o;
	rm_train_options_default(&o);
	o.batch_size = 4;
	o.batch_tokens = 256;
	o.steps = 2;
	o.shuffle = 0;
	o.lr = 1e-2;
	o.schedule = RM_LR_CONSTANT;
	o.warmup = 0;
	o.clip = 0;
	o.dropout = 0;
	o.adamw.eps = 0.5;
	o.adamw.weight_decay = 0.1;
	struct rm_metarm_options mo;
	rm_metarm_options_default(&mo);
	mo.meta_lr = meta_lr;
	mo.meta_batch = 3;
	mo.shuffle = 0;
	struct rm_train_fit fg = {s->groups, mo.meta_batch};
	CHECK(rm_trainer_create(&s->tr, m, s->pairs, &o, &fg, 1, 1, &err) == 0, "%s", err.msg);
	CHECK(rm_metarm_create(&s->mr, s->tr, s->groups, &mo, &err) == 0, "%s", err.msg);
}

static void
teardown(struct setup *s)
{
	rm_metarm_free(s->mr);
	rm_trainer_free(s->tr);
	rm_pairs_free(s->pairs);
	rm_pairs_free(s->groups);
}

static double
j_at(struct setup *s, const size_t *idx, size_t m)
{
	struct rm_metarm_stats ms;
	struct rm_error err;
	CHECK(rm_metarm_j(s->mr, s->groups, idx, m, 0, &ms, &err) == 0, "%s", err.msg);
	return ms.j;
}

static void
test_model_grad(void)
{
	struct setup s;
	setup(&s, 5e-6);
	struct rm_model *m = s.tr->model;
	size_t idx[3] = {0, 1, 2};
	struct rm_metarm_stats ms;
	struct rm_error err;
	rm_model_zero_grad(m);
	CHECK(rm_metarm_j(s.mr, s.groups, idx, 3, 1, &ms, &err) == 0, "%s", err.msg);
	CHECK(ms.groups == 3 && ms.responses == 12 && ms.j > 0.33 && ms.j < 0.8,
	      "J stats: %zu groups %zu responses J %g", ms.groups, ms.responses, ms.j);
	float *g = malloc(m->n_params * sizeof(float)), *dir = malloc(m->n_params * sizeof(float));
	memcpy(g, m->grads_mem, m->n_params * sizeof(float));
	double worst = 0;
	for (size_t t = 0; t < m->n_tensors; t++) {
		const struct rm_param *p = &m->params[t];
		float *w = m->params_mem + p->offset;
		double an = 0;
		for (size_t i = 0; i < p->numel; i++) {
			dir[i] = rm_rng_uniform(&rng) < 0.5f ? -1.0f : 1.0f;
			an += (double)dir[i] * g[p->offset + i];
		}
		float e = 2e-4f;
		for (size_t i = 0; i < p->numel; i++)
			w[i] += e * dir[i];
		double lp = j_at(&s, idx, 3);
		for (size_t i = 0; i < p->numel; i++)
			w[i] -= 2 * e * dir[i];
		double lm = j_at(&s, idx, 3);
		for (size_t i = 0; i < p->numel; i++)
			w[i] += e * dir[i];
		double fd = (lp - lm) / (2.0 * e);
		double d = fabs(fd - an) / (2e-4 + 1e-2 * fabs(an));
		worst = d > worst ? d : worst;
		CHECK(d <= 1, "%s: dJ directional %.9g vs fd %.9g", p->name, an, fd);
	}
	printf("model dJ/dtheta: %zu tensors, worst error %.3f of tolerance\n",
	       m->n_tensors, worst);
	/* eval over the set is the mean of the groups' J */
	double sum = 0;
	for (size_t i = 0; i < s.groups->n; i++)
		sum += j_at(&s, &i, 1);
	CHECK(rm_metarm_eval(s.mr, s.groups, &ms, &err) == 0, "%s", err.msg);
	CHECK_CLOSE(ms.j, sum / (double)s.groups->n, 1e-12, 1e-9, "eval J");
	free(g);
	free(dir);
	teardown(&s);
}

/* The first step's update by hand, in double, into want[]. */
static void
hand_step(struct setup *s, double eta, double *want)
{
	struct rm_model *m = s->tr->model;
	struct rm_error err;
	size_t n = m->n_params;
	float *theta = malloc(n * sizeof(float));
	memcpy(theta, m->params_mem, n * sizeof(float));
	/* g_J on the first meta batch (groups 0, 1, 2: shuffle off) */
	size_t idx[3] = {0, 1, 2};
	struct rm_metarm_stats ms;
	rm_model_zero_grad(m);
	CHECK(rm_metarm_j(s->mr, s->groups, idx, 3, 1, &ms, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < n; i++)
		m->params_mem[i] = theta[i] + (float)eta * m->grads_mem[i];
	/* g_L at theta' on pairs 0..3, chosen first then rejected */
	size_t pidx[4] = {0, 1, 2, 3}, off[9];
	int32_t tok[128];
	size_t ns = rm_pairs_pack(s->pairs, pidx, 4, tok, off, NULL, NULL);
	CHECK(ns == 8, "pack");
	struct rm_batch b = {ns, tok, off};
	float r[8], dr[8];
	rm_model_zero_grad(m);
	CHECK(rm_model_forward(m, s->tr->ws, &b, NULL, r, NULL, &err) == 0, "%s", err.msg);
	rm_pairwise_loss(4, r, r + 4, NULL, NULL, dr, dr + 4);
	CHECK(rm_model_backward(m, s->tr->ws, dr, NULL, &err) == 0, "%s", err.msg);
	/* AdamW step 1 on theta (torch.optim.AdamW) */
	const struct rm_train_options *o = &s->tr->opt;
	double b1 = o->adamw.beta1, b2 = o->adamw.beta2, lr = o->lr;
	for (size_t t = 0; t < m->n_tensors; t++) {
		const struct rm_param *p = &m->params[t];
		for (size_t i = p->offset; i < p->offset + p->numel; i++) {
			double gi = m->grads_mem[i], w = theta[i];
			if (p->decay)
				w -= lr * o->adamw.weight_decay * w;
			double mh = (1 - b1) * gi / (1 - b1);
			double vh = (1 - b2) * gi * gi / (1 - b2);
			want[i] = w - lr * mh / (sqrt(vh) + o->adamw.eps);
		}
	}
	memcpy(m->params_mem, theta, n * sizeof(float));
	rm_model_zero_grad(m);
	free(theta);
}

static void
test_meta_step(void)
{
	double eta = 0.5;
	struct setup s, p;
	setup(&s, eta);
	setup(&p, 0);
	struct rm_model *m = s.tr->model;
	size_t n = m->n_params;
	double *want = malloc(n * sizeof(double));
	float *theta = malloc(n * sizeof(float));
	memcpy(theta, m->params_mem, n * sizeof(float));
	hand_step(&s, eta, want);
	struct rm_metarm_stats ms;
	struct rm_train_stats st;
	struct rm_error err;
	CHECK(rm_metarm_step(s.mr, &ms, &st, &err) == 0, "%s", err.msg);
	CHECK(rm_metarm_step(p.mr, NULL, NULL, &err) == 0, "%s", err.msg);
	double worst = 0, apart = 0, step = 0;
	for (size_t i = 0; i < n; i++) {
		double got = m->params_mem[i], d = want[i] - theta[i];
		double e = fabs(got - want[i]) /
			   (1e-9 + 2.4e-7 * fabs(want[i]) + 1e-4 * fabs(d));
		worst = e > worst ? e : worst;
		apart = fmax(apart, fabs((double)p.tr->model->params_mem[i] - got));
		step = fmax(step, fabs(d));
	}
	printf("meta step vs hand: worst error %.3f of tolerance; largest update "
	       "%.3g, largest difference from the plain step %.3g\n", worst, step, apart);
	CHECK(worst <= 1, "meta step equals the hand-computed update");
	CHECK(apart > 0.05 * step, "the look-ahead changes the update");
	CHECK(s.tr->step == 1 && s.mr->pos == 3 && ms.groups == 3 && st.pairs == 4,
	      "positions: step %llu meta pos %zu", (unsigned long long)s.tr->step,
	      s.mr->pos);
	/* the meta batch wraps: 5 groups, batches of 3 then 2, then a new pass */
	CHECK(rm_metarm_step(s.mr, &ms, NULL, &err) == 0, "%s", err.msg);
	CHECK(ms.groups == 2 && s.mr->pos == 5, "short last meta batch");
	free(want);
	free(theta);
	teardown(&s);
	teardown(&p);
}

int
main(void)
{
	rm_rng_seed(&rng, 99);
	testfs_init("t-metarm");
	test_group_values();
	test_group_grad();
	write_stream(tpath("pairs.rmt"), 8, 0);
	write_stream(tpath("groups.rmt"), 5, 1);
	test_model_grad();
	test_meta_step();
	int rc = check_done();
	testfs_done(rc);
	return rc;
}
