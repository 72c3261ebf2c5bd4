#!/usr/bin/python3
"""hf_llama.py - Hugging Face's Llama-family *ForSequenceClassification in
plain PyTorch (LlamaForSequenceClassification, Mistral..., Qwen2...,
Qwen3...), written from transformers' modeling code semantics as an
independent reference for rmkit's lib/nn/llama.c.

Semantics followed: token embeddings; per layer RMSNorm (computed in float
and cast back, weight applied after) -> q/k/v projections (nn.Linear
[out, in], biases where the config has them: qwen2 q/k/v, llama/qwen3
attention_bias all four) -> qwen3's per-head q_norm/k_norm -> rotary
(rotate_half, inv_freq = 1/theta^(2i/d) in float32, llama3 rope_scaling)
-> repeat_kv for grouped-query heads -> causal softmax(q k^T / sqrt(d))
with the padding mask -> o_proj -> residual; post_attention_layernorm ->
down(silu(gate(x)) * up(x)) -> residual; final norm; score.weight [1, C]
at each row's last token that is not pad_token_id (the last real token
when there is no pad id).

Uses:
    hf_llama.py make DIR KIND [--bf16] [--shards N] [--causal-lm] [--seed S] [--vocab V]
        write a tiny random checkpoint of KIND (llama, mistral, qwen2,
        qwen3) as transformers lays it out
    hf_llama.py seqs DIR N OUT      write N random sequences (pairs) for DIR
    hf_llama.py check DIR SEQS GRADS.safetensors
        recompute rewards, loss and every gradient in float64 and compare
        with tool-grads' output: |ours - ref| <= 1e-5 + 1e-4 |ref| each
    rm-cat pairs.rmt | hf_llama.py score DIR
        one JSON line per record, as tests/hf_gpt2.py prints
    hf_llama.py batch < COMMANDS
        the commands above, one a line, in one process (torch starts
        once): `< file` and `> file` redirect a line's input and output, a
        line starting with `!` must fail; after each line "batch: ok LINE"
        or "batch: FAIL LINE"; status 1 if any line was not as wanted
Needs torch (Debian python3-torch).
"""
import json
import math
import os
import random
import struct
import sys

import torch

KINDS = {
    # GQA (4 query heads over 2 kv heads) and llama3 rope scaling
    "llama": dict(model_type="llama", architectures=["LlamaForSequenceClassification"],
                  hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  vocab_size=61, rms_norm_eps=1e-5, rope_theta=500.0, attention_bias=False,
                  mlp_bias=False, hidden_act="silu", tie_word_embeddings=True,
                  rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                    high_freq_factor=4.0, original_max_position_embeddings=16)),
    "mistral": dict(model_type="mistral", architectures=["MistralForSequenceClassification"],
                    hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                    num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64,
                    vocab_size=53, rms_norm_eps=1e-6, rope_theta=10000.0, hidden_act="silu",
                    sliding_window=None, tie_word_embeddings=False),
    # q/k/v biases
    "qwen2": dict(model_type="qwen2", architectures=["Qwen2ForSequenceClassification"],
                  hidden_size=32, intermediate_size=56, num_hidden_layers=3,
                  num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=64,
                  vocab_size=67, rms_norm_eps=1e-6, rope_theta=1000000.0, hidden_act="silu",
                  use_sliding_window=False, sliding_window=64, tie_word_embeddings=True),
    # head_dim 12 != 32 / 4, per-head q/k norm
    "qwen3": dict(model_type="qwen3", architectures=["Qwen3ForSequenceClassification"],
                  hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, head_dim=12,
                  max_position_embeddings=64, vocab_size=59, rms_norm_eps=1e-6,
                  rope_theta=1000000.0, attention_bias=False, hidden_act="silu",
                  use_sliding_window=False, tie_word_embeddings=True),
}
CAUSAL = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
          "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


def dims(cfg):
    C, NH = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads") or NH
    hd = cfg.get("head_dim") or C // NH
    return C, NH, KV, hd


def biases(cfg):
    """(q/k/v bias, o bias) as each class builds its Linear layers."""
    t = cfg["model_type"]
    if t == "qwen2":
        return True, False
    if t == "mistral":
        return False, False
    b = bool(cfg.get("attention_bias", False))
    return b, b


