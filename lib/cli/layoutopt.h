/*
 * layoutopt.h - the record-layout options rm-tokenize, rm-filter, rm-eval
 * and rm-strength share on the command line, so that every tool reading a
 * dataset reads it as rm-tokenize did (the same shape, keys and label
 * values, hence the same pairs, orientation and ties).
 *
 * A program helper like cli.h (and, like it, allowed to exit): a bad value
 * is a usage error that prints a message and exits 2.  Programs put
 * RM_LAYOUTOPT_LONGOPTS into their getopt_long table, hand every option
 * code to rm_layoutopt_apply before their own switch, and call
 * rm_layoutopt_check once the options are read.  The strings set point
 * into argv (rm_layoutopt_apply splits comma lists in place).
 */
#ifndef RM_LAYOUTOPT_H
#define RM_LAYOUTOPT_H

#include <getopt.h>

#include "text/prefs.h"

enum {
	RM_LAYOUTOPT_SHAPE = 0x300,
	RM_LAYOUTOPT_PROMPT_KEY,
	RM_LAYOUTOPT_CHOSEN_KEY,
	RM_LAYOUTOPT_REJECTED_KEY,
	RM_LAYOUTOPT_A_KEY,
	RM_LAYOUTOPT_B_KEY,
	RM_LAYOUTOPT_LABEL_KEY,
	RM_LAYOUTOPT_LABEL_VALUES,
	RM_LAYOUTOPT_RESPONSES_KEY,
	RM_LAYOUTOPT_SCORE_KEY,
	RM_LAYOUTOPT_RANK_KEY,
	RM_LAYOUTOPT_CODES_KEY,
	RM_LAYOUTOPT_CONCAT,
};

#define RM_LAYOUTOPT_LONGOPTS \
	{ "shape", required_argument, NULL, RM_LAYOUTOPT_SHAPE }, \
	{ "prompt-key", required_argument, NULL, RM_LAYOUTOPT_PROMPT_KEY }, \
	{ "chosen-key", required_argument, NULL, RM_LAYOUTOPT_CHOSEN_KEY }, \
	{ "rejected-key", required_argument, NULL, RM_LAYOUTOPT_REJECTED_KEY }, \
	{ "a-key", required_argument, NULL, RM_LAYOUTOPT_A_KEY }, \
	{ "b-key", required_argument, NULL, RM_LAYOUTOPT_B_KEY }, \
	{ "label-key", required_argument, NULL, RM_LAYOUTOPT_LABEL_KEY }, \
	{ "label-values", required_argument, NULL, RM_LAYOUTOPT_LABEL_VALUES }, \
	{ "responses-key", required_argument, NULL, RM_LAYOUTOPT_RESPONSES_KEY }, \
	{ "score-key", required_argument, NULL, RM_LAYOUTOPT_SCORE_KEY }, \
	{ "rank-key", required_argument, NULL, RM_LAYOUTOPT_RANK_KEY }, \
	{ "codes-key", required_argument, NULL, RM_LAYOUTOPT_CODES_KEY }, \
	{ "concat", no_argument, NULL, RM_LAYOUTOPT_CONCAT }

/* The usage lines of these options, for -h. */
extern const char rm_layoutopt_usage[];

/* Apply option c (its argument arg); 1 when it was one of these, else 0. */
int rm_layoutopt_apply(int c, char *arg, struct rm_pref_options *o);
/* Usage errors for combinations that cannot work. */
void rm_layoutopt_check(const struct rm_pref_options *o);

#endif
