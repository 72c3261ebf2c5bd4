/*
 * bench-model.c - forward+backward throughput of the reward model.
 *
 *   tests/bin/bench-model [-n] [-j threads] [-c small|gpt2|all] [-s steps]
 *
 * Prints the CPU's fp32 FMA peak (tests/peak.h) and rm_gemm's rate on a
 * square 2048 product as a fraction of it, then for
 * each configuration (width 256 / 4 layers / 4 heads and GPT-2 small, both
 * at 8 sequences of T = 256 tokens, vocab 50257) the tokens per second of a
 * training step (forward, backward, no optimizer) and the achieved GFLOP/s
 * as a fraction of that peak.  FLOPs per token: 6 * (non-embedding
 * parameters) + 6 * L * T * C (attention products, full T x T squares as
 * computed, though the model skips about half of them), the usual nominal
 * accounting.  A step includes zeroing the gradients; the best of -s steps
 * (default 5) is reported, since the machine may be shared, and the best
 * process CPU time per step, which a loaded machine disturbs less.
 * Unless -n, each configuration is followed by tests/bench_model_torch.py
 * (the same step in PyTorch 1.13 through /usr/bin/python3) and the ratios:
 * PyTorch at 1 and 2 threads for the small model, at 1 thread for GPT-2
 * small (on this 2-core machine torch with 2 threads was 3-5x slower than
 * with 1, its OpenMP and OpenBLAS threads competing).
 *
 * OpenBLAS picks slow generic kernels on CPUs newer than its tables; the
 * products run on it only where forced (RM_GEMM=openblas) or on CPUs
 * without AVX2, so the line names its kernel family.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nn/kernels.h"
#include "nn/model.h"
#include "base/rng.h"
#include "peak.h"

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double
cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double
sgemm_peak(void)
{
	size_t n = 2048;
	float *a = malloc(n * n * sizeof(float)), *b = malloc(n * n * sizeof(float));
	float *c = malloc(n * n * sizeof(float));
	for (size_t i = 0; i < n * n; i++)
		a[i] = b[i] = (float)(i % 13) * 0.01f;
	rm_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n); /* warm up */
	double best = 1e30;
	for (int r = 0; r < 3; r++) {
		double t = now();
		rm_gemm(0, 0, n, n, n, 1, a, n, b, n, 0, c, n);
		t = now() - t;
		best = t < best ? t : best;
	}
	free(a), free(b), free(c);
	return 2.0 * n * n * n / best / 1e9;
}

/*
 * Run tests/bench_model_torch.py for one configuration and thread counts;
 * the best wall and CPU rates over them, or 0 when the reference cannot
 * run (no /usr/bin/python3 with torch).
 */
static void
torch_reference(const char *cfg, const char *threads, double *wall, double *cpu)
{
	const char *top = getenv("RM_TOP");
	char cmd[1024], line[512];
	*wall = *cpu = 0;
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/bench_model_torch.py %s %s 2>/dev/null",
		 top ? top : ".", cfg, threads);
	FILE *p = popen(cmd, "r");
	if (!p)
		return;
	while (fgets(line, sizeof line, p)) {
		fputs(line, stdout);
		const char *a = strstr(line, "s/step, "), *b = strstr(line, "s/step, ");
		double w, c;
		if (a && sscanf(a, "s/step, %lf tokens/s", &w) == 1 && w > *wall)
			*wall = w;
		b = a ? strstr(a + 1, "s/step, ") : NULL;
		if (b && sscanf(b, "s/step, %lf tokens per cpu-second", &c) == 1 && c > *cpu)
			*cpu = c;
	}
	pclose(p);
}

