/*
 * checkpoint.c - Hugging Face checkpoint directories (see checkpoint.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>

#include "train/checkpoint.h"
#include "stream/io.h"
#include "stream/safetensors.h"

#define PREFIX "transformer."

static int
make_dir(const char *dir, struct rm_error *err)
{
	if (mkdir(dir, 0777) < 0 && errno != EEXIST)
		return rm_error_set(err, RM_EIO, "%s: cannot create directory: %s", dir, strerror(errno));
	struct stat sb;
	if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
		return rm_error_set(err, RM_EIO, "%s: not a directory", dir);
	return 0;
}

static void
path_join(char *buf, size_t n, const char *dir, const char *file)
{
	snprintf(buf, n, "%s/%s", dir, file);
}

static void
fill_tensor(struct rm_tensor *t, const char *name, const struct rm_param *p,
	    const float *data)
{
	memset(t, 0, sizeof *t);
	size_t n = strlen(name);
	memcpy(t->name, name, n < sizeof t->name ? n : sizeof t->name - 1);
	t->dtype = RM_DT_F32;
	t->ndim = p->ndim;
	t->dims[0] = p->shape[0];
	t->dims[1] = p->shape[1];
	t->data = data;
	t->nbytes = p->numel * sizeof(float);
}

static int
default_id(int v, const struct rm_model_config *c)
{
	return v >= 0 ? v : c->vocab_size - 1;
}

int
rm_checkpoint_save(const struct rm_model *m, const char *dir,
		   const struct rm_token_ids *ids, struct rm_error *err)
{
	int rc = make_dir(dir, err);
	if (rc < 0)
		return rc;
	const struct rm_model_config *c = &m->cfg;
	char path[4096];
	struct rm_tensor *ts = calloc(m->n_tensors, sizeof *ts);
	if (!ts)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n_tensors; i++)
		fill_tensor(&ts[i], m->params[i].name, &m->params[i],
			    m->params_mem + m->params[i].offset);
	/* transformers refuses safetensors files without format metadata */
	static const char *const meta[] = {"format", "pt", NULL};
	path_join(path, sizeof path, dir, "model.safetensors");
	rc = rm_st_save(path, ts, m->n_tensors, meta, err);
	free(ts);
	if (rc < 0)
		return rc;

	struct rm_token_ids id = ids ? *ids : (struct rm_token_ids){-1, -1, -1};
	cJSON *j = cJSON_CreateObject();
	cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
	cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2ForSequenceClassification"));
	cJSON_AddStringToObject(j, "model_type", "gpt2");
	cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
	cJSON_AddNumberToObject(j, "n_positions", c->n_positions);
	cJSON_AddNumberToObject(j, "n_ctx", c->n_positions);
	cJSON_AddNumberToObject(j, "n_embd", c->n_embd);
	cJSON_AddNumberToObject(j, "n_layer", c->n_layer);
	cJSON_AddNumberToObject(j, "n_head", c->n_head);
	cJSON_AddNullToObject(j, "n_inner");
	cJSON_AddStringToObject(j, "activation_function", "gelu_new");
	cJSON_AddNumberToObject(j, "resid_pdrop", c->resid_pdrop);
	cJSON_AddNumberToObject(j, "embd_pdrop", c->embd_pdrop);
	cJSON_AddNumberToObject(j, "attn_pdrop", c->attn_pdrop);
	cJSON_AddNumberToObject(j, "layer_norm_epsilon", c->layer_norm_epsilon);
	cJSON_AddNumberToObject(j, "initializer_range", 0.02);
	cJSON_AddBoolToObject(j, "scale_attn_weights", 1);
	cJSON_AddBoolToObject(j, "scale_attn_by_inverse_layer_idx", 0);
	cJSON_AddBoolToObject(j, "reorder_and_upcast_attn", 0);
	cJSON_AddBoolToObject(j, "use_cache", 1);
	cJSON_AddStringToObject(j, "summary_type", "cls_index");
	cJSON_AddBoolToObject(j, "summary_use_proj", 1);
	cJSON_AddNullToObject(j, "summary_activation");
	cJSON_AddBoolToObject(j, "summary_proj_to_labels", 1);
	cJSON_AddNumberToObject(j, "summary_first_dropout", 0.1);
	cJSON_AddNumberToObject(j, "bos_token_id", default_id(id.bos, c));
	cJSON_AddNumberToObject(j, "eos_token_id", default_id(id.eos, c));
	/*
	 * GPT2ForSequenceClassification reads each row's reward at its last
	 * token that is not pad_token_id.  rm-tokenize ends every sequence with
	 * eos and the reward is read there, so a pad id equal to eos (the usual
	 * GPT-2 choice) would make transformers read one token earlier than we
	 * do.  Without a pad id it reads the last position, as we do, for
	 * unpadded input; a caller who pads sets a pad id of its own.
	 */
	if (id.pad < 0 || id.pad == default_id(id.eos, c))
		cJSON_AddNullToObject(j, "pad_token_id");
	else
		cJSON_AddNumberToObject(j, "pad_token_id", id.pad);
	cJSON_AddNumberToObject(j, "num_labels", 1);
	cJSON *i2l = cJSON_AddObjectToObject(j, "id2label");
	cJSON_AddStringToObject(i2l, "0", "LABEL_0");
	cJSON *l2i = cJSON_AddObjectToObject(j, "label2id");
	cJSON_AddNumberToObject(l2i, "LABEL_0", 0);
	cJSON_AddStringToObject(j, "torch_dtype", "float32");
	char *text = cJSON_Print(j);
	cJSON_Delete(j);
	if (!text)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	size_t n = strlen(text);
	char *buf = realloc(text, n + 2);
	if (!buf) {
		free(text);
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	buf[n] = '\n';
	path_join(path, sizeof path, dir, "config.json");
	rc = rm_atomic_write_file(path, buf, n + 1, err);
	free(buf);
	return rc;
}

