#include "text/tokspec.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream/io.h"

static int
exists(const char *dir, const char *file)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof p, "%s/%s", dir, file);
	return access(p, R_OK) == 0;
}

static int
load_dir(struct rm_bpe **out, const char *dir, struct rm_error *err)
{
	char enc[PATH_MAX + 64], voc[PATH_MAX + 64];

	snprintf(enc, sizeof enc, "%s/encoder.json", dir);
	snprintf(voc, sizeof voc, "%s/vocab.bpe", dir);
	return rm_bpe_load_gpt2(out, enc, voc, err);
}

int
rm_tokspec_load(struct rm_bpe **out, const char *spec, struct rm_error *err)
{
	*out = NULL;
	if (strcmp(spec, "bytes") == 0)
		return rm_bpe_load_bytes(out, err);
	if (strcmp(spec, "gpt2") == 0) {
		const char *env = getenv("RMKIT_GPT2_DIR");
		char exe[PATH_MAX], dir[PATH_MAX + 32];
		ssize_t n;

		if (env && *env)
			return load_dir(out, env, err);
		n = readlink("/proc/self/exe", exe, sizeof exe - 1);
		if (n > 0) {
			char *slash;
			exe[n] = '\0';
			slash = strrchr(exe, '/');
			if (slash)
				*slash = '\0';
			snprintf(dir, sizeof dir, "%s/../.cache/gpt2", exe);
			if (exists(dir, "encoder.json") && exists(dir, "vocab.bpe"))
				return load_dir(out, dir, err);
			snprintf(dir, sizeof dir, "%s/../share/rmkit/gpt2", exe);
			if (exists(dir, "encoder.json") && exists(dir, "vocab.bpe"))
				return load_dir(out, dir, err);
		}
		return rm_error_set(err, RM_EIO,
		    "gpt2 tokenizer files not found: run 'make deps' or set "
		    "RMKIT_GPT2_DIR to a directory with encoder.json and vocab.bpe");
	}
	{
		const char *comma = strchr(spec, ',');
		if (comma) {
			char enc[PATH_MAX];
			size_t l = (size_t)(comma - spec);
			if (l >= sizeof enc)
				return rm_error_set(err, RM_EUSAGE, "path too long");
			memcpy(enc, spec, l);
			enc[l] = '\0';
			return rm_bpe_load_gpt2(out, enc, comma + 1, err);
		}
	}
	return rm_bpe_load_hf(out, spec, err);
}

static int
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *
dup_str(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = malloc(n);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* A token field: "text", {"content": "text"} or null/absent (NULL). */
static int
token_field(const cJSON *root, const char *key, char **out, const char *path,
	    struct rm_error *err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (cJSON_IsObject(v))
		v = cJSON_GetObjectItemCaseSensitive(v, "content");
	if (!cJSON_IsString(v))
		return rm_error_set(err, RM_EDATA,
		    "%s: field '%s' is not a string or {\"content\": string}",
		    path, key);
	*out = dup_str(v->valuestring);
	return *out ? 0 : rm_error_set(err, RM_ENOMEM, "out of memory");
}

static int
read_config(struct rm_tokconfig *cfg, const char *path, struct rm_error *err)
{
	char *buf = NULL;
	size_t len = 0;
	cJSON *root;
	const cJSON *t;
	int rc;

	if ((rc = rm_read_file(path, (size_t)1 << 28, &buf, &len, err)) < 0)
		return rc;
	root = cJSON_ParseWithLength(buf, len);
	free(buf);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return rm_error_set(err, RM_EDATA, "%s: not a JSON object", path);
	}
	cfg->path = dup_str(path);
	if (cfg->path == NULL)
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	if (rc == 0)
		rc = token_field(root, "bos_token", &cfg->bos_token, path, err);
	if (rc == 0)
		rc = token_field(root, "eos_token", &cfg->eos_token, path, err);
	t = cJSON_GetObjectItemCaseSensitive(root, "chat_template");
	if (rc == 0 && cJSON_IsArray(t)) {
		const cJSON *it, *found = NULL;
		cJSON_ArrayForEach(it, t) {
			const cJSON *nm = cJSON_GetObjectItemCaseSensitive(it, "name");
			if (cJSON_IsString(nm) && strcmp(nm->valuestring, "default") == 0)
				found = cJSON_GetObjectItemCaseSensitive(it, "template");
		}
		t = found;
		if (t == NULL)
			rc = rm_error_set(err, RM_EDATA,
			    "%s: 'chat_template' is a list without a 'default' entry",
			    path);
	}
	if (rc == 0 && t != NULL && !cJSON_IsNull(t)) {
		if (!cJSON_IsString(t))
			rc = rm_error_set(err, RM_EDATA,
			    "%s: field 'chat_template' is not a string", path);
		else if ((cfg->chat_template = dup_str(t->valuestring)) == NULL)
			rc = rm_error_set(err, RM_ENOMEM, "out of memory");
	}
	cJSON_Delete(root);
	return rc;
}

int
rm_tokspec_open(struct rm_bpe **out, struct rm_tokconfig *cfg,
		const char *spec, struct rm_error *err)
{
	char p[PATH_MAX + 64];
	int rc;

	memset(cfg, 0, sizeof *cfg);
	*out = NULL;
	if (!is_dir(spec))
		return rm_tokspec_load(out, spec, err);
	snprintf(p, sizeof p, "%s/tokenizer.json", spec);
	if (access(p, R_OK) != 0)
		return rm_error_set(err, RM_EIO,
		    "%s: no tokenizer.json in this directory", spec);
	if ((rc = rm_bpe_load_hf(out, p, err)) < 0)
		return rc;
	snprintf(p, sizeof p, "%s/tokenizer_config.json", spec);
	if (access(p, F_OK) == 0 && (rc = read_config(cfg, p, err)) < 0) {
		rm_tokconfig_release(cfg);
		rm_bpe_free(*out);
		*out = NULL;
		return rc;
	}
	return 0;
}

void
rm_tokconfig_release(struct rm_tokconfig *cfg)
{
	free(cfg->path);
	free(cfg->bos_token);
	free(cfg->eos_token);
	free(cfg->chat_template);
	memset(cfg, 0, sizeof *cfg);
}
