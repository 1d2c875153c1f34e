"""Poseidon round constants and MDS matrices, generated with the Grain LFSR.

This follows the reference parameter script of the Poseidon paper
(Grassi et al., https://eprint.iacr.org/2019/458, ``generate_parameters_grain.sage``)
with ``field=1`` (prime field), ``sbox=0`` (x^alpha), ``n=254`` bits: an 80-bit
Grain LFSR is seeded from the parameters, warmed up for 160 clocks, and its
output is filtered by the self-shrinking rule (emit the second bit of a pair only
when the first is 1). Round constants are 254-bit draws rejected until below the
prime; the MDS matrix is the Cauchy matrix ``1 / (x_i + y_j)`` over 2t distinct
draws reduced modulo the prime. circomlib's tables come from the same script.
"""

from __future__ import annotations

_STATE_BITS = 80  # Grain LFSR width in the reference script
_WARM_UP = 160  # clocks discarded before the first output bit
_FIELD_PRIME = 1  # "field" parameter: 1 = GF(p)
_SBOX_POWER = 0  # "sbox" parameter: 0 = x^alpha
_CHUNK = 18  # _STATE_BITS - 62: bits computable per step from the current register
_PAIR_BITS = 16  # raw bits filtered per table lookup (8 pairs)
_PAIR_MASK = (1 << _PAIR_BITS) - 1


class GrainLfsr:
    """The self-shrinking Grain LFSR bit source of the reference script."""

    def __init__(self, n_bits: int, t: int, full_rounds: int, partial_rounds: int) -> None:
        # Seed layout, most significant field first: field (2 bits), sbox (4),
        # field size n (12), t (12), R_F (10), R_P (10), then thirty 1 bits.
        fields = [
            (_FIELD_PRIME, 2),
            (_SBOX_POWER, 4),
            (n_bits, 12),
            (t, 12),
            (full_rounds, 10),
            (partial_rounds, 10),
            ((1 << 30) - 1, 30),
        ]
        seed: list[int] = []
        for value, width in fields:
            seed.extend((value >> (width - 1 - k)) & 1 for k in range(width))
        # Bit i of the register is the script's bit_sequence[i]; the oldest bit is bit 0.
        self._state = sum(bit << i for i, bit in enumerate(seed))
        self._raw = 0  # unfiltered bits not yet paired, oldest first (LSB)
        self._raw_len = 0
        self._out = 0  # filtered bits not yet consumed, oldest first (MSB)
        self._out_len = 0
        for _ in range(_WARM_UP // _CHUNK):
            self._clock()
        if _WARM_UP % _CHUNK:
            self._clock(_WARM_UP % _CHUNK)

    def _clock(self, count: int = _CHUNK) -> int:
        """Advance ``count`` clocks (at most _CHUNK); returns the new bits, oldest first."""
        s = self._state
        # Feedback taps 62, 51, 38, 23, 13, 0 (the script's new_bit expression); the
        # nearest tap is 18 positions behind the newest bit, so 18 bits come at once.
        new = ((s >> 62) ^ (s >> 51) ^ (s >> 38) ^ (s >> 23) ^ (s >> 13) ^ s) & ((1 << count) - 1)
        self._state = (s >> count) | (new << (_STATE_BITS - count))
        return new

    def _refill(self) -> None:
        while self._raw_len < _PAIR_BITS:
            self._raw |= self._clock() << self._raw_len
            self._raw_len += _CHUNK
        value, count = _SHRINK[self._raw & _PAIR_MASK]
        self._raw >>= _PAIR_BITS
        self._raw_len -= _PAIR_BITS
        self._out = (self._out << count) | value
        self._out_len += count

    def integer(self, n_bits: int) -> int:
        """The next ``n_bits`` filtered output bits read as a big-endian integer."""
        while self._out_len < n_bits:
            self._refill()
        rest = self._out_len - n_bits
        value = self._out >> rest
        self._out &= (1 << rest) - 1
        self._out_len = rest
        return value


def _shrink_table() -> tuple[tuple[int, int], ...]:
    # Self-shrinking rule on 8 raw pairs (oldest pair in the low bits): a pair
    # (first, second) emits `second` only when `first` is 1.
    table = []
    for raw in range(1 << _PAIR_BITS):
        value = count = 0
        for k in range(0, _PAIR_BITS, 2):
            if (raw >> k) & 1:
                value = (value << 1) | ((raw >> (k + 1)) & 1)
                count += 1
        table.append((value, count))
    return tuple(table)


_SHRINK = _shrink_table()


def generate(
    prime: int, n_bits: int, t: int, full_rounds: int, partial_rounds: int
) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """Round constants (``(R_F + R_P) * t``, flat) and the ``t x t`` MDS matrix."""
    lfsr = GrainLfsr(n_bits, t, full_rounds, partial_rounds)
    constants: list[int] = []
    for _ in range((full_rounds + partial_rounds) * t):
        value = lfsr.integer(n_bits)
        while value >= prime:
            value = lfsr.integer(n_bits)
        constants.append(value)
    return tuple(constants), _cauchy_mds(lfsr, prime, n_bits, t)


def _cauchy_mds(lfsr: GrainLfsr, prime: int, n_bits: int, t: int) -> tuple[tuple[int, ...], ...]:
    while True:
        draws = [lfsr.integer(n_bits) % prime for _ in range(2 * t)]
        while len(set(draws)) != len(draws):
            draws = [lfsr.integer(n_bits) % prime for _ in range(2 * t)]
        xs, ys = draws[:t], draws[t:]
        if all((x + y) % prime for x in xs for y in ys):
            return tuple(tuple(pow(x + y, -1, prime) for y in ys) for x in xs)
