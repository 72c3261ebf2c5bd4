#!/usr/bin/python3
"""bench_llama_torch.py - PyTorch reference for tests/bench-llama.sh.

The Llama-family reward model of tests/hf_llama.py (Hugging Face's eager
modeling semantics: RMSNorm, rotary, repeat_kv, softmax attention, SwiGLU,
score at the last token), in float32 with random weights, timed as rm-train
and rm-vote use it:

  train: one optimizer step on P pairs of T-token sequences: forward of the
         2P sequences, -log sigmoid(r_c - r_r) averaged, backward, global-norm
         clipping to 1, AdamW (betas 0.9/0.95, eps 1e-8, no weight decay:
         rm-train's defaults).  Best of STEPS steps after one warm-up step.
  vote:  forward under no_grad in batches of 8 sequences, best batch.

In float32, and under torch.autocast("cpu", dtype=torch.bfloat16) when
BENCH_TORCH_PREC (default "fp32") names bf16, printed with prec=fp32 or
prec=bf16, at each thread count given.

  /usr/bin/python3 tests/bench_llama_torch.py CONFIG.json T PAIRS STEPS THREADS...

Prints "torch train NAME threads=N tokens_per_s=X step_s=S prec=P" and
"torch vote NAME threads=N seqs_per_s=X prec=P", and last "torch peak_rss_mb=M".
"""
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_llama  # noqa: E402
from hf_llama import torch  # noqa: E402


def make_params(cfg):
    torch.manual_seed(0)
    params = {}
    for name, shape in hf_llama.param_shapes(cfg):
        if name.endswith("norm.weight"):
            t = torch.ones(shape)
        elif name.endswith(".bias"):
            t = torch.zeros(shape)
        else:
            t = torch.randn(shape) * 0.02
        params[name] = t.requires_grad_()
    return params


def autocast(prec):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16")


def seqs(n, T, V, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, V, (n, T), generator=g).tolist()


def train(name, cfg, params, T, pairs, steps, threads, prec):
    torch.set_num_threads(threads)
    opt = torch.optim.AdamW(params.values(), lr=1e-5, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.0, foreach=True)
    batch = seqs(2 * pairs, T, cfg["vocab_size"], 1)
    best = 1e30
    for it in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with autocast(prec):
            r, _ = hf_llama.forward(params, cfg, batch)
        r = r.float()
        loss = -torch.nn.functional.logsigmoid(r[:pairs] - r[pairs:]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params.values(), 1.0)
        opt.step()
        t = time.perf_counter() - t0
        if it > 0:
            best = min(best, t)
    print("torch train %s threads=%d tokens_per_s=%.1f step_s=%.4f prec=%s"
          % (name, threads, 2 * pairs * T / best, best, prec), flush=True)
    del opt


def vote(name, cfg, params, T, threads, prec, batches=1):
    torch.set_num_threads(threads)
    batch = seqs(8, T, cfg["vocab_size"], 2)
    best = 1e30
    with torch.no_grad(), autocast(prec):
        for it in range(batches + 1):
            t0 = time.perf_counter()
            hf_llama.forward(params, cfg, batch)
            t = time.perf_counter() - t0
            if it > 0:
                best = min(best, t)
    print("torch vote %s threads=%d seqs_per_s=%.2f prec=%s" % (name, threads, 8 / best, prec),
          flush=True)


def main():
    path, T, pairs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    threads = [int(a) for a in sys.argv[5:]] or [1, os.cpu_count()]
    cfg = json.load(open(path))
    name = os.path.basename(os.path.dirname(os.path.abspath(path)))
    params = make_params(cfg)
    for prec in os.environ.get("BENCH_TORCH_PREC", "fp32").split():
        for th in threads:
            train(name, cfg, params, T, pairs, steps, th, prec)
            vote(name, cfg, params, T, th, prec)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print("torch peak_rss_mb=%d" % rss, flush=True)


if __name__ == "__main__":
    main()
