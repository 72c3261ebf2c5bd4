/*
 * rm-synth - generate a synthetic preference dataset with known truth.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "stream/io.h"
#include "data/synth.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rm-synth [-hz] [-n pairs] [-o file] [--seed n] [--flip fraction]\n"
	    "                [--ties fraction] [--noise std] [--min-margin m]\n"
	    "                [--test n --test-out file]\n"
	    "                [--groups n [--k k] --groups-out file]\n");
}

enum { OPT_SEED = 256, OPT_FLIP, OPT_TIES, OPT_NOISE, OPT_MIN_MARGIN,
       OPT_TEST, OPT_TEST_OUT, OPT_GROUPS, OPT_K, OPT_GROUPS_OUT,
       OPT_VERSION };

static const struct option longopts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "output", required_argument, NULL, 'o' },
	{ "zstd", no_argument, NULL, 'z' },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "flip", required_argument, NULL, OPT_FLIP },
	{ "ties", required_argument, NULL, OPT_TIES },
	{ "noise", required_argument, NULL, OPT_NOISE },
	{ "min-margin", required_argument, NULL, OPT_MIN_MARGIN },
	{ "test", required_argument, NULL, OPT_TEST },
	{ "test-out", required_argument, NULL, OPT_TEST_OUT },
	{ "groups", required_argument, NULL, OPT_GROUPS },
	{ "k", required_argument, NULL, OPT_K },
	{ "groups-out", required_argument, NULL, OPT_GROUPS_OUT },
	{ NULL, 0, NULL, 0 },
};

enum { SET_PAIRS, SET_TEST, SET_GROUPS, NSET };

int
main(int argc, char **argv)
{
	struct rm_synth_options o;
	struct rm_synth *s = NULL;
	struct rm_out *out[NSET] = { NULL };
	const char *path[NSET] = { NULL };
	size_t count[NSET], k = 5;
	struct rm_buf b = { 0 };
	struct rm_error err;
	int c, zflag = 0, status = RM_EXIT_FAIL;

	rm_cli_init(argv[0]);
	rm_synth_defaults(&o);
	count[SET_TEST] = count[SET_GROUPS] = 0;
	while ((c = getopt_long(argc, argv, "hn:o:z", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': usage(stdout); return rm_finish_stdout(RM_EXIT_OK);
		case OPT_VERSION: rm_print_version();
		case 'n': o.n = (size_t)rm_opt_long("-n", optarg, 0, 100000000); break;
		case 'o': path[SET_PAIRS] = optarg; break;
		case 'z': zflag = RM_OUT_ZSTD; break;
		case OPT_SEED:
			o.seed = (uint64_t)rm_opt_long("--seed", optarg, 0, LONG_MAX);
			break;
		case OPT_FLIP: o.flip = rm_opt_double("--flip", optarg, 0, 1); break;
		case OPT_TIES: o.ties = rm_opt_double("--ties", optarg, 0, 1); break;
		case OPT_NOISE: o.noise = rm_opt_double("--noise", optarg, 0, 100); break;
		case OPT_MIN_MARGIN:
			o.min_margin = rm_opt_double("--min-margin", optarg, 0, 5);
			break;
		case OPT_TEST:
			count[SET_TEST] = (size_t)rm_opt_long("--test", optarg, 0, 100000000);
			break;
		case OPT_TEST_OUT: path[SET_TEST] = optarg; break;
		case OPT_GROUPS:
			count[SET_GROUPS] = (size_t)rm_opt_long("--groups", optarg, 0, 100000000);
			break;
		case OPT_K: k = (size_t)rm_opt_long("--k", optarg, 2, 64); break;
		case OPT_GROUPS_OUT: path[SET_GROUPS] = optarg; break;
		default: usage(stderr); return RM_EXIT_USAGE;
		}
	}
	if (optind < argc)
		rm_usage_error("unexpected operand '%s'", argv[optind]);
	if (o.flip + o.ties > 1)
		rm_usage_error("--flip and --ties add up to more than 1");
	if (count[SET_TEST] && !path[SET_TEST])
		rm_usage_error("--test needs --test-out");
	if (count[SET_GROUPS] && !path[SET_GROUPS])
		rm_usage_error("--groups needs --groups-out");
	count[SET_PAIRS] = o.n;
	{
		const struct rm_path_use u[] = {
			{ "-o", path[SET_PAIRS], 1 }, { "--test-out", path[SET_TEST], 1 },
			{ "--groups-out", path[SET_GROUPS], 1 },
		};
		rm_check_paths(u, sizeof u / sizeof *u);
	}

	if (rm_synth_new(&s, &o, &err) < 0)
		goto fail;
	for (int set = 0; set < NSET; set++) {
		if (set != SET_PAIRS && !path[set])
			continue;
		if (rm_out_open(&out[set], path[set], zflag, 0, &err) < 0)
			goto fail;
	}
	for (int set = 0; set < NSET; set++) {
		for (size_t i = 0; out[set] && i < count[set]; i++) {
			int rc;
			rm_buf_reset(&b);
			rc = set == SET_PAIRS ? rm_synth_pair(s, i, &b) :
			    set == SET_TEST ? rm_synth_test_pair(s, i, &b) :
			    rm_synth_group(s, i, k, &b);
			if (rc == RM_EDATA) {
				rm_error_set(&err, rc, "%s %zu: no two responses %g apart in a "
				    "million draws (--min-margin)", set == SET_TEST ?
				    "test pair" : "pair", i, o.min_margin);
				goto fail;
			}
			if (rc < 0) {
				rm_error_set(&err, rc, "out of memory");
				goto fail;
			}
			if (rm_out_write(out[set], b.p, b.len, &err) < 0)
				goto fail;
		}
	}
	status = RM_EXIT_OK;
	for (int set = 0; set < NSET; set++) {
		int rc = rm_out_commit(out[set], &err);
		out[set] = NULL;
		if (rc < 0 && status == RM_EXIT_OK) {
			status = RM_EXIT_FAIL;
			if (rc != RM_EPIPE)
				rm_warn_err(&err);
		}
	}
	goto done;
fail:
	if (err.code != RM_EPIPE)
		rm_warn_err(&err);
	for (int set = 0; set < NSET; set++)
		rm_out_abort(out[set]);
done:
	rm_buf_release(&b);
	rm_synth_free(s);
	return rm_finish_stdout(status);
}
