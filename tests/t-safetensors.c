/*
 * t-safetensors.c - safetensors: round trip with GPT-2 checkpoint names
 * and every dtype, the writer's layout (padded header, no gaps, aligned
 * tensors), f16/bf16 conversion, and a table of malformed files that must
 * be rejected with a message naming the problem; and a file over
 * RM_ST_MAP_MIN, mapped, whose F32 and BF16 tensors of more than one
 * conversion slice (with a partial last one) read back exactly.
 */
#include "check.h"
#include "testfs.h"
#include "stream/safetensors.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_round_trip(void)
{
	struct rm_error err = { 0 };
	static float attn[4 * 12], wte[10 * 4], score[4], ln[4];
	static double x64 = -1.0 / 3;
	static int64_t i64[3] = { -1, 1LL << 40, 7 };
	static uint8_t u8[5] = { 0, 1, 2, 254, 255 };
	static uint16_t f16[3] = { 0x3C00, 0xC000, 0x7BFF };
	static uint16_t bf16[2] = { 0x3F80, 0x4049 };
	static int32_t none[1];
	struct rm_tensor ts[10];
	const char *meta[] = { "format", "pt", "rmkit", "quote \" and \\n", NULL };
	struct rm_st *st;
	size_t n;

	for (int i = 0; i < 48; i++)
		attn[i] = (float)i / 7;
	for (int i = 0; i < 40; i++)
		wte[i] = -(float)i * 1e-3f;
	for (int i = 0; i < 4; i++)
		score[i] = ln[i] = (float)i + 0.5f;
	rm_tensor_vector(&ts[0], "transformer.h.0.attn.c_attn.weight", RM_DT_F32,
			 attn, 48);
	ts[0].ndim = 2, ts[0].dims[0] = 4, ts[0].dims[1] = 12;
	rm_tensor_vector(&ts[1], "transformer.wte.weight", RM_DT_F32, wte, 40);
	ts[1].ndim = 2, ts[1].dims[0] = 10, ts[1].dims[1] = 4;
	rm_tensor_vector(&ts[2], "score.weight", RM_DT_F32, score, 4);
	ts[2].ndim = 2, ts[2].dims[0] = 1, ts[2].dims[1] = 4;
	rm_tensor_vector(&ts[3], "transformer.h.0.ln_1.bias", RM_DT_F32, ln, 4);
	rm_tensor_scalar(&ts[4], "x64", RM_DT_F64, &x64);
	rm_tensor_vector(&ts[5], "i64", RM_DT_I64, i64, 3);
	rm_tensor_vector(&ts[6], "u8", RM_DT_U8, u8, 5);
	rm_tensor_vector(&ts[7], "f16", RM_DT_F16, f16, 3);
	rm_tensor_vector(&ts[8], "bf16", RM_DT_BF16, bf16, 2);
	rm_tensor_vector(&ts[9], "empty", RM_DT_I32, none, 0);

	CHECK(rm_st_save(tpath("m.safetensors"), ts, 10, meta, &err) == 0, "%s",
	      err.msg);
	CHECK(rm_st_load(&st, tpath("m.safetensors"), &err) == 0, "%s", err.msg);
	if (st == NULL)
		return;
	CHECK(rm_st_count(st) == 10, "count %zu", rm_st_count(st));
	for (int i = 0; i < 10; i++) {
		const struct rm_tensor *t = rm_st_find(st, ts[i].name);
		CHECK(t != NULL, "find %s", ts[i].name);
		if (t == NULL)
			continue;
		CHECK(t->dtype == ts[i].dtype && t->ndim == ts[i].ndim &&
		      memcmp(t->dims, ts[i].dims, sizeof t->dims) == 0 &&
		      t->nbytes == ts[i].nbytes &&
		      memcmp(t->data, ts[i].data, t->nbytes) == 0,
		      "%s differs", ts[i].name);
		CHECK((uintptr_t)t->data % rm_dtype_size(t->dtype) == 0,
		      "%s unaligned", t->name);
	}
	for (size_t i = 1; i < rm_st_count(st); i++)
		CHECK(strcmp(rm_st_at(st, i - 1)->name, rm_st_at(st, i)->name) < 0,
		      "name order");
	CHECK(rm_st_at(st, 10) == NULL && rm_st_find(st, "nope") == NULL, "absent");
	CHECK(rm_st_metadata(st, "format") && !strcmp(rm_st_metadata(st, "format"),
						       "pt"), "meta format");
	CHECK(rm_st_metadata(st, "rmkit") &&
	      !strcmp(rm_st_metadata(st, "rmkit"), "quote \" and \\n"), "meta esc");
	CHECK(rm_st_metadata(st, "nope") == NULL && rm_st_metadata_count(st) == 2,
	      "meta count");

	/* Conversion to f32. */
	float f[48];
	const struct rm_tensor *t = rm_st_find(st, "f16");
	CHECK(rm_st_to_f32(t, f, 3, &err) == 0 && f[0] == 1 && f[1] == -2 &&
	      f[2] == 65504, "f16: %g %g %g", f[0], f[1], f[2]);
	t = rm_st_find(st, "bf16");
	CHECK(rm_st_to_f32(t, f, 2, &err) == 0 && f[0] == 1 && f[1] == 3.140625f,
	      "bf16: %g %g", f[0], f[1]);
	t = rm_st_find(st, "x64");
	CHECK(rm_st_to_f32(t, f, 1, &err) == 0 && f[0] == (float)x64, "f64");
	t = rm_st_find(st, "transformer.h.0.attn.c_attn.weight");
	CHECK(rm_st_to_f32(t, f, 48, &err) == 0 && memcmp(f, attn, sizeof attn) == 0,
	      "f32");
	CHECK(rm_st_to_f32(t, f, 47, &err) == RM_EUSAGE, "wrong count");
	rm_st_free(st);
	rm_st_free(NULL);

	/* The layout: header padded to 8, tensors back to back, no gaps. */
	unsigned char *b = get_file(tpath("m.safetensors"), &n);
	uint64_t hn = 0, total = 0;
	for (int i = 0; i < 8; i++)
		hn |= (uint64_t)b[i] << 8 * i;
	for (int i = 0; i < 10; i++)
		total += ts[i].nbytes;
	CHECK((8 + hn) % 8 == 0, "header size %llu", (unsigned long long)hn);
	CHECK(n == 8 + hn + total, "file %zu, header %llu, data %llu", n,
	      (unsigned long long)hn, (unsigned long long)total);
	CHECK(b[8] == '{' && b[8 + hn - 1] != 0, "header text");
	free(b);

	/* Writer refusals. */
	struct rm_tensor bad[2];
	rm_tensor_vector(&bad[0], "a", RM_DT_F32, score, 4);
	bad[1] = bad[0];
	CHECK(rm_st_save(tpath("x.safetensors"), bad, 2, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "'a' appears twice"), "%s", err.msg);
	bad[1].nbytes = 12;
	strcpy(bad[1].name, "b");
	CHECK(rm_st_save(tpath("x.safetensors"), bad, 2, NULL, &err) == RM_EUSAGE &&
	      strstr(err.msg, "do not match"), "%s", err.msg);
	const char *odd[] = { "key", NULL };
	CHECK(rm_st_save(tpath("x.safetensors"), bad, 1, odd, &err) == RM_EUSAGE,
	      "odd metadata");
	bad[0].dtype = 0;
	CHECK(rm_st_save(tpath("x.safetensors"), bad, 1, NULL, &err) == RM_EUSAGE,
	      "no dtype");
	CHECK(access(tpath("x.safetensors"), F_OK) != 0, "refused save left a file");
	CHECK(rm_st_save(tpath("none/x.safetensors"), ts, 1, NULL, &err) == RM_EIO,
	      "missing directory");
	/* No tensors at all is a valid file. */
	CHECK(rm_st_save(tpath("e.safetensors"), NULL, 0, NULL, &err) == 0, "%s",
	      err.msg);
	CHECK(rm_st_load(&st, tpath("e.safetensors"), &err) == 0 &&
	      rm_st_count(st) == 0, "empty: %s", err.msg);
	CHECK(st && rm_st_metadata(st, "format") &&
	      !strcmp(rm_st_metadata(st, "format"), "pt") &&
	      rm_st_metadata_count(st) == 1, "format pt added");
	rm_st_free(st);
}

