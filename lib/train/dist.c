/*
 * dist.c - the job's ranks and the fixed-order gradient sum (dist.h).
 *
 * Built with -DRM_MPI (the Makefile does when it finds mpicc) this is the
 * only file that calls MPI; without it every rank count is 1 and the
 * collectives are the single-process computation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef RM_MPI
#include <mpi.h>
#endif

#include "train/dist.h"

static int g_rank, g_size = 1, g_local = 1;
static double g_comm;  /* seconds in collectives */
static double g_wait;  /* of which waiting for the other ranks at a step's exchange */

#ifdef RM_MPI
static int g_mpi;      /* MPI_Init was called */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
#endif

int rm_dist_rank(void) { return g_rank; }
int rm_dist_size(void) { return g_size; }
int rm_dist_local_size(void) { return g_local; }
double rm_dist_comm_seconds(void) { return g_comm; }
double rm_dist_wait_seconds(void) { return g_wait; }

int
rm_dist_built_with_mpi(void)
{
#ifdef RM_MPI
	return 1;
#else
	return 0;
#endif
}

#ifdef RM_MPI
/* An MPI failure as an rmkit error. */
static int
mpi_fail(struct rm_error *err, const char *what, int code)
{
	char s[MPI_MAX_ERROR_STRING];
	int n = 0;
	if (MPI_Error_string(code, s, &n) != MPI_SUCCESS)
		snprintf(s, sizeof s, "error %d", code);
	return rm_error_set(err, RM_EIO, "rank %d: %s failed: %s", g_rank, what, s);
}
#define MPI_TRY(call, what)                                                 \
	do {                                                                \
		double t_ = now();                                          \
		int c_ = (call);                                            \
		g_comm += now() - t_;                                       \
		if (c_ != MPI_SUCCESS)                                      \
			return mpi_fail(err, what, c_);                     \
	} while (0)
#endif

int
rm_dist_init(int *argc, char ***argv, struct rm_error *err)
{
	(void)argc;
	(void)argv;
	(void)err;
#ifdef RM_MPI
	/* Only under a launcher: OpenMPI, MPICH's Hydra (and Slurm's PMI),
	 * PMIx.  Started by hand the program stays one plain process. */
	if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE") && !getenv("PMIX_RANK"))
		return 0;
	int provided;
	int c = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
	if (c != MPI_SUCCESS)
		return mpi_fail(err, "MPI_Init", c);
	g_mpi = 1;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
	MPI_Comm_size(MPI_COMM_WORLD, &g_size);
	MPI_Comm node;
	if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL,
				&node) == MPI_SUCCESS) {
		MPI_Comm_size(node, &g_local);
		MPI_Comm_free(&node);
	}
#endif
	return 0;
}

void
rm_dist_finish(void)
{
#ifdef RM_MPI
	if (g_mpi)
		MPI_Finalize();
	g_mpi = 0;
#endif
}

void
rm_dist_abort(int status)
{
#ifdef RM_MPI
	if (g_mpi && g_size > 1) {
		fflush(NULL);
		MPI_Abort(MPI_COMM_WORLD, status);
	}
#endif
	exit(status);
}

void
rm_dist_split(size_t n, int rank, int size, size_t *lo, size_t *hi)
{
	*lo = n / (size_t)size * (size_t)rank + (n % (size_t)size < (size_t)rank ?
						 n % (size_t)size : (size_t)rank);
	*hi = *lo + n / (size_t)size + ((size_t)rank < n % (size_t)size);
}

/* ---- small collectives ----------------------------------------------------- */

/* What a rank says of a phase: its result and message. */
struct status {
	int32_t code;
	uint32_t pad;
	uint64_t unit;  /* rm_dist_run: the failing unit, else 0 */
	char msg[sizeof ((struct rm_error *)0)->msg];
};

/*
 * Every rank's status; the failing one with the lowest (unit, rank) wins.
 * all must hold g_size entries.
 */
static int
exchange_status(const struct status *mine, struct status *all, struct rm_error *err)
{
#ifdef RM_MPI
	if (g_size > 1) {
		MPI_TRY(MPI_Allgather(mine, (int)sizeof *mine, MPI_BYTE, all, (int)sizeof *mine,
				      MPI_BYTE, MPI_COMM_WORLD), "MPI_Allgather");
		return 0;
	}
#endif
	(void)err;
	all[0] = *mine;
	return 0;
}

static int
pick_failure(const struct status *all, struct rm_error *err)
{
	int who = -1;
	for (int r = 0; r < g_size; r++)
		if (all[r].code < 0 && (who < 0 || all[r].unit < all[who].unit))
			who = r;
	if (who < 0)
		return 0;
	if (g_size == 1)
		return rm_error_set(err, all[who].code, "%s", all[who].msg);
	return rm_error_set(err, all[who].code, "rank %d: %s", who, all[who].msg);
}

