/*
 * tool-grads.c - rewards, pairwise loss and every gradient of a checkpoint,
 * for the PyTorch parity test (tests/t-hf-llama.sh, tests/hf_llama.py).
 *
 *   tool-grads [-j N] DIR SEQS OUT.safetensors
 *
 * SEQS: one sequence a line, token ids separated by spaces; lines 2i and
 * 2i + 1 are pair i's chosen and rejected responses.  All sequences go
 * through one forward pass (one packed batch).  The loss is the mean over
 * pairs of -log sigmoid(r_chosen - r_rejected).  OUT holds "rewards" [n],
 * "loss" [1], "h_last" [n, C] and every parameter's gradient under the
 * parameter's name (f32).  Exit 1 on any error, with a message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nn/model.h"
#include "stream/safetensors.h"
#include "train/checkpoint.h"

int
main(int argc, char **argv)
{
	int threads = 1, a = 1;
	if (argc > 2 && !strcmp(argv[1], "-j")) {
		threads = atoi(argv[2]);
		a = 3;
	}
	if (argc - a != 3) {
		fprintf(stderr, "usage: tool-grads [-j N] DIR SEQS OUT.safetensors\n");
		return 2;
	}
	struct rm_error err;
	struct rm_model *m;
	struct rm_checkpoint_info info;
	if (rm_checkpoint_load(&m, argv[a], 0, &info, &err) < 0 ||
	    rm_model_enable_grads(m, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	FILE *f = fopen(argv[a + 1], "r");
	if (!f) {
		perror(argv[a + 1]);
		return 1;
	}
	size_t cap = 1 << 16, n = 0, ns = 0;
	int32_t *tok = malloc(cap * sizeof *tok);
	size_t off[1025] = {0};
	char line[65536];
	while (fgets(line, sizeof line, f) && ns < 1024) {
		char *p = line, *end;
		for (long v; (v = strtol(p, &end, 10)), end != p; p = end)
			if (n < cap)
				tok[n++] = (int32_t)v;
		off[++ns] = n;
	}
	fclose(f);
	size_t C = (size_t)m->cfg.n_embd, P = ns / 2;
	struct rm_workspace *ws;
	struct rm_workspace_options o = {.max_tokens = n, .train = 1, .threads = threads};
	struct rm_batch b = {ns, tok, off};
	float *r = calloc(ns, sizeof *r), *h = calloc(ns * C, sizeof *h), *dr = calloc(ns, sizeof *dr);
	if (rm_workspace_create(&ws, m, &o, &err) < 0 ||
	    rm_model_forward(m, ws, &b, NULL, r, h, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	double loss = 0;
	for (size_t i = 0; i < P; i++) {
		double z = (double)r[2 * i] - r[2 * i + 1];
		/* -log sigmoid(z), stably; d/dz = sigmoid(z) - 1 */
		loss += (z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z))) / (double)P;
		double g = (1.0 / (1.0 + exp(-z)) - 1.0) / (double)P;
		dr[2 * i] = (float)g;
		dr[2 * i + 1] = (float)-g;
	}
	if (rm_model_backward(m, ws, dr, NULL, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	float lossf = (float)loss;
	struct rm_tensor *ts = calloc(m->n_tensors + 3, sizeof *ts);
	for (size_t i = 0; i < m->n_tensors; i++) {
		const struct rm_param *p = &m->params[i];
		snprintf(ts[i].name, sizeof ts[i].name, "%s", p->name);
		ts[i].dtype = RM_DT_F32;
		ts[i].ndim = p->ndim;
		ts[i].dims[0] = p->shape[0];
		ts[i].dims[1] = p->shape[1];
		ts[i].data = m->grads_mem + p->offset;
		ts[i].nbytes = p->numel * sizeof(float);
	}
	struct rm_tensor *t = &ts[m->n_tensors];
	snprintf(t[0].name, sizeof t[0].name, "rewards");
	t[0].dtype = RM_DT_F32, t[0].ndim = 1, t[0].dims[0] = ns, t[0].data = r;
	t[0].nbytes = ns * sizeof(float);
	snprintf(t[1].name, sizeof t[1].name, "loss");
	t[1].dtype = RM_DT_F32, t[1].ndim = 1, t[1].dims[0] = 1, t[1].data = &lossf;
	t[1].nbytes = sizeof(float);
	snprintf(t[2].name, sizeof t[2].name, "h_last");
	t[2].dtype = RM_DT_F32, t[2].ndim = 2, t[2].dims[0] = ns, t[2].dims[1] = C;
	t[2].data = h, t[2].nbytes = ns * C * sizeof(float);
	if (rm_st_save(argv[a + 2], ts, m->n_tensors + 3, NULL, &err) < 0) {
		rm_warn_err(&err);
		return 1;
	}
	fprintf(stderr, "tool-grads: %s: %zu sequences, %zu tensors, score head %s\n", argv[a], ns,
		m->n_tensors, info.head_initialized ? "initialised" : "loaded");
	free(ts);
	free(r);
	free(h);
	free(dr);
	free(tok);
	rm_workspace_free(ws);
	rm_model_free(m);
	return 0;
}
