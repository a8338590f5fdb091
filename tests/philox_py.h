/* tests/philox_py.h - an independent Python Philox4x32-10 (with its known-answer tests) for the
 * suites that check deft's random ops bit for bit: prepend TU_PHILOX_PY to a script; it defines
 * M (0xffffffff) and philox(ctr, key) -> four uint32s. */
#ifndef DEFT_TESTS_PHILOX_PY_H
#define DEFT_TESTS_PHILOX_PY_H

#define TU_PHILOX_PY \
    "import sys, struct, math\n" \
    "import numpy as np\n" \
    "M = 0xffffffff\n" \
    "def philox(ctr, key):\n" \
    "    c = list(ctr); k = list(key)\n" \
    "    for r in range(10):\n" \
    "        if r:\n" \
    "            k = [(k[0] + 0x9E3779B9) & M, (k[1] + 0xBB67AE85) & M]\n" \
    "        p0 = 0xD2511F53 * c[0]; p1 = 0xCD9E8D57 * c[2]\n" \
    "        c = [((p1 >> 32) ^ c[1] ^ k[0]) & M, p1 & M, ((p0 >> 32) ^ c[3] ^ k[1]) & M, p0 & M]\n" \
    "    return c\n" \
    "kat = [([0]*4, [0]*2, [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]),\n" \
    "       ([M]*4, [M]*2, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]),\n" \
    "       ([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0],\n" \
    "        [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1])]\n" \
    "for ctr, key, want in kat:\n" \
    "    assert philox(ctr, key) == want, 'KAT failed'\n"

#endif
