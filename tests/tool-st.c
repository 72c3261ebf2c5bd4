/*
 * tool-st.c - safetensors driver for tests/st_cross.py.
 *   tool-st dump FILE    print "meta KEY VALUE" lines, then one line per
 *                        tensor: "NAME DTYPE D0,D1,... V0 V1 ..." (values
 *                        converted to f32, %.9g; shape "-" for a scalar)
 *   tool-st write FILE   write the fixed tensors st_cross.py expects
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "stream/safetensors.h"

static int
dump(const char *path)
{
	struct rm_error err;
	struct rm_st *st;
	const char *k, *v;

	if (rm_st_load(&st, path, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	for (size_t i = 0; i < rm_st_metadata_count(st); i++) {
		rm_st_metadata_at(st, i, &k, &v);
		printf("meta %s %s\n", k, v);
	}
	for (size_t i = 0; i < rm_st_count(st); i++) {
		const struct rm_tensor *t = rm_st_at(st, i);
		size_t n = (size_t)rm_tensor_numel(t);
		float *f = malloc((n ? n : 1) * sizeof *f);

		if (f == NULL || rm_st_to_f32(t, f, n, &err) < 0) {
			rm_warn_err(&err);
			return 1;
		}
		printf("%s %s ", t->name, rm_dtype_name(t->dtype));
		if (t->ndim == 0)
			printf("-");
		for (int d = 0; d < t->ndim; d++)
			printf("%s%llu", d ? "," : "", (unsigned long long)t->dims[d]);
		for (size_t j = 0; j < n; j++)
			printf(" %.9g", f[j]);
		printf("\n");
		free(f);
	}
	rm_st_free(st);
	return rm_finish_stdout(0);
}

static int
write_fixed(const char *path)
{
	static float wte[5 * 3], attn[3 * 9], score[3];
	static const uint16_t f16[4] = { 0x3C00, 0xC000, 0x3800, 0x7BFF };
	static const uint16_t bf16[2] = { 0x3F80, 0xC049 };
	static const int64_t i64[2] = { -5, 1LL << 50 };
	static const uint8_t u8[3] = { 1, 2, 255 };
	static const double f64 = 0.125;
	const char *meta[] = { "format", "pt", "writer", "tool-st", NULL };
	struct rm_tensor ts[8];
	struct rm_error err;

	for (int i = 0; i < 15; i++)
		wte[i] = i * 0.25f - 1;
	for (int i = 0; i < 27; i++)
		attn[i] = i / 8.0f;
	for (int i = 0; i < 3; i++)
		score[i] = -i - 0.5f;
	rm_tensor_vector(&ts[0], "transformer.wte.weight", RM_DT_F32, wte, 15);
	ts[0].ndim = 2, ts[0].dims[0] = 5, ts[0].dims[1] = 3;
	rm_tensor_vector(&ts[1], "transformer.h.0.attn.c_attn.weight", RM_DT_F32,
			 attn, 27);
	ts[1].ndim = 2, ts[1].dims[0] = 3, ts[1].dims[1] = 9;
	rm_tensor_vector(&ts[2], "score.weight", RM_DT_F32, score, 3);
	ts[2].ndim = 2, ts[2].dims[0] = 1, ts[2].dims[1] = 3;
	rm_tensor_vector(&ts[3], "half", RM_DT_F16, f16, 4);
	rm_tensor_vector(&ts[4], "brain", RM_DT_BF16, bf16, 2);
	rm_tensor_vector(&ts[5], "longs", RM_DT_I64, i64, 2);
	rm_tensor_vector(&ts[6], "bytes", RM_DT_U8, u8, 3);
	rm_tensor_scalar(&ts[7], "eighth", RM_DT_F64, &f64);
	if (rm_st_save(path, ts, 8, meta, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	rm_cli_init(argv[0]);
	if (argc == 3 && strcmp(argv[1], "dump") == 0)
		return dump(argv[2]);
	if (argc == 3 && strcmp(argv[1], "write") == 0)
		return write_fixed(argv[2]);
	fprintf(stderr, "usage: tool-st dump|write FILE\n");
	return 2;
}