/* ---- config.json ------------------------------------------------------------ */

static int
get_int(const cJSON *j, const char *key, int def, int *out, const char *path,
	struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (!v || cJSON_IsNull(v)) {
		*out = def;
		return 0;
	}
	/* range first: converting a double outside int's range is undefined */
	if (!cJSON_IsNumber(v) || !(v->valuedouble >= INT_MIN && v->valuedouble <= INT_MAX) ||
	    v->valuedouble != (double)(int)v->valuedouble)
		return rm_error_set(err, RM_EDATA, "%s: '%s' is not an integer", path, key);
	*out = (int)v->valuedouble;
	return 0;
}

static int
get_float(const cJSON *j, const char *key, float def, float *out, const char *path,
	  struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (!v || cJSON_IsNull(v)) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsNumber(v))
		return rm_error_set(err, RM_EDATA, "%s: '%s' is not a number", path, key);
	*out = (float)v->valuedouble;
	return 0;
}

/* A boolean key that must have the value want (absent: fine). */
static int
want_bool(const cJSON *j, const char *key, int want, const char *path,
	  struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v) || cJSON_IsTrue(v) != want)
		return rm_error_set(err, RM_EDATA, "%s: '%s' must be %s for this model", path, key,
				    want ? "true" : "false");
	return 0;
}

