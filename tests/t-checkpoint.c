/*
 * t-checkpoint.c - checkpoint directories: round trip (bit-exact weights
 * and rewards), config.json keys, a base GPT-2 layout without the prefix
 * and without score.weight, shape and config errors, training state.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "train/checkpoint.h"
#include "stream/io.h"
#include "stream/safetensors.h"

static char dir[256];

static void
rm_rf(const char *d)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", d);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", d);
}

static struct rm_model *
tiny(void)
{
	struct rm_model_config c = {.n_layer = 2, .n_head = 2, .n_embd = 8, .n_positions = 16,
				    .vocab_size = 30, .layer_norm_epsilon = 1e-5f,
				    .resid_pdrop = 0.05f};
	struct rm_model *m;
	struct rm_error err;
	if (rm_model_create(&m, &c, &err) < 0) {
		fprintf(stderr, "%s\n", err.msg);
		exit(1);
	}
	rm_model_init(m, 3);
	return m;
}

static float
reward(struct rm_model *m)
{
	struct rm_workspace *ws;
	struct rm_workspace_options o = {.max_tokens = 8, .threads = 1};
	struct rm_error err;
	int32_t tok[5] = {1, 7, 3, 29, 0};
	size_t off[2] = {0, 5};
	struct rm_batch b = {1, tok, off};
	float r = NAN;
	if (rm_workspace_create(&ws, m, &o, &err) == 0)
		rm_model_forward(m, ws, &b, NULL, &r, NULL, &err);
	rm_workspace_free(ws);
	return r;
}

static void
test_roundtrip(void)
{
	struct rm_model *m = tiny(), *m2;
	struct rm_error err;
	struct rm_token_ids ids = {.bos = 1, .eos = 2, .pad = 2};
	CHECK(rm_checkpoint_save(m, dir, &ids, &err) == 0, "save: %s", err.msg);
	struct rm_checkpoint_info info;
	CHECK(rm_checkpoint_load(&m2, dir, 99, &info, &err) == 0, "load: %s", err.msg);
	if (!m2)
		return;
	CHECK(!info.head_initialized && info.prefixed, "info");
	/* pad == eos is written as no pad id (see rm-checkpoint(5)) */
	CHECK(info.ids.bos == 1 && info.ids.eos == 2 && info.ids.pad == -1, "token ids");
	CHECK(!memcmp(&m->cfg, &m2->cfg, sizeof m->cfg), "config round trip");
	CHECK(m->n_params == m2->n_params &&
	      !memcmp(m->params_mem, m2->params_mem, m->n_params * sizeof(float)),
	      "weights round trip bit-exact");
	float r1 = reward(m), r2 = reward(m2);
	CHECK(!memcmp(&r1, &r2, sizeof r1), "same reward after reload");

	/* config.json as Hugging Face expects it */
	char path[512], *text;
	size_t len;
	snprintf(path, sizeof path, "%s/config.json", dir);
	CHECK(rm_read_file(path, 1 << 20, &text, &len, &err) == 0, "%s", err.msg);
	cJSON *j = cJSON_Parse(text);
	free(text);
	CHECK(j != NULL, "config.json parses");
	const char *skeys[][2] = {{"model_type", "gpt2"}, {"activation_function", "gelu_new"}};
	for (int i = 0; i < 2; i++) {
		cJSON *v = cJSON_GetObjectItem(j, skeys[i][0]);
		CHECK(cJSON_IsString(v) && !strcmp(v->valuestring, skeys[i][1]), "%s", skeys[i][0]);
	}
	cJSON *arch = cJSON_GetObjectItem(j, "architectures");
	CHECK(cJSON_IsArray(arch) && cJSON_GetArraySize(arch) == 1 &&
	      !strcmp(cJSON_GetArrayItem(arch, 0)->valuestring, "GPT2ForSequenceClassification"),
	      "architectures");
	const char *nkeys[][2] = {{"n_embd", "8"}, {"n_layer", "2"}, {"n_head", "2"},
				  {"n_positions", "16"}, {"n_ctx", "16"}, {"vocab_size", "30"},
				  {"num_labels", "1"}, {"eos_token_id", "2"},
				  {"bos_token_id", "1"}};
	for (size_t i = 0; i < sizeof nkeys / sizeof *nkeys; i++) {
		cJSON *v = cJSON_GetObjectItem(j, nkeys[i][0]);
		CHECK(cJSON_IsNumber(v) && v->valuedouble == atof(nkeys[i][1]), "%s", nkeys[i][0]);
	}
	CHECK(cJSON_IsNull(cJSON_GetObjectItem(j, "pad_token_id")),
	      "pad_token_id null when it would equal eos");
	cJSON *rp = cJSON_GetObjectItem(j, "resid_pdrop");
	CHECK(cJSON_IsNumber(rp) && fabs(rp->valuedouble - 0.05) < 1e-7, "resid_pdrop");
	cJSON_Delete(j);

	/* model.safetensors: HF names, float32, format "pt" */
	struct rm_st *st;
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	CHECK(rm_st_load(&st, path, &err) == 0, "%s", err.msg);
	const struct rm_tensor *t = rm_st_find(st, "transformer.h.1.attn.c_attn.weight");
	CHECK(t && t->dtype == RM_DT_F32 && t->ndim == 2 && t->dims[0] == 8 && t->dims[1] == 24,
	      "c_attn [in, out]");
	t = rm_st_find(st, "score.weight");
	CHECK(t && t->ndim == 2 && t->dims[0] == 1 && t->dims[1] == 8, "score [1, C]");
	CHECK(rm_st_metadata(st, "format") && !strcmp(rm_st_metadata(st, "format"), "pt"),
	      "format metadata");
	CHECK(rm_st_count(st) == m->n_tensors, "one tensor per table entry");
	rm_st_free(st);
	rm_model_free(m2);

	/* a pad id of its own is kept */
	struct rm_token_ids ids5 = {.bos = 1, .eos = 2, .pad = 5};
	CHECK(rm_checkpoint_save(m, dir, &ids5, &err) == 0, "save: %s", err.msg);
	CHECK(rm_checkpoint_load(&m2, dir, 99, &info, &err) == 0, "load: %s", err.msg);
	CHECK(info.ids.pad == 5, "pad id 5 kept: %d", info.ids.pad);
	rm_model_free(m2);

	/* training state */
	struct rm_adamw o, o2;
	struct rm_adamw_config ac;
	rm_adamw_config_default(&ac);
	CHECK(rm_adamw_init(&o, &ac, m->n_params, &err) == 0, "%s", err.msg);
	CHECK(rm_adamw_init(&o2, &ac, m->n_params, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < m->n_params; i++)
		o.m[i] = (float)i * 0.5f, o.v[i] = (float)i * 0.25f;
	o.step = 17;
	struct rm_train_state s = {.step = 17, .data_pos = 544, .epoch = 1}, s2;
	rm_rng_seed(&s.rng, 5);
	rm_rng_next(&s.rng);
	CHECK(rm_checkpoint_save_state(m, &o, &s, dir, &err) == 0, "%s", err.msg);
	CHECK(rm_checkpoint_load_state(m, &o2, &s2, dir, &err) == 0, "%s", err.msg);
	CHECK(o2.step == 17 && s2.step == 17 && s2.data_pos == 544 && s2.epoch == 1, "state numbers");
	CHECK(!memcmp(&s.rng, &s2.rng, sizeof s.rng), "rng state");
	int same = 1;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct rm_param *p = &m->params[i];
		same &= !memcmp(o.m + p->offset, o2.m + p->offset, p->numel * sizeof(float)) &&
			!memcmp(o.v + p->offset, o2.v + p->offset, p->numel * sizeof(float));
	}
	CHECK(same, "moments");
	rm_adamw_release(&o);
	rm_adamw_release(&o2);
	rm_model_free(m);
}

