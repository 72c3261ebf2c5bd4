/*
 * pool.h - a fixed set of worker threads for deterministic parallel loops.
 *
 * rm_pool_run calls fn(ctx, task, thread) once for every task in [0, n)
 * and returns when all are done.  Tasks are handed out dynamically, so
 * which thread runs a task varies between runs: a task must write only its
 * own outputs and may use per-thread scratch indexed by `thread` (in
 * [0, rm_pool_threads)), never state left by an earlier task.  Then the
 * result is the same whatever the thread count and the scheduling.
 *
 * A pool of one thread runs everything in the caller.  The pool is not
 * reentrant: one rm_pool_run at a time, from one caller thread.
 */
#ifndef RM_POOL_H
#define RM_POOL_H

#include <stddef.h>

#include "base/error.h"

struct rm_pool;

typedef void (*rm_pool_fn)(void *ctx, size_t task, int thread);

/* Start nthreads - 1 workers (the caller is thread 0).  nthreads >= 1. */
/* The most threads one pool runs (-j's upper bound). */
#define RM_POOL_MAX_THREADS 1024
int rm_pool_create(struct rm_pool **out, int nthreads, struct rm_error *err);
/* Stop and join the workers; NULL is allowed. */
void rm_pool_free(struct rm_pool *p);
int rm_pool_threads(const struct rm_pool *p);
void rm_pool_run(struct rm_pool *p, size_t ntasks, rm_pool_fn fn, void *ctx);

#endif