int
rm_checkpoint_read_config(const char *dir, struct rm_model_config *c,
			  struct rm_token_ids *ids, struct rm_error *err)
{
	char path[4096];
	path_join(path, sizeof path, dir, "config.json");
	char *text;
	size_t len;
	int rc = rm_read_file(path, 16 << 20, &text, &len, err);
	if (rc < 0)
		return rc;
	cJSON *j = cJSON_ParseWithLength(text, len);
	free(text);
	if (!j || !cJSON_IsObject(j)) {
		cJSON_Delete(j);
		return rm_error_set(err, RM_EDATA, "%s: not a JSON object", path);
	}
	memset(c, 0, sizeof *c);
	const cJSON *mt = cJSON_GetObjectItemCaseSensitive(j, "model_type");
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "activation_function");
	int n_inner = 0, bos, eos, pad;
	/* defaults are transformers' GPT2Config defaults */
	if (mt && (!cJSON_IsString(mt) || strcmp(mt->valuestring, "gpt2")))
		rc = rm_error_set(err, RM_EDATA, "%s: model_type is not \"gpt2\"", path);
	else if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") &&
						 strcmp(act->valuestring, "gelu_pytorch_tanh"))))
		rc = rm_error_set(err, RM_EDATA, "%s: activation_function %s is not supported (gelu_new is)",
				  path, cJSON_IsString(act) ? act->valuestring : "(not a string)");
	else if ((rc = get_int(j, "n_layer", 12, &c->n_layer, path, err)) < 0 ||
		 (rc = get_int(j, "n_head", 12, &c->n_head, path, err)) < 0 ||
		 (rc = get_int(j, "n_embd", 768, &c->n_embd, path, err)) < 0 ||
		 (rc = get_int(j, "n_positions", 1024, &c->n_positions, path, err)) < 0 ||
		 (rc = get_int(j, "vocab_size", 50257, &c->vocab_size, path, err)) < 0 ||
		 (rc = get_int(j, "n_inner", 0, &n_inner, path, err)) < 0 ||
		 (rc = get_int(j, "bos_token_id", -1, &bos, path, err)) < 0 ||
		 (rc = get_int(j, "eos_token_id", -1, &eos, path, err)) < 0 ||
		 (rc = get_int(j, "pad_token_id", -1, &pad, path, err)) < 0 ||
		 (rc = get_float(j, "layer_norm_epsilon", 1e-5f, &c->layer_norm_epsilon, path, err)) < 0 ||
		 (rc = get_float(j, "resid_pdrop", 0.1f, &c->resid_pdrop, path, err)) < 0 ||
		 (rc = get_float(j, "embd_pdrop", 0.1f, &c->embd_pdrop, path, err)) < 0 ||
		 (rc = get_float(j, "attn_pdrop", 0.1f, &c->attn_pdrop, path, err)) < 0 ||
		 (rc = want_bool(j, "scale_attn_weights", 1, path, err)) < 0 ||
		 (rc = want_bool(j, "scale_attn_by_inverse_layer_idx", 0, path, err)) < 0 ||
		 (rc = want_bool(j, "reorder_and_upcast_attn", 0, path, err)) < 0 ||
		 (rc = want_bool(j, "add_cross_attention", 0, path, err)) < 0)
		;
	else if (n_inner && n_inner != 4 * c->n_embd)
		rc = rm_error_set(err, RM_EDATA, "%s: n_inner %d is not 4 * n_embd", path, n_inner);
	else {
		int nl = 1;
		const cJSON *i2l = cJSON_GetObjectItemCaseSensitive(j, "id2label");
		if ((rc = get_int(j, "num_labels", cJSON_IsObject(i2l) ? cJSON_GetArraySize(i2l) : 1,
				  &nl, path, err)) >= 0 && nl != 1)
			rc = rm_error_set(err, RM_EDATA, "%s: num_labels is %d, a reward model has 1", path, nl);
	}
	cJSON_Delete(j);
	if (rc < 0)
		return rc;
	if (ids)
		*ids = (struct rm_token_ids){bos, eos, pad};
	/* the check speaks of arguments (RM_EUSAGE); here they are data */
	if ((rc = rm_model_config_check(c, err)) < 0) {
		rm_error_prefix(err, "%s", path);
		if (err)
			err->code = RM_EDATA;
		return RM_EDATA;
	}
	return 0;
}

/* ---- model.safetensors ------------------------------------------------------ */

static int
known_extra(const char *name)
{
	size_t n = strlen(name);
	static const char *const suf[] = {".attn.bias", ".attn.masked_bias"};
	for (size_t i = 0; i < sizeof suf / sizeof *suf; i++) {
		size_t k = strlen(suf[i]);
		if (n >= k && !strcmp(name + n - k, suf[i]))
			return 1;
	}
	return !strcmp(name, "lm_head.weight");
}

/* Every dimension of t against the table's p: 0, or RM_EDATA naming both. */
static int
check_shape(const struct rm_tensor *t, const struct rm_param *p, const char *path,
	    const char *name, struct rm_error *err)
{
	if (t->ndim == p->ndim && t->dims[0] == p->shape[0] &&
	    (p->ndim == 1 || t->dims[1] == p->shape[1]))
		return 0;
	char have[96] = "", *w = have;
	for (int d = 0; d < t->ndim && w < have + sizeof have - 1; d++)
		w += snprintf(w, (size_t)(have + sizeof have - w), "%s%" PRIu64,
			      d ? ", " : "", t->dims[d]);
	if (p->ndim == 1)
		return rm_error_set(err, RM_EDATA, "%s: tensor '%s' has shape [%s], config.json needs [%zu]",
				    path, name, have, p->shape[0]);
	return rm_error_set(err, RM_EDATA, "%s: tensor '%s' has shape [%s], config.json needs [%zu, %zu]",
			    path, name, have, p->shape[0], p->shape[1]);
}

/* 1 when the file's tensor name is one of the model's, named the way
 * the loop in rm_checkpoint_load looks them up. */
static int
model_has(const struct rm_model *m, const char *name, int prefixed)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		const char *pn = m->params[i].name;
		if (!prefixed && !strncmp(pn, PREFIX, strlen(PREFIX)))
			pn += strlen(PREFIX);
		if (!strcmp(pn, name))
			return 1;
	}
	return 0;
}