def param_shapes(cfg):
    C, NH, KV, hd = dims(cfg)
    I, V, L = cfg["intermediate_size"], cfg["vocab_size"], cfg["num_hidden_layers"]
    qkvb, ob = biases(cfg)
    out = [("model.embed_tokens.weight", (V, C))]
    for l in range(L):
        p = "model.layers.%d." % l
        out += [(p + "input_layernorm.weight", (C,)),
                (p + "self_attn.q_proj.weight", (NH * hd, C)),
                (p + "self_attn.k_proj.weight", (KV * hd, C)),
                (p + "self_attn.v_proj.weight", (KV * hd, C)),
                (p + "self_attn.o_proj.weight", (C, NH * hd)),
                (p + "post_attention_layernorm.weight", (C,)),
                (p + "mlp.gate_proj.weight", (I, C)),
                (p + "mlp.up_proj.weight", (I, C)),
                (p + "mlp.down_proj.weight", (C, I))]
        if qkvb:
            out += [(p + "self_attn.%s_proj.bias" % x, (n,))
                    for x, n in (("q", NH * hd), ("k", KV * hd), ("v", KV * hd))]
        if ob:
            out.append((p + "self_attn.o_proj.bias", (C,)))
        if cfg["model_type"] == "qwen3":
            out += [(p + "self_attn.q_norm.weight", (hd,)), (p + "self_attn.k_norm.weight", (hd,))]
    out += [("model.norm.weight", (C,)), ("score.weight", (1, C))]
    return out


# ---- safetensors by hand ---------------------------------------------------

def to_bf16_bytes(t):
    # round to nearest even, as torch's float32 -> bfloat16 cast does
    return t.to(torch.bfloat16).view(torch.int16).numpy().tobytes()


