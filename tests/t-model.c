/*
 * t-model.c - batch invariance, determinism and error paths of the model.
 *
 * Bit-exact checks (memcmp): a sequence's reward and h_last are the same
 * scored alone, in a batch, in another order or among other sequences,
 * with and without dropout (keyed per sequence), for 1 and 2 threads; two
 * runs give identical rewards and gradients.  The product path against the
 * plain-loop reference: |a - b| <= 1e-5 + 1e-4 |b| (bf16: 1e-3 + 2e-2 |b|,
 * and bf16 rewards differ from fp32 ones by less than 1e-2 + 5e-2 |b|).
 * The whole test runs again in children on every path (run_children).
 */
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "nn/kernels.h"
#include "nn/model.h"
#include "base/rng.h"

enum { S = 11, C = 64, MAXT = 130 };
static const size_t lens[S] = {1, 2, 3, 7, 13, 31, 50, 64, 17, 5, 129};

static struct rm_model *model;
static int32_t toks[S][MAXT];

struct run {
	float r[S], h[S * C];
};

/* Score the sequences idx[0..n) as one batch. */
static void
score(struct rm_workspace *ws, const size_t *idx, size_t n,
      const struct rm_dropout *d0, struct run *out)
{
	int32_t tok[S * MAXT];
	size_t off[S + 1] = {0};
	uint64_t keys[S];
	for (size_t i = 0; i < n; i++) {
		memcpy(tok + off[i], toks[idx[i]], lens[idx[i]] * sizeof(int32_t));
		off[i + 1] = off[i] + lens[idx[i]];
		keys[i] = 1000 + idx[i];
	}
	struct rm_batch b = {n, tok, off};
	struct rm_dropout d;
	if (d0) {
		d = *d0;
		d.keys = keys;
	}
	struct rm_error err;
	float r[S], h[S * C];
	int rc = rm_model_forward(model, ws, &b, d0 ? &d : NULL, r, h, &err);
	CHECK(rc == 0, "forward: %s", err.msg);
	for (size_t i = 0; i < n; i++) {
		out->r[idx[i]] = r[i];
		memcpy(out->h + idx[i] * C, h + i * C, C * sizeof(float));
	}
}

static int
same_seq(const struct run *a, const struct run *b, size_t s)
{
	return !memcmp(&a->r[s], &b->r[s], sizeof(float)) &&
	       !memcmp(a->h + s * C, b->h + s * C, C * sizeof(float));
}

static void
test_invariance(int threads, const struct rm_dropout *d, struct run *all_out)
{
	struct rm_workspace *ws;
	struct rm_error err;
	struct rm_workspace_options o = {.max_tokens = 600, .train = 1,
					 .dropout = 1, .threads = threads};
	CHECK(rm_workspace_create(&ws, model, &o, &err) == 0, "%s", err.msg);
	size_t all[S], rev[S];
	for (size_t i = 0; i < S; i++)
		all[i] = i, rev[i] = S - 1 - i;
	struct run full, again, reversed, alone, pairs;
	score(ws, all, S, d, &full);
	score(ws, all, S, d, &again);
	score(ws, rev, S, d, &reversed);
	for (size_t i = 0; i < S; i++)
		score(ws, &i, 1, d, &alone);
	for (size_t i = 0; i < S; i += 2) {
		size_t p[3] = {(i + 5) % S, i, (i + 1) % S};
		score(ws, p, 3, d, &pairs);
	}
	for (size_t s = 0; s < S; s++) {
		CHECK(same_seq(&full, &again, s), "threads %d drop %d: seq %zu differs between runs",
		      threads, d != NULL, s);
		CHECK(same_seq(&full, &reversed, s), "threads %d drop %d: seq %zu differs in reversed batch",
		      threads, d != NULL, s);
		CHECK(same_seq(&full, &alone, s), "threads %d drop %d: seq %zu alone %.9g vs batch %.9g",
		      threads, d != NULL, s, alone.r[s], full.r[s]);
		CHECK(same_seq(&full, &pairs, s), "threads %d drop %d: seq %zu differs in a small batch",
		      threads, d != NULL, s);
	}
	if (!d) { /* an evaluation workspace (no saved activations) agrees */
		struct rm_workspace *ev;
		struct rm_workspace_options oe = {.max_tokens = 600, .threads = threads};
		CHECK(rm_workspace_create(&ev, model, &oe, &err) == 0, "%s", err.msg);
		struct run e;
		score(ev, all, S, NULL, &e);
		for (size_t s = 0; s < S; s++)
			CHECK(same_seq(&full, &e, s), "threads %d: seq %zu differs in eval workspace",
			      threads, s);
		rm_workspace_free(ev);
	}
	*all_out = full;
	rm_workspace_free(ws);
}

