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
#include "train/pairs.h"

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

/* float to bfloat16, round to nearest even (NaN stays NaN). */
static uint16_t
to_bf16(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);
	return (uint16_t)(u >> 16);
}

/* A float as the shortest decimal that reads back as it (1e-05, not
 * 9.99999974737875e-06). */
static double
f32num(float f)
{
	char b[32];
	snprintf(b, sizeof b, "%.9g", (double)f);
	for (int p = 1; p <= 9; p++) {
		snprintf(b, sizeof b, "%.*g", p, (double)f);
		if ((float)strtod(b, NULL) == f)
			break;
	}
	return strtod(b, NULL);
}

static void
add_id(cJSON *j, const char *key, int v)
{
	if (v >= 0)
		cJSON_AddNumberToObject(j, key, v);
	else
		cJSON_AddNullToObject(j, key);
}

static void
add_token_ids(cJSON *j, const struct rm_token_ids *ids)
{
	struct rm_token_ids id = ids ? *ids : (struct rm_token_ids){.bos = -1, .eos = -1, .pad = -1};
	/* a stream without the id (none given): null, as transformers writes
	 * an unset one, not a made-up token */
	add_id(j, "bos_token_id", id.bos);
	add_id(j, "eos_token_id", id.eos);
	/*
	 * *ForSequenceClassification reads each row's reward at its last
	 * token that is not pad_token_id.  rm-tokenize ends every sequence with
	 * eos and the reward is read there, so a pad id equal to eos (the usual
	 * GPT-2 choice) would make transformers read one token earlier than we
	 * do.  Without a pad id it reads the last position, as we do, for
	 * unpadded input; a caller who pads sets a pad id of its own.
	 */
	if (id.pad < 0 || id.pad == id.eos)
		cJSON_AddNullToObject(j, "pad_token_id");
	else
		cJSON_AddNumberToObject(j, "pad_token_id", id.pad);
	if (ids && (ids->tokenizer[0] || ids->tokenizer_hash[0])) {
		cJSON *t = cJSON_AddObjectToObject(j, "rmkit_tokenizer");
		cJSON_AddStringToObject(t, "tokenizer", ids->tokenizer);
		cJSON_AddStringToObject(t, "tokenizer_hash", ids->tokenizer_hash);
		cJSON_AddStringToObject(t, "template", ids->tmpl);
		if (ids->tmpl_hash[0])
			cJSON_AddStringToObject(t, "template_hash", ids->tmpl_hash);
	}
	cJSON_AddNumberToObject(j, "num_labels", 1);
	cJSON *i2l = cJSON_AddObjectToObject(j, "id2label");
	cJSON_AddStringToObject(i2l, "0", "LABEL_0");
	cJSON *l2i = cJSON_AddObjectToObject(j, "label2id");
	cJSON_AddNumberToObject(l2i, "LABEL_0", 0);
}

static void
gpt2_config_json(cJSON *j, const struct rm_model_config *c)
{
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
	cJSON_AddNumberToObject(j, "resid_pdrop", f32num(c->resid_pdrop));
	cJSON_AddNumberToObject(j, "embd_pdrop", f32num(c->embd_pdrop));
	cJSON_AddNumberToObject(j, "attn_pdrop", f32num(c->attn_pdrop));
	cJSON_AddNumberToObject(j, "layer_norm_epsilon", f32num(c->layer_norm_epsilon));
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
}

