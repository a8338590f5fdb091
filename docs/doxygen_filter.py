#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""docs/doxygen_filter.py FILE: a public header as Doxygen reads it (Doxyfile.in's INPUT_FILTER).

The headers use plain C comments (STYLE.md: each function's contract above it); this turns them
into Doxygen's without touching the files. The file's opening comment ("/* deft/x.h - ...")
becomes its @file block; a comment opening a line documents the declaration below it ("/**"); a
comment after code on the same line documents that member ("/**<"). Comment text is taken
literally: Doxygen's command characters (backslash, @, <, >, &) are escaped. The licence line
stays a plain comment. Line numbers are kept, but for the line the @file command adds."""
import re
import sys

COMMENT = re.compile(r"/\*(.*?)\*/", re.S)
SPECIAL = re.compile(r"([\\@<>&$#%])")


def convert(text):
    out, pos = [], 0
    for m in COMMENT.finditer(text):
        out.append(text[pos:m.start()])
        pos = m.end()
        body = m.group(1)
        if body.startswith(" SPDX-License-Identifier"):
            out.append(m.group(0))
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        trailing = text[line_start:m.start()].strip() != ""
        header = re.match(r" deft/([a-z_]+\.h) - ", body) if not trailing else None
        if header:
            rest = SPECIAL.sub(r"\\\1", body[header.end():])
            out.append("/** @file " + header.group(1) + "\n * " + rest + "*/")
            continue
        out.append(("/**<" if trailing else "/**") + SPECIAL.sub(r"\\\1", body) + "*/")
    out.append(text[pos:])
    return "".join(out)


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as f:
        sys.stdout.write(convert(f.read()))