def write_safetensors(path, tensors, dtype="F32"):
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        t = t.detach().to(torch.float32).contiguous()
        b = to_bf16_bytes(t) if dtype == "BF16" else t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base, out = 8 + n, {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = bytearray(data[base + a:base + b])
        if e["dtype"] == "F32":
            t = torch.frombuffer(raw, dtype=torch.float32)
        elif e["dtype"] == "BF16":
            t = torch.frombuffer(raw, dtype=torch.bfloat16).to(torch.float32)
        elif e["dtype"] == "F16":
            t = torch.frombuffer(raw, dtype=torch.float16).to(torch.float32)
        else:
            raise ValueError("%s: dtype %s" % (name, e["dtype"]))
        out[name] = t.reshape(e["shape"]).clone()
    return out


def load_checkpoint(d, dtype=torch.float64):
    cfg = json.load(open(os.path.join(d, "config.json")))
    single = os.path.join(d, "model.safetensors")
    if os.path.exists(single):
        raw = read_safetensors(single)
    else:
        index = json.load(open(os.path.join(d, "model.safetensors.index.json")))
        raw = {}
        for f in sorted(set(index["weight_map"].values())):
            raw.update(read_safetensors(os.path.join(d, f)))
    params = {}
    for name, t in raw.items():
        if name == "lm_head.weight" or name.endswith("rotary_emb.inv_freq"):
            continue
        if not name.startswith("model.") and name != "score.weight":
            name = "model." + name
        params[name] = t.to(dtype)
    return params, cfg


# ---- the model ---------------------------------------------------------------

def rms_norm(x, w, eps):
    # LlamaRMSNorm: variance in float32 (float64 here), then weight * x
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def inv_freq(cfg, hd):
    base = cfg.get("rope_theta", 10000.0)
    rs = cfg.get("rope_scaling") or {}
    inv = 1.0 / (base ** (torch.arange(0, hd, 2, dtype=torch.int64).to(torch.float32) / hd))
    if (rs.get("rope_type") or rs.get("type")) == "llama3":
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        lo_w, hi_w = old / lo, old / hi
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > lo_w, inv / factor, inv)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < hi_w) * ~(wavelen > lo_w)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(params, cfg, seqs, pad_id=None):
    """Rewards [B] and the final hidden state at the pooled token [B, C]
    of the token lists seqs, right-padded into one batch."""
    C, NH, KV, hd = dims(cfg)
    L, eps = cfg["num_hidden_layers"], cfg.get("rms_norm_eps", 1e-6)
    qkvb, ob = biases(cfg)
    dt = params["model.embed_tokens.weight"].dtype
    B, T = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((B, T), pad_id if pad_id is not None else 0, dtype=torch.long)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = True
    # rotary tables as LlamaRotaryEmbedding: float32 angles, cast to dt
    freqs = inv_freq(cfg, hd)[:, None].float() @ torch.arange(T, dtype=torch.float32)[None, :]
    emb = torch.cat((freqs.t(), freqs.t()), dim=-1)
    cos, sin = emb.cos().to(dt), emb.sin().to(dt)
    allowed = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & mask[:, None, None, :]

    def lin(x, name, bias):
        return torch.nn.functional.linear(x, params[name + ".weight"],
                                          params[name + ".bias"] if bias else None)

    h = params["model.embed_tokens.weight"][ids]
    for l in range(L):
        p = "model.layers.%d." % l
        x = rms_norm(h, params[p + "input_layernorm.weight"], eps)
        q = lin(x, p + "self_attn.q_proj", qkvb).view(B, T, NH, hd)
        k = lin(x, p + "self_attn.k_proj", qkvb).view(B, T, KV, hd)
        v = lin(x, p + "self_attn.v_proj", qkvb).view(B, T, KV, hd)
        if cfg["model_type"] == "qwen3":
            q = rms_norm(q, params[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, params[p + "self_attn.k_norm.weight"], eps)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        g = NH // KV  # repeat_kv
        k = k[:, :, None].expand(B, KV, g, T, hd).reshape(B, NH, T, hd)
        v = v[:, :, None].expand(B, KV, g, T, hd).reshape(B, NH, T, hd)
        w = (q @ k.transpose(-1, -2)) * hd ** -0.5
        w = w.masked_fill(~allowed, torch.finfo(w.dtype).min)
        w = torch.softmax(w, dim=-1)
        y = (w @ v).transpose(1, 2).reshape(B, T, NH * hd)
        h = h + lin(y, p + "self_attn.o_proj", ob)
        x = rms_norm(h, params[p + "post_attention_layernorm.weight"], eps)
        m = torch.nn.functional.silu(lin(x, p + "mlp.gate_proj", False)) * lin(x, p + "mlp.up_proj", False)
        h = h + lin(m, p + "mlp.down_proj", False)
    h = rms_norm(h, params["model.norm.weight"], eps)
    if pad_id is None:
        last = mask.sum(1) - 1
    else:  # the rightmost token that is not the pad id
        last = ((ids != pad_id).long() * torch.arange(T)[None, :]).argmax(-1)
    h_last = h[torch.arange(B), last]
    return (h_last @ params["score.weight"].t())[:, 0], h_last


# ---- commands --------------------------------------------------------------------

def make(argv):
    d, kind = argv[0], argv[1]
    bf16 = "--bf16" in argv
    shards = int(argv[argv.index("--shards") + 1]) if "--shards" in argv else 1
    causal = "--causal-lm" in argv
    seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 1
    cfg = dict(KINDS[kind])
    if "--vocab" in argv:
        cfg["vocab_size"] = int(argv[argv.index("--vocab") + 1])
    cfg.update(bos_token_id=1, eos_token_id=2, torch_dtype="bfloat16" if bf16 else "float32")
    if causal:
        cfg["architectures"] = [CAUSAL[kind]]
    else:
        cfg.update(num_labels=1, id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0},
                   pad_token_id=None)
    gen = torch.Generator().manual_seed(seed)
    tensors = []
    for name, shape in param_shapes(cfg):
        if causal and name == "score.weight":
            continue
        if name.endswith("norm.weight") or "layernorm" in name:
            t = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif name.endswith(".bias"):
            t = 0.1 * torch.randn(shape, generator=gen)
        else:
            t = 0.15 * torch.randn(shape, generator=gen)
        tensors.append((name, t))
    if causal:  # what a causal LM file also holds
        tensors.append(("lm_head.weight", 0.02 * torch.randn(cfg["vocab_size"], cfg["hidden_size"],
                                                             generator=gen)))
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    dtype = "BF16" if bf16 else "F32"
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), tensors, dtype)
        return
    per = (len(tensors) + shards - 1) // shards
    wmap = {}
    for i in range(shards):
        f = "model-%05d-of-%05d.safetensors" % (i + 1, shards)
        part = tensors[i * per:(i + 1) * per]
        write_safetensors(os.path.join(d, f), part, dtype)
        wmap.update({n: f for n, _ in part})
    json.dump({"metadata": {"total_size": 0}, "weight_map": wmap},
              open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)