/* A base GPT-2 directory: bare names, no score, extra buffers. */
static void
test_base_gpt2(void)
{
	struct rm_model *m = tiny(), *m2;
	struct rm_error err;
	char path[512];
	rm_rf(dir);
	CHECK(rm_checkpoint_save(m, dir, NULL, &err) == 0, "%s", err.msg);
	struct rm_tensor *ts = calloc(m->n_tensors + 2, sizeof *ts);
	size_t n = 0;
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct rm_param *p = &m->params[i];
		if (!strcmp(p->name, "score.weight"))
			continue;
		struct rm_tensor *t = &ts[n++];
		snprintf(t->name, sizeof t->name, "%s", p->name + strlen("transformer."));
		t->dtype = RM_DT_F32;
		t->ndim = p->ndim;
		t->dims[0] = p->shape[0];
		t->dims[1] = p->shape[1];
		t->data = m->params_mem + p->offset;
		t->nbytes = p->numel * sizeof(float);
	}
	static float mask[16 * 16];
	ts[n] = (struct rm_tensor){.name = "h.0.attn.bias", .dtype = RM_DT_F32, .ndim = 2,
				   .dims = {16, 16}, .data = mask, .nbytes = sizeof mask};
	n++;
	snprintf(path, sizeof path, "%s/model.safetensors", dir);
	CHECK(rm_st_save(path, ts, n, NULL, &err) == 0, "%s", err.msg);
	struct rm_checkpoint_info info;
	CHECK(rm_checkpoint_load(&m2, dir, 99, &info, &err) == 0, "load base: %s", err.msg);
	if (m2) {
		CHECK(info.head_initialized && !info.prefixed,
		      "base info: head %d prefixed %d", info.head_initialized, info.prefixed);
		size_t si = rm_model_score_index(m2);
		size_t so = m2->params[si].offset;
		CHECK(!memcmp(m->params_mem, m2->params_mem, so * sizeof(float)),
		      "body weights loaded");
		int nz = 0;
		for (size_t i = 0; i < m2->params[si].numel; i++)
			nz += m2->params_mem[so + i] != 0;
		CHECK(nz > 0, "head initialised");
		rm_model_free(m2);
	}

	/* a wrong shape is named */
	CHECK(!strcmp(ts[4].name, "h.0.attn.c_attn.weight"), "table order");
	ts[4].dims[0] = 6; /* [6, 24]: fewer floats than saved, still consistent */
	ts[4].nbytes = 6 * 24 * sizeof(float);
	CHECK(rm_st_save(path, ts, n, NULL, &err) == 0, "%s", err.msg);
	CHECK(rm_checkpoint_load(&m2, dir, 1, NULL, &err) == RM_EDATA &&
	      strstr(err.msg, "'h.0.attn.c_attn.weight' has shape [6, 24], config.json needs [8, 24]"),
	      "shape error: %s", err.msg);
	/* a missing tensor is named */
	CHECK(rm_st_save(path, ts + 1, n - 1, NULL, &err) == 0, "%s", err.msg);
	CHECK(rm_checkpoint_load(&m2, dir, 1, NULL, &err) == RM_EDATA &&
	      strstr(err.msg, "'wte.weight' is missing"),
	      "missing error: %s", err.msg);
	free(ts);

	/* unsupported configurations */
	static const char *const bad[] = {
		"{\"model_type\":\"gemma\"}", "{\"activation_function\":\"relu\"}",
		"{\"num_labels\":2}", "{\"n_embd\":10,\"n_head\":3}", "{\"n_inner\":7}", "[1]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(path, sizeof path, "%s/config.json", dir);
		CHECK(rm_atomic_write_file(path, bad[i], strlen(bad[i]), &err) == 0, "%s", err.msg);
		struct rm_model_config c;
		CHECK(rm_checkpoint_read_config(dir, &c, NULL, &err) < 0 && strstr(err.msg, "config.json"),
		      "bad config %s accepted or unclear: %s", bad[i], err.msg);
	}
	rm_model_free(m);
}

int
main(void)
{
	snprintf(dir, sizeof dir, "/tmp/rm-t-checkpoint.%ld", (long)getpid());
	rm_rf(dir);
	test_roundtrip();
	test_base_gpt2();
	rm_rf(dir);
	return check_done();
}
