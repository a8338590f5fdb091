# SPDX-License-Identifier: Apache-2.0
# Writes a TF V1 checkpoint (TF <= 0.12's SaveSlices format) from the format's facts alone, for
# tests/test_checkpoint_v1.c: no real TF-written V1 file is available (../shared/tf1 has none).
# The file is one LevelDB-style SSTable (uncompressed blocks, masked CRC32C trailers, a 48-byte
# footer ending with the magic 0xdb4775248b80fb57). Key "" holds a SavedTensorSlices with `meta`
# (SavedTensorSliceMeta: tensor = 1 -> SavedSliceMeta {name = 1, shape = 2, type = 3,
# slice = 4}); each other key is OrderedCode(0, name, rank, start_0, length_0, ...) and holds a
# SavedTensorSlices with `data` (= 2: SavedSlice {name = 1, slice = 2, data = 3 TensorProto}),
# the values in TensorProto's typed fields, as TF's TensorSliceWriter fills them.
#
#   gen_v1_checkpoint.py OUT_DIR [corrupt]
# writes OUT_DIR/model.ckpt (V1) and OUT_DIR/<name>.npy (NumPy's own encoding of each tensor's
# expected value). With "corrupt" it also writes broken variants: bad_crc.ckpt, gap.ckpt,
# overlap.ckpt, count.ckpt.
import os
import struct
import sys

import numpy as np

out = sys.argv[1]


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(v):
    v &= (1 << 64) - 1
    o = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            o += bytes([b | 0x80])
        else:
            return o + bytes([b])


def tag(num, wt):
    return varint(num << 3 | wt)


def ld(num, payload):
    return tag(num, 2) + varint(len(payload)) + payload


def vi(num, v):
    return tag(num, 0) + varint(v)