/* Forward + backward twice from zero gradients: bit-identical. */
static void
test_grad_determinism(int threads, const struct rm_dropout *d)
{
	struct rm_workspace *ws;
	struct rm_error err;
	struct rm_workspace_options o = {.max_tokens = 600, .train = 1,
					 .dropout = 1, .threads = threads};
	CHECK(rm_workspace_create(&ws, model, &o, &err) == 0, "%s", err.msg);
	float *g1 = malloc(model->n_params * sizeof(float));
	float dr[S], dh[S * C];
	for (size_t i = 0; i < S; i++)
		dr[i] = (float)i - 4.5f;
	for (size_t i = 0; i < S * C; i++)
		dh[i] = 0.01f * (float)(i % 7);
	size_t all[S];
	for (size_t i = 0; i < S; i++)
		all[i] = i;
	for (int rep = 0; rep < 2; rep++) {
		struct run r;
		rm_model_zero_grad(model);
		score(ws, all, S, d, &r);
		CHECK(rm_model_backward(model, ws, dr, dh, &err) == 0, "%s", err.msg);
		if (rep == 0)
			memcpy(g1, model->grads_mem, model->n_params * sizeof(float));
		else
			CHECK(!memcmp(g1, model->grads_mem, model->n_params * sizeof(float)),
			      "threads %d drop %d: gradients differ between runs", threads, d != NULL);
	}
	free(g1);
	rm_workspace_free(ws);
}

static void
test_errors(void)
{
	struct rm_workspace *ws, *ev;
	struct rm_error err;
	struct rm_workspace_options o = {.max_tokens = 20, .max_seq_len = 10, .threads = 1};
	CHECK(rm_workspace_create(&ws, model, &o, &err) == 0, "%s", err.msg);
	int32_t tok[30] = {0};
	size_t off[3] = {0, 5, 5};
	float r[2];
	struct rm_batch b = {2, tok, off};
	CHECK(rm_model_forward(model, ws, &b, NULL, r, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "empty"), "empty sequence: %s", err.msg);
	off[2] = 16;
	CHECK(rm_model_forward(model, ws, &b, NULL, r, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "limit"), "too long: %s", err.msg);
	off[1] = 10, off[2] = 21;
	CHECK(rm_model_forward(model, ws, &b, NULL, r, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "budget"), "over budget: %s", err.msg);
	off[2] = 12;
	tok[11] = 100;
	CHECK(rm_model_forward(model, ws, &b, NULL, r, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "vocabulary"), "bad token: %s", err.msg);
	tok[11] = 3;
	struct rm_dropout d = {.seed = 1, .resid = 0.1f};
	CHECK(rm_model_forward(model, ws, &b, &d, r, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "dropout"), "dropout without room: %s", err.msg);
	CHECK(rm_model_forward(model, ws, &b, NULL, r, NULL, &err) == 0, "%s", err.msg);
	float dr[2] = {1, 1};
	CHECK(rm_model_backward(model, ws, dr, NULL, &err) == RM_EUSAGE, "backward on eval workspace");
	/* an evaluation workspace gives the same rewards as a training one */
	o.train = 1;
	CHECK(rm_workspace_create(&ev, model, &o, &err) == 0, "%s", err.msg);
	float r2[2];
	CHECK(rm_model_forward(model, ev, &b, NULL, r2, NULL, &err) == 0, "%s", err.msg);
	CHECK(!memcmp(r, r2, sizeof r), "train and eval workspaces agree");
	rm_workspace_free(ev);
	rm_workspace_free(ws);
	struct rm_workspace_options od = {.max_tokens = 20, .dropout = 1, .threads = 1};
	CHECK(rm_workspace_create(&ws, model, &od, &err) == RM_EUSAGE, "dropout without train");
	struct rm_model_config bad = model->cfg;
	bad.n_head = 5;
	struct rm_model *m2;
	CHECK(rm_model_create(&m2, &bad, &err) == RM_EUSAGE && strstr(err.msg, "multiple"),
	      "n_embd %% n_head: %s", err.msg);
}

