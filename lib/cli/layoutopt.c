#include "cli/layoutopt.h"

#include <string.h>

#include "cli/cli.h"

const char rm_layoutopt_usage[] =
"       [--shape shape] [--prompt-key key[,key...]] [--chosen-key key]\n"
"       [--rejected-key key] [--a-key key] [--b-key key]\n"
"       [--label-key key[,key...]] [--label-values a,b[,tie]|sign]\n"
"       [--responses-key key] [--score-key key] [--rank-key key]\n"
"       [--codes-key key] [--concat]\n";

/* Split "a,b,c" (in place) into at most RM_PREF_MAX_KEYS names. */
static size_t
split_keys(char *arg, const char *opt, const char **v)
{
	size_t n = 0;
	char *s = arg, *c;

	for (;;) {
		if (n == RM_PREF_MAX_KEYS)
			rm_usage_error("%s: at most %d names", opt, RM_PREF_MAX_KEYS);
		c = strchr(s, ',');
		if (c)
			*c = '\0';
		if (*s == '\0')
			rm_usage_error("%s: an empty name in '%s'", opt, arg);
		v[n++] = s;
		if (c == NULL)
			return n;
		s = c + 1;
	}
}

int
rm_layoutopt_apply(int c, char *arg, struct rm_pref_options *o)
{
	switch (c) {
	case RM_LAYOUTOPT_SHAPE:
		if (rm_pref_shape_parse(arg) < 0)
			rm_usage_error("unknown shape '%s'", arg);
		o->shape = (enum rm_pref_shape)rm_pref_shape_parse(arg);
		return 1;
	case RM_LAYOUTOPT_PROMPT_KEY:
		o->nprompt_keys = split_keys(arg, "--prompt-key", o->prompt_keys);
		o->prompt_key = o->prompt_keys[0];
		if (o->nprompt_keys == 1)
			o->nprompt_keys = 0;
		return 1;
	case RM_LAYOUTOPT_CHOSEN_KEY: o->chosen_key = arg; return 1;
	case RM_LAYOUTOPT_REJECTED_KEY: o->rejected_key = arg; return 1;
	case RM_LAYOUTOPT_A_KEY: o->a_key = arg; return 1;
	case RM_LAYOUTOPT_B_KEY: o->b_key = arg; return 1;
	case RM_LAYOUTOPT_LABEL_KEY:
		o->nlabel_keys = split_keys(arg, "--label-key", o->label_keys);
		return 1;
	case RM_LAYOUTOPT_LABEL_VALUES: {
		const char *v[RM_PREF_MAX_KEYS];
		size_t nv;
		if (strcmp(arg, "sign") == 0) {
			o->label_sign = 1;
			return 1;
		}
		nv = split_keys(arg, "--label-values", v);
		if (nv < 2 || nv > 3)
			rm_usage_error("--label-values takes A,B or A,B,TIE (or "
			    "sign), not '%s'", arg);
		o->label_a = v[0];
		o->label_b = v[1];
		o->label_tie = nv == 3 ? v[2] : NULL;
		return 1;
	}
	case RM_LAYOUTOPT_RESPONSES_KEY: o->responses_key = arg; return 1;
	case RM_LAYOUTOPT_SCORE_KEY: o->score_key = arg; return 1;
	case RM_LAYOUTOPT_RANK_KEY: o->rank_key = arg; return 1;
	case RM_LAYOUTOPT_CODES_KEY: o->codes_key = arg; return 1;
	case RM_LAYOUTOPT_CONCAT: o->concat = 1; return 1;
	}
	return 0;
}

void
rm_layoutopt_check(const struct rm_pref_options *o)
{
	if (o->score_key && o->rank_key)
		rm_usage_error("--score-key and --rank-key exclude each other");
	if ((o->a_key != NULL) != (o->b_key != NULL))
		rm_usage_error("--a-key and --b-key go together");
	/* A layout of one's own (not a named one with keys overridden). */
	if ((o->shape == RM_SHAPE_AB || (o->shape == RM_SHAPE_AUTO &&
	    (o->a_key || o->nlabel_keys))) &&
	    (o->a_key == NULL || o->nlabel_keys == 0 ||
	    (o->label_a == NULL && !o->label_sign)))
		rm_usage_error("an A-versus-B layout of one's own needs --a-key, "
		    "--b-key, --label-key and --label-values (or --shape with a "
		    "named layout)");
}