static void
test_half(void)
{
	static const struct { uint16_t h; float f; } cases[] = {
		{ 0x0000, 0.0f }, { 0x3C00, 1.0f }, { 0xBC00, -1.0f },
		{ 0x3555, 0.333251953125f }, { 0x7BFF, 65504.0f },
		{ 0x0001, 5.9604644775390625e-8f }, { 0x03FF, 6.097555160522461e-5f },
		{ 0x0400, 6.103515625e-5f }, { 0x7C00, INFINITY },
		{ 0xFC00, -INFINITY },
	};
	struct rm_error err;
	struct rm_tensor t;
	float f;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		rm_tensor_scalar(&t, "h", RM_DT_F16, &cases[i].h);
		CHECK(rm_st_to_f32(&t, &f, 1, &err) == 0 && f == cases[i].f,
		      "half %04x -> %.9g, want %.9g", cases[i].h, f, cases[i].f);
	}
	uint16_t h = 0x7E00, mz = 0x8000;
	rm_tensor_scalar(&t, "h", RM_DT_F16, &h);
	CHECK(rm_st_to_f32(&t, &f, 1, &err) == 0 && isnan(f), "nan");
	rm_tensor_scalar(&t, "h", RM_DT_F16, &mz);
	CHECK(rm_st_to_f32(&t, &f, 1, &err) == 0 && f == 0 && signbit(f), "-0");
}

