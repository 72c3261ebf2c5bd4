#!/bin/sh
# Malformed inputs of every format, each run through the tool that reads
# it: status 1, exactly one error line "rm-TOOL: ..." naming the file (and
# the record or line where there is one), nothing on stdout, and no output
# file (every run writes with -o into an empty directory, which must stay
# empty).  Text inputs live in tests/bad/; binary ones are made here from
# fresh good files (a flipped byte, a cut, a forged header), so they follow
# the format as it is.  Ends with "N bad inputs, all rejected cleanly".
name=t-badinput; . "$(dirname "$0")/common.sh"
PATH=$RM_TOP/tests/bin:$PATH
B=$RM_TOP/tests/bad

# good files to start from
rm-synth -n 8 --seed 3 --groups 2 --k 3 --groups-out g.jsonl > d.jsonl || fail "rm-synth"
rm-tokenize -q -t bytes -m 64 d.jsonl -o p.rmt || fail "rm-tokenize"
rm-tokenize -q -t bytes -m 64 -s group g.jsonl -o g.rmt || fail "rm-tokenize groups"
rm-train -q -j 1 --layers 1 --heads 1 --width 8 --context 64 --steps 1 --batch-size 4 \
	-o ck p.rmt || fail "rm-train"
rm-vote -j 1 ck p.rmt -o v.rmt && rm-vote -j 1 --jsonl ck p.rmt -o v.jsonl ||
	fail "rm-vote"
