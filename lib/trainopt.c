#include "trainopt.h"

#include <stdint.h>

#include "cli.h"

int
rm_trainopt_apply(int c, const char *s, struct rm_train_options *o,
		  struct rm_train_cli *cli)
{
	switch (c) {
	case 'q': cli->quiet = 1; return 1;
	case 'j': cli->jobs = s; return 1;
	case 'o': cli->out = s; return 1;
	case RM_TRAINOPT_RESUME: cli->resume = 1; return 1;
	case RM_TRAINOPT_INIT: cli->init = s; return 1;
	case RM_TRAINOPT_TRUNCATE: cli->truncate = 1; return 1;
	case RM_TRAINOPT_LOG: cli->log = s; return 1;
	case RM_TRAINOPT_LOG_EVERY:
		cli->log_every = rm_opt_long("--log-every", s, 1, INT64_MAX);
		return 1;
	case RM_TRAINOPT_SAVE_EVERY:
		cli->save_every = rm_opt_long("--save-every", s, 0, INT64_MAX);
		return 1;
	case RM_TRAINOPT_SEED:
		o->seed = (uint64_t)rm_opt_long("--seed", s, 0, INT64_MAX);
		return 1;
	case RM_TRAINOPT_EPOCHS:
		o->epochs = (uint64_t)rm_opt_long("--epochs", s, 1, 1000000);
		o->steps = 0;
		return 1;
	case RM_TRAINOPT_STEPS:
		o->steps = (uint64_t)rm_opt_long("--steps", s, 1, INT64_MAX);
		return 1;
	case RM_TRAINOPT_BATCH_SIZE:
		o->batch_size = (size_t)rm_opt_long("--batch-size", s, 0, 1L << 30);
		return 1;
	case RM_TRAINOPT_BATCH_TOKENS:
		o->batch_tokens = (size_t)rm_opt_long("--batch-tokens", s, 2, 1L << 30);
		return 1;
	case RM_TRAINOPT_LR:
		o->lr = rm_opt_double("--lr", s, 0, 1e3);
		return 1;
	case RM_TRAINOPT_CLIP:
		o->clip = rm_opt_double("--clip", s, 0, 1e30);
		return 1;
	case RM_TRAINOPT_DROPOUT:
		o->dropout = (float)rm_opt_double("--dropout", s, 0, 0.95);
		return 1;
	}
	return 0;
}
