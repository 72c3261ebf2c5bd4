/*
 * param.h - one entry of a model's parameter table.
 *
 * A model's parameters, gradients and optimizer moments are each one
 * contiguous float buffer with the same layout; the table says where each
 * named tensor lives in it.  Allocation, initialisation, gradients, the
 * optimizer, checkpoint names and shape checks all walk the same table.
 */
#ifndef RM_PARAM_H
#define RM_PARAM_H

#include <stddef.h>

#define RM_PARAM_MAX_NAME 63

struct rm_param {
	char name[RM_PARAM_MAX_NAME + 1]; /* Hugging Face name */
	int ndim;                          /* 1 or 2 */
	size_t shape[2];                   /* shape[1] unused when ndim == 1 */
	size_t offset;                     /* in floats, into the buffers */
	size_t numel;
	int decay;  /* weight decay applies (matrices and embeddings: ndim 2) */
	int init;   /* RM_INIT_*: how rm_model_init fills it */
	float init_std;  /* RM_INIT_NORMAL's standard deviation */
};

enum { RM_INIT_NORMAL, RM_INIT_ONES, RM_INIT_ZEROS };

#endif