static void
llama_config_json(cJSON *j, const struct rm_model_config *c)
{
	static const char *const cls[RM_LLAMA_N] = {
		"LlamaForSequenceClassification", "MistralForSequenceClassification",
		"Qwen2ForSequenceClassification", "Qwen3ForSequenceClassification"};
	int t = c->model_type;
	cJSON *arch = cJSON_AddArrayToObject(j, "architectures");
	cJSON_AddItemToArray(arch, cJSON_CreateString(cls[t]));
	cJSON_AddStringToObject(j, "model_type", rm_model_type_name(c));
	cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
	cJSON_AddNumberToObject(j, "hidden_size", c->n_embd);
	cJSON_AddNumberToObject(j, "intermediate_size", c->intermediate_size);
	cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layer);
	cJSON_AddNumberToObject(j, "num_attention_heads", c->n_head);
	cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_head);
	cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
	cJSON_AddNumberToObject(j, "max_position_embeddings", c->n_positions);
	cJSON_AddStringToObject(j, "hidden_act", "silu");
	cJSON_AddNumberToObject(j, "rms_norm_eps", f32num(c->layer_norm_epsilon));
	cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
	if (c->rope_factor > 0) {
		cJSON *r = cJSON_AddObjectToObject(j, "rope_scaling");
		cJSON_AddStringToObject(r, "rope_type", "llama3");
		cJSON_AddNumberToObject(r, "factor", c->rope_factor);
		cJSON_AddNumberToObject(r, "low_freq_factor", c->rope_low_freq_factor);
		cJSON_AddNumberToObject(r, "high_freq_factor", c->rope_high_freq_factor);
		cJSON_AddNumberToObject(r, "original_max_position_embeddings",
					c->rope_original_max_positions);
	} else {
		cJSON_AddNullToObject(j, "rope_scaling");
	}
	if (t == RM_LLAMA || t == RM_QWEN3)
		cJSON_AddBoolToObject(j, "attention_bias", c->qkv_bias);
	if (t == RM_LLAMA)
		cJSON_AddBoolToObject(j, "mlp_bias", 0);
	cJSON_AddNumberToObject(j, "attention_dropout", f32num(c->attn_pdrop));
	if (t == RM_MISTRAL) {
		if (c->sliding_window > 0)
			cJSON_AddNumberToObject(j, "sliding_window", c->sliding_window);
		else
			cJSON_AddNullToObject(j, "sliding_window");
	}
	if (t == RM_QWEN2 || t == RM_QWEN3) {
		cJSON_AddBoolToObject(j, "use_sliding_window", 0);
		cJSON_AddNullToObject(j, "sliding_window");
	}
	cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_word_embeddings);
	cJSON_AddNumberToObject(j, "initializer_range", 0.02);
	cJSON_AddBoolToObject(j, "use_cache", 1);
}

int
rm_checkpoint_save(const struct rm_model *m, const char *dir,
		   const struct rm_token_ids *ids, struct rm_error *err)
{
	return rm_checkpoint_save_dtype(m, dir, ids, RM_DT_F32, err);
}

int
rm_checkpoint_save_dtype(const struct rm_model *m, const char *dir,
			 const struct rm_token_ids *ids, int dtype, struct rm_error *err)
{
	if (dtype != RM_DT_F32 && dtype != RM_DT_BF16)
		return rm_error_set(err, RM_EUSAGE, "checkpoints are saved as f32 or bf16");
	int rc = make_dir(dir, err);
	if (rc < 0)
		return rc;
	const struct rm_model_config *c = &m->cfg;
	char path[4096];
	struct rm_tensor *ts = calloc(m->n_tensors, sizeof *ts);
	uint16_t *half = NULL;
	if (ts && dtype == RM_DT_BF16 && !(half = malloc(m->n_params * sizeof *half))) {
		free(ts);
		ts = NULL;
	}
	if (!ts)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct rm_param *p = &m->params[i];
		fill_tensor(&ts[i], p->name, p, m->params_mem + p->offset);
		if (half) {
			for (size_t k = 0; k < p->numel; k++)
				half[p->offset + k] = to_bf16(m->params_mem[p->offset + k]);
			ts[i].dtype = RM_DT_BF16;
			ts[i].data = half + p->offset;
			ts[i].nbytes = p->numel * sizeof *half;
		}
	}
	/* transformers refuses safetensors files without format metadata */
	static const char *const meta[] = {"format", "pt", NULL};
	path_join(path, sizeof path, dir, "model.safetensors");
	rc = rm_st_save(path, ts, m->n_tensors, meta, err);
	free(ts);
	free(half);
	if (rc < 0)
		return rc;

	cJSON *j = cJSON_CreateObject();
	if (c->family == RM_FAMILY_GPT2)
		gpt2_config_json(j, c);
	else
		llama_config_json(j, c);
	add_token_ids(j, ids);
	cJSON_AddStringToObject(j, "torch_dtype", dtype == RM_DT_BF16 ? "bfloat16" : "float32");
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

