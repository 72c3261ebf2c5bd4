#!/usr/bin/env python3
"""A minimal tensor stream writer from rmt(5), for tests that need streams
built byte by byte, including deliberately bad ones (any dtype code, shape
or data is accepted as given):

    from rmt_writer import entry, record, stream
    open(path, "wb").write(stream(b'{"tool":"hand"}',
        record(entry("id", 4, [], struct.pack("<Q", 0)))))
"""
import struct
import zlib


def entry(name, code, dims, data):
    """A tensor entry: dtype code, dims (u64 each), raw little-endian data."""
    n = name.encode()
    e = struct.pack("<BBHI", code, len(dims), len(n), 0)
    e += b"".join(struct.pack("<Q", d) for d in dims)
    e += n + b"\0" * ((8 - len(n) % 8) % 8)
    return e + data + b"\0" * ((8 - len(data) % 8) % 8)


def frame(tag, body):
    f = tag + struct.pack("<I", len(body)) + body
    return f + struct.pack("<I", zlib.crc32(f))


def record(*entries):
    return frame(b"RECD", struct.pack("<II", len(entries), 0) + b"".join(entries))


def stream(meta, *records):
    """Header with meta (bytes), the records, and a correct end record."""
    head = b"\x89RMT\r\n\x1a\n" + struct.pack("<II", 1, len(meta)) + meta
    out = head + struct.pack("<I", zlib.crc32(head)) + b"".join(records)
    return out + frame(b"DONE", struct.pack("<Q", len(records)))
