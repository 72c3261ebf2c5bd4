/*
 * dist.h - data-parallel training over processes and hosts (MPI), and the
 * fixed-order gradient sum that makes N ranks give the one-process result.
 *
 * Every MPI call of rmkit lives in dist.c.  Built without MPI (make MPI=0,
 * or no mpicc), or run without a launcher (no mpirun/mpiexec in the
 * environment), the job is one rank and every function below is the plain
 * single-process computation; a program built with MPI therefore runs as
 * a single process as it always did.
 *
 * The job is process-wide, like MPI itself: rm_dist_init once at the start
 * of a program, rm_dist_finish at a normal end, rm_dist_abort on a failure
 * the other ranks cannot know of.  Only the thread that called
 * rm_dist_init calls these functions.
 *
 * Work units and the sum.  A step's work is split into units, numbered
 * 0..U-1 independently of the rank count (rm-train: the step's
 * micro-batches).  Unit u is computed by rank u mod N.  Its gradient is
 * computed into zeroed buffers, and the step's gradient is
 *
 *   g = (((g_0 + g_1) + g_2) + ... + g_{U-1})      (fp32, left to right)
 *
 * element by element: the same additions in the same order at any N, so
 * g is bit-identical to one process computing the units one after the
 * other (for the same thread count, on the same kind of CPU).  rmkit does
 * this sum itself: in round q the ranks compute units qN..qN+N-1; each
 * rank owns a slice of the gradient, receives the round's units' parts of
 * its slice (MPI_Alltoallv, a pure data move) and adds them in unit
 * order; after the last round the slices are gathered (MPI_Allgatherv).
 * No MPI reduction operator, whose order MPI chooses, is ever used on
 * floating point data.  When U is a multiple of N the bytes each rank
 * sends are (U/N + 1)(N-1)/N times the gradient, a ring all-reduce's when
 * U = N.
 *
 * Failures.  Every rank runs the same collectives whatever its data: a
 * unit that fails is recorded and its rank goes on exchanging (zeros)
 * until the run ends, when every rank learns the failure of the lowest
 * failing unit, as "rank R: <its message>".  So a step either succeeds on
 * every rank or fails on every rank with the same message.
 */
#ifndef RM_DIST_H
#define RM_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/*
 * rm_dist_init - join the job: with MPI built in and a launcher's
 * environment present (OpenMPI, MPICH/Hydra, PMIx), MPI_Init; otherwise
 * one rank.  Returns 0, or RM_EIO when MPI fails to start.
 */
int rm_dist_init(int *argc, char ***argv, struct rm_error *err);
/* This process's rank (0..size-1) and the job's size (1 without MPI). */
int rm_dist_rank(void);
int rm_dist_size(void);
/* Ranks of the job on this host (1 without MPI). */
int rm_dist_local_size(void);
/* 1 when rmkit was built with MPI. */
int rm_dist_built_with_mpi(void);
/* End the job normally (MPI_Finalize: every rank must call it). */
void rm_dist_finish(void);
/*
 * rm_dist_abort - end every rank of the job now with exit status
 * `status` (MPI_Abort).  The one function of the library that does not
 * return: programs call it on a failure only their rank knows of, where
 * waiting for the others would hang them.  With one rank it calls exit.
 */
void rm_dist_abort(int status) __attribute__((noreturn));

/* Seconds this process spent in collective communication since start,
 * and the part of it spent waiting, before a step's gradient exchange,
 * for the other ranks to finish their micro-batches. */
double rm_dist_comm_seconds(void);
double rm_dist_wait_seconds(void);

/*
 * rm_dist_agree - every rank passes its own result of a phase (rc and, if
 * rc < 0, err); every rank gets back the result of the lowest failing
 * rank, its message prefixed "rank R: " when the job has more than one
 * rank.  Returns 0 when every rank succeeded.
 */
int rm_dist_agree(int rc, struct rm_error *err);

/* The largest of the ranks' v, on every rank. */
int rm_dist_max(int v);

/*
 * rm_dist_same_u64 - fail (RM_EDATA, on every rank) when v differs
 * between ranks; what names the value ("the training data").
 */
int rm_dist_same_u64(uint64_t v, const char *what, struct rm_error *err);

/* rm_dist_bcast - root's n bytes into buf on every rank. */
int rm_dist_bcast(void *buf, size_t n, int root, struct rm_error *err);

/*
 * rm_dist_gather_floats - every rank holds its own part of buf,
 * buf[start[r] .. start[r+1]), start[size] being the total; afterwards
 * every rank holds all of buf.
 */
int rm_dist_gather_floats(float *buf, const size_t *start, struct rm_error *err);

/* rm_dist_split - the rank's share [*lo, *hi) of n items, contiguous,
 * in rank order, sizes differing by one at most. */
void rm_dist_split(size_t n, int rank, int size, size_t *lo, size_t *hi);

/* ---- the fixed-order sum of a step's units ------------------------------ */

struct rm_dist_seg {
	float *p;   /* the computation's gradient buffer (the model's grads) */
	size_t n;   /* floats */
};

enum { RM_DIST_MAX_SEGS = 2 };

struct rm_dist_job {
	size_t units;   /* U, the same on every rank */
	/* Compute unit u into the segments (zeroed before each call) and
	 * into its record; 0 or a negative code with err filled. */
	int (*compute)(void *ctx, size_t u, struct rm_error *err);
	void *ctx;
	struct rm_dist_seg seg[RM_DIST_MAX_SEGS];
	int nseg;       /* 0: no gradient (evaluation) */
	/* Unit u's record: rec_size bytes at rec + u * rec_size, written by
	 * compute on the unit's rank and on every rank after the run. */
	void *rec;
	size_t rec_size;
};

/* The buffers of the sum; opaque, owned by its creator. */
struct rm_dist_sum;

/*
 * rm_dist_sum_create - room for jobs whose segments hold at most n floats
 * in total and whose records take at most rec_bytes per unit.  Allocated
 * once: a run does not allocate (records beyond the first run's count of
 * units grow the buffer once).
 */
int rm_dist_sum_create(struct rm_dist_sum **out, size_t n, size_t rec_bytes,
		       struct rm_error *err);
void rm_dist_sum_free(struct rm_dist_sum *s);

/*
 * rm_dist_run - compute the job's units on their ranks and leave, on every
 * rank, the fixed-order sum of their gradients in the segments and every
 * unit's record in rec.  A collective: every rank calls it with the same
 * units, segment sizes and rec_size.  On failure (the same on every rank,
 * see above) the segments hold no meaningful sum.
 */
int rm_dist_run(struct rm_dist_sum *s, const struct rm_dist_job *job,
		struct rm_error *err);

#endif