/* Write "u64 N | header | data_len bytes" with N = hn (or the length). */
static void
mk(const char *name, const char *header, size_t data_len, uint64_t hn)
{
	size_t hl = strlen(header), n = 8 + hl + data_len;
	unsigned char *b = calloc(1, n);

	if (hn == 0)
		hn = hl;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(hn >> 8 * i);
	memcpy(b + 8, header, hl);
	for (size_t i = 0; i < data_len; i++)
		b[8 + hl + i] = (unsigned char)i;
	put_file(tpath(name), b, n);
	free(b);
}

static void
test_malformed(void)
{
	static const struct {
		const char *header;
		size_t data;
		const char *msg;
	} cases[] = {
		{ "[1]", 0, "header is not a JSON object" },
		{ "{\"a\":", 0, "header is not a JSON object" },
		{ "{} x", 0, "bytes after the JSON object" },
		{ "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		  1, "tensor 'a': unsupported dtype 'F8_E4M3'" },
		{ "{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "no dtype" },
		{ "{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "no shape" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}",
		  4, "non-negative integer" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}",
		  4, "non-negative integer" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}",
		  4, "non-negative integer" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}",
		  4, "5 dimensions" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}",
		  4, "not a pair" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}",
		  4, "outside the data area of 4 bytes" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}",
		  4, "outside the data area" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}",
		  8, "hold 4 bytes, shape [2] of F32 needs other" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
		  "\"data_offsets\":[0,4]}}", 4, "needs more than the file" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,"
		  "9007199254740992],\"data_offsets\":[0,0]}}", 4,
		  "needs more than the file" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
		  "[1e300,1e300]}}", 4, "not a pair" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
		  8, "tensors 'a' and 'b' overlap" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
		  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
		  8, "tensor 'a' appears twice" },
		{ "{\"__metadata__\":{\"k\":1}}", 0, "value of 'k' is not a string" },
		{ "{\"__metadata__\":[]}", 0, "__metadata__ is not an object" },
		{ "{\"a\":7}", 0, "entry is not an object" },
		{ "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":"
		  "{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
		  "tensor name of 64 bytes" },
	};
	struct rm_error err = { 0 };
	struct rm_st *st;
	int rc;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		mk("bad.safetensors", cases[i].header, cases[i].data, 0);
		st = NULL;
		rc = rm_st_load(&st, tpath("bad.safetensors"), &err);
		CHECK(rc == RM_EDATA && st == NULL &&
		      strstr(err.msg, cases[i].msg) &&
		      strstr(err.msg, "bad.safetensors: "),
		      "case %zu: rc %d: %s", i, rc, err.msg);
		rm_st_free(st);
	}

	/* Header sizes: past the file, absurd, and over the 100 MB cap. */
	mk("h.safetensors", "{}", 0, 3);
	CHECK(rm_st_load(&st, tpath("h.safetensors"), &err) == RM_EDATA &&
	      strstr(err.msg, "header size 3 is impossible"), "%s", err.msg);
	mk("h.safetensors", "{}", 0, UINT64_MAX);
	CHECK(rm_st_load(&st, tpath("h.safetensors"), &err) == RM_EDATA, "%s",
	      err.msg);
	put_file(tpath("h.safetensors"), "\2\0\0\0", 4);
	CHECK(rm_st_load(&st, tpath("h.safetensors"), &err) == RM_EDATA &&
	      strstr(err.msg, "too short"), "%s", err.msg);
	{
		/* A sparse 101 MiB file claiming a 100 MiB + 8 header. */
		uint64_t hn = RM_ST_MAX_HEADER + 8;
		unsigned char h8[8];
		int fd = open(tpath("cap.safetensors"), O_WRONLY | O_CREAT | O_TRUNC,
			      0644);
		for (int i = 0; i < 8; i++)
			h8[i] = (unsigned char)(hn >> 8 * i);
		CHECK(fd >= 0 && write(fd, h8, 8) == 8 &&
		      ftruncate(fd, (off_t)RM_ST_MAX_HEADER + (1 << 20)) == 0,
		      "sparse file");
		close(fd);
		CHECK(rm_st_load(&st, tpath("cap.safetensors"), &err) == RM_EDATA &&
		      strstr(err.msg, "limit"), "%s", err.msg);
		unlink(tpath("cap.safetensors"));
	}
	CHECK(rm_st_load(&st, tpath("missing"), &err) == RM_EIO &&
	      strstr(err.msg, "missing"), "%s", err.msg);
	CHECK(rm_st_load(&st, testfs_dir, &err) == RM_EIO, "directory");

	/* Accepted: gaps, no padding, unaligned offsets, zero-size tensors. */
	mk("ok.safetensors",
	   "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[5,9]},"
	   "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
	   "\"z\":{\"dtype\":\"I64\",\"shape\":[0,3],\"data_offsets\":[2,2]},"
	   "\"y\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,0],"
	   "\"data_offsets\":[9,9]},"
	   "\"__metadata__\":{\"format\":\"pt\"}} ", 9, 0);
	CHECK(rm_st_load(&st, tpath("ok.safetensors"), &err) == 0, "%s", err.msg);
	if (st) {
		float f[2];
		unsigned char want[4] = { 5, 6, 7, 8 };
		float wf;
		memcpy(&wf, want, 4);
		CHECK(rm_st_count(st) == 4 && !strcmp(rm_st_at(st, 0)->name, "a"),
		      "ok count");
		CHECK(rm_st_to_f32(rm_st_find(st, "b"), f, 1, &err) == 0 &&
		      memcmp(&f[0], &wf, 4) == 0, "unaligned f32");
		CHECK(rm_st_to_f32(rm_st_find(st, "a"), f, 2, &err) == 0 &&
		      f[0] == 0 && f[1] == 1, "u8");
		CHECK(rm_st_find(st, "z")->nbytes == 0 &&
		      rm_st_find(st, "z")->ndim == 2, "zero-size");
		CHECK(!strcmp(rm_st_metadata(st, "format"), "pt"), "meta");
		CHECK(rm_st_find(st, "y")->nbytes == 0 &&
		      rm_st_find(st, "y")->dims[1] == 4294967296ull, "[2^32, 2^32, 0]");
	}
	rm_st_free(st);
}