/* An integer id, or the first of a list (Llama 3's eos_token_id). */
static int
get_id(const cJSON *j, const char *key, int *out, const char *path, struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (cJSON_IsArray(v)) {
		cJSON *tmp = cJSON_CreateObject();
		const cJSON *first = cJSON_GetArrayItem(v, 0);
		if (!tmp)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		if (first)
			cJSON_AddItemToObject(tmp, key, cJSON_Duplicate(first, 1));
		int rc = get_int(tmp, key, -1, out, path, err);
		cJSON_Delete(tmp);
		return rc;
	}
	return get_int(j, key, -1, out, path, err);
}

static int
get_double(const cJSON *j, const char *key, double def, double *out, const char *path,
	   struct rm_error *err)
{
	float f;
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	int rc = get_float(j, key, (float)def, &f, path, err);
	if (rc < 0)
		return rc;
	*out = v && cJSON_IsNumber(v) ? v->valuedouble : def;
	return 0;
}

static int
read_gpt2_config(const cJSON *j, const char *path, struct rm_model_config *c,
		 struct rm_error *err)
{
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "activation_function");
	int n_inner = 0, rc;
	/* defaults are transformers' GPT2Config defaults */
	if (act && (!cJSON_IsString(act) || (strcmp(act->valuestring, "gelu_new") &&
					     strcmp(act->valuestring, "gelu_pytorch_tanh"))))
		return rm_error_set(err, RM_EDATA, "%s: activation_function %s is not supported (gelu_new is)",
				    path, cJSON_IsString(act) ? act->valuestring : "(not a string)");
	if ((rc = get_int(j, "n_layer", 12, &c->n_layer, path, err)) < 0 ||
	    (rc = get_int(j, "n_head", 12, &c->n_head, path, err)) < 0 ||
	    (rc = get_int(j, "n_embd", 768, &c->n_embd, path, err)) < 0 ||
	    (rc = get_int(j, "n_positions", 1024, &c->n_positions, path, err)) < 0 ||
	    (rc = get_int(j, "vocab_size", 50257, &c->vocab_size, path, err)) < 0 ||
	    (rc = get_int(j, "n_inner", 0, &n_inner, path, err)) < 0 ||
	    (rc = get_float(j, "layer_norm_epsilon", 1e-5f, &c->layer_norm_epsilon, path, err)) < 0 ||
	    (rc = get_float(j, "resid_pdrop", 0.1f, &c->resid_pdrop, path, err)) < 0 ||
	    (rc = get_float(j, "embd_pdrop", 0.1f, &c->embd_pdrop, path, err)) < 0 ||
	    (rc = get_float(j, "attn_pdrop", 0.1f, &c->attn_pdrop, path, err)) < 0 ||
	    (rc = want_bool(j, "scale_attn_weights", 1, path, err)) < 0 ||
	    (rc = want_bool(j, "scale_attn_by_inverse_layer_idx", 0, path, err)) < 0 ||
	    (rc = want_bool(j, "reorder_and_upcast_attn", 0, path, err)) < 0 ||
	    (rc = want_bool(j, "add_cross_attention", 0, path, err)) < 0)
		return rc;
	if (n_inner && n_inner != 4 * c->n_embd)
		return rm_error_set(err, RM_EDATA, "%s: n_inner %d is not 4 * n_embd", path, n_inner);
	return 0;
}

/* A boolean key (absent or null: def). */
static int
get_bool(const cJSON *j, const char *key, int def, int *out, const char *path,
	 struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
	if (!v || cJSON_IsNull(v)) {
		*out = def;
		return 0;
	}
	if (!cJSON_IsBool(v))
		return rm_error_set(err, RM_EDATA, "%s: '%s' is not a boolean", path, key);
	*out = cJSON_IsTrue(v);
	return 0;
}

/* rope_scaling (or transformers 5's rope_parameters): none, "default" or
 * "llama3"; anything else is refused by name. */