static int
agree(int rc, uint64_t unit, const struct rm_error *mine, struct rm_error *err)
{
	if (g_size == 1)
		return rc;
	struct status me = {0}, *all = calloc((size_t)g_size, sizeof *all);
	if (!all)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	me.code = rc < 0 ? rc : 0;
	me.unit = unit;
	if (rc < 0)
		snprintf(me.msg, sizeof me.msg, "%s", mine->msg);
	int r = exchange_status(&me, all, err);
	if (r == 0)
		r = pick_failure(all, err);
	free(all);
	return r;
}

int
rm_dist_agree(int rc, struct rm_error *err)
{
	if (g_size == 1)
		return rc;
	struct rm_error mine;
	if (rc < 0)
		mine = *err;
	return agree(rc, 0, &mine, err);
}

int
rm_dist_max(int v)
{
#ifdef RM_MPI
	if (g_size > 1) {
		int out = v;  /* integer max: exact in any order */
		double t = now();
		if (MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD) != MPI_SUCCESS)
			out = v > 1 ? v : 1;
		g_comm += now() - t;
		return out;
	}
#endif
	return v;
}

int
rm_dist_same_u64(uint64_t v, const char *what, struct rm_error *err)
{
#ifdef RM_MPI
	if (g_size > 1) {
		uint64_t *all = malloc((size_t)g_size * sizeof *all);
		if (!all)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		double t = now();
		int c = MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD);
		g_comm += now() - t;
		if (c != MPI_SUCCESS) {
			free(all);
			return mpi_fail(err, "MPI_Allgather", c);
		}
		int rc = 0;
		for (int r = 1; r < g_size && !rc; r++)
			if (all[r] != all[0])
				rc = rm_error_set(err, RM_EDATA, "rank %d: %s differs from rank 0's "
						  "(%016llx, rank 0 %016llx)", r, what,
						  (unsigned long long)all[r],
						  (unsigned long long)all[0]);
		free(all);
		return rc;
	}
#endif
	(void)v;
	(void)what;
	(void)err;
	return 0;
}

int
rm_dist_bcast(void *buf, size_t n, int root, struct rm_error *err)
{
#ifdef RM_MPI
	if (g_size > 1) {
		/* in pieces: MPI counts are int */
		for (size_t at = 0; at < n;) {
			size_t k = n - at < (1u << 30) ? n - at : (1u << 30);
			MPI_TRY(MPI_Bcast((char *)buf + at, (int)k, MPI_BYTE, root, MPI_COMM_WORLD),
				"MPI_Bcast");
			at += k;
		}
		return 0;
	}
#endif
	(void)buf;
	(void)n;
	(void)root;
	(void)err;
	return 0;
}

int
rm_dist_gather_floats(float *buf, const size_t *start, struct rm_error *err)
{
#ifdef RM_MPI
	if (g_size > 1) {
		int *cnt = malloc(2 * (size_t)g_size * sizeof *cnt), *dsp;
		if (!cnt)
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		dsp = cnt + g_size;
		for (int r = 0; r < g_size; r++) {
			if (start[g_size] > (size_t)0x7fffffff) {
				free(cnt);
				return rm_error_set(err, RM_EUSAGE, "%zu values are too many to gather",
						    start[g_size]);
			}
			cnt[r] = (int)(start[r + 1] - start[r]);
			dsp[r] = (int)start[r];
		}
		double t = now();
		int c = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, dsp, MPI_FLOAT,
				       MPI_COMM_WORLD);
		g_comm += now() - t;
		free(cnt);
		return c == MPI_SUCCESS ? 0 : mpi_fail(err, "MPI_Allgatherv", c);
	}
#endif
	(void)buf;
	(void)start;
	(void)err;
	return 0;
}

/* ---- the fixed-order sum ------------------------------------------------------ */

/*
 * Segments are exchanged in chunks of at most CHUNK floats, so the receive
 * buffer stays small and MPI counts fit an int.  Within a chunk of L
 * floats rank j owns [L j / N, L (j + 1) / N).
 */
#define CHUNK ((size_t)1 << 22)

struct rm_dist_sum {
	size_t n;           /* floats the segments may hold in total */
	float *acc;         /* this rank's slices of every chunk (all of it at N = 1) */
	size_t acc_len;
	float *recv;        /* one chunk: the round's parts of this rank's slice */
	char *recs;         /* gathered records */
	size_t recs_cap;
	int *counts;        /* 4 * size ints for the v-collectives */
};

