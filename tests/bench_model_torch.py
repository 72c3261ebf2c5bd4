#!/usr/bin/python3
"""bench_model_torch.py - PyTorch reference timing for tests/bench-model.c.

The same GPT-2 reward model as Hugging Face computes it (Conv1D as addmm,
gelu_new, causal attention with masked softmax, last-token score head), in
float32, one training step = forward + backward of the mean reward over
8 sequences of 256 tokens, for width 256 / 4 layers / 4 heads and GPT-2
small.  Prints tokens/s per thread count; the best is the reference.

  /usr/bin/python3 tests/bench_model_torch.py [small|gpt2|all] [threads...]

OpenBLAS (which this torch build uses for matmul) falls back to generic
kernels on CPUs newer than its tables; like bench-model, this sets
OPENBLAS_CORETYPE before torch loads when the CPU has AVX-512 or AVX2.
"""
import math
import os
import sys
import time

if "OPENBLAS_CORETYPE" not in os.environ:
    flags = open("/proc/cpuinfo").read()
    if " avx512f" in flags and " avx512bw" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    elif " avx2" in flags:
        os.environ["OPENBLAS_CORETYPE"] = "Haswell"

import torch  # noqa: E402


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Block(torch.nn.Module):
    def __init__(s, C, NH):
        super().__init__()
        s.C, s.NH = C, NH
        s.ln_1, s.ln_2 = torch.nn.LayerNorm(C), torch.nn.LayerNorm(C)
        s.c_attn_w = torch.nn.Parameter(0.02 * torch.randn(C, 3 * C))
        s.c_attn_b = torch.nn.Parameter(torch.zeros(3 * C))
        s.c_proj_w = torch.nn.Parameter(0.02 * torch.randn(C, C))
        s.c_proj_b = torch.nn.Parameter(torch.zeros(C))
        s.fc_w = torch.nn.Parameter(0.02 * torch.randn(C, 4 * C))
        s.fc_b = torch.nn.Parameter(torch.zeros(4 * C))
        s.fp_w = torch.nn.Parameter(0.02 * torch.randn(4 * C, C))
        s.fp_b = torch.nn.Parameter(torch.zeros(C))

    def forward(s, x, causal):
        B, T, C = x.shape
        hd = C // s.NH
        qkv = torch.addmm(s.c_attn_b, s.ln_1(x).view(-1, C), s.c_attn_w).view(B, T, 3 * C)
        q, k, v = (t.view(B, T, s.NH, hd).permute(0, 2, 1, 3) for t in qkv.split(C, dim=2))
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        w = torch.where(causal[:T, :T], w, torch.tensor(torch.finfo(w.dtype).min))
        y = torch.matmul(torch.softmax(w, dim=-1), v).permute(0, 2, 1, 3).reshape(B * T, C)
        x = x + torch.addmm(s.c_proj_b, y, s.c_proj_w).view(B, T, C)
        h = gelu_new(torch.addmm(s.fc_b, s.ln_2(x).view(-1, C), s.fc_w))
        return x + torch.addmm(s.fp_b, h, s.fp_w).view(B, T, C)


class RewardModel(torch.nn.Module):
    def __init__(s, L, NH, C, V=50257, P=1024):
        super().__init__()
        s.wte = torch.nn.Parameter(0.02 * torch.randn(V, C))
        s.wpe = torch.nn.Parameter(0.02 * torch.randn(P, C))
        s.h = torch.nn.ModuleList([Block(C, NH) for _ in range(L)])
        s.ln_f = torch.nn.LayerNorm(C)
        s.score = torch.nn.Parameter(0.02 * torch.randn(1, C))
        s.register_buffer("causal", torch.tril(torch.ones(P, P, dtype=torch.bool)))

    def forward(s, ids):
        B, T = ids.shape
        x = s.wte[ids] + s.wpe[torch.arange(T)][None]
        for b in s.h:
            x = b(x, s.causal)
        return s.ln_f(x[:, -1]) @ s.score.t()


def bench(label, L, NH, C, threads, steps):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = RewardModel(L, NH, C)
    ids = torch.randint(0, 50257, (8, 256))
    N = ids.numel()
    times, cpus = [], []
    for it in range(steps + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        m.zero_grad(set_to_none=False)
        r = m(ids)
        r.mean().backward()
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    t, c = min(times[1:]), min(cpus[1:])  # the best step, as bench-model reports
    print("torch %-10s L=%d C=%d H=%d 8x256 tokens, %d threads: %.3f s/step, %.0f tokens/s fwd+bwd; "
          "cpu %.3f s/step, %.0f tokens per cpu-second"
          % (label, L, C, NH, threads, t, N / t, c, N / c), flush=True)


if __name__ == "__main__":  # tests/bench_train_torch.py imports the model
    which = sys.argv[1] if len(sys.argv) > 1 else "all"
    threads = [int(a) for a in sys.argv[2:]] or [1, os.cpu_count()]
    print("torch %s, OPENBLAS_CORETYPE=%s" % (torch.__version__, os.environ.get("OPENBLAS_CORETYPE", "")))
    for th in threads:
        if which in ("small", "all"):
            bench("w256-l4", 4, 4, 256, th, 5)
        if which in ("gpt2", "all"):
            bench("gpt2-small", 12, 12, 768, th, 3)