def seqs(argv):
    d, n, out = argv[0], int(argv[1]), argv[2]
    cfg = json.load(open(os.path.join(d, "config.json")))
    rnd = random.Random(7)
    with open(out, "w") as f:
        for i in range(n):
            T = rnd.randint(1, 40) if i != 3 else 1
            f.write(" ".join(str(rnd.randrange(cfg["vocab_size"])) for _ in range(T)) + "\n")


def check(argv):
    d, sp, gp = argv
    torch.set_default_dtype(torch.float64)
    params, cfg = load_checkpoint(d)
    for t in params.values():
        t.requires_grad_(True)
    ss = [[int(x) for x in l.split()] for l in open(sp)]
    # transformers cannot batch without a pad id: one row at a time, then
    # one padded batch with a pad id that occurs in no sequence (the same)
    r, hl = forward(params, cfg, ss, pad_id=None)
    z = r[0::2] - r[1::2]
    loss = torch.nn.functional.softplus(-z).mean()
    loss.backward()
    ours = read_safetensors(gp)
    worst, bad = 0.0, []

    def cmp(name, a, ref):
        nonlocal worst
        e = ((a.double() - ref).abs() / (1e-5 + 1e-4 * ref.abs())).max().item()
        worst = max(worst, e)
        if e > 1:
            bad.append("%s: worst %.3g of the tolerance" % (name, e))

    cmp("rewards", ours["rewards"], r.detach())
    cmp("loss", ours["loss"], loss.detach().reshape(1))
    cmp("h_last", ours["h_last"], hl.detach())
    for name, t in params.items():
        if name not in ours:
            bad.append("%s: no gradient in %s" % (name, gp))
            continue
        cmp("grad " + name, ours[name], t.grad)
    # one row at a time agrees with the batch (the padding mask works)
    with torch.no_grad():
        one = torch.stack([forward(params, cfg, [s])[0][0] for s in ss[:6]])
        cmp("rewards one at a time", one, r.detach()[:6])
    if bad:
        print("FAIL %s (%s):\n  %s" % (d, cfg["model_type"], "\n  ".join(bad)))
        sys.exit(1)
    print("%s (%s): %d rewards, loss, h_last and %d gradients agree, worst %.3f of "
          "1e-5 + 1e-4|ref|" % (d, cfg["model_type"], len(ss), len(params), worst))


def score(argv):
    params, cfg = load_checkpoint(argv[0], torch.float32)
    pad = cfg.get("pad_token_id")
    with torch.no_grad():
        for line in sys.stdin:
            r = json.loads(line)
            if "chosen" in r:
                c = forward(params, cfg, [r["chosen"]], pad)[0].item()
                j = forward(params, cfg, [r["rejected"]], pad)[0].item()
                print(json.dumps({"id": r["id"], "chosen": c, "rejected": j}))
            else:
                v = forward(params, cfg, [r["response"]], pad)[0].item()
                print(json.dumps({"id": r["id"], "reward": v}))


def batch(argv):
    import shlex
    bad = 0
    for line in sys.stdin:
        words = shlex.split(line)
        if not words:
            continue
        want_fail = words[0] == "!"
        words = words[1:] if want_fail else words
        args, inp, out = [], None, None
        while words:
            w = words.pop(0)
            if w in ("<", ">") and words:
                if w == "<":
                    inp = words.pop(0)
                else:
                    out = words.pop(0)
            else:
                args.append(w)
        torch.set_default_dtype(torch.float32)
        stdin, stdout = sys.stdin, sys.stdout
        ok = True
        try:
            if inp:
                sys.stdin = open(inp)
            if out:
                sys.stdout = open(out, "w")
            COMMANDS[args[0]](args[1:])
        except SystemExit as e:
            ok = not e.code
        except Exception as e:  # a finding of this line, not of the batch
            print("%s: %s" % (type(e).__name__, e), file=stdout)
            ok = False
        finally:
            if inp:
                sys.stdin.close()
            if out:
                sys.stdout.close()
            sys.stdin, sys.stdout = stdin, stdout
        good = ok != want_fail
        bad += not good
        print("batch: %s %s" % ("ok" if good else "FAIL", line.strip()), flush=True)
    sys.exit(1 if bad else 0)


COMMANDS = {"make": make, "seqs": seqs, "check": check, "score": score}


def main():
    cmds = dict(COMMANDS, batch=batch)
    if len(sys.argv) < 2 + (sys.argv[1:2] != ["batch"]) or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
