/*
 * pool.c - worker threads sleeping on a condition variable; tasks are
 * claimed with an atomic counter.  A generation number tells workers that
 * a new job was posted.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"

struct rm_pool {
	int n;
	pthread_t *tid;
	pthread_mutex_t mu;
	pthread_cond_t go, done;
	unsigned long gen;  /* bumped for every job; guarded by mu */
	int busy;           /* workers still in the current job */
	int quit;
	rm_pool_fn fn;
	void *ctx;
	size_t ntasks;
	atomic_size_t next;
};

struct worker_arg {
	struct rm_pool *p;
	int id;
};

static void
drain(struct rm_pool *p, int id)
{
	size_t t;
	while ((t = atomic_fetch_add(&p->next, 1)) < p->ntasks)
		p->fn(p->ctx, t, id);
}

static void *
worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct rm_pool *p = wa->p;
	int id = wa->id;
	unsigned long seen = 0;
	free(wa);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->quit && p->gen == seen)
			pthread_cond_wait(&p->go, &p->mu);
		if (p->quit)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->mu);
		drain(p, id);
		pthread_mutex_lock(&p->mu);
		if (--p->busy == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

int
rm_pool_create(struct rm_pool **out, int nthreads, struct rm_error *err)
{
	*out = NULL;
	if (nthreads < 1 || nthreads > RM_POOL_MAX_THREADS)
		return rm_error_set(err, RM_EUSAGE, "thread count %d is not in 1..%d", nthreads,
				    RM_POOL_MAX_THREADS);
	struct rm_pool *p = calloc(1, sizeof *p);
	if (!p)
		return rm_error_set(err, RM_ENOMEM, "out of memory");
	p->n = nthreads;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->go, NULL);
	pthread_cond_init(&p->done, NULL);
	atomic_init(&p->next, 0);
	if (nthreads > 1) {
		p->tid = calloc((size_t)nthreads, sizeof *p->tid);
		if (!p->tid) {
			rm_pool_free(p);
			return rm_error_set(err, RM_ENOMEM, "out of memory");
		}
	}
	for (int i = 1; i < nthreads; i++) {
		struct worker_arg *wa = malloc(sizeof *wa);
		int rc = 0;
		if (!wa || (wa->p = p, wa->id = i,
			    (rc = pthread_create(&p->tid[i], NULL, worker, wa)) != 0)) {
			free(wa);
			p->n = i; /* join only the ones that started */
			rm_pool_free(p);
			return rm_error_set(err, RM_ENOMEM, "cannot start thread %d of %d: %s "
					    "(the system's limit on threads; a smaller -j may do)",
					    i + 1, nthreads, wa ? strerror(rc) : "out of memory");
		}
	}
	*out = p;
	return 0;
}

void
rm_pool_free(struct rm_pool *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	for (int i = 1; i < p->n; i++)
		pthread_join(p->tid[i], NULL);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->go);
	pthread_cond_destroy(&p->done);
	free(p->tid);
	free(p);
}

int
rm_pool_threads(const struct rm_pool *p)
{
	return p ? p->n : 1;
}

void
rm_pool_run(struct rm_pool *p, size_t ntasks, rm_pool_fn fn, void *ctx)
{
	if (!p || p->n == 1 || ntasks <= 1) {
		for (size_t t = 0; t < ntasks; t++)
			fn(ctx, t, 0);
		return;
	}
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->ctx = ctx;
	p->ntasks = ntasks;
	atomic_store(&p->next, 0);
	p->busy = p->n - 1;
	p->gen++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->mu);
	drain(p, 0);
	pthread_mutex_lock(&p->mu);
	while (p->busy > 0)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
}
