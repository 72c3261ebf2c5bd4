#!/usr/bin/python3
"""gen_parity.py - PyTorch reference for tests/t-parity.c.

Builds a small GPT-2 reward model written out in plain PyTorch the way
Hugging Face's GPT2ForSequenceClassification computes it (Conv1D weights
[in, out], gelu_new, LayerNorm eps 1e-5, causal attention with an attention
mask over right-padded batches, reward from the last non-padding token's
final hidden state through score.weight [1, C] without bias), fixes random
weights, and writes tests/data/parity.safetensors with:

  the parameters under their Hugging Face names,
  tokens (i32, packed), offsets (i64 [n_seq + 1]),
  pairs (i64 [n_pair, 2]: chosen, rejected sequence), target, margin (f32),
  u (f32 [n_seq, C]) and lambda (metadata): an extra term lambda * sum(u * h_last)
    that stands in for a contrastive loss on the representation,
  expect.rewards, expect.h_last, expect.loss, and grad.<name> for every parameter,
  __metadata__: the model config.

The loss is mean over pairs of t*softplus(-z) + (1-t)*softplus(z), z = r_c - r_r - m,
plus the lambda term.  The reference runs in float64 (the truth the C float32
code is compared with).  Run with /usr/bin/python3 (torch 1.13); deterministic.
"""
import json
import math
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_gpt2  # noqa: E402  the model itself, shared with checkpoint checks

torch.manual_seed(20240131)
DT = torch.float64

cfg = dict(n_layer=2, n_head=4, n_embd=32, n_positions=24, vocab_size=61,
           layer_norm_epsilon=1e-5)
L, NH, C, P, V = (cfg[k] for k in ("n_layer", "n_head", "n_embd", "n_positions", "vocab_size"))
eps = cfg["layer_norm_epsilon"]


def names():
    out = [("transformer.wte.weight", (V, C)), ("transformer.wpe.weight", (P, C))]
    for l in range(L):
        p = "transformer.h.%d." % l
        out += [(p + "ln_1.weight", (C,)), (p + "ln_1.bias", (C,)),
                (p + "attn.c_attn.weight", (C, 3 * C)), (p + "attn.c_attn.bias", (3 * C,)),
                (p + "attn.c_proj.weight", (C, C)), (p + "attn.c_proj.bias", (C,)),
                (p + "ln_2.weight", (C,)), (p + "ln_2.bias", (C,)),
                (p + "mlp.c_fc.weight", (C, 4 * C)), (p + "mlp.c_fc.bias", (4 * C,)),
                (p + "mlp.c_proj.weight", (4 * C, C)), (p + "mlp.c_proj.bias", (C,))]
    out += [("transformer.ln_f.weight", (C,)), ("transformer.ln_f.bias", (C,)),
            ("score.weight", (1, C))]
    return out


# Weights: larger and less regular than GPT-2's init so every path matters.
params = {}
for name, shape in names():
    if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
        t = 1.0 + 0.2 * torch.randn(shape, dtype=DT)
    elif name.endswith(".bias"):
        t = 0.1 * torch.randn(shape, dtype=DT)
    elif name == "score.weight":
        t = 0.5 * torch.randn(shape, dtype=DT)
    else:
        t = 0.15 * torch.randn(shape, dtype=DT)
    # round to float32 so C and PyTorch start from the same numbers
    params[name] = t.float().to(DT).requires_grad_(True)


def reward_model(seqs):
    return hf_gpt2.forward(params, cfg, seqs)


lens = [5, 9, 1, 12, 7, 3, 24, 16]
seqs = [torch.randint(0, V, (n,)).tolist() for n in lens]
pairs = [(0, 1), (2, 3), (4, 5), (6, 7)]
target = torch.tensor([1.0, 0.0, 0.8, 1.0], dtype=DT)
margin = torch.tensor([0.0, 0.5, -0.3, 1.25], dtype=DT)
lam = 0.1
u = torch.randn(len(seqs), C, dtype=DT).float().to(DT)

rewards, h_last = reward_model(seqs)
rc = rewards[[p[0] for p in pairs]]
rr = rewards[[p[1] for p in pairs]]
z = rc - rr - margin
sp = torch.nn.functional.softplus
pair_loss = (target * sp(-z) + (1 - target) * sp(z)).mean()
loss = pair_loss + lam * (u * h_last).sum()
loss.backward()

out = {}
for name, _ in names():
    out[name] = ("F32", params[name].detach().float())
    out["grad." + name] = ("F32", params[name].grad.float())
flat = [t for s in seqs for t in s]
offs = [0]
for s in seqs:
    offs.append(offs[-1] + len(s))
out["tokens"] = ("I32", torch.tensor(flat, dtype=torch.int32))
out["offsets"] = ("I64", torch.tensor(offs, dtype=torch.int64))
out["pairs"] = ("I64", torch.tensor(pairs, dtype=torch.int64))
out["target"] = ("F32", target.float())
out["margin"] = ("F32", margin.float())
out["u"] = ("F32", u.float())
out["expect.rewards"] = ("F32", rewards.detach().float())
out["expect.h_last"] = ("F32", h_last.detach().float())
out["expect.pair_loss"] = ("F32", pair_loss.detach().float().reshape(1))
out["expect.loss"] = ("F32", loss.detach().float().reshape(1))

meta = {k: str(v) for k, v in cfg.items()}
meta["lambda"] = repr(lam)
meta["generator"] = "tests/gen_parity.py"

# safetensors by hand: u64 header length, JSON header, data area
header, blobs, at = {"__metadata__": meta}, [], 0
for name in sorted(out):
    dtype, t = out[name]
    b = t.contiguous().numpy().tobytes()
    header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [at, at + len(b)]}
    blobs.append(b)
    at += len(b)
hj = json.dumps(header, separators=(",", ":")).encode()
hj += b" " * ((8 - (8 + len(hj)) % 8) % 8)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "parity.safetensors")
tmp = path + ".tmp"
with open(tmp, "wb") as f:
    f.write(struct.pack("<Q", len(hj)))
    f.write(hj)
    for b in blobs:
        f.write(b)
os.replace(tmp, path)
print("wrote %s: %d tensors, loss %.6f, rewards %s" % (path, len(out), loss.item(),
      " ".join("%.4f" % r for r in rewards.tolist())), file=sys.stderr)
