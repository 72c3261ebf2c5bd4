/*
 * t-train.c - the training loop on a tiny model and a learnable toy task
 * (the chosen response ends in token 3, the rejected in token 4):
 * loss falls and accuracy reaches 1; two runs are bit-identical; a step
 * never crosses an epoch and step counts follow the budget; accumulation
 * matches one big batch; label smoothing and margins reach the loss; a
 * non-finite gradient stops the step naming the records and changes no
 * parameter; save, resume (bit-identical end), resume refusals, eval.
 */
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "testfs.h"
#include "train/train.h"

enum { NPAIRS = 24 };

static void
die(const struct rm_error *err)
{
	fprintf(stderr, "%s\n", err->msg);
	exit(1);
}

/* Pairs of varying length: prompt k % 5 + 1 tokens, then 3 (chosen) or 4. */
static void
write_toy(const char *path, int n, int with_margin)
{
	struct rm_out *out;
	struct rm_tsw *w;
	struct rm_error err;
	if (rm_out_open(&out, path, RM_OUT_BINARY, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, "{\"vocab_size\":11,\"eos_id\":10}", &err) < 0)
		die(&err);
	for (int k = 0; k < n; k++) {
		uint64_t id = 1000 + (uint64_t)k, hash = (uint64_t)k * 77;
		int32_t c[16], r[16], pl = k % 5 + 1;
		for (int i = 0; i < pl; i++)
			c[i] = r[i] = 5 + (k + i) % 5;
		c[pl] = 3;
		r[pl] = 4;
		c[pl + 1] = r[pl + 1] = 10;
		float m = with_margin ? 0.5f : 0, t = k % 7 == 6 && with_margin ? 0.0f : 1.0f;
		struct rm_tensor ts[7];
		rm_tensor_scalar(&ts[0], "id", RM_DT_U64, &id);
		rm_tensor_scalar(&ts[1], "hash", RM_DT_U64, &hash);
		rm_tensor_scalar(&ts[2], "prompt_len", RM_DT_I32, &pl);
		rm_tensor_vector(&ts[3], "chosen", RM_DT_I32, c, (uint64_t)pl + 2);
		rm_tensor_vector(&ts[4], "rejected", RM_DT_I32, r, (uint64_t)pl + 2);
		rm_tensor_scalar(&ts[5], "margin", RM_DT_F32, &m);
		rm_tensor_scalar(&ts[6], "target", RM_DT_F32, &t);
		if (rm_tsw_write(w, ts, 7, &err) < 0)
			die(&err);
	}
	if (rm_tsw_close(w, &err) < 0 || rm_out_commit(out, &err) < 0)
		die(&err);
}

static struct rm_model *
tiny_model(uint64_t seed)
{
	struct rm_model_config c = {0};
	c.n_layer = 2;
	c.n_head = 2;
	c.n_embd = 16;
	c.n_positions = 16;
	c.vocab_size = 11;
	c.layer_norm_epsilon = 1e-5f;
	struct rm_model *m;
	struct rm_error err;
	if (rm_model_create(&m, &c, &err) < 0)
		die(&err);
	rm_model_init(m, seed);
	return m;
}

static struct rm_trainer *
trainer(const struct rm_pairs *d, const struct rm_train_options *o, int threads)
{
	struct rm_trainer *t;
	struct rm_error err;
	if (rm_trainer_create(&t, tiny_model(3), d, o, NULL, 0, threads, &err) < 0)
		die(&err);
	return t;
}

static void
run(struct rm_trainer *t, uint64_t steps, struct rm_train_stats *last)
{
	struct rm_error err;
	for (uint64_t i = 0; i < steps && !rm_trainer_done(t); i++)
		if (rm_trainer_step(t, last, &err) < 0)
			die(&err);
}

static int
same_params(const struct rm_trainer *a, const struct rm_trainer *b)
{
	return !memcmp(a->model->params_mem, b->model->params_mem,
		       a->model->n_params * sizeof(float));
}