static int
read_rope(const cJSON *j, const char *path, struct rm_model_config *c, struct rm_error *err)
{
	const char *keys[2] = {"rope_scaling", "rope_parameters"};
	for (int k = 0; k < 2; k++) {
		const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, keys[k]);
		if (!r || cJSON_IsNull(r))
			continue;
		if (!cJSON_IsObject(r))
			return rm_error_set(err, RM_EDATA, "%s: '%s' is not an object", path, keys[k]);
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "rope_type");
		if (!t)
			t = cJSON_GetObjectItemCaseSensitive(r, "type");
		const char *type = cJSON_IsString(t) ? t->valuestring : "default";
		int rc;
		if (cJSON_GetObjectItemCaseSensitive(r, "rope_theta") &&
		    (rc = get_double(r, "rope_theta", c->rope_theta, &c->rope_theta, path, err)) < 0)
			return rc;
		if (!strcmp(type, "default"))
			continue;
		if (strcmp(type, "llama3"))
			return rm_error_set(err, RM_EDATA, "%s: %s type \"%s\" is not supported "
					    "(\"llama3\" and \"default\" are)", path, keys[k], type);
		if ((rc = get_double(r, "factor", 0, &c->rope_factor, path, err)) < 0 ||
		    (rc = get_double(r, "low_freq_factor", 1, &c->rope_low_freq_factor, path, err)) < 0 ||
		    (rc = get_double(r, "high_freq_factor", 4, &c->rope_high_freq_factor, path, err)) < 0 ||
		    (rc = get_int(r, "original_max_position_embeddings", 8192,
				  &c->rope_original_max_positions, path, err)) < 0)
			return rc;
		if (!(c->rope_factor > 0))
			return rm_error_set(err, RM_EDATA, "%s: %s factor must be positive", path, keys[k]);
	}
	return 0;
}

/*
 * The Llama family's config.json, with transformers' defaults for absent
 * keys (LlamaConfig, MistralConfig, Qwen2Config, Qwen3Config); features
 * rmkit does not implement are refused by the key's name.
 */
