#!/usr/bin/env python3
"""Cross-check lib/stream/safetensors.c against safetensors files handled by hand in
Python (json + struct only; the `safetensors` package is not needed):

1. a file written here, with a header that is neither padded nor ordered the
   way rmkit writes it, loads in C with the same names, shapes and values;
2. the file the C writer produces (tests/tool-st write) parses here and meets
   the format's rules: 8-byte header length, JSON header padded so the data
   starts at a multiple of 8, offsets back to back from 0 to the end of the
   file, every tensor aligned to its element size, values as written.

usage: st_cross.py TOOL_ST SCRATCH_DIR
"""
import json
import math
import os
import struct
import subprocess
import sys

tool, scratch = sys.argv[1], sys.argv[2]
failures = []

SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1}
FMT = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "U8": "B"}


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def f32(x):
    """Round a Python float to float32, as the C side prints it."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def encode(dtype, values):
    if dtype == "BF16":
        return b"".join(struct.pack("<f", v)[2:] for v in values)
    return struct.pack("<%d%s" % (len(values), FMT[dtype]), *values)


def decode(dtype, raw):
    n = len(raw) // SIZES[dtype]
    if dtype == "BF16":
        return [struct.unpack("<f", b"\0\0" + raw[2 * i:2 * i + 2])[0]
                for i in range(n)]
    return list(struct.unpack("<%d%s" % (n, FMT[dtype]), raw))


# 1. Python writes, C reads.
tensors = [  # name, dtype, shape, values
    ("transformer.h.0.attn.c_attn.weight", "F32", [2, 3],
     [0.5, -1.25, 3.0, 1e-3, 7.0, -0.0]),
    ("transformer.h.0.ln_1.bias", "F16", [3], [1.0, -2.5, 0.099975586]),
    ("score.weight", "F64", [1, 2], [1.0 / 3, -2.0]),
    ("b16", "BF16", [2], [1.0, -3.140625]),
    ("ids", "I64", [2], [-7, 2 ** 40]),
    ("mask", "U8", [5], [0, 1, 2, 3, 255]),
    ("tok", "I32", [], [42]),
]
header, blob = {}, b""
for name, dt, shape, vals in tensors:  # no alignment care: odd offsets
    raw = encode(dt, vals)
    header[name] = {"dtype": dt, "shape": shape,
                    "data_offsets": [len(blob), len(blob) + len(raw)]}
    blob += raw
header["__metadata__"] = {"format": "pt", "note": "hand written"}
text = json.dumps(header).encode()  # deliberately unpadded
path = os.path.join(scratch, "py.safetensors")
with open(path, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + blob)
out = subprocess.run([tool, "dump", path], capture_output=True, text=True)
check(out.returncode == 0, "tool-st dump of the Python file: " + out.stderr)
got_meta, got = {}, {}
for line in out.stdout.splitlines():
    parts = line.split(" ")
    if parts[0] == "meta":
        got_meta[parts[1]] = " ".join(parts[2:])
    else:
        got[parts[0]] = (parts[1], parts[2], [float(v) for v in parts[3:]])
check(got_meta == header["__metadata__"], "metadata %r" % got_meta)
check(sorted(got) == sorted(t[0] for t in tensors), "names %r" % sorted(got))
for name, dt, shape, vals in tensors:
    if name not in got:
        continue
    gdt, gshape, gvals = got[name]
    check(gdt == dt.lower(), "%s: dtype %s" % (name, gdt))
    check(gshape == (",".join(map(str, shape)) or "-"),
          "%s: shape %s" % (name, gshape))
    want = decode(dt, encode(dt, vals))  # what the stored bytes hold
    check(len(gvals) == len(want) and
          all(f32(g) == f32(w) for g, w in zip(gvals, want)),
          "%s: values %r, want %r" % (name, gvals, want))

# 2. C writes, Python reads by hand.
path = os.path.join(scratch, "c.safetensors")
out = subprocess.run([tool, "write", path], capture_output=True, text=True)
check(out.returncode == 0, "tool-st write: " + out.stderr)
with open(path, "rb") as f:
    data = f.read()
(hn,) = struct.unpack("<Q", data[:8])
check((8 + hn) % 8 == 0, "data area starts at %d" % (8 + hn))
head = json.loads(data[8:8 + hn].decode("utf-8"))
body = data[8 + hn:]
meta = head.pop("__metadata__", None)
check(meta == {"format": "pt", "writer": "tool-st"}, "metadata %r" % meta)
spans = sorted((v["data_offsets"], k) for k, v in head.items())
end = 0
for (b, e), name in spans:
    check(b == end, "%s starts at %d, previous ended at %d" % (name, b, end))
    check(b % SIZES[head[name]["dtype"]] == 0, "%s unaligned" % name)
    end = e
check(end == len(body), "tensors end at %d of %d" % (end, len(body)))
want = {
    "transformer.wte.weight": ("F32", [5, 3], [i * 0.25 - 1 for i in range(15)]),
    "transformer.h.0.attn.c_attn.weight": ("F32", [3, 9],
                                           [i / 8 for i in range(27)]),
    "score.weight": ("F32", [1, 3], [-i - 0.5 for i in range(3)]),
    "half": ("F16", [4], [1.0, -2.0, 0.5, 65504.0]),
    "brain": ("BF16", [2], [1.0, -3.140625]),
    "longs": ("I64", [2], [-5, 2 ** 50]),
    "bytes": ("U8", [3], [1, 2, 255]),
    "eighth": ("F64", [], [0.125]),
}
check(sorted(head) == sorted(want), "names %r" % sorted(head))
for name, (dt, shape, vals) in want.items():
    if name not in head:
        continue
    h = head[name]
    b, e = h["data_offsets"]
    check(h["dtype"] == dt and h["shape"] == shape,
          "%s: %s %r" % (name, h["dtype"], h["shape"]))
    n = math.prod(shape) if shape else 1
    check(e - b == n * SIZES[dt], "%s: %d bytes" % (name, e - b))
    check(decode(dt, body[b:e]) == vals,
          "%s: %r" % (name, decode(dt, body[b:e])))

print("%d failures" % len(failures))
sys.exit(1 if failures else 0)
