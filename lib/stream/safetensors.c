/*
 * safetensors.c - safetensors reader (validating) and writer (atomic).
 */
#include "stream/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "stream/io.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c hands out little-endian data as native arrays"
#endif

/* Largest integer a JSON number (a double) holds exactly. */
#define JSON_INT_MAX 9007199254740992.0

static const struct {
	const char *st;
	enum rm_dtype dt;
} st_dtypes[] = {
	{ "F32", RM_DT_F32 },   { "F16", RM_DT_F16 },   { "BF16", RM_DT_BF16 },
	{ "F64", RM_DT_F64 },   { "I32", RM_DT_I32 },   { "I64", RM_DT_I64 },
	{ "U8", RM_DT_U8 },     { "U64", RM_DT_U64 },   { "BOOL", RM_DT_BOOL },
	{ "I8", RM_DT_I8 },     { "I16", RM_DT_I16 },   { "U16", RM_DT_U16 },
	{ "U32", RM_DT_U32 },
};

static const char *
st_dtype_name(enum rm_dtype dt)
{
	for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
		if (st_dtypes[i].dt == dt)
			return st_dtypes[i].st;
	return NULL;
}

struct rm_st {
	char *path;
	cJSON *root;            /* the header; metadata strings point into it */
	unsigned char *data;    /* the data area */
	size_t data_len;
	void *map;              /* the whole file when mapped (else NULL) */
	size_t map_len;
	struct rm_tensor *t;    /* sorted by name */
	size_t n;
	const char **meta;      /* key, value pairs */
	size_t nmeta;
};

void
rm_st_free(struct rm_st *st)
{
	if (st == NULL)
		return;
	free(st->path);
	cJSON_Delete(st->root);
	if (st->map)
		munmap(st->map, st->map_len);
	else
		free(st->data);
	free(st->t);
	free(st->meta);
	free(st);
}

static int
read_full(int fd, void *p, size_t n, const char *path, struct rm_error *err)
{
	unsigned char *b = p;
	ssize_t r;

	while (n > 0) {
		r = read(fd, b, n > ((size_t)1 << 30) ? (size_t)1 << 30 : n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return rm_error_set(err, RM_EIO, "%s: read error: %s",
					    path, strerror(errno));
		if (r == 0)
			return rm_error_set(err, RM_EIO, "%s: file shrank "
					    "while being read", path);
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

/* 1 when j is an integral number in [0, 2^53]; stores it in *v. */
static int
json_uint(const cJSON *j, uint64_t *v)
{
	double d;

	if (!cJSON_IsNumber(j))
		return 0;
	d = j->valuedouble;
	if (!(d >= 0 && d <= JSON_INT_MAX) || d != floor(d))
		return 0;
	*v = (uint64_t)d;
	return 1;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct rm_tensor *)a)->name,
		      ((const struct rm_tensor *)b)->name);
}

/* For the overlap check: tensors ordered by where their data starts. */
static int
cmp_data(const void *a, const void *b)
{
	const struct rm_tensor *x = *(const struct rm_tensor *const *)a;
	const struct rm_tensor *y = *(const struct rm_tensor *const *)b;
	const unsigned char *p = x->data, *q = y->data;

	return p < q ? -1 : p > q;
}