static int
read_llama_config(const cJSON *j, const char *path, struct rm_model_config *c,
		  struct rm_error *err)
{
	int t = c->model_type, rc, kv = -1, hd = 0, b = 0, mlp_bias = 0, sw = 0, use_sw = 0;
	int qwen = t == RM_QWEN2 || t == RM_QWEN3;
	const cJSON *act = cJSON_GetObjectItemCaseSensitive(j, "hidden_act");
	if (act && (!cJSON_IsString(act) || strcmp(act->valuestring, "silu")))
		return rm_error_set(err, RM_EDATA, "%s: hidden_act %s is not supported (silu is)", path,
				    cJSON_IsString(act) ? act->valuestring : "(not a string)");
	static const char *const moe[] = {"num_experts", "num_local_experts", "n_routed_experts"};
	for (size_t i = 0; i < sizeof moe / sizeof *moe; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, moe[i]);
		if (cJSON_IsNumber(v) && v->valuedouble > 0)
			return rm_error_set(err, RM_EDATA, "%s: %s: mixture-of-experts models are not "
					    "supported", path, moe[i]);
	}
	c->rope_theta = 10000;
	if ((rc = get_int(j, "num_hidden_layers", 32, &c->n_layer, path, err)) < 0 ||
	    (rc = get_int(j, "num_attention_heads", 32, &c->n_head, path, err)) < 0 ||
	    (rc = get_int(j, "num_key_value_heads", t == RM_MISTRAL ? 8 : -1, &kv, path, err)) < 0 ||
	    (rc = get_int(j, "hidden_size", 4096, &c->n_embd, path, err)) < 0 ||
	    (rc = get_int(j, "head_dim", t == RM_QWEN3 ? 128 : 0, &hd, path, err)) < 0 ||
	    (rc = get_int(j, "intermediate_size", t == RM_LLAMA ? 11008 : t == RM_MISTRAL ? 14336 : 22016,
			  &c->intermediate_size, path, err)) < 0 ||
	    (rc = get_int(j, "max_position_embeddings", t == RM_LLAMA ? 2048 : t == RM_MISTRAL ? 131072 : 32768,
			  &c->n_positions, path, err)) < 0 ||
	    (rc = get_int(j, "vocab_size", qwen ? 151936 : 32000, &c->vocab_size, path, err)) < 0 ||
	    (rc = get_float(j, "rms_norm_eps", 1e-6f, &c->layer_norm_epsilon, path, err)) < 0 ||
	    (rc = get_float(j, "attention_dropout", 0, &c->attn_pdrop, path, err)) < 0 ||
	    (rc = get_double(j, "rope_theta", c->rope_theta, &c->rope_theta, path, err)) < 0 ||
	    (rc = read_rope(j, path, c, err)) < 0 ||
	    (rc = get_bool(j, "attention_bias", t == RM_QWEN2, &b, path, err)) < 0 ||
	    (rc = get_bool(j, "mlp_bias", 0, &mlp_bias, path, err)) < 0 ||
	    (rc = get_bool(j, "use_sliding_window", 0, &use_sw, path, err)) < 0 ||
	    (rc = get_bool(j, "tie_word_embeddings", 0, &c->tie_word_embeddings, path, err)) < 0)
		return rc;
	if (mlp_bias)
		return rm_error_set(err, RM_EDATA, "%s: mlp_bias true is not supported", path);
	if (qwen && use_sw)
		return rm_error_set(err, RM_EDATA, "%s: use_sliding_window true is not supported", path);
	const cJSON *lt = cJSON_GetObjectItemCaseSensitive(j, "layer_types");
	const cJSON *e;
	cJSON_ArrayForEach(e, lt)
		if (!cJSON_IsString(e) || strcmp(e->valuestring, "full_attention"))
			return rm_error_set(err, RM_EDATA, "%s: layer_types other than \"full_attention\" "
					    "are not supported", path);
	if (t == RM_MISTRAL && (rc = get_int(j, "sliding_window", 4096, &sw, path, err)) < 0)
		return rc;
	/* a window no shorter than every sequence changes nothing */
	c->sliding_window = sw > 0 && sw < c->n_positions ? sw : 0;
	c->n_kv_head = kv < 0 ? c->n_head : kv;
	c->head_dim = hd > 0 ? hd : c->n_head > 0 ? c->n_embd / c->n_head : 0;
	c->qkv_bias = t == RM_MISTRAL ? 0 : b;
	c->o_bias = t == RM_MISTRAL || t == RM_QWEN2 ? 0 : b;
	if (t == RM_QWEN2 && !b)
		return rm_error_set(err, RM_EDATA, "%s: attention_bias false is not what qwen2 has", path);
	c->qk_norm = t == RM_QWEN3;
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
	int bos, eos, pad;
	if (mt && (!cJSON_IsString(mt) || rm_model_type_parse(mt->valuestring, c) < 0))
		rc = rm_error_set(err, RM_EDATA, "%s: model_type %s%s%s is not supported (gpt2, llama, "
				  "mistral, qwen2 and qwen3 are)", path, cJSON_IsString(mt) ? "\"" : "",
				  cJSON_IsString(mt) ? mt->valuestring : "(not a string)",
				  cJSON_IsString(mt) ? "\"" : "");
	else if ((rc = c->family == RM_FAMILY_GPT2 ? read_gpt2_config(j, path, c, err)
						    : read_llama_config(j, path, c, err)) < 0 ||
		 (rc = get_id(j, "bos_token_id", &bos, path, err)) < 0 ||
		 (rc = get_id(j, "eos_token_id", &eos, path, err)) < 0 ||
		 (rc = get_id(j, "pad_token_id", &pad, path, err)) < 0)
		;
	else {
		int nl = 1;
		const cJSON *i2l = cJSON_GetObjectItemCaseSensitive(j, "id2label");
		if ((rc = get_int(j, "num_labels", cJSON_IsObject(i2l) ? cJSON_GetArraySize(i2l) : 1,
				  &nl, path, err)) >= 0 && nl != 1)
			rc = rm_error_set(err, RM_EDATA, "%s: num_labels is %d, a reward model has 1", path, nl);
	}
	struct rm_token_ids got = {bos, eos, pad, "", "", "", ""};
	const cJSON *tk = cJSON_GetObjectItemCaseSensitive(j, "rmkit_tokenizer");
	if (rc >= 0 && tk) {
		const char *k[4] = {"tokenizer", "tokenizer_hash", "template", "template_hash"};
		char *dst[4] = {got.tokenizer, got.tokenizer_hash, got.tmpl, got.tmpl_hash};
		size_t n[4] = {sizeof got.tokenizer, sizeof got.tokenizer_hash, sizeof got.tmpl,
			       sizeof got.tmpl_hash};
		for (int i = 0; i < 4; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(tk, k[i]);
			if (v && !cJSON_IsString(v)) {
				rc = rm_error_set(err, RM_EDATA, "%s: rmkit_tokenizer.%s is not a string",
						  path, k[i]);
				break;
			}
			if (v)
				snprintf(dst[i], n[i], "%s", v->valuestring);
		}
	}
	cJSON_Delete(j);
	if (rc < 0)
		return rc;
	if (ids)
		*ids = got;
	/* the check speaks of arguments (RM_EUSAGE); here they are data */
	if ((rc = rm_model_config_check(c, err)) < 0) {
		rm_error_prefix(err, "%s", path);
		if (err)
			err->code = RM_EDATA;
		return RM_EDATA;
	}
	return 0;
}

