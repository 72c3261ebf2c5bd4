/*
 * trainopt.h - the training options rm-train and rm-metastep share on the
 * command line.
 *
 * A program helper like cli.h (and, like it, allowed to exit): a bad value
 * is a usage error that prints a message and exits 2.  Programs put
 * RM_TRAINOPT_LONGOPTS into their getopt_long table and hand every option
 * code to rm_trainopt_apply before their own switch.
 */
#ifndef RM_TRAINOPT_H
#define RM_TRAINOPT_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "train/train.h"

enum {
	RM_TRAINOPT_RESUME = 0x200,
	RM_TRAINOPT_INIT,
	RM_TRAINOPT_TRUNCATE,
	RM_TRAINOPT_LOG,
	RM_TRAINOPT_LOG_EVERY,
	RM_TRAINOPT_SAVE_EVERY,
	RM_TRAINOPT_SEED,
	RM_TRAINOPT_EPOCHS,
	RM_TRAINOPT_STEPS,
	RM_TRAINOPT_BATCH_SIZE,
	RM_TRAINOPT_BATCH_TOKENS,
	RM_TRAINOPT_LR,
	RM_TRAINOPT_CLIP,
	RM_TRAINOPT_DROPOUT,
	RM_TRAINOPT_PRECISION,
	RM_TRAINOPT_ACCUM,
	RM_TRAINOPT_SAVE_DTYPE,
};

#define RM_TRAINOPT_LONGOPTS \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "threads", required_argument, NULL, 'j' }, \
	{ "output", required_argument, NULL, 'o' }, \
	{ "resume", no_argument, NULL, RM_TRAINOPT_RESUME }, \
	{ "init", required_argument, NULL, RM_TRAINOPT_INIT }, \
	{ "truncate", no_argument, NULL, RM_TRAINOPT_TRUNCATE }, \
	{ "log", required_argument, NULL, RM_TRAINOPT_LOG }, \
	{ "log-every", required_argument, NULL, RM_TRAINOPT_LOG_EVERY }, \
	{ "save-every", required_argument, NULL, RM_TRAINOPT_SAVE_EVERY }, \
	{ "seed", required_argument, NULL, RM_TRAINOPT_SEED }, \
	{ "epochs", required_argument, NULL, RM_TRAINOPT_EPOCHS }, \
	{ "steps", required_argument, NULL, RM_TRAINOPT_STEPS }, \
	{ "batch-size", required_argument, NULL, RM_TRAINOPT_BATCH_SIZE }, \
	{ "batch-tokens", required_argument, NULL, RM_TRAINOPT_BATCH_TOKENS }, \
	{ "lr", required_argument, NULL, RM_TRAINOPT_LR }, \
	{ "clip", required_argument, NULL, RM_TRAINOPT_CLIP }, \
	{ "dropout", required_argument, NULL, RM_TRAINOPT_DROPOUT }, \
	{ "precision", required_argument, NULL, RM_TRAINOPT_PRECISION }, \
	{ "accum", required_argument, NULL, RM_TRAINOPT_ACCUM }, \
	{ "save-dtype", required_argument, NULL, RM_TRAINOPT_SAVE_DTYPE }

/* What the programs themselves take from the shared options. */
struct rm_train_cli {
	const char *out, *init, *log, *jobs;  /* -o, --init, --log, -j */
	int resume, quiet, truncate;
	long log_every, save_every;
};

/*
 * rm_trainopt_apply - apply option code c (a long option's code above, or
 * 'q', 'j', 'o') with argument s to o or cli.  Returns 1 when c is one of
 * the shared options, 0 when it is not (nothing changed).
 */
int rm_trainopt_apply(int c, const char *s, struct rm_train_options *o,
		      struct rm_train_cli *cli);