static int
parse_metadata(struct rm_st *st, const cJSON *m, struct rm_error *err)
{
	const cJSON *kv;
	size_t n = 0;

	if (!cJSON_IsObject(m))
		return rm_error_set(err, RM_EDATA, "%s: __metadata__ is not "
				    "an object", st->path);
	cJSON_ArrayForEach(kv, m)
		n++;
	st->meta = calloc(2 * n + 1, sizeof *st->meta);
	if (st->meta == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	cJSON_ArrayForEach(kv, m) {
		if (!cJSON_IsString(kv))
			return rm_error_set(err, RM_EDATA, "%s: __metadata__: "
					    "value of '%s' is not a string",
					    st->path, kv->string);
		st->meta[2 * st->nmeta] = kv->string;
		st->meta[2 * st->nmeta + 1] = kv->valuestring;
		st->nmeta++;
	}
	return 0;
}

/* Fill t from one header entry; offsets are checked against the data. */
static int
parse_entry(struct rm_st *st, const cJSON *e, struct rm_tensor *t,
	    struct rm_error *err)
{
	const char *name = e->string;
	const cJSON *dt, *shape, *offs, *d;
	uint64_t begin, end, numel = 1, dim;
	size_t es;
	char sh[160];
	int k = 0, used = 0;

#define BAD(...) rm_error_set(err, RM_EDATA, "%s: tensor '%s': " \
			      __VA_ARGS__)
	if (strlen(name) == 0 || strlen(name) > RM_TENSOR_MAX_NAME)
		return rm_error_set(err, RM_EDATA, "%s: tensor name of %zu "
				    "bytes (must be 1 to %d): '%.80s'",
				    st->path, strlen(name), RM_TENSOR_MAX_NAME,
				    name);
	memcpy(t->name, name, strlen(name) + 1);
	if (!cJSON_IsObject(e))
		return BAD("entry is not an object", st->path, name);
	dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
	shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
	offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
	if (!cJSON_IsString(dt))
		return BAD("no dtype", st->path, name);
	t->dtype = 0;
	for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
		if (strcmp(dt->valuestring, st_dtypes[i].st) == 0)
			t->dtype = st_dtypes[i].dt;
	if (t->dtype == 0)
		return BAD("unsupported dtype '%.32s'", st->path, name,
			   dt->valuestring);
	es = rm_dtype_size(t->dtype);
	if (!cJSON_IsArray(shape))
		return BAD("no shape", st->path, name);
	if (cJSON_GetArraySize(shape) > RM_TENSOR_MAX_DIMS)
		return BAD("%d dimensions, at most %d are supported", st->path,
			   name, cJSON_GetArraySize(shape), RM_TENSOR_MAX_DIMS);
	cJSON_ArrayForEach(d, shape) {
		if (!json_uint(d, &dim))
			return BAD("shape holds something other than a "
				   "non-negative integer", st->path, name);
		t->dims[k++] = dim;
		used += snprintf(sh + used, sizeof sh - (size_t)used, "%s%llu",
				 k > 1 ? ", " : "", (unsigned long long)dim);
	}
	t->ndim = k;
	/* numel * es must stay within the data area */
	if (rm_shape_numel(t->dims, k, st->data_len / es, &numel) < 0)
		numel = UINT64_MAX;
	if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
	    !json_uint(cJSON_GetArrayItem(offs, 0), &begin) ||
	    !json_uint(cJSON_GetArrayItem(offs, 1), &end))
		return BAD("data_offsets is not a pair of non-negative "
			   "integers", st->path, name);
	if (begin > end || end > st->data_len)
		return BAD("data_offsets [%llu, %llu] outside the data area "
			   "of %zu bytes", st->path, name,
			   (unsigned long long)begin, (unsigned long long)end,
			   st->data_len);
	if (numel == UINT64_MAX || numel * es != end - begin)
		return BAD("data_offsets [%llu, %llu] hold %llu bytes, shape "
			   "[%s] of %s needs %s", st->path, name,
			   (unsigned long long)begin, (unsigned long long)end,
			   (unsigned long long)(end - begin), sh,
			   dt->valuestring,
			   numel == UINT64_MAX ? "more than the file" : "other");
#undef BAD
	t->data = st->data + begin;
	t->nbytes = (size_t)(end - begin);
	return 0;
}

static int
parse_header(struct rm_st *st, const char *hdr, size_t n,
	     struct rm_error *err)
{
	const char *endp = NULL;
	const cJSON *e;
	const struct rm_tensor **order;
	size_t count = 0, i;
	int rc;

