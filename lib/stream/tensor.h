/*
 * tensor.h - element types and tensor views shared by the tensor stream
 * (.rmt) and safetensors modules.
 *
 * A struct rm_tensor is a plain view: it never owns its data; whoever filled
 * it says how long data stays valid.
 */
#ifndef RM_TENSOR_H
#define RM_TENSOR_H

#include <stddef.h>
#include <stdint.h>

enum rm_dtype {
	RM_DT_U8 = 1,
	RM_DT_I32 = 2,
	RM_DT_I64 = 3,
	RM_DT_U64 = 4,
	RM_DT_F32 = 5,
	RM_DT_F64 = 6,
	/*
	 * safetensors only: views of the stored bytes; rm_st_to_f32()
	 * converts the numeric ones
	 */
	RM_DT_F16 = 7,
	RM_DT_BF16 = 8,
	RM_DT_BOOL = 9,
	RM_DT_I8 = 10,
	RM_DT_I16 = 11,
	RM_DT_U16 = 12,
	RM_DT_U32 = 13,
};

#define RM_TENSOR_MAX_DIMS 4
#define RM_TENSOR_MAX_NAME 63

struct rm_tensor {
	char name[RM_TENSOR_MAX_NAME + 1];
	enum rm_dtype dtype;
	int ndim;                          /* 0 for a scalar */
	uint64_t dims[RM_TENSOR_MAX_DIMS];
	const void *data;                  /* little-endian elements, packed */
	size_t nbytes;                     /* product(dims) * element size */
};

/* Element size in bytes, 0 for an unknown dtype. */
size_t rm_dtype_size(enum rm_dtype t);
/*
 * Short name: "u8" "i32" "i64" "u64" "f32" "f64" "f16" "bf16" "bool" "i8"
 * "i16" "u16" "u32"; NULL if unknown.
 */
const char *rm_dtype_name(enum rm_dtype t);
/* Inverse of rm_dtype_name; 0 (no dtype) when name is unknown. */
enum rm_dtype rm_dtype_from_name(const char *name);
/* Number of elements (1 for a scalar). */
uint64_t rm_tensor_numel(const struct rm_tensor *t);
/*
 * rm_shape_numel - the product of dims[0..ndim) into *numel, or -1 when
 * it exceeds limit (overflow included).  Any zero dimension makes the
 * product 0 whatever the others are, so shapes such as [3, 3, 3, 0] or
 * [2^60, 0] are accepted.
 */
int rm_shape_numel(const uint64_t *dims, int ndim, uint64_t limit,
		   uint64_t *numel);

/*
 * Fill a view (for writers): rm_tensor_scalar makes a 0-d tensor of one
 * element at data, rm_tensor_vector a 1-d tensor of n elements.  name must
 * fit in RM_TENSOR_MAX_NAME bytes (a longer one is cut short).  data is
 * borrowed, not copied.
 */
void rm_tensor_scalar(struct rm_tensor *t, const char *name,
		      enum rm_dtype dt, const void *data);
void rm_tensor_vector(struct rm_tensor *t, const char *name,
		      enum rm_dtype dt, const void *data, uint64_t n);

#endif