int
rm_checkpoint_load(struct rm_model **out, const char *dir, uint64_t head_seed,
		   struct rm_checkpoint_info *info, struct rm_error *err)
{
	*out = NULL;
	struct rm_checkpoint_info inf = {0};
	struct rm_model_config c;
	int rc = rm_checkpoint_read_config(dir, &c, &inf.ids, err);
	if (rc < 0)
		return rc;
	char path[4096];
	path_join(path, sizeof path, dir, "model.safetensors");
	struct rm_st *st;
	if ((rc = rm_st_load(&st, path, err)) < 0)
		return rc;
	/* Bound the allocation by the file before making it: every tensor but
	 * score.weight must be in the file, at 2 bytes an element at least
	 * (F16, BF16), so a tiny config.json cannot ask for terabytes. */
	double need = 2.0 * ((double)c.vocab_size * c.n_embd + (double)c.n_positions * c.n_embd +
			     12.0 * c.n_layer * (double)c.n_embd * c.n_embd);
	double have = 0;
	for (size_t i = 0; i < rm_st_count(st); i++)
		have += (double)rm_st_at(st, i)->nbytes;
	if (need > have) {
		rm_st_free(st);
		return rm_error_set(err, RM_EDATA, "%s/config.json: a model of %.0f parameters "
				    "cannot be in %s (%.0f bytes of tensors)", dir, need / 2,
				    path, have);
	}
	struct rm_model *m;
	if ((rc = rm_model_create(&m, &c, err)) < 0) {
		rm_st_free(st);
		return rc;
	}
	/* Prefixed names (GPT2ForSequenceClassification, GPT2LMHeadModel) or
	 * bare ones (GPT2Model): decided by the token embedding's name. */
	inf.prefixed = rm_st_find(st, PREFIX "wte.weight") != NULL;
	for (size_t i = 0; i < m->n_tensors && rc >= 0; i++) {
		const struct rm_param *p = &m->params[i];
		const char *name = p->name;
		if (!inf.prefixed && !strncmp(name, PREFIX, strlen(PREFIX)))
			name += strlen(PREFIX);
		const struct rm_tensor *t = rm_st_find(st, name);
		if (!t) {
			if (i == rm_model_score_index(m)) {
				rm_model_init_score(m, head_seed);
				inf.head_initialized = 1;
				continue;
			}
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is missing", path, name);
			break;
		}
		if ((rc = check_shape(t, p, path, name, err)) < 0)
			break;
		if ((rc = rm_st_to_f32(t, m->params_mem + p->offset, p->numel, err)) < 0)
			rc = rm_error_prefix(err, "%s: tensor '%s'", path, name);
	}
	/* A tensor the model does not have (a second layer under a config of
	 * one, a misspelt name) means the file and config.json disagree. */
	for (size_t i = 0; rc >= 0 && i < rm_st_count(st); i++) {
		const char *name = rm_st_at(st, i)->name;
		if (!known_extra(name) && !model_has(m, name, inf.prefixed))
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is not part of the model "
					  "config.json describes", path, name);
	}
	rm_st_free(st);
	if (rc < 0) {
		rm_model_free(m);
		return rc;
	}
	if (info)
		*info = inf;
	*out = m;
	return 0;
}

/* ---- training state ----------------------------------------------------------- */

#define STATE_FILE "training_state.safetensors"

int
rm_checkpoint_save_state(const struct rm_model *m, const struct rm_adamw *opt,
			 const struct rm_train_state *st, const char *dir,
			 struct rm_error *err)
{
	if (opt->n != m->n_params)
		return rm_error_set(err, RM_EUSAGE, "optimizer state does not match the model");
	int rc = make_dir(dir, err);
	if (rc < 0)
		return rc;
	struct rm_tensor *ts = calloc(2 * m->n_tensors, sizeof *ts);
	if (!ts)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n_tensors; i++) {
		char name[128];
		const struct rm_param *p = &m->params[i];
		if (strlen(p->name) + strlen("exp_avg_sq.") > RM_TENSOR_MAX_NAME) {
			free(ts);
			return rm_error_set(err, RM_EUSAGE, "tensor name '%s' too long for the state file",
					    p->name);
		}
		snprintf(name, sizeof name, "exp_avg.%s", p->name);
		fill_tensor(&ts[2 * i], name, p, opt->m + p->offset);
		snprintf(name, sizeof name, "exp_avg_sq.%s", p->name);
		fill_tensor(&ts[2 * i + 1], name, p, opt->v + p->offset);
	}
	unsigned char rb[RM_RNG_STATE_BYTES];
	char step[32], astep[32], pos[32], epoch[32], rng[2 * RM_RNG_STATE_BYTES + 1];
	char b1[32], b2[32], eps[32], wd[32];
	rm_rng_save(&st->rng, rb);
	for (int i = 0; i < RM_RNG_STATE_BYTES; i++)
		snprintf(rng + 2 * i, 3, "%02x", rb[i]);
	snprintf(step, sizeof step, "%" PRIu64, st->step);
	snprintf(astep, sizeof astep, "%" PRIu64, opt->step);
	snprintf(pos, sizeof pos, "%" PRIu64, st->data_pos);
	snprintf(epoch, sizeof epoch, "%" PRIu64, st->epoch);
	snprintf(b1, sizeof b1, "%.17g", opt->cfg.beta1);
	snprintf(b2, sizeof b2, "%.17g", opt->cfg.beta2);
	snprintf(eps, sizeof eps, "%.17g", opt->cfg.eps);
	snprintf(wd, sizeof wd, "%.17g", opt->cfg.weight_decay);
	const char *meta[] = {"format", "rmkit-training-state", "step", step, "adamw_step", astep,
			      "data_pos", pos, "epoch", epoch, "rng", rng, "beta1", b1,
			      "beta2", b2, "eps", eps, "weight_decay", wd, NULL};
	char path[4096];
	path_join(path, sizeof path, dir, STATE_FILE);
	rc = rm_st_save(path, ts, 2 * m->n_tensors, meta, err);
	free(ts);
	return rc;
}

