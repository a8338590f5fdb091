#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds the seed corpora of the fuzz targets into OUT/<target>/: the real TF files of
# ../shared/tf1 (when present), the hostile inputs of ../shared/hostile (regression seeds), and
# small files made here. Usage: tests/fuzz/make_corpus.sh OUT
set -eu
OUT=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=$SRC/../shared
mkdir -p "$OUT/fuzz_import" "$OUT/fuzz_tensor_proto" "$OUT/fuzz_checkpoint" "$OUT/fuzz_data" \
  "$OUT/fuzz_checkpoint_state"
n=0
# prefix BYTE FILE DEST: writes one byte (octal escape) then FILE to DEST.
prefix() { { printf "$1"; cat "$2"; } > "$3"; }
small() { [ "$(wc -c < "$1")" -le "${2:-1048576}" ]; }
if [ -d "$SHARED/tf1" ]; then
  find "$SHARED/tf1" -type f \( -name '*.pb' -o -name '*.meta' -o -name '*.pbtxt' \) | sort |
  while read -r f; do
    small "$f" || continue
    n=$((n + 1))
    case "$f" in
      *saved_model.pb) prefix '\002' "$f" "$OUT/fuzz_import/tf1-$n" ;;
      *saved_model.pbtxt) prefix '\005' "$f" "$OUT/fuzz_import/tf1-$n" ;;
      *.meta) prefix '\001' "$f" "$OUT/fuzz_import/tf1-$n" ;;
      *.pbtxt) prefix '\003' "$f" "$OUT/fuzz_import/tf1-$n"
               prefix '\004' "$f" "$OUT/fuzz_import/tf1-$n-meta" ;;
      *) prefix '\000' "$f" "$OUT/fuzz_import/tf1-$n" ;;
    esac
  done
  find "$SHARED/tf1" -type f -name '*.index' | sort | while read -r f; do
    d=${f%.index}.data-00000-of-00001
    [ -f "$d" ] && small "$d" 262144 || continue
    n=$((n + 1))
    /usr/bin/python3 - "$f" "$d" "$OUT/fuzz_checkpoint/tf1-$n" <<'PY'
import struct, sys
idx = open(sys.argv[1], 'rb').read(); data = open(sys.argv[2], 'rb').read()
for mode in (0, 1):
    open(sys.argv[3] + '-%d' % mode, 'wb').write(bytes([mode]) + struct.pack('<I', len(idx)) + idx + data)
PY
  done
  find "$SHARED/tf1" -type f -name checkpoint | sort | while read -r f; do
    n=$((n + 1)); cp "$f" "$OUT/fuzz_checkpoint_state/tf1-$n"
  done
fi
if [ -d "$SHARED/hostile" ]; then
  H=$SHARED/hostile
  for f in const_variant_nested_5000.pb nested_attr_5000.pb const_string_64gib.pb const_2gib.pb \
           const_64x2gib.pb; do prefix '\000' "$H/$f" "$OUT/fuzz_import/hostile-$f"; done
  for f in "$H"/text-*.pbtxt; do prefix '\003' "$f" "$OUT/fuzz_import/hostile-$(basename "$f")"; done
  cp "$H"/tensor_proto-* "$OUT/fuzz_tensor_proto/"
  for f in "$H"/idx-*; do prefix '\001' "$f" "$OUT/fuzz_data/hostile-$(basename "$f")"; done
  /usr/bin/python3 - "$H/ckpt-string-amplification/t.index" "$OUT/fuzz_checkpoint/hostile-strings" <<'PY'
import struct, sys
idx = open(sys.argv[1], 'rb').read()
open(sys.argv[2], 'wb').write(b'\x01' + struct.pack('<I', len(idx)) + idx + b'\0' * 64)
PY
fi
# Made here: a small text graph, TensorProtos, IDX, .npy, a state file, a checkpoint.
cat > "$OUT/fuzz_import/made-graph.txt" <<'G'
node { name: "x" op: "Const" attr { key: "dtype" value { type: DT_FLOAT } }
  attr { key: "value" value { tensor { dtype: DT_FLOAT tensor_shape { dim { size: 2 } }
  float_val: [1, 2] } } } }
node { name: "y" op: "Square" input: "x" attr { key: "T" value { type: DT_FLOAT } } }
node { name: "z" op: "Tile" input: "y" input: "m" attr { key: "T" value { type: DT_FLOAT } } }
node { name: "m" op: "Const" attr { key: "dtype" value { type: DT_INT32 } }
  attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 1 } }
  int_val: 3 } } } }
versions { producer: 26 }
G
prefix '\003' "$OUT/fuzz_import/made-graph.txt" "$OUT/fuzz_import/made-graph"
rm "$OUT/fuzz_import/made-graph.txt"
for t in 'dtype: DT_FLOAT tensor_shape { dim { size: 3 } } float_val: [1, 2]' \
         'dtype: DT_STRING tensor_shape { dim { size: 2 } } string_val: "ab"' \
         'dtype: DT_BOOL tensor_shape { dim { size: 4 } } bool_val: true' \
         'dtype: DT_INT64 tensor_shape { dim { size: 2 } dim { size: 1 } } tensor_content: "\001\0\0\0\0\0\0\0\002\0\0\0\0\0\0\0"' \
         'dtype: DT_STRING tensor_shape { dim { size: 126 } dim { size: 127 } dim { size: 100 } } string_val: ""' \
         'dtype: DT_STRING tensor_shape { dim { size: 126 } dim { size: 127 } dim { size: 100 } } string_val: "abcdefgh"'; do
  n=$((n + 1))
  printf "%s\n" "$t" | protoc --encode=tensorflow.TensorProto -I "$SRC/proto" "$SRC/proto/tensor.proto" \
    > "$OUT/fuzz_tensor_proto/made-$n"
done
printf '\001\000\000\010\003\000\000\000\002\000\000\000\002\001\002\003\004\005\006\007\010\011\012\013\014' \
  > "$OUT/fuzz_data/made-idx"
/usr/bin/python3 - "$OUT/fuzz_data" <<'PY'
import io, sys
import numpy as np
for name, a in (('f4', np.arange(6, dtype='<f4').reshape(2, 3)), ('i8', np.arange(3, dtype='<i8')),
                ('b1', np.array([True, False])), ('u1', np.zeros((2, 0, 3), dtype='u1'))):
    b = io.BytesIO(); np.save(b, a)
    open('%s/made-npy-%s' % (sys.argv[1], name), 'wb').write(b'\x00' + b.getvalue())
PY
printf 'model_checkpoint_path: "model.ckpt-2"\nall_model_checkpoint_paths: "model.ckpt-1"\nall_model_checkpoint_paths: "model.ckpt-2"\n' \
  > "$OUT/fuzz_checkpoint_state/made"
echo "corpora in $OUT: $(find "$OUT" -type f | wc -l) files"
