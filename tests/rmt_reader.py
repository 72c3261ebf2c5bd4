#!/usr/bin/env python3
"""An independent reader of rmkit tensor streams, written from rmt(5) alone
(Python standard library; compressed streams go through the `zstd` command).

As a module:
    with open(path, "rb") as f:
        r = RmtReader(f, name=path)
        r.version, r.meta              # header: int, dict
        for rec in r:                  # rec: {name: Tensor}, stored order
            rec["chosen"].values       # nested lists, row-major

As a program, prints records as JSON Lines the way rm-cat(1) documents
(non-finite floats as null); --header prints the metadata instead:
    rmt_reader.py [--header] FILE|-
Errors go to stderr as "rmt_reader: FILE: ..." with exit status 1.
"""
import io
import json
import math
import struct
import subprocess
import sys
import zlib

MAGIC = b"\x89RMT\r\n\x1a\n"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
VERSION = 1
MAX_META = 1048576
MAX_BODY = 1 << 30
MAX_TENSORS = 1024
# code: (name, size, struct format)
DTYPES = {1: ("u8", 1, "B"), 2: ("i32", 4, "i"), 3: ("i64", 8, "q"),
          4: ("u64", 8, "Q"), 5: ("f32", 4, "f"), 6: ("f64", 8, "d")}


class RmtError(Exception):
    pass


class Tensor:
    def __init__(self, name, dtype, shape, flat):
        self.name, self.dtype, self.shape, self.flat = name, dtype, shape, flat

    @property
    def values(self):
        """A scalar for ndim 0, else nested lists following the shape."""
        def nest(d, at):
            if d == len(self.shape):
                return self.flat[at], at + 1
            out = []
            for _ in range(self.shape[d]):
                v, at = nest(d + 1, at)
                out.append(v)
            return out, at
        return nest(0, 0)[0]


def pad8(n):
    return (8 - n % 8) % 8


