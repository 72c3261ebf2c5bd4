#!/usr/bin/python3
"""bench_train_torch.py - PyTorch reference for tests/bench-train.sh.

The GPT-2 reward model of tests/bench_model_torch.py (float32, Hugging Face's
math), timed as rm-train and rm-vote use it:

  train: one optimizer step on P pairs of T-token sequences: forward of the
         2P sequences, the pairwise loss -log sigmoid(r_c - r_r) averaged,
         backward, global-norm clipping to 1, AdamW (betas 0.9/0.95, eps
         1e-8, no weight decay: rm-train's defaults).  Best of the steps
         after one warm-up step.
  vote:  forward under no_grad in batches of 8 sequences, best batch.

Each in float32 and under torch.autocast("cpu", dtype=torch.bfloat16)
(bf16 matrix products, float32 weights and optimizer), printed with
prec=fp32 or prec=bf16.

  /usr/bin/python3 tests/bench_train_torch.py small|gpt2 PAIRS STEPS THREADS...

Prints one line per measurement, "torch train|vote CONFIG threads=N VALUE prec=P".
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model_torch import RewardModel, torch  # noqa: E402  (sets OPENBLAS_CORETYPE)

CONFIGS = {"small": (4, 4, 256), "gpt2": (12, 12, 768)}
T = 256


def autocast(prec):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=prec == "bf16")


def train(cfg, pairs, steps, threads, prec):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    L, NH, C = CONFIGS[cfg]
    m = RewardModel(L, NH, C)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), eps=1e-8,
                            weight_decay=0.0, foreach=True)
    ids = torch.randint(0, 50256, (2 * pairs, T))
    best = 1e30
    for it in range(steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with autocast(prec):
            r = m(ids).squeeze(-1).float()
        loss = -torch.nn.functional.logsigmoid(r[:pairs] - r[pairs:]).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        t = time.perf_counter() - t0
        if it > 0:
            best = min(best, t)
    print("torch train %s threads=%d tokens_per_s=%.1f step_s=%.4f prec=%s"
          % (cfg, threads, 2 * pairs * T / best, best, prec), flush=True)


def vote(cfg, seqs, threads, prec):
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    L, NH, C = CONFIGS[cfg]
    m = RewardModel(L, NH, C)
    ids = torch.randint(0, 50256, (seqs, T))
    best = 1e30
    with torch.no_grad(), autocast(prec):
        for it in range(max(2, seqs // 8) + 1):
            t0 = time.perf_counter()
            m(ids[(it * 8) % seqs:(it * 8) % seqs + 8])
            t = time.perf_counter() - t0
            if it > 0:
                best = min(best, t)
    print("torch vote %s threads=%d seqs_per_s=%.2f prec=%s" % (cfg, threads, 8 / best, prec),
          flush=True)


cfg, pairs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for prec in ("fp32", "bf16"):
    for th in [int(a) for a in sys.argv[4:]] or [1, os.cpu_count()]:
        train(cfg, pairs, steps, th, prec)
        vote(cfg, 32, th, prec)