/*
 * Everything above again in child processes: on every product path this
 * CPU runs (RM_GEMM; OpenBLAS under every kernel family this CPU can
 * execute), in fp32 and in bf16 (RM_TEST_PRECISION).
 */
static void
run_children(const char *self)
{
	static const struct { const char *gemm, *core, *feat, *prec; } runs[] = {
		{"avx2", NULL, "avx2", "fp32"}, {"avx2", NULL, "avx2", "bf16"},
		{"avx512", NULL, "avx512f", "fp32"},
		{"openblas", "Prescott", "sse3", "fp32"}, {"openblas", "Haswell", "avx2", "fp32"},
		{"openblas", "SkylakeX", "avx512f", "fp32"}, {"openblas", NULL, "sse3", "bf16"},
		{"onednn", NULL, "sse3", "fp32"},
	};
	__builtin_cpu_init();
	for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
		const char *f = runs[i].feat;
		int ok = !strcmp(f, "sse3") ? __builtin_cpu_supports("sse3")
			 : !strcmp(f, "avx2") ? __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
					      : __builtin_cpu_supports("avx512f");
		/* onednn: not under the sanitizers (LeakSanitizer crashes at
		 * exit once libgomp's threads exist) */
		if (!ok || (!strcmp(runs[i].gemm, "onednn") &&
			    (getenv("RM_SANITIZED") ||
			     rm_gemm_set_path(RM_GEMM_ONEDNN) != RM_GEMM_ONEDNN)))
			continue;
		pid_t pid = fork();
		if (pid == 0) {
			setenv("RM_GEMM", runs[i].gemm, 1);
			setenv("RM_TEST_PRECISION", runs[i].prec, 1);
			if (runs[i].core)
				setenv("OPENBLAS_CORETYPE", runs[i].core, 1);
			execl(self, self, "--child", (char *)NULL);
			_exit(127);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		int passed = WIFEXITED(st) && WEXITSTATUS(st) == 0;
		CHECK(passed, "RM_GEMM=%s %s OPENBLAS_CORETYPE=%s", runs[i].gemm, runs[i].prec,
		      runs[i].core ? runs[i].core : "-");
		printf("RM_GEMM=%s %s OPENBLAS_CORETYPE=%s: %s\n", runs[i].gemm, runs[i].prec,
		       runs[i].core ? runs[i].core : "-", passed ? "passed" : "FAILED");
	}
}