void
rm_dist_sum_free(struct rm_dist_sum *s)
{
	if (!s)
		return;
	free(s->acc);
	free(s->recv);
	free(s->recs);
	free(s->counts);
	free(s);
}

#ifdef RM_MPI
static size_t
slice_lo(size_t L, int j)
{
	return L * (size_t)j / (size_t)g_size;
}
#endif

int
rm_dist_sum_create(struct rm_dist_sum **out, size_t n, size_t rec_bytes,
		   struct rm_error *err)
{
	*out = NULL;
	struct rm_dist_sum *s = calloc(1, sizeof *s);
	if (!s)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	s->n = n;
	/* a rank's slices: at most n / N + 1 floats per chunk and segment */
	size_t nchunks = n / CHUNK + RM_DIST_MAX_SEGS;
	s->acc_len = g_size == 1 ? n : n / (size_t)g_size + nchunks;
	s->acc = malloc((s->acc_len ? s->acc_len : 1) * sizeof *s->acc);
	if (g_size > 1) {
		s->recv = malloc((CHUNK + (size_t)g_size) * sizeof *s->recv);
		s->counts = malloc(4 * (size_t)g_size * sizeof *s->counts);
	}
	s->recs_cap = rec_bytes * 64;
	s->recs = malloc(s->recs_cap ? s->recs_cap : 1);
	if (!s->acc || !s->recs || (g_size > 1 && (!s->recv || !s->counts))) {
		rm_dist_sum_free(s);
		return rm_error_set(err, RM_ENOMEM, "out of memory for the gradient sum");
	}
	*out = s;
	return 0;
}

static void
zero_segs(const struct rm_dist_job *job)
{
	for (int i = 0; i < job->nseg; i++)
		memset(job->seg[i].p, 0, job->seg[i].n * sizeof(float));
}

/* acc = x (first) or acc += x, n floats. */
static void
accumulate(float *restrict acc, const float *restrict x, size_t n, int first)
{
	if (first)
		memcpy(acc, x, n * sizeof *acc);
	else
		for (size_t i = 0; i < n; i++)
			acc[i] += x[i];
}

/* One process: the units one after the other. */
static int
run_single(struct rm_dist_sum *s, const struct rm_dist_job *job, struct rm_error *err)
{
	for (size_t u = 0; u < job->units; u++) {
		zero_segs(job);
		int rc = job->compute(job->ctx, u, err);
		if (rc < 0)
			return rc;
		if (job->units == 1)
			break;  /* the segments hold the sum already */
		size_t at = 0;
		for (int i = 0; i < job->nseg; i++) {
			accumulate(s->acc + at, job->seg[i].p, job->seg[i].n, u == 0);
			at += job->seg[i].n;
		}
	}
	if (job->units > 1) {
		size_t at = 0;
		for (int i = 0; i < job->nseg; i++) {
			memcpy(job->seg[i].p, s->acc + at, job->seg[i].n * sizeof(float));
			at += job->seg[i].n;
		}
	}
	if (job->units == 0)
		zero_segs(job);
	return 0;
}

#ifdef RM_MPI
/* Round q's exchange: the active ranks' parts of each slice, added in
 * rank (= unit) order into acc. */
static int
exchange_round(struct rm_dist_sum *s, const struct rm_dist_job *job, size_t q,
	       int nact, struct rm_error *err)
{
	int N = g_size, me = g_rank, has = me < nact;
	int *sc = s->counts, *sd = sc + N, *rcn = sd + N, *rd = rcn + N;
	size_t at = 0;
	for (int g = 0; g < job->nseg; g++)
		for (size_t c0 = 0; c0 < job->seg[g].n; c0 += CHUNK) {
			size_t L = job->seg[g].n - c0 < CHUNK ? job->seg[g].n - c0 : CHUNK;
			size_t mlo = slice_lo(L, me), mlen = slice_lo(L, me + 1) - mlo;
			for (int j = 0; j < N; j++) {
				sc[j] = has ? (int)(slice_lo(L, j + 1) - slice_lo(L, j)) : 0;
				sd[j] = (int)slice_lo(L, j);
				rcn[j] = j < nact ? (int)mlen : 0;
				rd[j] = (int)(mlen * (size_t)j);
			}
			MPI_TRY(MPI_Alltoallv(job->seg[g].p + c0, sc, sd, MPI_FLOAT, s->recv, rcn, rd,
					      MPI_FLOAT, MPI_COMM_WORLD), "MPI_Alltoallv");
			for (int j = 0; j < nact; j++)
				accumulate(s->acc + at, s->recv + mlen * (size_t)j, mlen,
					   q == 0 && j == 0);
			at += mlen;
		}
	return 0;
}

