/*
 * tensor.c - dtype sizes and names, element counts.
 */
#include "stream/tensor.h"

#include <stdio.h>
#include <string.h>

static const struct {
	enum rm_dtype t;
	size_t size;
	const char *name;
} dtypes[] = {
	{ RM_DT_U8, 1, "u8" },
	{ RM_DT_I32, 4, "i32" },
	{ RM_DT_I64, 8, "i64" },
	{ RM_DT_U64, 8, "u64" },
	{ RM_DT_F32, 4, "f32" },
	{ RM_DT_F64, 8, "f64" },
	{ RM_DT_F16, 2, "f16" },
	{ RM_DT_BF16, 2, "bf16" },
	{ RM_DT_BOOL, 1, "bool" },
	{ RM_DT_I8, 1, "i8" },
	{ RM_DT_I16, 2, "i16" },
	{ RM_DT_U16, 2, "u16" },
	{ RM_DT_U32, 4, "u32" },
};

size_t
rm_dtype_size(enum rm_dtype t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].t == t)
			return dtypes[i].size;
	return 0;
}

const char *
rm_dtype_name(enum rm_dtype t)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (dtypes[i].t == t)
			return dtypes[i].name;
	return NULL;
}

enum rm_dtype
rm_dtype_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
		if (strcmp(dtypes[i].name, name) == 0)
			return dtypes[i].t;
	return 0;
}

uint64_t
rm_tensor_numel(const struct rm_tensor *t)
{
	uint64_t n = 1;

	for (int i = 0; i < t->ndim && i < RM_TENSOR_MAX_DIMS; i++)
		n *= t->dims[i];
	return n;
}

int
rm_shape_numel(const uint64_t *dims, int ndim, uint64_t limit,
	       uint64_t *numel)
{
	uint64_t n = 1;

	for (int i = 0; i < ndim; i++)
		if (dims[i] == 0) {
			*numel = 0;
			return 0;
		}
	for (int i = 0; i < ndim; i++) {
		if (n > limit / dims[i])
			return -1;
		n *= dims[i];
	}
	if (n > limit)
		return -1;
	*numel = n;
	return 0;
}

void
rm_tensor_vector(struct rm_tensor *t, const char *name, enum rm_dtype dt,
		 const void *data, uint64_t n)
{
	memset(t, 0, sizeof *t);
	snprintf(t->name, sizeof t->name, "%s", name);
	t->dtype = dt;
	t->ndim = 1;
	t->dims[0] = n;
	t->data = data;
	t->nbytes = (size_t)n * rm_dtype_size(dt);
}

void
rm_tensor_scalar(struct rm_tensor *t, const char *name, enum rm_dtype dt,
		 const void *data)
{
	rm_tensor_vector(t, name, dt, data, 1);
	t->ndim = 0;
	t->dims[0] = 0;
}