int
rm_checkpoint_check_tokenizer(const struct rm_token_ids *ids, const char *dir,
			      const struct rm_pairs *p, const char *name,
			      const char *override, struct rm_error *err)
{
	int hash = ids->tokenizer_hash[0] && p->tokenizer_hash[0] &&
		   strcmp(ids->tokenizer_hash, p->tokenizer_hash);
	int tmpl = ids->tmpl[0] && p->tmpl[0] && strcmp(ids->tmpl, p->tmpl);
	/* one template name, two texts: a model directory's own chat_template */
	int text = ids->tmpl_hash[0] && p->tmpl_hash[0] && strcmp(ids->tmpl_hash, p->tmpl_hash);
	if (!hash && !tmpl && !text)
		return 0;
	return rm_error_set(err, RM_EDATA, "%s: made by tokenizer %s (hash %s) with template %s "
			    "(hash %s), but %s was trained on tokenizer %s (hash %s) with template "
			    "%s (hash %s) (%s uses it anyway)", name,
			    p->tokenizer[0] ? p->tokenizer : "?",
			    p->tokenizer_hash[0] ? p->tokenizer_hash : "?", p->tmpl[0] ? p->tmpl : "?",
			    p->tmpl_hash[0] ? p->tmpl_hash : "?", dir,
			    ids->tokenizer[0] ? ids->tokenizer : "?",
			    ids->tokenizer_hash[0] ? ids->tokenizer_hash : "?",
			    ids->tmpl[0] ? ids->tmpl : "?", ids->tmpl_hash[0] ? ids->tmpl_hash : "?",
			    override);
}

/* ---- model.safetensors ------------------------------------------------------ */

static int
ends_with(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && !strcmp(s + n - k, suf);
}

/* Tensors a base model's file may hold that a reward model does not use. */
static int
known_extra(const char *name)
{
	return ends_with(name, ".attn.bias") || ends_with(name, ".attn.masked_bias") ||
	       ends_with(name, ".rotary_emb.inv_freq") || !strcmp(name, "lm_head.weight");
}

/*
 * The tensors of a checkpoint: model.safetensors, or the shards that
 * model.safetensors.index.json lists (transformers' sharded layout:
 * {"metadata": {...}, "weight_map": {tensor: file}}).  Every file named
 * must be a plain file name in the directory; every tensor the index names
 * must be in its shard and every tensor of a shard named by the index for
 * that shard, so a missing, stale or extra shard is an error, not a
 * silently mixed model.
 */
#define MAX_SHARDS 4096

struct ckpt_src {
	struct rm_st **st;
	char **file;
	size_t n;
};

static void
src_free(struct ckpt_src *s)
{
	for (size_t i = 0; i < s->n; i++) {
		rm_st_free(s->st[i]);
		free(s->file[i]);
	}
	free(s->st);
	free(s->file);
	memset(s, 0, sizeof *s);
}

static int
src_add(struct ckpt_src *s, const char *dir, const char *file, struct rm_error *err)
{
	char path[4096];
	if (s->n == MAX_SHARDS)
		return rm_error_set(err, RM_EDATA, "%s: more than %d shards", dir, MAX_SHARDS);
	struct rm_st **st = realloc(s->st, (s->n + 1) * sizeof *st);
	if (st)
		s->st = st;
	char **f = realloc(s->file, (s->n + 1) * sizeof *f);
	if (f)
		s->file = f;
	if (!st || !f || !(s->file[s->n] = strdup(file)))
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	path_join(path, sizeof path, dir, file);
	int rc = rm_st_load(&s->st[s->n], path, err);
	if (rc < 0) {
		free(s->file[s->n]);
		return rc;
	}
	s->n++;
	return 0;
}

