/*
 * tool-mkvotes - for tests: turn JSONL vote records into a tensor stream
 * as rm-vote writes it.  Each line's "id", "hash" become u64 scalars;
 * "chosen", "rejected", "delta", "reward" f32 scalars; "rewards" f32 [k].
 * Numbers may be the strings "nan" or "inf" to write non-finite scores.
 *   tool-mkvotes < votes.jsonl > votes.rmt
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "stream/io.h"
#include "stream/jsonl.h"
#include "stream/jsonraw.h"
#include "stream/tstream.h"

static float
num(const cJSON *f)
{
	if (cJSON_IsString(f))
		return strcmp(f->valuestring, "nan") == 0 ? NAN : INFINITY;
	return (float)f->valuedouble;
}

int
main(int argc, char **argv)
{
	static const char *const scalars[] = { "chosen", "rejected", "delta", "reward" };
	(void)argc;
	struct rm_in *in;
	struct rm_out *out;
	struct rm_jsonl *js;
	struct rm_tsw *w;
	struct rm_json_record rec;
	struct rm_error err;
	int rc;

	rm_cli_init(argv[0]);
	if (rm_in_open(&in, NULL, &err) < 0 || rm_jsonl_open(&js, in, &err) < 0 ||
	    rm_out_open(&out, NULL, 0, 0, &err) < 0 ||
	    rm_tsw_open(&w, out, "{\"tool\":\"tool-mkvotes\"}", &err) < 0)
		goto fail;
	while ((rc = rm_jsonl_next(js, &rec, &err)) == 1) {
		struct rm_tensor t[8];
		uint64_t id, hash;
		float f[4], rw[64];
		size_t n = 0;

		memset(t, 0, sizeof t);
		if (rm_json_u64(&rec, "id", &id, &err) <= 0)
			id = rec.index;
		strcpy(t[n].name, "id");
		t[n].dtype = RM_DT_U64; t[n].data = &id; t[n].nbytes = 8; n++;
		if (rm_json_u64(&rec, "hash", &hash, &err) == 1) {
			strcpy(t[n].name, "hash");
			t[n].dtype = RM_DT_U64; t[n].data = &hash; t[n].nbytes = 8; n++;
		}
		for (int i = 0; i < 4; i++) {
			const cJSON *x = cJSON_GetObjectItem(rec.json, scalars[i]);
			if (x == NULL)
				continue;
			f[i] = num(x);
			strcpy(t[n].name, scalars[i]);
			t[n].dtype = RM_DT_F32; t[n].data = &f[i]; t[n].nbytes = 4; n++;
		}
		const cJSON *g = cJSON_GetObjectItem(rec.json, "rewards"), *e;
		if (g != NULL) {
			size_t k = 0;
			cJSON_ArrayForEach(e, g)
				if (k < 64)
					rw[k++] = num(e);
			strcpy(t[n].name, "rewards");
			t[n].dtype = RM_DT_F32; t[n].ndim = 1; t[n].dims[0] = k;
			t[n].data = rw; t[n].nbytes = 4 * k; n++;
		}
		if (rm_tsw_write(w, t, n, &err) < 0)
			goto fail;
	}
	if (rc < 0 || rm_tsw_close(w, &err) < 0 || rm_out_commit(out, &err) < 0)
		goto fail;
	rm_jsonl_free(js);
	rm_in_close(in);
	return 0;
fail:
	rm_warn_err(&err);
	return 1;
}