/* Llama-family configurations and inputs it refuses. */
static void
test_llama_errors(const struct rm_model_config *cfg)
{
	struct rm_error err;
	struct rm_model *m2;
	struct rm_model_config bad = *cfg;
	bad.n_kv_head = 3;
	CHECK(rm_model_create(&m2, &bad, &err) == RM_EUSAGE && strstr(err.msg, "num_key_value_heads"),
	      "kv heads: %s", err.msg);
	bad = *cfg;
	bad.head_dim = 7;
	CHECK(rm_model_create(&m2, &bad, &err) == RM_EUSAGE && strstr(err.msg, "head_dim"),
	      "odd head_dim: %s", err.msg);
	bad = *cfg;
	bad.rope_high_freq_factor = 0.5;
	CHECK(rm_model_create(&m2, &bad, &err) == RM_EUSAGE && strstr(err.msg, "rope_scaling"),
	      "llama3 factors: %s", err.msg);
	bad = *cfg;
	bad.sliding_window = 6;
	CHECK(rm_model_create(&m2, &bad, &err) == 0, "%s", err.msg);
	struct rm_workspace *ws;
	struct rm_workspace_options o = {.max_tokens = 20, .threads = 1};
	CHECK(rm_workspace_create(&ws, m2, &o, &err) == 0, "%s", err.msg);
	int32_t tok[12] = {0};
	size_t off[3] = {0, 6, 12};
	float r[2];
	struct rm_batch b = {2, tok, off};
	CHECK(rm_model_forward(m2, ws, &b, NULL, r, NULL, &err) == 0, "window-long: %s", err.msg);
	off[1] = 7;
	CHECK(rm_model_forward(m2, ws, &b, NULL, r, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "sliding_window"), "longer than the window: %s", err.msg);
	rm_workspace_free(ws);
	rm_model_free(m2);
}