/*
 * rm_train_output_lock - resolve and lock the -o directory for the whole
 * run (stream/outdir.h: a symbolic link is followed, "dir/" is "dir", a
 * second writer is refused naming the first) and check it is absent or a
 * checkpoint directory to replace.  cli->out becomes the resolved name.
 * With --resume the directory must hold a run of this program's kind:
 * metarm 1 (rm-metastep) wants a MetaRM state in it, metarm 0 (rm-train)
 * refuses one, so neither continues (and drops the state of) the other's.
 * On failure it prints the message and exits: 2 for a usage error, 1 for a
 * lock held by another run.  The lock is released (its file removed) when
 * the program exits.  Under MPI (after rm_train_dist_start) only rank 0,
 * which writes the directory, does all this, and a failure ends the job.
 */
void rm_train_output_lock(struct rm_train_cli *cli, int metarm);

/*
 * The metrics log (--log): opened for appending on --resume, else
 * truncated; *log is NULL when there is none.  rm_train_log_close reports
 * a write that failed at any earlier flush too, and takes NULL.
 */
int rm_train_log_open(const struct rm_train_cli *cli, FILE **log,
		      struct rm_error *err);
int rm_train_log_close(const struct rm_train_cli *cli, FILE *log,
		       struct rm_error *err);
/*
 * rm_train_log_check - after step `step` wrote (or, on ranks without the
 * log, would have written) log lines: flush them and fail on every rank
 * when the write failed ("step N: --log FILE: write failed: reason", as
 * "rank 0: ..." with several ranks).  A collective with several ranks:
 * every rank calls it after the same steps, whether or not it holds log.
 */
int rm_train_log_check(const struct rm_train_cli *cli, FILE *log, uint64_t step,
		       struct rm_error *err);
/*
 * rm_train_save_at - rm_trainer_save, its failure naming the step
 * ("step N: rank 0: ..."); a collective like rm_trainer_save.
 */
int rm_train_save_at(struct rm_trainer *t, const char *dir, struct rm_error *err);

/*
 * SIGINT and SIGTERM ask a training loop to stop after its step (a second
 * one ends the program at once).  rm_train_stop_signal is 0 until one came,
 * then its number; rm_train_warn_stopped prints where the run stopped.
 */
void rm_train_catch_signals(void);
int rm_train_stop_signal(void);
/*
 * rm_train_stop_check - the loop's test, once per step: with several ranks
 * a collective, so that a signal to any rank stops every rank after the
 * same step; rm_train_stop_signal then gives its result on every rank.
 */
int rm_train_stop_check(void);
void rm_train_warn_stopped(uint64_t step, uint64_t total, const char *dir);

/*
 * Data-parallel runs (lib/train/dist.h; rm-train(1) DISTRIBUTED TRAINING).
 *
 * rm_train_dist_start - join the job after the command line is parsed.
 * Ranks other than 0 go quiet and write no log; without -j a rank takes
 * its host's cores divided by the ranks on that host.  With several ranks
 * and stdin_used, rank 0 (the one mpirun gives standard input) reads it
 * whole and every rank gets a copy as its standard input.  Exits 1 when
 * that fails.
 *
 * rm_train_dist_check - fail on every rank unless every rank has the same
 * training data and starting parameters (a collective).
 *
 * rm_train_dist_end - the exit status of a run whose result rc (and err)
 * every rank agrees on: rank 0 prints the failure, every rank leaves the
 * job.
 */
void rm_train_dist_start(int *argc, char ***argv, struct rm_train_cli *cli,
			 int stdin_used);
int rm_train_dist_check(const struct rm_trainer *t, struct rm_error *err);
int rm_train_dist_end(int rc, const struct rm_error *err);
/* "" with one rank, else " (N ranks; rank 0 spent C% of it exchanging,
 * W% waiting for other ranks)" for a run of secs seconds that began when
 * rm_dist_comm_seconds() and rm_dist_wait_seconds() were comm0 and wait0:
 * a static buffer. */
const char *rm_train_dist_note(double secs, double comm0, double wait0);

#endif
