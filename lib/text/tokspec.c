#include "text/tokspec.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
