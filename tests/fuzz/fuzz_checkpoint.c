/*
 * fuzz_checkpoint.c - checkpoint directories: config.json, model.safetensors
 * and training_state.safetensors (checkpoint.h).
 *
 * Input: config.json, "\n====\n", model.safetensors, "\n====\n",
 * training_state.safetensors (later parts may be absent: then the file
 * is missing).  A second part that starts with '{' is a Hugging Face
 * model.safetensors.index.json instead, and the parts after it are its
 * shards model-00001-of-00002.safetensors and model-00002-of-00002
 * (config.json of any family: gpt2, llama, mistral, qwen2, qwen3).
 * Loading must bound the model it allocates by the size of
 * model.safetensors, so a large config.json beside a small file fails
 * before any allocation (libFuzzer's -malloc_limit_mb reports one).
 */
#include <stdint.h>

#include "train/checkpoint.h"
#include "fuzz.h"
#include "nn/model.h"
#include "nn/optim.h"

static int
fuzz_checkpoint(const uint8_t *data, size_t n)
{
	const uint8_t *cfg, *rest, *model, *state;
	size_t cfg_n, rest_n, model_n, state_n;
	fuzz_split(data, n, &cfg, &cfg_n, &rest, &rest_n);
	fuzz_split(rest, rest_n, &model, &model_n, &state, &state_n);
	char dir[300];
	snprintf(dir, sizeof dir, "%s/ckpt", fuzz_dir());
	mkdir(dir, 0777);
	fuzz_file("ckpt/config.json", cfg, cfg_n);
	static const char *const shard[2] = {"ckpt/model-00001-of-00002.safetensors",
					     "ckpt/model-00002-of-00002.safetensors"};
	if (model_n && model[0] == '{') {
		/* an index and its two shards, no training state */
		const uint8_t *s1, *s2;
		size_t s1_n, s2_n;
		fuzz_split(state, state_n, &s1, &s1_n, &s2, &s2_n);
		fuzz_file("ckpt/model.safetensors.index.json", model, model_n);
		fuzz_unlink("ckpt/model.safetensors");
		fuzz_unlink("ckpt/training_state.safetensors");
		fuzz_file(shard[0], s1, s1_n);
		if (s2_n || memmem(state, state_n, FUZZ_SEP, 6))
			fuzz_file(shard[1], s2, s2_n);
		else
			fuzz_unlink(shard[1]);
	} else {
		fuzz_unlink("ckpt/model.safetensors.index.json");
		fuzz_unlink(shard[0]);
		fuzz_unlink(shard[1]);
		if (rest_n || memmem(data, n, FUZZ_SEP, 6))
			fuzz_file("ckpt/model.safetensors", model, model_n);
		else
			fuzz_unlink("ckpt/model.safetensors");
		if (state_n)
			fuzz_file("ckpt/training_state.safetensors", state, state_n);
		else
			fuzz_unlink("ckpt/training_state.safetensors");
	}

	struct rm_error err = {0};
	struct rm_model_config c;
	struct rm_token_ids ids;
	int rc = rm_checkpoint_read_config(dir, &c, &ids, &err);
	fuzz_check_err(rc, &err, "rm_checkpoint_read_config");
	if (rc < 0)
		return 0;
	if (rm_model_config_check(&c, &err) < 0)
		abort(); /* read_config promises a usable configuration */
	struct rm_model *m;
	struct rm_checkpoint_info info;
	rc = rm_checkpoint_load(&m, dir, 1, &info, &err);
	fuzz_check_err(rc, &err, "rm_checkpoint_load");
	if (rc < 0)
		return 0;
	struct rm_adamw opt;
	struct rm_adamw_config ac;
	rm_adamw_config_default(&ac);
	if (rm_adamw_init(&opt, &ac, m->n_params, &err) == 0) {
		struct rm_train_state ts;
		rc = rm_checkpoint_load_state(m, &opt, &ts, dir, &err);
		fuzz_check_err(rc, &err, "rm_checkpoint_load_state");
		rm_adamw_release(&opt);
	}
	rm_model_free(m);
	return 0;
}

FUZZ_ENTRY(fuzz_checkpoint)
