# SPDX-License-Identifier: Apache-2.0
# Writes serialized tf.Example protos for tests/test_parse_example.c with Google's protobuf for
# Python (python3-protobuf: an encoder independent of deft), its message classes built at run
# time from a descriptor written from the facts of TF's example.proto / feature.proto (no TF
# needed), and the expected ParseExample outputs computed directly from the feature values.
#
#   gen_examples.py OUT_DIR
# writes OUT_DIR/batch.npy (|S, the serialized batch), OUT_DIR/names.npy, OUT_DIR/exp_*.npy, and
# OUT_DIR/serving.npy (three Examples with x = 1, 2, 5 for TF Serving's half_plus_two model).
import os
import sys

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

F = descriptor_pb2.FieldDescriptorProto
fd = descriptor_pb2.FileDescriptorProto(name="example_test.proto", package="tensorflow",
                                        syntax="proto3")


def msg(name, fields, nested=()):
    m = fd.message_type.add(name=name)
    for n in nested:
        m.nested_type.add().CopyFrom(n)
    for fname, num, ftype, label, tname in fields:
        f = m.field.add(name=fname, number=num, type=ftype, label=label)
        if tname:
            f.type_name = tname
    return m


R, O = F.LABEL_REPEATED, F.LABEL_OPTIONAL
msg("BytesList", [("value", 1, F.TYPE_BYTES, R, None)])
msg("FloatList", [("value", 1, F.TYPE_FLOAT, R, None)])
msg("Int64List", [("value", 1, F.TYPE_INT64, R, None)])
feat = msg("Feature", [("bytes_list", 1, F.TYPE_MESSAGE, O, ".tensorflow.BytesList"),
                       ("float_list", 2, F.TYPE_MESSAGE, O, ".tensorflow.FloatList"),
                       ("int64_list", 3, F.TYPE_MESSAGE, O, ".tensorflow.Int64List")])
feat.oneof_decl.add(name="kind")
for f in feat.field:
    f.oneof_index = 0
entry = descriptor_pb2.DescriptorProto(name="FeatureEntry")
entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=O)
entry.field.add(name="value", number=2, type=F.TYPE_MESSAGE, label=O, type_name=".tensorflow.Feature")
entry.options.map_entry = True
msg("Features", [("feature", 1, F.TYPE_MESSAGE, R, ".tensorflow.Features.FeatureEntry")], [entry])
msg("Example", [("features", 1, F.TYPE_MESSAGE, O, ".tensorflow.Features")])
pool = descriptor_pool.DescriptorPool()
pool.Add(fd)
factory = message_factory.MessageFactory(pool)
get = getattr(message_factory, "GetMessageClass", None)
Example = get(pool.FindMessageTypeByName("tensorflow.Example")) if get else \
    factory.GetPrototype(pool.FindMessageTypeByName("tensorflow.Example"))


def example(d):
    e = Example()
    for k, v in d.items():
        f = e.features.feature[k]
        if isinstance(v, tuple) and v[0] == "empty":
            f.SetInParent()
        elif all(isinstance(x, bytes) for x in v) and v:
            f.bytes_list.value.extend(v)
        elif v and all(isinstance(x, float) for x in v):
            f.float_list.value.extend(v)
        elif v:
            f.int64_list.value.extend(v)
        else:
            f.bytes_list.SetInParent()
    b = e.SerializeToString()
    # NumPy's |S drops trailing NUL bytes, so an encoding ending in 0x00 gets an unknown field
    # (15, varint 1) appended, which a parser must skip
    return b + b"\x78\x01" if b.endswith(b"\x00") else b


out = sys.argv[1]
# dense: age int64 [1] default [-1]; scores float [2] required; name string [] default b"anon"
# sparse: tags string; ids int64
feats = [
    {"age": [31], "scores": [0.5, -2.25], "name": [b"ann"], "tags": [b"a", b"bb"], "ids": [7],
     "ignored": [1.0, 2.0]},
    {"scores": [1e-3, 3.0e10], "tags": [b"c"], "ids": [-5, 2 ** 40, 0]},
    {"age": [-(2 ** 62)], "scores": [7.0, 8.0], "name": [b"z\x00q"], "tags": [], "ids": [3],
     "other": ("empty",)},
]
ser = [example(d) for d in feats]
np.save(os.path.join(out, "batch.npy"), np.array(ser, dtype="S"))
np.save(os.path.join(out, "names.npy"), np.array([b"first", b"second", b"third"], dtype="S"))
defaults = {"age": [-1], "name": [b"anon"]}
np.save(os.path.join(out, "exp_age.npy"),
        np.array([d.get("age", defaults["age"]) for d in feats], np.int64))
np.save(os.path.join(out, "exp_scores.npy"), np.array([d["scores"] for d in feats], np.float32))
np.save(os.path.join(out, "exp_name.npy"),
        np.array([d.get("name", defaults["name"])[0] for d in feats], dtype="S"))
for key, dt in (("tags", "S"), ("ids", np.int64)):
    ind = [(i, j) for i, d in enumerate(feats) for j in range(len(d.get(key, [])))]
    vals = [v for d in feats for v in d.get(key, [])]
    np.save(os.path.join(out, "exp_%s_indices.npy" % key), np.array(ind, np.int64).reshape(-1, 2))
    np.save(os.path.join(out, "exp_%s_values.npy" % key), np.array(vals, dtype=dt))
    np.save(os.path.join(out, "exp_%s_shape.npy" % key),
            np.array([len(feats), max(len(d.get(key, [])) for d in feats)], np.int64))
# error cases, one Example each
bad = {
    "wrong_type": example({"scores": [1, 2]}),
    "missing": example({"age": [3]}),
    "wrong_shape": example({"scores": [1.0, 2.0, 3.0]}),
}
for k, v in bad.items():
    np.save(os.path.join(out, "bad_%s.npy" % k), np.array([ser[0], v], dtype="S"))
np.save(os.path.join(out, "serving.npy"),
        np.array([example({"x": [x]}) for x in (1.0, 2.0, 5.0)], dtype="S"))