static const struct rm_tensor *
src_find(const struct ckpt_src *s, const char *name, size_t *which)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct rm_tensor *t = rm_st_find(s->st[i], name);
		if (t) {
			if (which)
				*which = i;
			return t;
		}
	}
	return NULL;
}

static int
src_open_index(struct ckpt_src *s, const char *dir, const char *ipath, struct rm_error *err)
{
	char *text;
	size_t len;
	int rc = rm_read_file(ipath, 64 << 20, &text, &len, err);
	if (rc < 0)
		return rc;
	cJSON *j = cJSON_ParseWithLength(text, len);
	free(text);
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
	const cJSON *e;
	if (!cJSON_IsObject(map)) {
		rc = rm_error_set(err, RM_EDATA, "%s: no \"weight_map\" object", ipath);
		goto out;
	}
	cJSON_ArrayForEach(e, map) {
		const char *f = cJSON_IsString(e) ? e->valuestring : NULL;
		if (!f || !*f || strchr(f, '/') || f[0] == '.' || !ends_with(f, ".safetensors")) {
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is mapped to %s%s%s, not a "
					  ".safetensors file in the directory", ipath, e->string,
					  f ? "\"" : "", f ? f : "a non-string", f ? "\"" : "");
			goto out;
		}
		size_t i;
		for (i = 0; i < s->n && strcmp(s->file[i], f); i++)
			;
		if (i == s->n && (rc = src_add(s, dir, f, err)) < 0)
			goto out;
		const struct rm_tensor *t = rm_st_find(s->st[i], e->string);
		if (!t) {
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is not in %s, where the index "
					  "puts it", ipath, e->string, f);
			goto out;
		}
	}
	/* every tensor of every shard is the index's, and in that shard */
	for (size_t i = 0; i < s->n; i++)
		for (size_t k = 0; k < rm_st_count(s->st[i]); k++) {
			const char *name = rm_st_at(s->st[i], k)->name;
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(map, name);
			if (!cJSON_IsString(f) || strcmp(f->valuestring, s->file[i])) {
				rc = rm_error_set(err, RM_EDATA, "%s/%s: tensor '%s' is not listed for "
						  "this shard in %s", dir, s->file[i], name, ipath);
				goto out;
			}
		}
	if (s->n == 0)
		rc = rm_error_set(err, RM_EDATA, "%s: the index lists no tensors", ipath);
out:
	cJSON_Delete(j);
	return rc;
}

static int
src_open(struct ckpt_src *s, const char *dir, struct rm_error *err)
{
	char path[4096];
	struct stat sb;
	memset(s, 0, sizeof *s);
	path_join(path, sizeof path, dir, "model.safetensors");
	int rc;
	if (stat(path, &sb) == 0 || errno != ENOENT) {
		rc = src_add(s, dir, "model.safetensors", err);
	} else {
		path_join(path, sizeof path, dir, "model.safetensors.index.json");
		if (stat(path, &sb) < 0 && errno == ENOENT) {
			path_join(path, sizeof path, dir, "pytorch_model.bin");
			if (stat(path, &sb) == 0)
				return rm_error_set(err, RM_EDATA, "%s: only pytorch_model.bin, which is not "
						    "read: convert it to model.safetensors", dir);
			return rm_error_set(err, RM_EDATA, "%s/model.safetensors: no such file (nor "
					    "model.safetensors.index.json)", dir);
		}
		rc = src_open_index(s, dir, path, err);
	}
	if (rc < 0)
		src_free(s);
	return rc;
}

/* The name a table entry has in the files: GPT-2 checkpoints may lack the
 * "transformer." prefix (GPT2Model), llama ones "model." (LlamaModel). */
