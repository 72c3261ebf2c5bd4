/*
 * tool-trainmem - for benchmarks: the memory rm-train's big buffers take
 * for a model shape and token budget, in bytes, one "name bytes" per line:
 * params, grads, adamw (both moments), workspace (activations for training
 * batches of `tokens` tokens, sequences up to `len`), total.
 *   tool-trainmem L H C V P tokens len threads     a GPT-2 shape
 *   tool-trainmem DIR tokens len threads           DIR/config.json (any family)
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "nn/model.h"
#include "train/checkpoint.h"

int
main(int argc, char **argv)
{
	rm_cli_init(argv[0]);
	if (argc != 9 && argc != 5) {
		fprintf(stderr, "usage: tool-trainmem L H C V P tokens len threads\n"
				"       tool-trainmem DIR tokens len threads\n");
		return RM_EXIT_USAGE;
	}
	struct rm_model_config c = {0};
	struct rm_error err;
	if (argc == 5) {
		if (rm_checkpoint_read_config(argv[1], &c, NULL, &err) < 0) {
			rm_warn_err(&err);
			return RM_EXIT_FAIL;
		}
	} else {
		c.n_layer = atoi(argv[1]);
		c.n_head = atoi(argv[2]);
		c.n_embd = atoi(argv[3]);
		c.vocab_size = atoi(argv[4]);
		c.n_positions = atoi(argv[5]);
		c.layer_norm_epsilon = 1e-5f;
	}
	int a = argc == 5 ? 2 : 6;  /* tokens len threads */
	struct rm_workspace_options o = {0};
	o.max_tokens = (size_t)atol(argv[a]);
	o.max_seq_len = (size_t)atol(argv[a + 1]);
	o.train = 1;
	o.threads = atoi(argv[a + 2]);
	struct rm_model *m;
	struct rm_workspace *ws;
	if (rm_model_create(&m, &c, &err) < 0 || rm_workspace_create(&ws, m, &o, &err) < 0) {
		rm_warn_err(&err);
		return RM_EXIT_FAIL;
	}
	size_t p = m->n_params * sizeof(float), w = rm_workspace_bytes(ws);
	printf("params %zu\ngrads %zu\nadamw %zu\nworkspace %zu\ntotal %zu\n", p, p, 2 * p, w,
	       4 * p + w);
	rm_workspace_free(ws);
	rm_model_free(m);
	return RM_EXIT_OK;
}