static void
bench(const char *label, int L, int NH, int C, size_t nseq, size_t T, int threads,
      int steps, double peak, const char *torch_cfg, const char *torch_threads)
{
	struct rm_model_config cfg = {.n_layer = L, .n_head = NH, .n_embd = C,
				      .n_positions = 1024, .vocab_size = 50257,
				      .layer_norm_epsilon = 1e-5f};
	struct rm_model *m;
	struct rm_workspace *ws;
	struct rm_error err;
	if (rm_model_create(&m, &cfg, &err) < 0 || rm_model_enable_grads(m, &err) < 0) {
		fprintf(stderr, "bench-model: %s\n", err.msg);
		exit(1);
	}
	rm_model_init(m, 1);
	size_t N = nseq * T;
	struct rm_workspace_options o = {.max_tokens = N, .max_seq_len = T, .train = 1,
					 .threads = threads};
	if (rm_workspace_create(&ws, m, &o, &err) < 0) {
		fprintf(stderr, "bench-model: %s\n", err.msg);
		exit(1);
	}
	int32_t *tok = malloc(N * sizeof *tok);
	size_t *off = malloc((nseq + 1) * sizeof *off);
	struct rm_rng r;
	rm_rng_seed(&r, 3);
	for (size_t i = 0; i < N; i++)
		tok[i] = (int32_t)rm_rng_below(&r, 50257);
	for (size_t s = 0; s <= nseq; s++)
		off[s] = s * T;
	struct rm_batch b = {nseq, tok, off};
	float *rw = malloc(nseq * sizeof *rw), *dr = malloc(nseq * sizeof *dr);
	for (size_t s = 0; s < nseq; s++)
		dr[s] = 1.0f / (float)nseq;
	double tf = 1e30, tb = 1e30, tstep = 1e30, tcpu = 1e30, prof[RM_PROF_N] = {0};
	for (int it = -1; it < steps; it++) { /* one warm-up step */
		double t0 = now(), c0 = cpu_now();
		rm_model_zero_grad(m); /* part of a training step, as in the torch bench */
		if (rm_model_forward(m, ws, &b, NULL, rw, NULL, &err) < 0) {
			fprintf(stderr, "bench-model: %s\n", err.msg);
			exit(1);
		}
		double t1 = now();
		rm_model_backward(m, ws, dr, NULL, &err);
		double t2 = now(), c2 = cpu_now();
		if (it >= 0 && c2 - c0 < tcpu)
			tcpu = c2 - c0;
		if (it >= 0 && t2 - t0 < tstep) { /* the best step: the machine may be shared */
			tf = t1 - t0, tb = t2 - t1, tstep = t2 - t0;
			rm_workspace_profile(ws, prof);
		}
		rm_workspace_profile_reset(ws);
	}
	double nonemb = 0;
	for (size_t i = 2; i < m->n_tensors; i++)
		nonemb += (double)m->params[i].numel;
	double flop_tok = 6 * nonemb + 6.0 * L * (double)T * C;
	double gflops = flop_tok * (double)N / tstep / 1e9;
	printf("%-10s L=%d C=%d H=%d %zux%zu tokens, -j %d: best step fwd %.3f s, bwd %.3f s, "
	       "%.0f tokens/s fwd+bwd, %.1f GFLOP/s = %.0f%% of FMA peak (workspace %.0f MB)\n",
	       label, L, C, NH, nseq, T, threads, tf, tb, (double)N / tstep,
	       gflops, 100 * gflops / peak, rm_workspace_bytes(ws) / 1e6);
	printf("%-10s   cpu time %.3f s/step (all threads; with -j 1 it does not count waiting "
	       "for a shared core): %.0f tokens per cpu-second\n", "", tcpu, (double)N / tcpu);
	printf("%-10s   forward: linear %.0f%%, attention %.0f%%, other %.0f%%; backward: linear %.0f%%, "
	       "attention %.0f%%, other %.0f%%\n", "", 100 * prof[RM_PROF_FWD_LINEAR] / prof[RM_PROF_FWD],
	       100 * prof[RM_PROF_FWD_ATTN] / prof[RM_PROF_FWD],
	       100 * (1 - (prof[RM_PROF_FWD_LINEAR] + prof[RM_PROF_FWD_ATTN]) / prof[RM_PROF_FWD]),
	       100 * prof[RM_PROF_BWD_LINEAR] / prof[RM_PROF_BWD],
	       100 * prof[RM_PROF_BWD_ATTN] / prof[RM_PROF_BWD],
	       100 * (1 - (prof[RM_PROF_BWD_LINEAR] + prof[RM_PROF_BWD_ATTN]) / prof[RM_PROF_BWD]));
	fflush(stdout);
	if (torch_cfg) {
		double tw, tc;
		torch_reference(torch_cfg, torch_threads, &tw, &tc);
		if (tw > 0)
			printf("%-10s   vs PyTorch at its best of %s threads: %.2fx tokens/s (wall), "
			       "%.2fx tokens per cpu-second\n", label, torch_threads,
			       (double)N / tstep / tw, (double)N / tcpu / tc);
		else
			printf("%-10s   PyTorch reference unavailable\n", label);
		fflush(stdout);
	}
	free(tok), free(off), free(rw), free(dr);
	rm_workspace_free(ws);
	rm_model_free(m);
}

int
main(int argc, char **argv)
{
	int threads = (int)sysconf(_SC_NPROCESSORS_ONLN), steps = 5, opt, reference = 1;
	const char *which = "all";
	while ((opt = getopt(argc, argv, "j:c:s:n")) != -1) {
		if (opt == 'j')
			threads = atoi(optarg);
		else if (opt == 'c')
			which = optarg;
		else if (opt == 's')
			steps = atoi(optarg);
		else if (opt == 'n')
			reference = 0;
		else {
			fprintf(stderr, "usage: bench-model [-n] [-j threads] [-c small|gpt2|all] [-s steps]\n");
			return 2;
		}
	}
	if (threads < 1)
		threads = 1;
	rm_blas_set_threads(threads);
	print_cpu();
	double sg = sgemm_peak(), peak = peak_fp32(threads);
	printf("fp32 FMA peak %.1f GFLOP/s at %d threads; rm_gemm (%s, openblas core %s%s) "
	       "2048^3 %.1f GFLOP/s = %.0f%% of it\n", peak, threads, rm_gemm_path_name(),
	       rm_blas_core(), getenv("OPENBLAS_CORETYPE") ? " (OPENBLAS_CORETYPE)" : "", sg,
	       100 * sg / peak);
	if (!strcmp(which, "small") || !strcmp(which, "all"))
		bench("w256-l4", 4, 4, 256, 8, 256, threads, steps, peak,
		      reference ? "small" : NULL, "1 2");
	if (!strcmp(which, "gpt2") || !strcmp(which, "all"))
		bench("gpt2-small", 12, 12, 768, 8, 256, threads, steps > 3 ? 3 : steps, peak,
		      reference ? "gpt2" : NULL, "1");
	return 0;
}