static const char *
file_name(const char *name, const char *prefix, int prefixed)
{
	size_t k = strlen(prefix);
	return !prefixed && !strncmp(name, prefix, k) ? name + k : name;
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
model_has(const struct rm_model *m, const char *name, const char *prefix, int prefixed)
{
	for (size_t i = 0; i < m->n_tensors; i++) {
		const char *pn = file_name(m->params[i].name, prefix, prefixed);
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
	struct ckpt_src src;
	if ((rc = src_open(&src, dir, err)) < 0)
		return rc;
	char path[4096];
	path_join(path, sizeof path, dir, src.n == 1 ? src.file[0] : "model.safetensors.index.json");
	/* Bound the allocation by the files before making it: every tensor but
	 * score.weight must be there, at 2 bytes an element at least (F16,
	 * BF16), so a tiny config.json cannot ask for terabytes. */
	double need = 2.0 * ((double)rm_model_param_count(&c, err) - c.n_embd);
	double have = 0;
	for (size_t k = 0; k < src.n; k++)
		for (size_t i = 0; i < rm_st_count(src.st[k]); i++)
			have += (double)rm_st_at(src.st[k], i)->nbytes;
	if (need > have) {
		src_free(&src);
		return rm_error_set(err, RM_EDATA, "%s/config.json: a model of %.0f parameters "
				    "cannot be in %s (%.0f bytes of tensors)", dir, need / 2,
				    path, have);
	}
	struct rm_model *m;
	if ((rc = rm_model_create(&m, &c, err)) < 0) {
		src_free(&src);
		return rc;
	}
	/* Prefixed names (*ForSequenceClassification, *ForCausalLM) or bare
	 * ones (the base model class): decided by the token embedding's name. */
	const char *prefix = c.family == RM_FAMILY_GPT2 ? PREFIX : "model.";
	inf.prefixed = src_find(&src, m->params[0].name, NULL) != NULL;
	for (size_t i = 0; i < m->n_tensors && rc >= 0; i++) {
		const struct rm_param *p = &m->params[i];
		const char *name = file_name(p->name, prefix, inf.prefixed);
		size_t which = 0;
		const struct rm_tensor *t = src_find(&src, name, &which);
		if (!t) {
			if (i == rm_model_score_index(m)) {
				rm_model_init_score(m, head_seed);
				inf.head_initialized = 1;
				continue;
			}
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is missing", path, name);
			break;
		}
		char tpath[4096];
		path_join(tpath, sizeof tpath, dir, src.file[which]);
		if ((rc = check_shape(t, p, tpath, name, err)) < 0)
			break;
		if (t->dtype != RM_DT_F32 && t->dtype != RM_DT_BF16 && t->dtype != RM_DT_F16 &&
		    t->dtype != RM_DT_F64) {
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is %s, not a float type", tpath,
					  name, rm_dtype_name(t->dtype));
			break;
		}
		if ((rc = rm_st_read_f32(src.st[which], t, m->params_mem + p->offset, p->numel,
					 err)) < 0)
			rc = rm_error_prefix(err, "%s: tensor '%s'", tpath, name);
	}
	/* A tensor the model does not have (a second layer under a config of
	 * one, a misspelt name) means the files and config.json disagree. */
	for (size_t k = 0; rc >= 0 && k < src.n; k++)
		for (size_t i = 0; rc >= 0 && i < rm_st_count(src.st[k]); i++) {
			const char *name = rm_st_at(src.st[k], i)->name;
			if (!known_extra(name) && !model_has(m, name, prefix, inf.prefixed))
				rc = rm_error_set(err, RM_EDATA, "%s/%s: tensor '%s' is not part of the "
						  "model config.json describes", dir, src.file[k], name);
		}
	src_free(&src);
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
				rc = rm_st_read_f32(s, t, (k ? opt->v : opt->m) + p->offset,
						    p->numel, err);
		}
	}
	/* every name was found once, so more tensors means one not ours */
	for (size_t i = 0; rc >= 0 && rm_st_count(s) > 2 * m->n_tensors && i < rm_st_count(s); i++) {
		const char *name = rm_st_at(s, i)->name, *dot = strchr(name, '.');
		if (!dot || (strncmp(name, "exp_avg.", 8) && strncmp(name, "exp_avg_sq.", 11)) ||
		    !model_has(m, dot + 1, PREFIX, 1))
			rc = rm_error_set(err, RM_EDATA, "%s: tensor '%s' is not part of the model",
					  path, name);
	}
	if (rc >= 0)
		opt->step = astep;
out:
	rm_st_free(s);
	return rc;
}