/* Whether this process maps path (the mapped path was taken). */
static int
mapped(const char *path)
{
	char line[4096];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	if (f == NULL)
		return -1;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, path) != NULL;
	fclose(f);
	return found;
}

static void
test_mapped(void)
{
	struct rm_error err = { 0 };
	/* more than 16 * RM_ST_MAP_MIN bytes each: two slices, the last partial
	 * (nb > nf, so got holds either) */
	size_t nf = 16 * RM_ST_MAP_MIN / 4 + 12345, nb = 16 * RM_ST_MAP_MIN / 2 + 777;
	float *f = malloc(nf * sizeof *f), *got = malloc(nb * sizeof *got);
	uint16_t *b = malloc(nb * sizeof *b);
	struct rm_tensor ts[3];
	struct rm_st *st = NULL;
	uint64_t s = 88172645463325252ull;

	for (size_t i = 0; i < nf; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		uint32_t u = (uint32_t)(s >> 32);
		memcpy(&f[i], &u, 4);
		if (isnan(f[i]))
			f[i] = (float)i;
	}
	for (size_t i = 0; i < nb; i++)
		b[i] = (uint16_t)(i * 40503u);
	rm_tensor_vector(&ts[0], "big.f32", RM_DT_F32, f, nf);
	rm_tensor_vector(&ts[1], "big.bf16", RM_DT_BF16, b, nb);
	rm_tensor_vector(&ts[2], "small", RM_DT_F32, f, 3);
	CHECK(rm_st_save(tpath("big.safetensors"), ts, 3, NULL, &err) == 0, "%s",
	      err.msg);
	CHECK(rm_st_load(&st, tpath("big.safetensors"), &err) == 0, "%s", err.msg);
	if (st != NULL) {
		CHECK(mapped(tpath("big.safetensors")) == 1, "a %zu-byte file is not "
		      "mapped", (nf + 3) * 4 + nb * 2);
		const struct rm_tensor *t = rm_st_find(st, "big.f32");
		CHECK(rm_st_read_f32(st, t, got, nf, &err) == 0 &&
		      memcmp(got, f, nf * sizeof *f) == 0, "mapped f32 differs");
		/* read again after its pages were given back */
		memset(got, 0, nf * sizeof *got);
		CHECK(rm_st_read_f32(st, t, got, nf, &err) == 0 &&
		      memcmp(got, f, nf * sizeof *f) == 0, "mapped f32 read again");
		t = rm_st_find(st, "big.bf16");
		int bad = rm_st_read_f32(st, t, got, nb, &err) != 0;
		for (size_t i = 0; !bad && i < nb; i++) {
			uint32_t u = (uint32_t)b[i] << 16, v;
			memcpy(&v, &got[i], 4);
			bad = u != v;
		}
		CHECK(!bad, "mapped bf16 differs");
		t = rm_st_find(st, "small");
		CHECK(rm_st_read_f32(st, t, got, 3, &err) == 0 &&
		      memcmp(got, f, 3 * sizeof *f) == 0, "mapped small f32");
	}
	rm_st_free(st);
	CHECK(mapped(tpath("big.safetensors")) == 0, "still mapped after rm_st_free");
	unlink(tpath("big.safetensors"));
	free(f);
	free(got);
	free(b);
}

int
main(void)
{
	testfs_init("t-safetensors");
	test_round_trip();
	test_half();
	test_malformed();
	test_mapped();
	testfs_done(check_failures);
	return check_done();
}