	st->root = cJSON_ParseWithLengthOpts(hdr, n, &endp, 0);
	if (st->root == NULL || !cJSON_IsObject(st->root))
		return rm_error_set(err, RM_EDATA, "%s: header is not a JSON "
				    "object", st->path);
	while (endp < hdr + n && (*endp == ' ' || *endp == '\n' ||
				  *endp == '\t' || *endp == '\r'))
		endp++;
	if (endp != hdr + n)
		return rm_error_set(err, RM_EDATA, "%s: header: bytes after "
				    "the JSON object", st->path);
	cJSON_ArrayForEach(e, st->root)
		if (strcmp(e->string, "__metadata__") != 0)
			count++;
	if (count > RM_ST_MAX_TENSORS)
		return rm_error_set(err, RM_EDATA, "%s: %zu tensors, limit %d",
				    st->path, count, RM_ST_MAX_TENSORS);
	st->t = calloc(count ? count : 1, sizeof *st->t);
	if (st->t == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	cJSON_ArrayForEach(e, st->root) {
		if (strcmp(e->string, "__metadata__") == 0) {
			if (st->meta != NULL)
				return rm_error_set(err, RM_EDATA, "%s: two "
						    "__metadata__ entries",
						    st->path);
			rc = parse_metadata(st, e, err);
		} else {
			rc = parse_entry(st, e, &st->t[st->n++], err);
		}
		if (rc < 0)
			return rc;
	}
	qsort(st->t, st->n, sizeof *st->t, cmp_name);
	for (i = 1; i < st->n; i++)
		if (strcmp(st->t[i - 1].name, st->t[i].name) == 0)
			return rm_error_set(err, RM_EDATA, "%s: tensor '%s' "
					    "appears twice", st->path,
					    st->t[i].name);
	/* No overlap: in data order, each starts at or after the last end. */
	order = malloc((st->n ? st->n : 1) * sizeof *order);
	if (order == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (i = 0; i < st->n; i++)
		order[i] = &st->t[i];
	qsort(order, st->n, sizeof *order, cmp_data);
	const unsigned char *high = st->data;
	const char *high_name = NULL;
	for (i = 0; i < st->n; i++) {
		const unsigned char *p = order[i]->data;
		if (order[i]->nbytes == 0)
			continue;
		if (p < high) {
			rc = rm_error_set(err, RM_EDATA, "%s: tensors '%s' and "
					  "'%s' overlap", st->path, high_name,
					  order[i]->name);
			free(order);
			return rc;
		}
		high = p + order[i]->nbytes;
		high_name = order[i]->name;
	}
	free(order);
	return 0;
}

/* The mapping threshold: RM_ST_MAP_MIN, or the test knob of that name in
 * the environment (bytes, at least 1024), so small test checkpoints can
 * take the mapped and sliced path. */
static size_t
map_min(void)
{
	const char *e = getenv("RM_ST_MAP_MIN");
	char *end;

	if (e == NULL || *e == '\0')
		return RM_ST_MAP_MIN;
	errno = 0;
	unsigned long long v = strtoull(e, &end, 10);
	if (errno || *end || v < 1024 || v > SIZE_MAX / 16)
		return RM_ST_MAP_MIN;
	return (size_t)v;
}

int
rm_st_load(struct rm_st **out, const char *path, struct rm_error *err)
{
	struct rm_st *st;
	struct stat sb;
	unsigned char h8[8];
	uint64_t hn = 0, size;
	char *hdr = NULL;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rm_error_set(err, RM_EIO, "%s: %s", path,
				    strerror(errno));
	st = calloc(1, sizeof *st);
	if (st == NULL || (st->path = strdup(path)) == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "out of memory");
		goto done;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = rm_error_set(err, RM_EIO, "%s: not a regular file", path);
		goto done;
	}
	size = (uint64_t)sb.st_size;
	if (size < 8) {
		rc = rm_error_set(err, RM_EDATA, "%s: %llu bytes is too short "
				  "for safetensors", path,
				  (unsigned long long)size);
		goto done;
	}
	if ((rc = read_full(fd, h8, 8, path, err)) < 0)
		goto done;
	for (int i = 0; i < 8; i++)
		hn |= (uint64_t)h8[i] << 8 * i;
	if (hn > size - 8 || hn > RM_ST_MAX_HEADER || hn < 2) {
		rc = rm_error_set(err, RM_EDATA, "%s: header size %llu is "
				  "impossible for a file of %llu bytes (limit "
				  "%zu)", path, (unsigned long long)hn,
				  (unsigned long long)size, RM_ST_MAX_HEADER);
		goto done;
	}
	if (size - 8 - hn > SIZE_MAX - 1) {
		rc = rm_error_set(err, RM_ENOMEM, "%s: too large", path);
		goto done;
	}
	st->data_len = (size_t)(size - 8 - hn);
	hdr = malloc((size_t)hn + 1);
	/* A large file whose data area is 8-aligned in it is mapped: its
	 * pages come in as tensors are read and leave with rm_st_done, so a
	 * checkpoint loads in about the memory of what it converts to. */
	if (hdr && st->data_len >= map_min() && (8 + hn) % 8 == 0) {
		void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map != MAP_FAILED) {
			st->map = map;
			st->map_len = (size_t)size;
			st->data = (unsigned char *)map + 8 + hn;
			madvise(map, (size_t)size, MADV_SEQUENTIAL);
		}
	}
	if (!st->map)
		st->data = malloc(st->data_len ? st->data_len : 1);
	if (hdr == NULL || st->data == NULL) {
		rc = rm_error_set(err, RM_ENOMEM, "%s: out of memory for %llu "
				  "bytes", path, (unsigned long long)size);
		goto done;
	}
	if ((rc = read_full(fd, hdr, (size_t)hn, path, err)) < 0 ||
	    (!st->map && (rc = read_full(fd, st->data, st->data_len, path, err)) < 0))
		goto done;
	hdr[hn] = '\0';
	if (memchr(hdr, '\0', (size_t)hn) != NULL) {
		rc = rm_error_set(err, RM_EDATA, "%s: header contains a NUL "
				  "byte", path);
		goto done;
	}
	rc = parse_header(st, hdr, (size_t)hn, err);
done:
	close(fd);
	free(hdr);
	if (rc < 0) {
		rm_st_free(st);
		return rc;
	}
	*out = st;
	return 0;
}