rm-strength -q v.rmt v.rmt -o s.jsonl || fail "rm-strength"
mkdir bad && cp "$B"/* bad/ || fail "copy tests/bad"
PYTHONPATH=$RM_TOP/tests python3 - <<'PY' || fail "making bad inputs"
import json, os, shutil, struct, zlib
from rmt_writer import entry, frame, record, stream

def rd(p): return open(p, "rb").read()
def wr(p, b): open("bad/" + p, "wb").write(b)
p, v, st = rd("p.rmt"), rd("v.rmt"), rd("ck/model.safetensors")

# tensor streams
meta_len = struct.unpack("<I", p[12:16])[0]
rec0 = 16 + meta_len + 4                      # first frame
body0 = struct.unpack("<I", p[rec0 + 4:rec0 + 8])[0]
rec1 = rec0 + 8 + body0 + 4
wr("wrong-magic.rmt", b"\x89RMX" + p[4:])
wr("magic-first-bytes.rmt", b"\0\0\0" + p[3:])
wr("random.bin", bytes((i * 2654435761 >> 13) & 255 for i in range(4096)))
wr("text.txt", b"hello\nworld\n")
wr("version-9.rmt", p[:8] + struct.pack("<I", 9) + p[12:])
wr("header-crc.rmt", p[:16] + bytes([p[16] ^ 1]) + p[17:])
flip = rec1 + 40                              # inside record 1's body
wr("flipped-record1.rmt", p[:flip] + bytes([p[flip] ^ 0x10]) + p[flip + 1:])
wr("cut-in-record1.rmt", p[:rec1 + 20])
wr("cut-after-header.rmt", p[:rec0])
wr("no-end-record.rmt", p[:-20])
wr("trailing-garbage.rmt", p + b"RECD")
wr("end-count-wrong.rmt", p[:-20] + frame(b"DONE", struct.pack("<Q", 99)))
wr("bad-tag.rmt", p[:rec1] + b"XXXX" + p[rec1 + 4:])
wr("absurd-body.rmt", p[:rec0] + frame(b"RECD", b"")[:4] + struct.pack("<I", 0xfffffff0) + b"\0" * 8)
wr("absurd-meta.rmt", p[:12] + struct.pack("<I", 0xffffff00) + b"{}")
wr("short-read.rmt", p[:5])
e64 = entry("x", 5, [1 << 40, 1 << 40], b"")
wr("absurd-dims.rmt", stream(b"{}", record(e64)))
wr("ntensors-huge.rmt", stream(b"{}", frame(b"RECD", struct.pack("<II", 100000, 0))))
wr("dtype-99.rmt", stream(b"{}", record(entry("x", 99, [], b"\0" * 8))))
def pairrec(i, c, r, extra=()):
    return record(entry("id", 4, [], struct.pack("<Q", i)), entry("hash", 4, [], struct.pack("<Q", i)),
                  entry("prompt_len", 2, [], struct.pack("<i", 1)),
                  entry("chosen", 2, [len(c)], struct.pack("<%di" % len(c), *c)),
                  entry("rejected", 2, [len(r)], struct.pack("<%di" % len(r), *r)), *extra)
wr("token-over-vocab.rmt", stream(b'{"vocab_size":257,"eos_id":256}', pairrec(0, [1, 2], [1, 3]),
                                  pairrec(1, [1, 9999], [1, 3])))
for nm, meta in (("vocab-1e9", b'{"vocab_size":1e9}'), ("vocab-frac", b'{"vocab_size":300.5}'),
                 ("vocab-string", b'{"vocab_size":"300"}'), ("vocab-negative", b'{"vocab_size":-5}'),
                 ("eos-outside", b'{"vocab_size":257,"eos_id":257}'),
                 ("bos-negative", b'{"vocab_size":257,"bos_id":-2}'),
                 ("vocab-below-tokens", b'{"vocab_size":3}')):
    wr("meta-%s.rmt" % nm, stream(meta, pairrec(0, [1, 2], [1, 3]), pairrec(1, [1, 2], [1, 3])))
wr("token-negative.rmt", stream(b'{"vocab_size":257}', pairrec(0, [1, 2], [1, -5])))
wr("chosen-f32.rmt", stream(b'{"vocab_size":257}', record(entry("id", 4, [], struct.pack("<Q", 0)),
                                        entry("chosen", 5, [2], struct.pack("<2f", 1, 2)),
                                        entry("rejected", 2, [1], struct.pack("<i", 1)))))
wr("prompt-len-past-end.rmt", stream(b'{"vocab_size":257}', record(entry("id", 4, [], struct.pack("<Q", 0)),
     entry("hash", 4, [], struct.pack("<Q", 0)), entry("prompt_len", 2, [], struct.pack("<i", 50)),
     entry("chosen", 2, [2], struct.pack("<2i", 1, 2)), entry("rejected", 2, [2], struct.pack("<2i", 1, 3)))))
vs = [json.loads(l) for l in open("v.jsonl")]
def one(i, h=None, **f):
    h = i if h is None else h
    es = [entry("id", 4, [], struct.pack("<Q", i)), entry("hash", 4, [], struct.pack("<Q", h))]
    es += [entry(k, 5, [], struct.pack("<f", x)) for k, x in f.items()]
    return record(*es)
def v2(c1, r1):
    return stream(b'{}', one(vs[0]["id"], vs[0]["hash"], chosen=1, rejected=0),
                  one(vs[1]["id"], vs[1]["hash"], chosen=c1, rejected=r1))
wr("votes-nan.rmt", v2(float("nan"), 0))
wr("votes-inf.rmt", v2(1, float("-inf")))
# a vote stream whose ids, hashes or length do not line up with v.rmt
vs_id = [dict(x) for x in vs]; vs_id[3]["id"] = 77
wr("votes-id-mismatch.jsonl", "".join(json.dumps(x) + "\n" for x in vs_id).encode())
vs_h = [dict(x) for x in vs]; vs_h[2]["hash"] = 12345
wr("votes-hash-mismatch.jsonl", "".join(json.dumps(x) + "\n" for x in vs_h).encode())
wr("votes-short.jsonl", "".join(json.dumps(x) + "\n" for x in vs[:-1]).encode())
wr("votes-dup-id.jsonl", "".join(json.dumps(x) + "\n" for x in vs[:1] + vs[:-1]).encode())
st_h = [json.loads(l) for l in open("s.jsonl")]; st_h[4]["hash"] = 999
wr("strength-hash-mismatch.jsonl", "".join(json.dumps(x) + "\n" for x in st_h).encode())
wr("empty.rmt", b"")

# zstd
import subprocess
z = subprocess.run(["zstd", "-q", "-c"], input=p, capture_output=True).stdout
wr("truncated.rmt.zst", z[:len(z) // 2])
mid = len(z) // 2
wr("corrupt.rmt.zst", z[:mid] + bytes([z[mid] ^ 0xff]) + z[mid + 1:])
zj = subprocess.run(["zstd", "-q", "-c"], input=rd("d.jsonl"), capture_output=True).stdout
wr("truncated.jsonl.zst", zj[:len(zj) - 7])
wr("zstd-magic-only", b"\x28\xb5\x2f\xfd")

# safetensors, as checkpoint directories built from the good one
n = struct.unpack("<Q", st[:8])[0]
hdr = json.loads(st[8:8 + n])
data = st[8 + n:]
def ckpt(name, sbytes=None, hdr2=None, cfg=None, drop=None):
    d = "bad/" + name
    shutil.copytree("ck", d)
    if hdr2 is not None:
        h = json.dumps(hdr2).encode()
        h += b" " * ((8 - len(h) % 8) % 8)
        sbytes = struct.pack("<Q", len(h)) + h + data
    if sbytes is not None:
        open(d + "/model.safetensors", "wb").write(sbytes)
    if cfg is not None:
        open(d + "/config.json", "w").write(cfg if isinstance(cfg, str) else json.dumps(cfg))
    if drop:
        os.remove(d + "/" + drop)
def edit(f):
    h = json.loads(json.dumps(hdr)); f(h); return h
W = "transformer.h.0.attn.c_attn.weight"
ckpt("ck-missing-tensor", hdr2=edit(lambda h: h.pop("transformer.ln_f.bias")))
ckpt("ck-wrong-shape", hdr2=edit(lambda h: h[W].__setitem__("shape", [24, 8])))
ckpt("ck-offsets-past-end", hdr2=edit(lambda h: h[W].__setitem__("data_offsets",
     [h[W]["data_offsets"][0], len(data) + 64])))
ckpt("ck-bad-dtype", hdr2=edit(lambda h: h[W].__setitem__("dtype", "F33")))
ckpt("ck-overlap", hdr2=edit(lambda h: h["transformer.ln_f.bias"].__setitem__("data_offsets",
     h["transformer.ln_f.weight"]["data_offsets"])))
def badname(h):
    t = h.pop(W); t["data_offsets"] = [0, len(data) + 64]; h["evil\nname\x1b[31m"] = t
ckpt("ck-name-control-chars", hdr2=edit(badname))
ckpt("ck-header-past-end", sbytes=struct.pack("<Q", len(st)) + st[8:])
ckpt("ck-header-100g", sbytes=struct.pack("<Q", 100 << 30) + b"{}" + b" " * 10)
ckpt("ck-header-not-json", sbytes=struct.pack("<Q", 8) + b"{\"a\":[1," + data)
ckpt("ck-safetensors-empty", sbytes=b"")
ckpt("ck-no-model", drop="model.safetensors")
cfg = json.load(open("ck/config.json"))
ckpt("ck-config-string-width", cfg=dict(cfg, n_embd="8"))
ckpt("ck-config-float-layers", cfg=dict(cfg, n_layer=1.5))
ckpt("ck-config-not-json", cfg='{"n_embd": 8,')
ckpt("ck-config-array", cfg='[]')
ckpt("ck-config-heads", cfg=dict(cfg, n_head=3))
ckpt("ck-config-activation", cfg=dict(cfg, activation_function="relu"))
ckpt("ck-config-100g", cfg=dict(cfg, n_embd=65536, n_layer=1000, n_head=1))
ckpt("ck-no-config", drop="config.json")
# a tensor the config does not describe (a second layer under n_layer 1)
def surplus(name):
    def f(h):
        h[name] = {"dtype": "F32", "shape": [8], "data_offsets": [len(data), len(data) + 32]}
    h = json.dumps(edit(f)).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data + b"\0" * 32
ckpt("ck-surplus-layer", sbytes=surplus("transformer.h.1.ln_1.weight"))
# training states for --resume: every tensor's shape, no surplus, epochs
ts = rd("ck/training_state.safetensors")
tn = struct.unpack("<Q", ts[:8])[0]
thdr, tdata = json.loads(ts[8:8 + tn]), ts[8 + tn:]
def state(name, f, extra=b""):
    shutil.copytree("ck", "bad/" + name)
    h = json.loads(json.dumps(thdr)); f(h)
    h = json.dumps(h).encode(); h += b" " * ((8 - len(h) % 8) % 8)
    open("bad/%s/training_state.safetensors" % name, "wb").write(
        struct.pack("<Q", len(h)) + h + tdata + extra)
M = "exp_avg." + W
state("st-transposed", lambda h: h[M].__setitem__("shape", h[M]["shape"][::-1]))
state("st-epoch", lambda h: h["__metadata__"].__setitem__("epoch", "999999"))
state("st-surplus", lambda h: h.__setitem__("exp_avg.transformer.h.1.ln_1.weight",
      {"dtype": "F32", "shape": [8], "data_offsets": [len(tdata), len(tdata) + 32]}), b"\0" * 32)
PY

n=0
# bad NAME WHERE CMD...: CMD fails with status 1 and one line on stderr,
# "rm-TOOL: ..." holding NAME and matching the extended regex WHERE (''
# for none); stdout stays empty and so does the output directory o/.
bad() {
	want=$1 where=$2
	shift 2
	rm -rf o && mkdir o
	"$@" >out 2>err </dev/null
	rc=$?
	n=$((n + 1))
	desc="$* ($want)"
	[ $rc -eq 1 ] || { cat err; fail "$desc: status $rc, not 1"; }
	[ "$(wc -l <err)" -eq 1 ] || { cat err; fail "$desc: $(wc -l <err) lines on stderr, not 1"; }
	grep -q "^rm-[a-z]*: " err ||
		fail "$desc: message not 'rm-TOOL: ...': $(cat err)"
	grep -qF -- "$want" err || fail "$desc: message does not name $want: $(cat err)"
	[ -z "$where" ] || grep -qE -- "$where" err ||
		fail "$desc: message does not say where ($where): $(cat err)"
	[ ! -s out ] || fail "$desc: wrote to stdout"
	[ -z "$(ls -A o)" ] || fail "$desc: left $(ls -A o | tr '\n' ' ')in the output directory"
	printf "ok %d: %s\n" "$n" "$(cat err)"
}
tok() { bad "$1" "$2" rm-tokenize -q -j 1 -t bytes -o o/out.rmt "$1"; }
cat_() { bad "$1" "$2" rm-cat -o o/out.jsonl "$1"; }
train() { bad "$1" "$2" rm-train -q -j 1 --layers 1 --heads 1 --width 8 --context 64 \
	--steps 1 --batch-size 4 -o o/ck "$1"; }
# checkpoints: NAME is DIR/FILE (the file the message must name) or DIR
init() { bad "$1" "$2" rm-train -q -j 1 --steps 1 --batch-size 4 --init "bad/${1%%/*}" -o o/ck p.rmt; }
vote() { bad "$1" "$2" rm-vote -j 1 "bad/${1%%/*}" p.rmt -o o/v.rmt; }
strength() { bad "$1" "$2" rm-strength -q v.rmt "$1" -o o/s.jsonl; }

# JSON records (rm-tokenize)
tok bad/invalid-json-line3.jsonl ':3:'
tok bad/bad-utf8-line2.jsonl ':2:'
tok bad/overlong-utf8-line2.jsonl ':2:'
tok bad/lone-surrogate.jsonl ':1:'
tok bad/not-object-line2.jsonl ':2:'
tok bad/missing-rejected-line2.jsonl ':2:'
tok bad/chosen-number.jsonl ':1:'
tok bad/truncated-array.json ''
tok bad/array-element-number.json 'element 1'
tok bad/nul-byte-line2.jsonl ':2:'
tok bad/text-after-record-line2.jsonl ':2:'
tok bad/two-arrays.json ''
tok bad/unknown-role.jsonl ':1:'
tok bad/prompt-object.jsonl ':1:'
tok bad/group-65.jsonl ':1:'
tok bad/truncated.jsonl.zst 'truncated'
tok bad/zstd-magic-only ''
bad bad/missing.jsonl '' rm-tokenize -q -t bytes -o o/out.rmt bad/missing.jsonl

# tensor streams (rm-cat, rm-train)
train bad/wrong-magic.rmt ''
cat_ bad/version-9.rmt 'version'
cat_ bad/wrong-magic.rmt 'damaged tensor stream magic'
cat_ bad/magic-first-bytes.rmt 'damaged tensor stream magic'
cat_ bad/short-read.rmt ''
cat_ bad/random.bin ':1: invalid UTF-8 at byte [0-9]+ \(neither a tensor stream nor JSON\)'
cat_ bad/text.txt ':1: invalid JSON \(neither'
cat_ bad/invalid-json-line3.jsonl ':3: invalid JSON$'
cat_ bad/truncated-array.json ''
cat_ bad/header-crc.rmt 'crc'
cat_ bad/flipped-record1.rmt 'record 1'
cat_ bad/cut-in-record1.rmt 'record 1'
cat_ bad/cut-after-header.rmt 'truncat'
cat_ bad/no-end-record.rmt 'truncat'
cat_ bad/trailing-garbage.rmt ''
cat_ bad/end-count-wrong.rmt 'end record'
cat_ bad/bad-tag.rmt 'record 1'
cat_ bad/absurd-body.rmt 'record 0'
cat_ bad/absurd-meta.rmt ''
train bad/short-read.rmt ''
bad bad/empty.rmt '' rm-vote -j 1 ck bad/empty.rmt -o o/v.rmt
cat_ bad/absurd-dims.rmt 'record 0'
cat_ bad/ntensors-huge.rmt 'record 0'
cat_ bad/dtype-99.rmt 'record 0'
cat_ bad/truncated.rmt.zst 'truncat'
cat_ bad/corrupt.rmt.zst ''
train bad/flipped-record1.rmt 'record 1'
train bad/truncated.rmt.zst 'truncat'
train bad/token-over-vocab.rmt 'record 1'
train bad/token-negative.rmt 'record 0'
train bad/meta-vocab-1e9.rmt 'header: vocab_size 1000000000 is not an integer in 1\.\.16777216$'
train bad/meta-vocab-frac.rmt 'header: vocab_size 300.5 is not'
train bad/meta-vocab-string.rmt 'header: vocab_size "300" is not'
train bad/meta-vocab-negative.rmt 'header: vocab_size -5 is not'
train bad/meta-eos-outside.rmt 'header: eos_id 257 is not an integer in -1\.\.256$'
train bad/meta-bos-negative.rmt 'header: bos_id -2 is not'
train bad/meta-vocab-below-tokens.rmt 'record 0 \(id 0\): token id 3 is outside the model.s vocabulary of 3'
train bad/chosen-f32.rmt 'record 0'
train bad/prompt-len-past-end.rmt 'record 0'
train bad/empty.rmt ''
train d.jsonl ''
bad g.rmt '' rm-train -q -j 1 --layers 1 --heads 1 --width 8 --context 64 --steps 1 -o o/ck g.rmt

# checkpoints (rm-train --init, rm-vote)
init ck-missing-tensor/model.safetensors 'transformer.ln_f.bias'
init ck-wrong-shape/model.safetensors 'c_attn'
init ck-offsets-past-end/model.safetensors 'c_attn'
init ck-bad-dtype/model.safetensors 'c_attn'
init ck-overlap/model.safetensors ''
init ck-name-control-chars/model.safetensors 'evil\\nname\\x1b'
init ck-header-past-end/model.safetensors ''
init ck-header-100g/model.safetensors ''
init ck-header-not-json/model.safetensors ''
init ck-safetensors-empty/model.safetensors ''
vote ck-no-model/model.safetensors ''
vote ck-config-string-width/config.json 'n_embd'
vote ck-config-float-layers/config.json 'n_layer'
vote ck-config-not-json/config.json ''
vote ck-config-array/config.json ''
vote ck-config-heads/config.json 'n_head'
vote ck-config-activation/config.json 'activation'
vote ck-config-100g ''
vote ck-no-config/config.json ''
vote ck-missing-tensor/model.safetensors 'transformer.ln_f.bias'
vote ck-surplus-layer/model.safetensors 'transformer.h.1.ln_1.weight'
init ck-surplus-layer/model.safetensors 'transformer.h.1.ln_1.weight'
resume() { bad "$1" "$2" rm-train -q -j 1 --resume -o "bad/${1%%/*}" p.rmt; }
resume st-transposed/training_state.safetensors "exp_avg.transformer.h.0.attn.c_attn.weight.*shape \\[24, 8\\]"
resume st-epoch 'epoch 999999'
resume st-surplus/training_state.safetensors 'exp_avg.transformer.h.1.ln_1.weight'

# scores (rm-strength, rm-eval) and strength files (rm-filter)
strength bad/votes-inf.jsonl ':2'
strength bad/votes-nan.jsonl ':2'
strength bad/votes-nan.rmt 'record 1'
strength bad/votes-inf.rmt 'record 1'
strength bad/votes-fractional-id.jsonl ':2'
strength bad/votes-string-score.jsonl ':2'
strength bad/votes-mixed-kinds.jsonl ':2'
strength bad/votes-hash-overflow.jsonl ':1'
strength bad/votes-id-mismatch.jsonl ':4'
strength bad/votes-hash-mismatch.jsonl ':3'
strength bad/votes-short.jsonl ''
strength bad/votes-dup-id.jsonl ':2'
strength bad/empty.rmt ''
bad bad/votes-nan.jsonl ':2' rm-eval -o o/report bad/votes-nan.jsonl
bad bad/votes-id-mismatch.jsonl '' rm-eval -o o/report --data d.jsonl bad/votes-id-mismatch.jsonl
# joins with a strength file of other data: hashes differ, or no id in common
bad bad/strength-hash-mismatch.jsonl 'v.rmt: record' rm-eval -o o/report \
	--strength bad/strength-hash-mismatch.jsonl v.rmt
python3 -c '
import json, sys
for l in open("s.jsonl"):
    r = json.loads(l); r["id"] += 1000; del r["hash"]; print(json.dumps(r))' > bad/strength-other-ids.jsonl
bad bad/strength-other-ids.jsonl 'no strength record' rm-eval -o o/report \
	--strength bad/strength-other-ids.jsonl v.rmt
# finite numbers whose statistics would overflow, and margins beyond f32
printf '{"id":0,"chosen":1,"rejected":0}\n{"id":1,"chosen":1e308,"rejected":-1e308}\n' \
	> bad/votes-huge.jsonl
strength bad/votes-huge.jsonl ':2'
bad bad/votes-huge.jsonl ':2' rm-eval -o o/report bad/votes-huge.jsonl
printf '{"id":0,"strength_mean":1e50}\n' > bad/strength-huge-margin.jsonl
bad d.jsonl ':1' rm-filter -q -s bad/strength-huge-margin.jsonl --keep-unscored --margin=1e6 \
	-o o/out.jsonl d.jsonl
printf '{"id":0,"strength_mean":1e300}\n' > bad/strength-huge.jsonl
bad bad/strength-huge.jsonl ':1' rm-filter -q -s bad/strength-huge.jsonl --margin -o o/out.jsonl d.jsonl
head -n 1 d.jsonl | sed 's/^{/{"margin":1e300,/' > bad/margin-huge.jsonl
tok bad/margin-huge.jsonl ':1'
filt() { bad "$1" "$2" rm-filter -q -s "$1" --flip-lowest 0.1 -o o/out.jsonl d.jsonl; }
filt bad/strength-duplicate-id.jsonl ':3'
filt bad/strength-nan-string.jsonl ':2'
filt bad/strength-inf.jsonl ':2'
filt bad/strength-missing-mean.jsonl ':2'
filt bad/strength-negative-id.jsonl ':1'
filt bad/strength-hash-mismatch.jsonl ''

echo "$n bad inputs, all rejected cleanly"
