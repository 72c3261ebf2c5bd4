#!/usr/bin/python3
"""hf_gpt2.py - Hugging Face's GPT2ForSequenceClassification in plain PyTorch.

An independent reference for rmkit's model: the forward pass written the way
transformers computes it (Conv1D weights [in, out], gelu_new, LayerNorm,
causal attention with an attention mask over right-padded batches, the
reward read at each row's last token that is not pad_token_id, through
score.weight [1, C] without bias).  tests/gen_parity.py builds its fixture
with it; used as a program it loads an rmkit checkpoint directory the way
from_pretrained would (config.json, model.safetensors read by hand, names
with or without "transformer.") and scores token records:

    rm-cat pairs.rmt | /usr/bin/python3 tests/hf_gpt2.py CHECKPOINT

prints one JSON line per record: {"id", "chosen", "rejected"} for pairs,
{"id", "reward"} for single responses.  Needs torch (Debian python3-torch).
"""
import json
import math
import os
import struct
import sys

import torch


def gelu_new(x):
    # transformers.activations.NewGELUActivation
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def conv1d(x, w, b):
    # transformers.pytorch_utils.Conv1D: x @ w + b with w [in, out]
    return torch.addmm(b, x.reshape(-1, x.size(-1)), w).reshape(x.shape[:-1] + (w.size(-1),))


def forward(params, cfg, seqs, pad_id=None):
    """Rewards [B] and final hidden states at the pooled token [B, C] for the
    token lists seqs, right-padded into one batch as transformers would."""
    L, NH, C = cfg["n_layer"], cfg["n_head"], cfg["n_embd"]
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    dt = params["transformer.wte.weight"].dtype
    B, T = len(seqs), max(len(s) for s in seqs)
    fill = pad_id if pad_id is not None else 0
    ids = torch.full((B, T), fill, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (C,), params[name + ".weight"],
                                              params[name + ".bias"], eps)

    def attention(x, p):
        qkv = conv1d(x, params[p + "c_attn.weight"], params[p + "c_attn.bias"])
        q, k, v = qkv.split(C, dim=2)
        hd = C // NH

        def heads(t):
            return t.view(B, T, NH, hd).permute(0, 2, 1, 3)

        q, k, v = heads(q), heads(k), heads(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd)
        causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
        w = torch.where(causal, w, torch.tensor(torch.finfo(dt).min, dtype=dt))
        # the extended attention mask: (1 - mask) * finfo.min on the logits
        w = w + (1.0 - mask[:, None, None, :].to(dt)) * torch.finfo(dt).min
        w = torch.softmax(w, dim=-1)
        y = torch.matmul(w, v).permute(0, 2, 1, 3).reshape(B, T, C)
        return conv1d(y, params[p + "c_proj.weight"], params[p + "c_proj.bias"])

    pos = torch.arange(T)[None, :].expand(B, T)
    h = params["transformer.wte.weight"][ids] + params["transformer.wpe.weight"][pos]
    for l in range(L):
        p = "transformer.h.%d." % l
        h = h + attention(ln(h, p + "ln_1"), p + "attn.")
        m = ln(h, p + "ln_2")
        m = conv1d(gelu_new(conv1d(m, params[p + "mlp.c_fc.weight"], params[p + "mlp.c_fc.bias"])),
                   params[p + "mlp.c_proj.weight"], params[p + "mlp.c_proj.bias"])
        h = h + m
    h = ln(h, "transformer.ln_f")
    if pad_id is None:
        # each row's last real token: what transformers pools for a single
        # row without a pad id, and for padded rows given a pad id that
        # never occurs in the text
        last = mask.sum(1) - 1
    else:
        # the last token that is not the pad id
        nonpad = (ids != pad_id).long() * torch.arange(T)[None, :]
        last = nonpad.argmax(-1)
    h_last = h[torch.arange(B), last]
    return (h_last @ params["score.weight"].t())[:, 0], h_last


def read_safetensors(path, dtype):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", (name, e["dtype"])
        a, b = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + a:base + b]), dtype=torch.float32)
        out[name] = t.reshape(e["shape"]).to(dtype)
    return out


def load_checkpoint(d, dtype=torch.float32):
    cfg = json.load(open(os.path.join(d, "config.json")))
    raw = read_safetensors(os.path.join(d, "model.safetensors"), dtype)
    params = {}
    for name, t in raw.items():
        if name.endswith(".attn.bias") or name.endswith(".attn.masked_bias"):
            continue
        if not name.startswith("transformer.") and name != "score.weight":
            name = "transformer." + name
        params[name] = t
    return params, cfg


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    params, cfg = load_checkpoint(sys.argv[1])
    pad = cfg.get("pad_token_id")
    with torch.no_grad():
        for line in sys.stdin:
            r = json.loads(line)
            if "chosen" in r:
                # one row each: with no pad id transformers cannot batch
                c = forward(params, cfg, [r["chosen"]], pad)[0].item()
                j = forward(params, cfg, [r["rejected"]], pad)[0].item()
                print(json.dumps({"id": r["id"], "chosen": c, "rejected": j}))
            else:
                v = forward(params, cfg, [r["response"]], pad)[0].item()
                print(json.dumps({"id": r["id"], "reward": v}))


if __name__ == "__main__":
    main()
