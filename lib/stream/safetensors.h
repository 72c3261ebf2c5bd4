/*
 * safetensors.h - read and write the safetensors format (Hugging Face):
 *
 *   u64 N (little-endian) | N bytes of JSON header | data area
 *
 * The header maps tensor names to {"dtype": "F32", "shape": [..],
 * "data_offsets": [begin, end]} (offsets relative to the data area) and may
 * hold "__metadata__": {string: string}.  Checkpoints in Hugging Face's
 * GPT2ForSequenceClassification layout use this, so names such as
 * "transformer.h.0.attn.c_attn.weight" are plain tensor names here.
 *
 * Reading validates everything before handing out a view: N within the
 * file and at most RM_ST_MAX_HEADER, the JSON, each dtype, shape (at most
 * RM_TENSOR_MAX_DIMS dims, names up to RM_TENSOR_MAX_NAME bytes) and
 * offsets (inside the data area, end - begin == numel * element size,
 * no overflow, no two tensors overlapping, no duplicate names).
 *
 * Writing follows what the reference implementation produces and expects:
 * tensors laid out back to back without gaps, larger element sizes first
 * (then by name), so every tensor is aligned to its element size; the
 * header padded with spaces so the data area starts at a multiple of 8.
 *
 * Ownership: a struct rm_st owns the whole file's bytes; the tensor views
 * from rm_st_at / rm_st_find (names, shapes, data) and metadata strings
 * live until rm_st_free (NULL-tolerant).  The data area of a file of
 * RM_ST_MAP_MIN bytes or more whose data area starts at a multiple of 8 (as
 * this module and the reference implementation write) is mapped read-only,
 * its pages read as tensors are and given back by rm_st_done, so loading a
 * checkpoint takes about the memory it converts to, not twice; a smaller or
 * unaligned file is read into its own allocation.  The environment's
 * RM_ST_MAP_MIN (bytes, at least 1024; a test knob) replaces the threshold
 * and with it the conversion slice of rm_st_read_f32 (16 times it).  Either way tensor data
 * is aligned to the element size whenever the file's offsets are.  A
 * mapped file must not shrink while it is read (the reader would get
 * SIGBUS).  rm_st_save only reads its arguments.
 */
#ifndef RM_SAFETENSORS_H
#define RM_SAFETENSORS_H

#include <stddef.h>

#include "base/error.h"
#include "stream/tensor.h"

#define RM_ST_MAX_HEADER ((size_t)100 << 20)
#define RM_ST_MAX_TENSORS 1000000
#define RM_ST_MAP_MIN ((size_t)1 << 20)

struct rm_st;

/*
 * rm_st_load - read and validate path.  Errors name the file and, where it
 * applies, the tensor: "model.safetensors: tensor 'score.weight':
 * data_offsets [0, 12] hold 12 bytes, shape [1, 768] of f32 needs 3072".
 */
int rm_st_load(struct rm_st **out, const char *path, struct rm_error *err);
void rm_st_free(struct rm_st *st);
/* Done reading t's data for now: a mapped file's pages under it leave this
 * process's memory (they are read again if t is used later). */
void rm_st_done(const struct rm_st *st, const struct rm_tensor *t);

/* Number of tensors; rm_st_at(st, i) for i < count, in name order. */
size_t rm_st_count(const struct rm_st *st);
const struct rm_tensor *rm_st_at(const struct rm_st *st, size_t i);
/* The tensor called name, or NULL. */
const struct rm_tensor *rm_st_find(const struct rm_st *st, const char *name);
/* The value of __metadata__[key], or NULL. */
const char *rm_st_metadata(const struct rm_st *st, const char *key);
/* Number of metadata entries; rm_st_metadata_at gives the i-th pair. */
size_t rm_st_metadata_count(const struct rm_st *st);
void rm_st_metadata_at(const struct rm_st *st, size_t i, const char **key,
		       const char **value);

/*
 * rm_st_to_f32 - convert t's elements to float into dst, which holds n
 * floats; n must equal the element count.  F32, F16 (subnormals, inf and
 * NaN included), BF16, F64 (rounded) and the integer dtypes are accepted;
 * the source may be unaligned.
 */
int rm_st_to_f32(const struct rm_tensor *t, float *dst, size_t n,
		 struct rm_error *err);
/* rm_st_to_f32 of a tensor of st, giving its pages back as it goes
 * (rm_st_done), so a mapped file's memory stays within a few MiB. */
int rm_st_read_f32(const struct rm_st *st, const struct rm_tensor *t, float *dst,
		   size_t n, struct rm_error *err);

/*
 * rm_st_save - write n tensors to path atomically (temporary file, fsync,
 * rename, fsync of the directory).  meta_kv is NULL or a NULL-terminated
 * list key, value, key, value, ... stored as __metadata__, to which
 * "format": "pt" is added unless meta_kv sets "format" (Hugging Face
 * transformers refuses a file whose metadata lacks it).  Names must be
 * unique and non-empty, nbytes must match the shape.
 */
int rm_st_save(const char *path, const struct rm_tensor *ts, size_t n,
	       const char *const *meta_kv, struct rm_error *err);

#endif