void
rm_st_done(const struct rm_st *st, const struct rm_tensor *t)
{
	if (!st->map || !t->nbytes)
		return;
	/* the whole pages the tensor covers: a private read-only mapping of
	 * the file reads them again if they are touched later */
	uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = ((uintptr_t)t->data + pg - 1) & ~(pg - 1);
	uintptr_t b = ((uintptr_t)t->data + t->nbytes) & ~(pg - 1);
	if (b > a)
		madvise((void *)a, b - a, MADV_DONTNEED);
}

size_t
rm_st_count(const struct rm_st *st)
{
	return st->n;
}

const struct rm_tensor *
rm_st_at(const struct rm_st *st, size_t i)
{
	return i < st->n ? &st->t[i] : NULL;
}

const struct rm_tensor *
rm_st_find(const struct rm_st *st, const char *name)
{
	struct rm_tensor key;

	if (strlen(name) > RM_TENSOR_MAX_NAME)
		return NULL;
	strcpy(key.name, name);
	return bsearch(&key, st->t, st->n, sizeof *st->t, cmp_name);
}

const char *
rm_st_metadata(const struct rm_st *st, const char *key)
{
	for (size_t i = 0; i < st->nmeta; i++)
		if (strcmp(st->meta[2 * i], key) == 0)
			return st->meta[2 * i + 1];
	return NULL;
}

size_t
rm_st_metadata_count(const struct rm_st *st)
{
	return st->nmeta;
}

void
rm_st_metadata_at(const struct rm_st *st, size_t i, const char **key,
		  const char **value)
{
	*key = i < st->nmeta ? st->meta[2 * i] : NULL;
	*value = i < st->nmeta ? st->meta[2 * i + 1] : NULL;
}

/* IEEE half to float, exact (every half is a float). */
static float
half_to_float(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t ex = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
	float f;

	if (ex == 0) {
		f = ldexpf((float)mant, -24);
		return sign ? -f : f;
	}
	if (ex == 31)
		bits = sign | 0x7f800000u | mant << 13;
	else
		bits = sign | (ex + 112) << 23 | mant << 13;
	memcpy(&f, &bits, 4);
	return f;
}

/* n elements of dtype dt at p (maybe unaligned) as floats into dst. */
static void
convert(const unsigned char *p, enum rm_dtype dt, float *dst, size_t n)
{
	size_t es = rm_dtype_size(dt);
	if (dt == RM_DT_F32) {
		memcpy(dst, p, n * sizeof *dst);
		return;
	}
	if (dt == RM_DT_BF16) {
		for (size_t i = 0; i < n; i++) {
			uint32_t b = (uint32_t)(p[2 * i] | p[2 * i + 1] << 8) << 16;
			memcpy(&dst[i], &b, 4);
		}
		return;
	}
	for (size_t i = 0; i < n; i++, p += es) {
		union {
			double d; uint16_t h; uint32_t u32;
			int32_t i32; int64_t i64; uint64_t u64;
			int16_t i16; int8_t i8; uint8_t u8;
		} v;
		memcpy(&v, p, es);
		switch (dt) {
		case RM_DT_F64: dst[i] = (float)v.d; break;
		case RM_DT_F16: dst[i] = half_to_float(v.h); break;
		case RM_DT_I32: dst[i] = (float)v.i32; break;
		case RM_DT_I64: dst[i] = (float)v.i64; break;
		case RM_DT_U64: dst[i] = (float)v.u64; break;
		case RM_DT_U32: dst[i] = (float)v.u32; break;
		case RM_DT_I16: dst[i] = (float)v.i16; break;
		case RM_DT_U16: dst[i] = (float)v.h; break;
		case RM_DT_I8: dst[i] = (float)v.i8; break;
		case RM_DT_U8:
		case RM_DT_BOOL: dst[i] = (float)v.u8; break;
		default: break;  /* F32 and BF16 return above */
		}
	}
}