/* Every rank's slices back into the full segments. */
static int
gather_sum(struct rm_dist_sum *s, const struct rm_dist_job *job, struct rm_error *err)
{
	int N = g_size, me = g_rank;
	int *cnt = s->counts, *dsp = cnt + N;
	size_t at = 0;
	for (int g = 0; g < job->nseg; g++)
		for (size_t c0 = 0; c0 < job->seg[g].n; c0 += CHUNK) {
			size_t L = job->seg[g].n - c0 < CHUNK ? job->seg[g].n - c0 : CHUNK;
			size_t mlo = slice_lo(L, me), mlen = slice_lo(L, me + 1) - mlo;
			memcpy(job->seg[g].p + c0 + mlo, s->acc + at, mlen * sizeof(float));
			at += mlen;
			for (int j = 0; j < N; j++) {
				cnt[j] = (int)(slice_lo(L, j + 1) - slice_lo(L, j));
				dsp[j] = (int)slice_lo(L, j);
			}
			MPI_TRY(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, job->seg[g].p + c0,
					       cnt, dsp, MPI_FLOAT, MPI_COMM_WORLD), "MPI_Allgatherv");
		}
	return 0;
}

/* Every unit's record to every rank: rank j's units j, j + N, ... */
static int
gather_records(struct rm_dist_sum *s, const struct rm_dist_job *job, struct rm_error *err)
{
	int N = g_size, me = g_rank;
	size_t U = job->units, R = job->rec_size;
	if (!R || !U)
		return 0;
	if (U * R > (size_t)0x7fffffff)
		return rm_error_set(err, RM_EUSAGE, "unit records too large to share");
	if (U * R > s->recs_cap) {
		char *p = realloc(s->recs, U * R);
		if (!p)
			return rm_error_set(err, RM_ENOMEM, "out of memory for unit records");
		s->recs = p;
		s->recs_cap = U * R;
	}
	int *cnt = s->counts, *dsp = cnt + N;
	size_t off = 0;
	for (int j = 0; j < N; j++) {
		size_t mine = U > (size_t)j ? (U - (size_t)j + (size_t)N - 1) / (size_t)N : 0;
		cnt[j] = (int)(mine * R);
		dsp[j] = (int)off;
		off += mine * R;
	}
	char *base = job->rec;
	for (size_t u = (size_t)me, k = 0; u < U; u += (size_t)N, k++)
		memcpy(s->recs + (size_t)dsp[me] + k * R, base + u * R, R);
	MPI_TRY(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, s->recs, cnt, dsp, MPI_BYTE,
			       MPI_COMM_WORLD), "MPI_Allgatherv");
	for (int j = 0; j < N; j++)
		for (size_t u = (size_t)j, k = 0; u < U; u += (size_t)N, k++)
			if (j != me)
				memcpy(base + u * R, s->recs + (size_t)dsp[j] + k * R, R);
	return 0;
}
#endif

int
rm_dist_run(struct rm_dist_sum *s, const struct rm_dist_job *job, struct rm_error *err)
{
	size_t total = 0;
	for (int i = 0; i < job->nseg; i++)
		total += job->seg[i].n;
	if (total > s->n)
		return rm_error_set(err, RM_EUSAGE, "gradient of %zu floats, room for %zu", total,
				    s->n);
	if (g_size == 1)
		return run_single(s, job, err);
#ifdef RM_MPI
	size_t U = job->units, N = (size_t)g_size;
	int rc = 0;
	uint64_t fail_unit = UINT64_MAX;
	struct rm_error mine = {0};
	for (size_t q = 0; q * N < U; q++) {
		size_t u = q * N + (size_t)g_rank;
		int nact = U - q * N < N ? (int)(U - q * N) : (int)N;
		if (u < U && rc == 0) {
			zero_segs(job);
			if ((rc = job->compute(job->ctx, u, &mine)) < 0)
				fail_unit = u;
		}
		/* a failed rank goes on exchanging: its numbers are dropped */
		if (job->nseg) {
			/* the wait for the slowest rank, apart from the exchange */
			double t0 = now();
			MPI_TRY(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
			g_wait += now() - t0;
			int c = exchange_round(s, job, q, nact, err);
			if (c < 0)
				return c;
		}
	}
	if ((rc = agree(rc, fail_unit, &mine, err)) < 0)
		return rc;
	if (job->nseg && (rc = gather_sum(s, job, err)) < 0)
		return rc;
	if (U == 0)
		zero_segs(job);
	return gather_records(s, job, err);
#else
	return rm_error_set(err, RM_EUSAGE, "no MPI");
#endif
}
