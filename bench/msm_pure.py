"""Time the pure-Python BN254 MSM, NTT and fixed-base batch; prints one line per case.

Run: .venv/bin/python bench/msm_pure.py [--n 4096]
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

from protocol.bn254.curve import G1, G2
from protocol.bn254.fields import R
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from protocol.bn254.msm import msm_g1, msm_g2
from protocol.bn254.ntt import intt, ntt, root_of_unity


def timed(label: str, fn: Callable[[], object], repeat: int = 3) -> float:
    """Best of ``repeat`` runs; prints wall and CPU seconds (CPU is steadier on a busy box)."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(f"{label:<44} {best_wall:8.3f} s wall {best_cpu:8.3f} s cpu")
    return best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=4096, help="MSM size")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    n = args.n

    g1s = g1_fixed_base_batch(G1, [rng.randrange(1, R) for _ in range(n)])
    g2s = g2_fixed_base_batch(G2, [rng.randrange(1, R) for _ in range(n)])
    full = [rng.randrange(R) for _ in range(n)]
    small16 = [rng.randrange(1 << 16) for _ in range(n)]
    signed8 = [rng.randrange(-128, 128) % R for _ in range(n)]
    bits = [rng.randrange(2) for _ in range(n)]

    t_full = timed(f"msm_g1 n={n} 254-bit scalars", lambda: msm_g1(g1s, full))
    t_16 = timed(f"msm_g1 n={n} 16-bit scalars", lambda: msm_g1(g1s, small16))
    timed(f"msm_g1 n={n} signed 8-bit scalars", lambda: msm_g1(g1s, signed8))
    timed(f"msm_g1 n={n} 0/1 scalars", lambda: msm_g1(g1s, bits))
    t_g2 = timed(f"msm_g2 n={n} 254-bit scalars", lambda: msm_g2(g2s, full), 1)
    print(f"{'ratio 254-bit / 16-bit (G1, cpu)':<44} {t_full / t_16:8.1f} x")
    print(f"{'ratio G2 / G1 (254-bit, cpu)':<44} {t_g2 / t_full:8.1f} x")

    for log in (12, 16):
        values = [rng.randrange(R) for _ in range(1 << log)]
        omega = root_of_unity(1 << log)
        timed(f"ntt 2^{log}", lambda v=values, w=omega: ntt(v, w))
        timed(f"intt 2^{log}", lambda v=values, w=omega: intt(v, w))

    scalars = [rng.randrange(R) for _ in range(10_000)]
    timed("g1_fixed_base_batch 10,000 scalars", lambda: g1_fixed_base_batch(G1, scalars), 1)
    timed("g2_fixed_base_batch 1,000 scalars", lambda: g2_fixed_base_batch(G2, scalars[:1000]), 1)


if __name__ == "__main__":
    main()