# ---- OrderedCode ----
def num_increasing(v):
    b = v.to_bytes((v.bit_length() + 7) // 8, "big") if v else b""
    return bytes([len(b)]) + b


def string_increasing(s):
    return s.replace(b"\xff", b"\xff\x00").replace(b"\x00", b"\x00\xff") + b"\x00\x01"


def signed_increasing(v):
    assert -64 <= v < 64, "the generator encodes small extents only"
    return bytes([(0x80 ^ v) & 0xFF])


def slice_key(name, extents):
    k = num_increasing(0) + string_increasing(name.encode()) + num_increasing(len(extents))
    for start, length in extents:
        k += signed_increasing(start) + signed_increasing(length)
    return k


# ---- protos ----
DT = {"float": 1, "double": 2, "int32": 3, "string": 7, "int64": 9, "bool": 10}


def shape_proto(shape):
    return b"".join(ld(2, vi(1, d)) for d in shape)


def slice_proto(extents):
    # full extents: start 0 and no length (TF's TensorSlice::AsProto)
    o = b""
    for start, length in extents:
        e = vi(1, start) if start else b""
        if length != -1:
            e += vi(2, length)
        o += ld(1, e)
    return o


def tensor_proto(dtype, values):
    o = vi(1, DT[dtype])
    flat = list(np.asarray(values).reshape(-1))
    if dtype == "float":
        o += ld(5, b"".join(struct.pack("<f", v) for v in flat))
    elif dtype == "double":
        o += ld(6, b"".join(struct.pack("<d", v) for v in flat))
    elif dtype == "int32":
        o += ld(7, b"".join(varint(int(v)) for v in flat))
    elif dtype == "int64":
        o += ld(10, b"".join(varint(int(v)) for v in flat))
    elif dtype == "bool":
        o += ld(11, b"".join(varint(int(v)) for v in flat))
    elif dtype == "string":
        o += b"".join(ld(8, v) for v in flat)
    return o


# ---- SSTable ----
def block(entries):
    body, restarts = b"", []
    for k, v in entries:
        restarts.append(len(body))
        body += varint(0) + varint(len(k)) + varint(len(v)) + k + v
    if not restarts:
        restarts = [0]
    return body + b"".join(struct.pack("<I", r) for r in restarts) + struct.pack("<I", len(restarts))


def sstable(entries, corrupt_crc=False):
    entries = sorted(entries)
    f, index = b"", []
    for i in range(0, len(entries), 3):  # small data blocks: several blocks
        chunk = entries[i:i + 3]
        b = block(chunk)
        handle = varint(len(f)) + varint(len(b))
        crc = masked(b + b"\x00")
        if corrupt_crc and i == 0:
            crc ^= 1
        f += b + b"\x00" + struct.pack("<I", crc)
        index.append((chunk[-1][0], handle))
    meta = block([])
    meta_handle = varint(len(f)) + varint(len(meta))
    f += meta + b"\x00" + struct.pack("<I", masked(meta + b"\x00"))
    idx = block(index)
    idx_handle = varint(len(f)) + varint(len(idx))
    f += idx + b"\x00" + struct.pack("<I", masked(idx + b"\x00"))
    footer = meta_handle + idx_handle
    footer += b"\x00" * (40 - len(footer)) + struct.pack("<Q", 0xDB4775248B80FB57)
    return f + footer


# tensor name -> (dtype, value, list of slices as [(start, length) per dim], -1 = full)
rng = np.random.RandomState(7)
tensors = {
    "hidden/weights": ("float", rng.randn(4, 3).astype(np.float32), [[(0, 2), (0, -1)], [(2, 2), (0, -1)]]),
    "hidden/biases": ("float", np.array([0.5, -1.25, 3.0], np.float32), [[(0, -1)]]),
    "global_step": ("int64", np.array(1234567890123, np.int64), [[]]),
    "counts": ("int32", np.array([[1, -2], [300, 4]], np.int32), [[(0, -1), (0, 1)], [(0, -1), (1, 1)]]),
    "vocab": ("string", np.array([b"alpha", b"be\x00ta", b""], dtype=object), [[(0, -1)]]),
    "flags": ("bool", np.array([True, False, True]), [[(0, -1)]]),
    "scale": ("double", np.array([[2.5, -0.125]], np.float64), [[(0, -1), (0, -1)]]),
}


def region(value, extents):
    idx = tuple(slice(s, None if l == -1 else s + l) for s, l in extents)
    return value[idx] if extents else value


def write(path, tensors, mutate=None):
    metas, entries = b"", []
    for name, (dtype, value, slices) in tensors.items():
        m = ld(1, name.encode()) + ld(2, shape_proto(np.shape(value))) + vi(3, DT[dtype])
        for ext in slices:
            m += ld(4, slice_proto(ext))
        metas += ld(1, m)
        for ext in slices:
            vals = region(value, ext)
            if mutate:
                vals, ext = mutate(name, vals, ext)
            data = ld(1, name.encode()) + ld(2, slice_proto(ext)) + ld(3, tensor_proto(dtype, vals))
            entries.append((slice_key(name, ext), ld(2, data)))
    entries.append((b"", ld(1, metas + ld(2, vi(1, 21)))))
    with open(path, "wb") as f:
        f.write(sstable(entries, corrupt_crc=mutate == "crc"))


write(os.path.join(out, "model.ckpt"), tensors)
for name, (dtype, value, _) in tensors.items():
    v = np.array(list(value.reshape(-1)), dtype="S").reshape(value.shape) if dtype == "string" else value
    np.save(os.path.join(out, name.replace("/", "_") + ".npy"), v)

if len(sys.argv) > 2:
    w = {"hidden/weights": tensors["hidden/weights"]}
    # the second slice claims rows [1, 3): row 1 twice, row 3 never
    def overlap(name, vals, ext):
        return (vals, [(1, 2), (0, -1)]) if ext[0][0] == 2 else (vals, ext)
    write(os.path.join(out, "overlap.ckpt"), w, overlap)
    # one value short
    write(os.path.join(out, "count.ckpt"), w, lambda n, v, e: (v.reshape(-1)[:-1], e))
    with open(os.path.join(out, "model.ckpt"), "rb") as f:
        good = bytearray(f.read())
    good[5] ^= 0x40  # inside the first data block
    with open(os.path.join(out, "bad_crc.ckpt"), "wb") as f:
        f.write(good)
    # only the first slice of two
    g = {"hidden/weights": ("float", tensors["hidden/weights"][1], [[(0, 2), (0, -1)]])}
    write(os.path.join(out, "gap_meta_ok.ckpt"), g)