static int
meta_u64(const struct rm_st *st, const char *key, uint64_t *out, const char *path,
	 struct rm_error *err)
{
	const char *v = rm_st_metadata(st, key);
	char *end;
	if (!v || !*v)
		return rm_error_set(err, RM_EDATA, "%s: metadata '%s' is missing", path, key);
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (*end || errno)
		return rm_error_set(err, RM_EDATA, "%s: metadata '%s' is not a number", path, key);
	*out = x;
	return 0;
}

int
rm_checkpoint_load_state(const struct rm_model *m, struct rm_adamw *opt,
			 struct rm_train_state *st, const char *dir,
			 struct rm_error *err)
{
	if (opt->n != m->n_params)
		return rm_error_set(err, RM_EUSAGE, "optimizer state does not match the model");
	char path[4096];
	path_join(path, sizeof path, dir, STATE_FILE);
	struct rm_st *s;
	int rc = rm_st_load(&s, path, err);
	if (rc < 0)
		return rc;
	uint64_t astep = 0;
	const char *rng = rm_st_metadata(s, "rng");
	if ((rc = meta_u64(s, "step", &st->step, path, err)) < 0 ||
	    (rc = meta_u64(s, "adamw_step", &astep, path, err)) < 0 ||
	    (rc = meta_u64(s, "data_pos", &st->data_pos, path, err)) < 0 ||
	    (rc = meta_u64(s, "epoch", &st->epoch, path, err)) < 0)
		goto out;
	if (!rng || strlen(rng) != 2 * RM_RNG_STATE_BYTES) {
		rc = rm_error_set(err, RM_EDATA, "%s: metadata 'rng' is missing or malformed", path);
		goto out;
	}
	unsigned char rb[RM_RNG_STATE_BYTES];
	for (int i = 0; i < RM_RNG_STATE_BYTES; i++) {
		unsigned x;
		if (sscanf(rng + 2 * i, "%2x", &x) != 1) {
			rc = rm_error_set(err, RM_EDATA, "%s: metadata 'rng' is malformed", path);
			goto out;
		}
		rb[i] = (unsigned char)x;
	}
	rm_rng_load(&st->rng, rb);
	for (size_t i = 0; i < m->n_tensors && rc >= 0; i++) {
		const struct rm_param *p = &m->params[i];
		for (int k = 0; k < 2 && rc >= 0; k++) {
			char name[128];
			snprintf(name, sizeof name, "%s.%s", k ? "exp_avg_sq" : "exp_avg", p->name);
			const struct rm_tensor *t = rm_st_find(s, name);
			if (!t)
				rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is missing", path, name);
			else if ((rc = check_shape(t, p, path, name, err)) == 0)
				rc = rm_st_to_f32(t, (k ? opt->v : opt->m) + p->offset, p->numel, err);
		}
	}
	/* every name was found once, so more tensors means one not ours */
	for (size_t i = 0; rc >= 0 && rm_st_count(s) > 2 * m->n_tensors && i < rm_st_count(s); i++) {
		const char *name = rm_st_at(s, i)->name, *dot = strchr(name, '.');
		if (!dot || (strncmp(name, "exp_avg.", 8) && strncmp(name, "exp_avg_sq.", 11)) ||
		    !model_has(m, dot + 1, 1))
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is not part of the model",
					  path, name);
	}
	if (rc >= 0)
		opt->step = astep;
out:
	rm_st_free(s);
	return rc;
}
