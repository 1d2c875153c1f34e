"""Small hand-built circuits shared by the R1CS-format and Groth16 tests."""

from __future__ import annotations

from protocol.r1cs.system import R1CS, ConstraintSystem, LinearCombination, R


def cubic() -> R1CS:
    """``x^3 + x + 5 = out`` with ``out`` public and ``x`` a private input."""
    cs = ConstraintSystem()
    out = LinearCombination.wire(cs.alloc_public())
    x = LinearCombination.wire(cs.alloc_private_input())
    x2 = LinearCombination.wire(cs.alloc())
    x3 = LinearCombination.wire(cs.alloc())
    cs.enforce(x, x, x2)
    cs.enforce(x2, x, x3)
    cs.enforce(x3 + x + 5, LinearCombination.constant(1), out)
    return cs.finish()


def cubic_witness(x: int) -> list[int]:
    """The full witness of ``cubic()`` for the private input ``x``."""
    x %= R
    return [1, (x**3 + x + 5) % R, x, x * x % R, x**3 % R]


def product_sum(n_public: int = 3) -> R1CS:
    """Public ``p = a * b`` and ``s = a + b`` for private a, b, plus ``n_public - 2``
    public values ``c_k`` each tied by ``c_k = a * k``."""
    cs = ConstraintSystem()
    pub = [LinearCombination.wire(cs.alloc_public()) for _ in range(n_public)]
    a = LinearCombination.wire(cs.alloc_private_input())
    b = LinearCombination.wire(cs.alloc_private_input())
    cs.enforce(a, b, pub[0])
    cs.enforce_equal(a + b, pub[1])
    for k, c in enumerate(pub[2:], start=2):
        cs.enforce(a, LinearCombination.constant(k), c)
    return cs.finish()


def product_sum_witness(a: int, b: int, n_public: int = 3) -> list[int]:
    """The full witness of ``product_sum(n_public)``."""
    extra = [a * k % R for k in range(2, n_public)]
    return [1, a * b % R, (a + b) % R, *extra, a % R, b % R]


def small_values(n_constraints: int, n_public: int = 2) -> tuple[R1CS, list[int]]:
    """A circuit of about ``n_constraints`` rows (byte products and bit checks) whose
    witness values are mostly small, like a quantized ML circuit's."""
    cs = ConstraintSystem()
    pubs = [cs.alloc_public() for _ in range(n_public)]
    inputs = [cs.alloc_private_input() for _ in range(64)]
    values = {0: 1} | {w: (37 * k + 11) % 256 for k, w in enumerate(inputs)}
    products = []
    for i in range(n_constraints - n_public):
        wire = cs.alloc()
        if i % 2:
            values[wire] = (i // 2) % 2
            cs.enforce_bit(wire)
            continue
        left, right = inputs[i % 64], inputs[(i // 2 + 1) % 64]
        values[wire] = values[left] * values[right]
        wires = [LinearCombination.wire(w) for w in (left, right, wire)]
        cs.enforce(*wires)
        products.append(wire)
    total = LinearCombination.sum_of((w, 1) for w in products)
    for k, pub in enumerate(pubs, start=1):
        values[pub] = k * sum(values[w] for w in products) % R
        cs.enforce(total, LinearCombination.constant(k), LinearCombination.wire(pub))
    r1cs = cs.finish()
    return r1cs, [values[w] for w in range(r1cs.n_wires)]