static int
check_f32(const struct rm_tensor *t, size_t n, struct rm_error *err)
{
	size_t es = rm_dtype_size(t->dtype);

	if (es == 0 || (uint64_t)n != rm_tensor_numel(t) ||
	    n * es != t->nbytes)
		return rm_error_set(err, RM_EUSAGE, "tensor '%s': %zu floats "
				    "asked of %llu %s elements", t->name, n,
				    (unsigned long long)rm_tensor_numel(t),
				    rm_dtype_name(t->dtype) ?
				    rm_dtype_name(t->dtype) : "unknown");
	return 0;
}

int
rm_st_to_f32(const struct rm_tensor *t, float *dst, size_t n,
	     struct rm_error *err)
{
	int rc = check_f32(t, n, err);
	if (rc == 0)
		convert(t->data, t->dtype, dst, n);
	return rc;
}

int
rm_st_read_f32(const struct rm_st *st, const struct rm_tensor *t, float *dst,
	       size_t n, struct rm_error *err)
{
	int rc = check_f32(t, n, err);
	if (rc < 0)
		return rc;
	/* slices of 16 times the mapping threshold, each given back once
	 * converted */
	size_t es = rm_dtype_size(t->dtype), step = 16 * map_min() / es;
	for (size_t i = 0; i < n; i += step) {
		size_t k = n - i < step ? n - i : step;
		struct rm_tensor part = *t;
		part.data = (const unsigned char *)t->data + i * es;
		part.nbytes = k * es;
		convert(part.data, t->dtype, dst + i, k);
		rm_st_done(st, &part);
	}
	return 0;
}

/* ---- writer ---- */

