"""Candidate native libraries for BN254 G1 MSM: speed, conversion cost, agreement with pure.

``python -m bench.backend_candidates [N ...]`` times, for each importable
candidate, converting N affine points from Python ints to the library's form,
one N-point G1 MSM with Python-int scalars, and the result's conversion back; it
checks every result against provernet's pure ``msm_g1`` (up to 4,096 points,
slower beyond) or against the first candidate. Times are CPU seconds of this
process (the MSMs run on one thread), less sensitive than wall time to a shared
machine. Candidates: ``zksnake`` (the chosen backend) and ``mclbn256`` (MCL; its
package defaults to a different BN254 curve, so it is re-initialised to
alt_bn128, MCL's ``MCL_BN_SNARK1``). Only zksnake is a project dependency: install
mclbn256 by hand in a scratch environment to include it.
"""

from __future__ import annotations

import ctypes
import json
import random
import sys
import time
from collections.abc import Callable
from typing import Any

from protocol.bn254.curve import G1
from protocol.bn254.fields import R
from protocol.bn254.fixed_base import g1_fixed_base_batch
from protocol.bn254.msm import msm_g1
from protocol.bn254.types import G1Affine

PURE_CHECK_MAX = 4096
MCL_BN_SNARK1 = 4  # mcl/include/mcl/curve_type.h: alt_bn128 (Ethereum's BN254)
MCL_IO_DEC = 10  # mcl ioMode: "1 x y" in decimal


def _cpu(f: Callable[[], Any]) -> tuple[Any, float]:
    start = time.process_time()
    out = f()
    return out, time.process_time() - start


def bench_zksnake(points: list[G1Affine], scalars: list[int]) -> dict[str, Any]:
    """zksnake: arkworks points made from ints; MSM of Python-int scalars."""
    from zksnake._algebra import ec_bn254

    native, load = _cpu(lambda: [ec_bn254.PointG1(*p) for p in points])
    result, msm = _cpu(lambda: ec_bn254.multiscalar_mul_g1(native, scalars))
    value, back = _cpu(lambda: (result.x, result.y))
    return {"load_s": load, "msm_s": msm, "back_s": back, "result": value}


def _mcl() -> Any:
    from mclbn256 import mclbn256 as mcl  # type: ignore[import-not-found]

    lib = mcl.load_library("libmclbn256")
    if lib.mclBn_init(MCL_BN_SNARK1, mcl.MCLBN_COMPILED_TIME_VAR):
        raise RuntimeError("mclBn_init(MCL_BN_SNARK1) failed")
    return mcl, lib


def bench_mclbn256(points: list[G1Affine], scalars: list[int]) -> dict[str, Any]:
    """MCL through mclbn256's ctypes library: decimal strings in, mulVec, string out."""
    mcl, lib = _mcl()
    n = len(points)
    g1_array, fr_array = mcl.G1 * n, mcl.Fr * n

    def load() -> Any:
        arr = g1_array()
        for i, (x, y) in enumerate(points):  # type: ignore[misc]
            text = f"1 {x} {y}".encode()
            if lib.mclBnG1_setStr(ctypes.byref(arr[i]), text, len(text), MCL_IO_DEC):
                raise ValueError("mcl refused a point")
        return arr

    def scalars_in() -> Any:
        arr = fr_array()
        for i, k in enumerate(scalars):
            raw = k.to_bytes(32, "little")
            lib.mclBnFr_setLittleEndianMod(ctypes.byref(arr[i]), raw, 32)
        return arr

    bases, load_s = _cpu(load)
    frs, scalars_s = _cpu(scalars_in)
    out = mcl.G1()
    _, msm = _cpu(lambda: lib.mclBnG1_mulVec(ctypes.byref(out), bases, frs, n))

    def back() -> G1Affine:
        lib.mclBnG1_normalize(ctypes.byref(out), ctypes.byref(out))
        buf = ctypes.create_string_buffer(1024)
        size = lib.mclBnG1_getStr(buf, 1024, ctypes.byref(out), MCL_IO_DEC)
        _, x, y = buf.raw[:size].decode().split()
        return int(x), int(y)

    value, back_s = _cpu(back)
    return {"load_s": load_s, "scalars_s": scalars_s, "msm_s": msm, "back_s": back_s,
            "result": value}  # fmt: skip


CANDIDATES = {"zksnake": bench_zksnake, "mclbn256": bench_mclbn256}


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line per (candidate, size)."""
    sizes = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or [4096, 65536]
    rng = random.Random(20261121)
    for n in sizes:
        scalars = [rng.randrange(R) for _ in range(n)]
        points = g1_fixed_base_batch(G1, [rng.randrange(1, R) for _ in range(n)])
        expected = msm_g1(points, scalars) if n <= PURE_CHECK_MAX else None
        for name, bench in CANDIDATES.items():
            try:
                got = bench(points, scalars)
            except ImportError as exc:
                print(json.dumps({"candidate": name, "n": n, "skipped": str(exc)}))
                continue
            expected = got["result"] if expected is None else expected
            row = {k: round(v, 4) for k, v in got.items() if k != "result"}
            row |= {"agrees": got["result"] == expected}
            print(json.dumps({"candidate": name, "n": n, **row}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