int
main(void)
{
	struct rm_error err;
	struct rm_pairs *d, *dm;
	struct rm_train_stats st, st0;
	testfs_init("t-train");
	write_toy(tpath("toy.rmt"), NPAIRS, 0);
	write_toy(tpath("toym.rmt"), NPAIRS, 1);
	if (rm_pairs_load(&d, tpath("toy.rmt"), NULL, &err) < 0 ||
	    rm_pairs_load(&dm, tpath("toym.rmt"), NULL, &err) < 0)
		die(&err);

	/* options: JSON round trip and diff */
	struct rm_train_options o, o2;
	rm_train_options_default(&o);
	o.lr = 3e-3;
	o.seed = 0xFFFFFFFFFFFFFFF1ull;
	o.schedule = RM_LR_COSINE;
	char *j = rm_train_options_json(&o);
	rm_train_options_default(&o2);
	CHECK(j && rm_train_options_parse(&o2, j, &err) == 0, "parse: %s", err.msg);
	CHECK(rm_train_options_diff(&o, &o2) == NULL, "round trip");
	o2.clip = 2;
	CHECK(rm_train_options_diff(&o, &o2) && !strcmp(rm_train_options_diff(&o, &o2), "clip"),
	      "diff");
	free(j);
	CHECK(rm_train_options_parse(&o2, "{\"nope\":\"1\"}", &err) == RM_EDATA, "unknown key");

	/* learning, determinism */
	rm_train_options_default(&o);
	o.lr = 1e-2;
	o.batch_size = 8;
	o.epochs = 12;
	o.seed = 5;
	struct rm_trainer *a = trainer(d, &o, 1), *b = trainer(d, &o, 1);
	CHECK(a->total_steps == 36 && a->steps_per_epoch == 3, "steps %llu",
	      (unsigned long long)a->total_steps);
	run(a, 1, &st0);
	run(a, 1000, &st);
	run(b, 1000, NULL);
	CHECK(st.step == 36 && rm_trainer_done(a), "done");
	CHECK(st.loss < 0.5 * st0.loss && st.accuracy == 1.0, "learned: loss %g -> %g, acc %g",
	      st0.loss, st.loss, st.accuracy);
	CHECK(st.rc_mean > st.rr_mean && st.delta_mean > 0 && st.pairs == 8, "rewards");
	CHECK(fabs(st.epoch - 12.0) < 1e-12, "epoch %g", st.epoch);
	CHECK(same_params(a, b), "same seed, same parameters");
	CHECK(rm_trainer_step(a, &st, &err) == RM_EUSAGE, "step after done");
	struct rm_train_stats ev;
	CHECK(rm_trainer_eval(a, d, &ev, &err) == 0 && ev.accuracy == 1.0 && ev.loss < st0.loss,
	      "eval: %s acc %g", err.msg, ev.accuracy);
	rm_trainer_free(b);

	/* 2 threads: deterministic too */
	a->opt.epochs = 0;
	rm_trainer_free(a);
	o.epochs = 2;
	a = trainer(d, &o, 2);
	b = trainer(d, &o, 2);
	run(a, 100, NULL);
	run(b, 100, NULL);
	CHECK(same_params(a, b), "2 threads: same parameters");
	rm_trainer_free(a);
	rm_trainer_free(b);

	/* a token budget: micro-batches within it, never across an epoch */
	o.batch_size = 0;
	o.batch_tokens = 40;  /* pairs of 6..14 tokens */
	o.epochs = 1;
	o.shuffle = 0;
	a = trainer(d, &o, 1);
	uint64_t n = 0;
	size_t pairs = 0;
	while (!rm_trainer_done(a)) {
		CHECK(rm_trainer_step(a, &st, &err) == 0, "%s", err.msg);
		CHECK(st.tokens <= 40 && st.micro_batches == 1, "budget %zu", st.tokens);
		pairs += st.pairs;
		n++;
	}
	CHECK(pairs == NPAIRS && n == a->total_steps, "one epoch: %zu pairs %llu steps", pairs,
	      (unsigned long long)n);

	/* the workspace is sized by the largest micro-batch the data can form,
	 * not the budget: pairs of 6..14 tokens, four of 14 and five of 12 */
	CHECK(rm_trainer_workspace_tokens(a) == 40, "budget-bound workspace: %zu",
	      rm_trainer_workspace_tokens(a));
	rm_trainer_free(a);
	CHECK(rm_train_batch_bound(d, 1, 1000) == 14 && rm_train_batch_bound(d, 4, 1000) == 56 &&
	      rm_train_batch_bound(d, 6, 1000) == 80 && rm_train_batch_bound(d, 6, 70) == 70 &&
	      rm_train_batch_bound(d, 0, 1000) == 236, "batch bounds");
	rm_train_options_default(&o);  /* --batch-tokens 16384 */
	o.batch_size = 4;
	a = trainer(d, &o, 1);
	CHECK(rm_trainer_workspace_tokens(a) == 56, "4 pairs of at most 14: %zu",
	      rm_trainer_workspace_tokens(a));
	size_t small = rm_workspace_bytes(a->ws);
	rm_trainer_free(a);
	o.batch_size = 6;
	a = trainer(d, &o, 1);
	CHECK(rm_trainer_workspace_tokens(a) == 80 && rm_workspace_bytes(a->ws) > small,
	      "6 pairs: %zu", rm_trainer_workspace_tokens(a));
	rm_trainer_free(a);
	o.cl.kind = RM_CL_SIMCSE;  /* two views: every sequence twice */
	o.cl.weight = 0.1;
	o.cl.temp = 0.1;
	o.cl.dropout = 0.1f;
	a = trainer(d, &o, 1);
	CHECK(rm_trainer_workspace_tokens(a) == 160, "two views: %zu",
	      rm_trainer_workspace_tokens(a));
	rm_trainer_free(a);
	o.cl.kind = RM_CL_NONE;
	o.batch_size = 1;  /* training pairs of 6 tokens, an evaluation set of up to 14 */
	{
		struct rm_pairs *e;
		write_toy(tpath("long.rmt"), 1, 0);
		CHECK(rm_pairs_load(&e, tpath("long.rmt"), NULL, &err) == 0, "%s", err.msg);
		struct rm_train_fit fe = {d, 1};
		CHECK(rm_trainer_create(&a, tiny_model(3), e, &o, &fe, 1, 1, &err) == 0, "%s",
		      err.msg);
		CHECK(rm_trainer_workspace_tokens(a) == 14, "the evaluation set's record: %zu",
		      rm_trainer_workspace_tokens(a));
		CHECK(rm_trainer_eval(a, d, &st, &err) == 0 && st.pairs == NPAIRS, "eval: %s",
		      err.msg);
		rm_trainer_free(a);
		rm_pairs_free(e);
	}

	/* accumulation: 2 x 4 pairs = one batch of 8, up to rounding */
	rm_train_options_default(&o);
	o.lr = 0;
	o.batch_size = 8;
	o.steps = 2;
	a = trainer(d, &o, 1);
	o.batch_size = 4;
	o.accum = 2;
	b = trainer(d, &o, 1);
	run(a, 1, &st0);
	run(b, 1, &st);
	CHECK(st.micro_batches == 2 && st.pairs == 8, "accum plan");
	CHECK_CLOSE(st.loss, st0.loss, 1e-6, 1e-5, "accum loss");
	CHECK_CLOSE(st.grad_norm, st0.grad_norm, 1e-6, 1e-4, "accum grad norm");
	float maxd = 0, maxg = 0;
	for (size_t i = 0; i < a->model->n_params; i++) {
		float dd = fabsf(a->model->grads_mem[i] - b->model->grads_mem[i]);
		maxd = dd > maxd ? dd : maxd;
		maxg = fabsf(a->model->grads_mem[i]) > maxg ? fabsf(a->model->grads_mem[i]) : maxg;
	}
	CHECK(maxd <= 1e-5f * maxg, "accum gradients differ by %g of %g", (double)maxd,
	      (double)maxg);
	rm_trainer_free(a);
	rm_trainer_free(b);

	/* steps: cycles epochs; smoothing and margins reach the loss */
	rm_train_options_default(&o);
	o.lr = 0;
	o.steps = 5;
	o.batch_size = NPAIRS;
	a = trainer(dm, &o, 1);
	run(a, 1, &st0);
	o.margin_scale = 0;
	b = trainer(dm, &o, 1);
	run(b, 1, &st);
	CHECK(st0.loss > st.loss, "margin raises the loss: %g vs %g", st0.loss, st.loss);
	rm_trainer_free(b);
	o.margin_scale = 1;
	o.label_smoothing = 0.5;
	b = trainer(dm, &o, 1);
	run(b, 1, &st);
	CHECK_CLOSE(st.loss, log(2.0) + 0.0, 0.3, 0, "smoothing 0.5: loss near log 2");
	CHECK(st.grad_norm < st0.grad_norm, "smoothing 0.5 flattens the gradient");
	run(a, 10, &st);
	CHECK(st.step == 5 && st.epoch > 4.9, "steps across epochs: %g", st.epoch);
	rm_trainer_free(a);
	rm_trainer_free(b);

	/* non-finite: the step fails naming the records; nothing changes */
	rm_train_options_default(&o);
	o.batch_size = 4;
	o.shuffle = 0;
	a = trainer(d, &o, 1);
	const struct rm_param *wte = rm_model_find(a->model, "transformer.wpe.weight");
	float *bad = a->model->params_mem + wte->offset + 6 * 16;  /* position 6 only */
	bad[0] = INFINITY;
	run(a, 1, NULL);  /* records 1000..1003 reach position 5 at most */
	float *copy = malloc(a->model->n_params * sizeof(float));
	memcpy(copy, a->model->params_mem, a->model->n_params * sizeof(float));
	int rc = rm_trainer_step(a, &st, &err);
	CHECK(rc == RM_ENUM && strstr(err.msg, "step 2: non-finite") &&
	      strstr(err.msg, "ids 1004, 1005, 1006, 1007"), "non-finite: %d %s", rc, err.msg);
	CHECK(!memcmp(copy, a->model->params_mem, a->model->n_params * sizeof(float)) &&
	      a->step == 1 && a->pos == 4, "unchanged after failure");
	free(copy);
	rm_trainer_free(a);

	/* budget too small for a record */
	o.batch_tokens = 10;
	struct rm_trainer *t;
	CHECK(rm_trainer_create(&t, tiny_model(1), d, &o, NULL, 0, 1, &err) == RM_EUSAGE &&
	      strstr(err.msg, "id 1003) has 12 tokens"), "budget: %s", err.msg);

	/* save, resume: bit-identical end; refusals */
	rm_train_options_default(&o);
	o.lr = 1e-2;
	o.batch_size = 5;
	o.epochs = 3;
	o.dropout = 0.1f;
	o.schedule = RM_LR_LINEAR;
	o.warmup = 2;
	a = trainer(d, &o, 1);
	b = trainer(d, &o, 1);
	run(a, 1000, NULL);
	run(b, 7, NULL);
	char dir[512];
	snprintf(dir, sizeof dir, "%s", tpath("ckpt"));
	CHECK(rm_trainer_save(b, dir, &err) == 0, "save: %s", err.msg);
	CHECK(rm_trainer_save(b, dir, &err) == 0, "save again: %s", err.msg);
	/* a save killed midway leaves dir.tmp with a temporary file: cleared */
	CHECK(mkdir(tpath("ckpt.tmp"), 0777) == 0, "mkdir");
	put_file(tpath("ckpt.tmp/model.safetensors.tmp.AbC123"), "x", 1);
	CHECK(rm_trainer_save(b, dir, &err) == 0, "save over a stale tmp: %s", err.msg);
	/* a directory holding anything else is not replaced */
	CHECK(mkdir(tpath("other"), 0777) == 0, "mkdir");
	put_file(tpath("other/notes.txt"), "x", 1);
	CHECK(rm_trainer_save(b, tpath("other"), &err) == RM_EUSAGE &&
	      strstr(err.msg, "holds 'notes.txt'"), "stranger: %s", err.msg);
	rm_trainer_free(b);
	b = trainer(d, &o, 1);
	CHECK(rm_trainer_resume(b, dir, &err) == 0, "resume: %s", err.msg);
	CHECK(b->step == 7, "resumed at %llu", (unsigned long long)b->step);
	run(b, 1000, NULL);
	CHECK(same_params(a, b), "resumed run ends bit-identical");
	CHECK(!memcmp(a->adamw.m, b->adamw.m, 2 * a->adamw.n * sizeof(float)), "same moments");
	struct rm_train_options so;
	CHECK(rm_train_state_options(dir, &so, &err) == 0 && !rm_train_options_diff(&so, &o),
	      "saved options");
	rm_trainer_free(b);
	o.lr = 2e-2;
	b = trainer(d, &o, 1);
	CHECK(rm_trainer_resume(b, dir, &err) == RM_EUSAGE && strstr(err.msg, "'lr' differs"),
	      "options differ: %s", err.msg);
	rm_trainer_free(b);
	o.lr = 1e-2;
	b = trainer(dm, &o, 1);
	CHECK(rm_trainer_resume(b, dir, &err) == RM_EDATA && strstr(err.msg, "data differs"),
	      "data differs: %s", err.msg);
	rm_trainer_free(b);
	rm_trainer_free(a);

	rm_pairs_free(d);
	rm_pairs_free(dm);
	int rc2 = check_done();
	testfs_done(rc2);
	return rc2;
}