/* Layout order: larger elements first, so each is aligned; then by name. */
static int
cmp_layout(const void *a, const void *b)
{
	const struct rm_tensor *x = *(const struct rm_tensor *const *)a;
	const struct rm_tensor *y = *(const struct rm_tensor *const *)b;
	size_t sx = rm_dtype_size(x->dtype), sy = rm_dtype_size(y->dtype);

	if (sx != sy)
		return sx > sy ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int
check_save_tensor(const char *path, const struct rm_tensor *t,
		  struct rm_error *err)
{
	size_t nl = strnlen(t->name, sizeof t->name);
	size_t es = rm_dtype_size(t->dtype);
	uint64_t numel = 1;
	int big = 0;

	if (nl == 0 || nl > RM_TENSOR_MAX_NAME)
		return rm_error_set(err, RM_EUSAGE, "%s: tensor name must be "
				    "1 to %d bytes", path, RM_TENSOR_MAX_NAME);
	if (es == 0 || st_dtype_name(t->dtype) == NULL)
		return rm_error_set(err, RM_EUSAGE, "%s: tensor '%s': unknown "
				    "dtype %d", path, t->name, (int)t->dtype);
	if (t->ndim < 0 || t->ndim > RM_TENSOR_MAX_DIMS)
		return rm_error_set(err, RM_EUSAGE, "%s: tensor '%s': %d "
				    "dimensions", path, t->name, t->ndim);
	for (int d = 0; d < t->ndim; d++)  /* the header must hold it */
		big |= t->dims[d] > (uint64_t)JSON_INT_MAX;
	if (big || rm_shape_numel(t->dims, t->ndim, (uint64_t)JSON_INT_MAX,
				  &numel) < 0)
		return rm_error_set(err, RM_EUSAGE, "%s: tensor '%s': "
				    "shape too large", path, t->name);
	if (numel > (uint64_t)JSON_INT_MAX / es || numel * es != t->nbytes ||
	    (t->nbytes && t->data == NULL))
		return rm_error_set(err, RM_EUSAGE, "%s: tensor '%s': %zu data "
				    "bytes do not match the shape", path,
				    t->name, t->nbytes);
	return 0;
}

/* The header JSON for tensors in order, padded with spaces to 8n - 8. */
static char *
build_header(const char *path, const struct rm_tensor *const *order,
	     size_t n, const char *const *meta_kv, size_t *len,
	     struct rm_error *err)
{
	cJSON *root = cJSON_CreateObject(), *m, *e, *a;
	uint64_t off = 0;
	char *s = NULL, *p;
	size_t sl;

	if (root == NULL)
		goto oom;
	if ((m = cJSON_AddObjectToObject(root, "__metadata__")) == NULL)
		goto oom;
	if (meta_kv != NULL) {
		for (size_t i = 0; meta_kv[i] != NULL; i += 2) {
			if (meta_kv[i + 1] == NULL) {
				cJSON_Delete(root);
				rm_error_set(err, RM_EUSAGE, "%s: metadata key "
					     "'%s' has no value", path,
					     meta_kv[i]);
				return NULL;
			}
			if (!cJSON_AddStringToObject(m, meta_kv[i],
						     meta_kv[i + 1]))
				goto oom;
		}
	}
	/* transformers refuses metadata without a known "format" */
	if (!cJSON_HasObjectItem(m, "format") &&
	    !cJSON_AddStringToObject(m, "format", "pt"))
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const struct rm_tensor *t = order[i];
		if ((e = cJSON_AddObjectToObject(root, t->name)) == NULL ||
		    !cJSON_AddStringToObject(e, "dtype",
					     st_dtype_name(t->dtype)) ||
		    (a = cJSON_AddArrayToObject(e, "shape")) == NULL)
			goto oom;
		for (int d = 0; d < t->ndim; d++)
			if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(
					(double)t->dims[d])))
				goto oom;
		if ((a = cJSON_AddArrayToObject(e, "data_offsets")) == NULL ||
		    !cJSON_AddItemToArray(a, cJSON_CreateNumber((double)off)) ||
		    !cJSON_AddItemToArray(a, cJSON_CreateNumber(
				(double)(off + t->nbytes))))
			goto oom;
		off += t->nbytes;
	}
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		goto oom;
	cJSON_Delete(root);
	sl = strlen(s);
	*len = sl + (8 - (8 + sl) % 8) % 8;
	if ((p = realloc(s, *len + 1)) == NULL) {
		free(s);
		rm_error_set(err, RM_ENOMEM, "out of memory");
		return NULL;
	}
	memset(p + sl, ' ', *len - sl);
	p[*len] = '\0';
	return p;
oom:
	cJSON_Delete(root);
	rm_error_set(err, RM_ENOMEM, "out of memory");
	return NULL;
}

int
rm_st_save(const char *path, const struct rm_tensor *ts, size_t n,
	   const char *const *meta_kv, struct rm_error *err)
{
	const struct rm_tensor **order;
	struct rm_out *out = NULL;
	unsigned char h8[8];
	char *hdr = NULL;
	size_t hl = 0, i;
	int rc = 0;

	order = malloc((n ? n : 1) * sizeof *order);
	if (order == NULL)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	for (i = 0; i < n && rc == 0; i++) {
		rc = check_save_tensor(path, &ts[i], err);
		order[i] = &ts[i];
	}
	if (rc < 0)
		goto done;
	qsort(order, n, sizeof *order, cmp_layout);
	for (i = 1; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			if (strcmp(order[i]->name, order[j]->name) == 0) {
				rc = rm_error_set(err, RM_EUSAGE, "%s: tensor "
						  "'%s' appears twice", path,
						  order[i]->name);
				goto done;
			}
	}
	hdr = build_header(path, order, n, meta_kv, &hl, err);
	if (hdr == NULL) {
		rc = err ? err->code : RM_ENOMEM;
		goto done;
	}
	for (int k = 0; k < 8; k++)
		h8[k] = (unsigned char)((uint64_t)hl >> 8 * k);
	if ((rc = rm_out_open(&out, path, RM_OUT_PLAIN | RM_OUT_BINARY, 0,
			      err)) < 0)
		goto done;
	if ((rc = rm_out_write(out, h8, 8, err)) < 0 ||
	    (rc = rm_out_write(out, hdr, hl, err)) < 0)
		goto done;
	for (i = 0; i < n && rc == 0; i++)
		rc = rm_out_write(out, order[i]->data, order[i]->nbytes, err);
	if (rc == 0) {
		rc = rm_out_commit(out, err);
		out = NULL;
	}
done:
	rm_out_abort(out);
	free(hdr);
	free(order);
	return rc;
}
