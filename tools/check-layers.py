#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Fails when an #include crosses a layer upward (DESIGN.md, "Layers").

Layers, lowest first; a file may include its own layer and the ones below it:
  base      allocation, arena, strings and maps, status, tensors and buffers, threads, file I/O
  proto     TF's file formats: TensorProto, text format, SSTable, tensor bundles (+ generated *.pb-c.h)
  ops       the op registry, the kernel and shape-function contexts, the op families
  graph     building: graphs, builder, gradients, layers, optimizers, import/export
  runtime   running: sessions, plans, executor, devices, variables, saver, data
Everything may include the public headers (include/deft/*.h, as "deft/...").
Programs (tools/, examples/, bench/) and the C API (capi/) include only public headers (and
their own folder's).
Usage: tools/check-layers.py [SOURCE_DIR]
"""
import os
import re
import sys

LAYERS = ["base", "proto", "ops", "graph", "runtime"]
PUBLIC_ONLY = ["tools", "examples", "bench", "capi"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def layer_of_include(path):
    if path.endswith(".pb-c.h"):
        return "proto"
    head = path.split("/", 1)[0]
    if head in ("deft", "tensorflow"):
        return "public"
    return head if head in LAYERS else None


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bad = []
    for top in LAYERS + PUBLIC_ONLY + ["include"]:
        d = os.path.join(root, top)
        for dirpath, _, files in os.walk(d):
            for f in files:
                if not f.endswith((".c", ".h")):
                    continue
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, root)
                with open(full, encoding="utf-8", errors="replace") as fh:
                    for n, line in enumerate(fh, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        inc = m.group(1)
                        if top in PUBLIC_ONLY and inc.split("/", 1)[0] == top:
                            continue  # a program's own headers (tools/explorer/dump_html.h)
                        lay = layer_of_include(inc)
                        if lay is None:  # a sibling header by bare name, or a generated one
                            if "/" in inc and top != "include":
                                bad.append(f"{rel}:{n}: includes \"{inc}\", which is in no layer")
                            continue
                        if lay == "public":
                            continue
                        if top == "include":
                            bad.append(f"{rel}:{n}: a public header includes internal \"{inc}\"")
                        elif top in PUBLIC_ONLY:
                            bad.append(f"{rel}:{n}: {top}/ may include only public headers, not \"{inc}\"")
                        elif LAYERS.index(lay) > LAYERS.index(top):
                            bad.append(f"{rel}:{n}: {top}/ includes \"{inc}\" from the higher layer {lay}/")
    for b in bad:
        print(b)
    if bad:
        print(f"check-layers: {len(bad)} upward include(s)")
        return 1
    print("check-layers: every include goes down or sideways")
    return 0


if __name__ == "__main__":
    sys.exit(main())