class RmtReader:
    def __init__(self, f, name="<stdin>"):
        self.f, self.name, self.count, self.done = f, name, 0, False
        head = self._read(16, "header: truncated")
        if head[:8] != MAGIC:
            raise RmtError("%s: not a tensor stream (bad magic)" % name)
        self.version, meta_len = struct.unpack("<II", head[8:16])
        if self.version != VERSION:
            raise RmtError("%s: unknown version %d" % (name, self.version))
        if meta_len > MAX_META:
            raise RmtError("%s: header: meta_len %d over the limit"
                           % (name, meta_len))
        meta = self._read(meta_len, "header: truncated")
        (crc,) = struct.unpack("<I", self._read(4, "header: truncated"))
        if zlib.crc32(head + meta) != crc:
            raise RmtError("%s: header: crc mismatch" % name)
        self.meta = json.loads(meta.decode("utf-8")) if meta_len else {}
        if not isinstance(self.meta, dict):
            raise RmtError("%s: header: metadata is not a JSON object" % name)

    def _read(self, n, what):
        b = self.f.read(n)
        if len(b) != n:
            raise RmtError("%s: %s" % (self.name, what))
        return b

    def _bad(self, what):
        return RmtError("%s: record %d: %s" % (self.name, self.count, what))

    def __iter__(self):
        return self

    def __next__(self):
        if self.done:
            raise StopIteration
        frame = self.f.read(8)
        if len(frame) == 0:
            raise RmtError("%s: truncated: no end record after %d records"
                           % (self.name, self.count))
        if len(frame) != 8:
            raise self._bad("truncated")
        tag = frame[:4]
        (body_len,) = struct.unpack("<I", frame[4:])
        if tag == b"DONE":
            if body_len != 8:
                raise self._bad("end record body_len %d" % body_len)
        elif tag == b"RECD":
            if body_len > MAX_BODY:
                raise self._bad("body_len %d over the limit" % body_len)
        else:
            raise self._bad("unknown tag %r" % tag)
        body = self.f.read(body_len)
        crc = self.f.read(4)
        if len(body) != body_len or len(crc) != 4:
            raise self._bad("truncated")
        if zlib.crc32(frame + body) != struct.unpack("<I", crc)[0]:
            raise self._bad("crc mismatch")
        if tag == b"DONE":
            (n,) = struct.unpack("<Q", body)
            if n != self.count:
                raise RmtError("%s: end record says %d records, read %d"
                               % (self.name, n, self.count))
            if self.f.read(1):
                raise RmtError("%s: data after the end record" % self.name)
            self.done = True
            raise StopIteration
        rec = self._parse(body)
        self.count += 1
        return rec

    def _parse(self, body):
        if len(body) < 8:
            raise self._bad("body too short")
        ntensors, reserved = struct.unpack_from("<II", body, 0)
        if ntensors > MAX_TENSORS:
            raise self._bad("%d tensors" % ntensors)
        if reserved != 0:
            raise self._bad("reserved field not zero")
        off, rec = 8, {}
        for i in range(ntensors):
            if len(body) - off < 8:
                raise self._bad("tensor %d: entry runs past the body" % i)
            code, ndim, name_len, reserved = struct.unpack_from("<BBHI", body,
                                                                off)
            if code not in DTYPES:
                raise self._bad("tensor %d: bad dtype %d" % (i, code))
            if ndim > 4 or not 1 <= name_len <= 63 or reserved != 0:
                raise self._bad("tensor %d: bad entry header" % i)
            off += 8
            if len(body) - off < 8 * ndim + name_len + pad8(name_len):
                raise self._bad("tensor %d: entry runs past the body" % i)
            shape = list(struct.unpack_from("<%dQ" % ndim, body, off))
            off += 8 * ndim
            raw_name = body[off:off + name_len]
            if b"\0" in raw_name or any(body[off + name_len:
                                             off + name_len + pad8(name_len)]):
                raise self._bad("tensor %d: bad name or padding" % i)
            name = raw_name.decode("utf-8", errors="surrogateescape")
            off += name_len + pad8(name_len)
            dname, size, fmt = DTYPES[code]
            if math.prod(max(d, 1) for d in shape) * size > MAX_BODY:
                raise self._bad("tensor '%s': shape too large" % name)
            numel = math.prod(shape)
            nbytes = numel * size
            if nbytes + pad8(nbytes) > len(body) - off:
                raise self._bad("tensor '%s': data runs past the body" % name)
            flat = list(struct.unpack_from("<%d%s" % (numel, fmt), body, off))
            off += nbytes
            if any(body[off:off + pad8(nbytes)]):
                raise self._bad("tensor '%s': padding not zero" % name)
            off += pad8(nbytes)
            if name in rec:
                raise self._bad("tensor '%s' twice" % name)
            rec[name] = Tensor(name, dname, shape, flat)
        if off != len(body):
            raise self._bad("%d bytes after the last tensor"
                            % (len(body) - off))
        return rec


def open_stream(path):
    """A binary file object for path ("-": stdin), decompressed if zstd."""
    f = sys.stdin.buffer if path == "-" else open(path, "rb")
    first = f.read(4)
    rest = f.read()
    data = first + rest
    if first == ZSTD_MAGIC:
        p = subprocess.run(["zstd", "-q", "-d", "-c"], input=data,
                           capture_output=True)
        if p.returncode != 0:
            raise RmtError("%s: zstd: %s" % (path, p.stderr.decode().strip()))
        data = p.stdout
    return io.BytesIO(data)


def jsonable(v):
    if isinstance(v, list):
        return [jsonable(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def main(argv):
    header = "--header" in argv
    paths = [a for a in argv if a != "--header"] or ["-"]
    out = sys.stdout
    status = 0
    for path in paths:
        name = "<stdin>" if path == "-" else path
        try:
            r = RmtReader(open_stream(path), name)
            if header:
                out.write(json.dumps(r.meta, separators=(",", ":")) + "\n")
                continue
            for rec in r:
                obj = {k: jsonable(t.values) for k, t in rec.items()}
                out.write(json.dumps(obj, separators=(",", ":"),
                                     ensure_ascii=False) + "\n")
        except (RmtError, OSError, ValueError) as e:
            print("rmt_reader: %s" % e, file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
