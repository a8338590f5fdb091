# SPDX-License-Identifier: Apache-2.0
"""tests/tfevents.py - an independent reader of event files for the summary tests.

TFRecord framing is read here byte by byte with a CRC32C written from its definition (not deft's
code); events are decoded with Google's protobuf over deft's own .proto files (protoc
--python_out into a temporary directory). Used by tests/test_summary.c and tests/test_cli.c.
"""
import glob
import os
import struct
import subprocess
import sys

SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _table():
    poly = 0x82F63B78  # Castagnoli, reflected
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        t.append(c)
    return t


_T = _table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def records(path):
    """Every record's bytes; asserts both CRCs of every record and that nothing trails."""
    data = open(path, "rb").read()
    out, off = [], 0
    while off < len(data):
        assert off + 12 <= len(data), "%s: truncated header at byte %d" % (path, off)
        head = data[off:off + 8]
        (n,) = struct.unpack("<Q", head)
        (hcrc,) = struct.unpack("<I", data[off + 8:off + 12])
        assert hcrc == masked(head), "%s: bad length CRC at byte %d" % (path, off)
        body = data[off + 12:off + 12 + n]
        assert len(body) == n and off + 16 + n <= len(data), "%s: truncated record at %d" % (path, off)
        (dcrc,) = struct.unpack("<I", data[off + 12 + n:off + 16 + n])
        assert dcrc == masked(body), "%s: bad data CRC at byte %d" % (path, off)
        out.append(body)
        off += 16 + n
    return out


def protos(workdir):
    """Generates the Python modules of deft's protos into workdir/py and imports them."""
    gen = os.path.join(workdir, "py")
    os.makedirs(gen, exist_ok=True)
    files = sorted(glob.glob(os.path.join(SOURCE_DIR, "proto", "*.proto")))
    subprocess.check_call(["protoc", "--proto_path=" + os.path.join(SOURCE_DIR, "proto"),
                           "--python_out=" + gen] + files)
    sys.path.insert(0, gen)
    import event_pb2
    import graph_pb2
    import meta_graph_pb2
    import summary_pb2
    return event_pb2, graph_pb2, meta_graph_pb2, summary_pb2


def events(path, event_pb2):
    """The decoded Event of every record of path (CRCs checked)."""
    out = []
    for r in records(path):
        e = event_pb2.Event()
        e.ParseFromString(r)
        out.append(e)
    return out