static void
run_suite(const struct rm_model_config *cfg)
{
	struct rm_error err;
	if (rm_model_create(&model, cfg, &err) < 0 || rm_model_enable_grads(model, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	rm_model_init(model, 42);
	const char *prec = getenv("RM_TEST_PRECISION");
	int bf = prec && !strcmp(prec, "bf16");
	rm_gemm_set_precision(bf ? RM_PREC_BF16 : RM_PREC_FP32);
	printf("path %s, %s\n", rm_gemm_path_name(), bf ? "bf16" : "fp32");
	struct rm_rng rng;
	rm_rng_seed(&rng, 5);
	for (size_t i = 0; i < model->n_params; i++)
		model->params_mem[i] += 0.05f * rm_rng_normal(&rng);
	for (int s = 0; s < S; s++)
		for (size_t t = 0; t < lens[s]; t++)
			toks[s][t] = (int32_t)rm_rng_below(&rng, 100);

	/* table: names, shapes, count */
	if (cfg->family == RM_FAMILY_GPT2) {
		const struct rm_param *p = rm_model_find(model, "transformer.h.2.attn.c_attn.weight");
		CHECK(p && p->shape[0] == C && p->shape[1] == 3 * C && p->decay, "c_attn entry");
		p = rm_model_find(model, "transformer.ln_f.bias");
		CHECK(p && p->ndim == 1 && !p->decay, "ln_f.bias entry");
		CHECK(model->n_tensors == 2 + 3 * 12 + 3, "tensor count %zu", model->n_tensors);
	} else {
		const struct rm_param *p = rm_model_find(model, "model.layers.2.self_attn.k_proj.weight");
		const struct rm_param *q = rm_model_find(model, "model.layers.2.self_attn.q_proj.weight");
		const struct rm_param *v = rm_model_find(model, "model.layers.2.self_attn.v_proj.weight");
		CHECK(p && q && v && p->shape[0] == (size_t)cfg->n_kv_head * cfg->head_dim &&
		      p->shape[1] == C && p->decay, "k_proj entry");
		CHECK(q && p && v && p->offset == q->offset + q->numel && v->offset == p->offset + p->numel,
		      "q, k, v consecutive");
		p = rm_model_find(model, "model.layers.0.self_attn.q_norm.weight");
		CHECK(p && p->ndim == 1 && !p->decay && p->shape[0] == (size_t)cfg->head_dim,
		      "q_norm entry");
		CHECK(rm_model_find(model, "model.layers.0.self_attn.o_proj.bias"), "o bias");
		CHECK(model->n_tensors == 1 + 3 * 15 + 2, "tensor count %zu", model->n_tensors);
	}
	const struct rm_param *p = rm_model_find(model, "score.weight");
	CHECK(p && p->shape[0] == 1 && p->shape[1] == C, "score entry");

	struct rm_dropout d = {.seed = 9, .step = 4, .embd = 0.1f, .attn = 0.1f, .resid = 0.1f};
	struct run r1, r2, rd1, rd2, rref;
	test_invariance(1, NULL, &r1);
	test_invariance(2, NULL, &r2);
	test_invariance(1, &d, &rd1);
	test_invariance(2, &d, &rd2);
	int differ = 0;
	for (size_t s = 0; s < S; s++)
		differ |= memcmp(&r1.r[s], &rd1.r[s], sizeof(float)) != 0;
	CHECK(differ, "dropout changes rewards");
	int same12 = !memcmp(r1.r, r2.r, sizeof r1.r);
	printf("%s: 1 vs 2 threads bit-identical: %s (not required)\n", rm_model_type_name(cfg),
	       same12 ? "yes" : "no");
	/* BLAS vs the plain-loop reference */
	rm_gemm_set_reference(1);
	test_invariance(1, NULL, &rref);
	rm_gemm_set_reference(0);
	/* bf16: the same roundings of the inputs, but a last-bit difference
	 * in an activation can round to another bf16 value */
	for (size_t s = 0; s < S; s++)
		CHECK_CLOSE(r1.r[s], rref.r[s], bf ? 1e-3 : 1e-5, bf ? 2e-2 : 1e-4,
			    "blas vs reference reward");
	if (bf) { /* and it is not fp32 */
		struct run rf;
		rm_gemm_set_precision(RM_PREC_FP32);
		test_invariance(1, NULL, &rf);
		rm_gemm_set_precision(RM_PREC_BF16);
		int moved = 0;
		for (size_t s = 0; s < S; s++) {
			moved |= rf.r[s] != r1.r[s];
			CHECK_CLOSE(r1.r[s], rf.r[s], 1e-2, 5e-2, "bf16 near fp32 reward");
		}
		CHECK(moved, "bf16 rewards differ from fp32");
	}
	test_grad_determinism(1, NULL);
	test_grad_determinism(2, NULL);
	test_grad_determinism(2, &d);
	if (cfg->family == RM_FAMILY_GPT2)
		test_errors();
	else
		test_llama_errors(cfg);
	rm_model_free(model);
	model = NULL;
}

int
main(int argc, char **argv)
{
	struct rm_model_config cfg = {.n_layer = 3, .n_head = 4, .n_embd = C,
				      .n_positions = 130, .vocab_size = 100,
				      .layer_norm_epsilon = 1e-5f};
	run_suite(&cfg);
	/* the llama family with everything on: GQA, q/k norm, biases,
	 * llama3 rotary scaling, head_dim != C / n_head */
	struct rm_model_config ll = {.family = RM_FAMILY_LLAMA, .model_type = RM_QWEN3,
				     .n_layer = 3, .n_head = 4, .n_kv_head = 2, .n_embd = C,
				     .head_dim = 12, .intermediate_size = 80,
				     .n_positions = 130, .vocab_size = 100,
				     .layer_norm_epsilon = 1e-6f, .qkv_bias = 1, .o_bias = 1,
				     .qk_norm = 1, .rope_theta = 10000, .rope_factor = 8,
				     .rope_low_freq_factor = 1, .rope_high_freq_factor = 4,
				     .rope_original_max_positions = 32};
	run_suite(&ll);
	printf("blas core %s\n", rm_blas_core());
	if (argc < 2 || strcmp(argv[1], "--child"))
		run_children("/proc/self/exe");
	return check_done();
}
