#!/usr/bin/python3
"""numpy's float16 conversions for tests/lua/half_spec.lua: writes tests/data/half_numpy.json.

Run with /usr/bin/python3 (numpy); tide does not need numpy, the spec only reads the committed
file. Each case is an input double (written as the hex of its 64-bit pattern, as JSON has no
NaN or inf) with numpy's float16 bits for it (float64 -> float16 directly, round to nearest
even), numpy's float16 bits of its float32 (f32 -> f16, tide's fast path), and the bfloat16 bits of its float32 by the rounding rule of the bf16 format (add 0x7fff
plus the lowest kept bit to the f32 pattern, keep the top 16 bits; NaN stays a quiet NaN).
The inputs cover normals, subnormals, the overflow edge, ties in both directions, signed zero,
inf and NaN, and a few hundred random doubles of every magnitude."""
import json
import os
import struct

import numpy as np

CASES = [0.0, -0.0, 1.0, -1.0, 0.1, 1 / 3, 2.5, 65504.0, 65519.99, 65520.0, 1e5, -1e5,
         2.0 ** -14, 2.0 ** -24, 2.0 ** -25, 2.0 ** -25 * 1.0000001, 3 * 2.0 ** -25,
         2.0 ** -15 + 2.0 ** -25, 1e-8, 6e-8, 1e-7, 1e-5, 6.1e-5,
         1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11, 1 + 2.0 ** -11 + 2.0 ** -40, 2049.0, 2051.0,
         1 + 2.0 ** -8, 1 + 3 * 2.0 ** -8, 3.0e38, 3.4e38, 1e-39, 1e-45,
         float("inf"), float("-inf"), float("nan")]


def bf16_bits(x):
    b = struct.unpack("<I", struct.pack("<f", np.float32(x)))[0]
    if (b & 0x7FFFFFFF) > 0x7F800000:
        return (b >> 16) | 0x40
    return ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) & 0xFFFF


def main():
    rng = np.random.default_rng(19)
    randoms = rng.standard_normal(300) * np.exp2(rng.integers(-30, 20, 300))
    cases = []
    with np.errstate(over="ignore"):
        for x in CASES + [float(v) for v in randoms]:
            f16 = int(np.array([x], dtype=np.float64).astype(np.float16).view(np.uint16)[0])
            f16_32 = int(np.array([x], dtype=np.float32).astype(np.float16).view(np.uint16)[0])
            cases.append({"x": struct.pack(">d", x).hex(), "f16": f16, "f16_of_f32": f16_32,
                          "bf16": bf16_bits(x),
                          "f16_value": float(np.float16(x)) if np.isfinite(np.float16(x)) else None})
    out = {"numpy": np.__version__, "cases": cases}
    path = os.path.join(os.path.dirname(__file__), "..", "data", "half_numpy.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=0)
        f.write("\n")


if __name__ == "__main__":
    main()
