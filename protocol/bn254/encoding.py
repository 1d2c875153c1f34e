"""EVM byte layouts of BN254 values (EIP-196/197): big-endian 32-byte words.

A G1 point is ``x || y`` (64 bytes), a G2 point ``x.c1 || x.c0 || y.c1 || y.c0``
(128 bytes, imaginary part first), and infinity is all zero bytes in both. The
decoders validate everything an attacker controls and raise RemoteProtocolError.
"""

from __future__ import annotations

from protocol.bn254.curve import g1_is_on_curve, g2_in_subgroup, g2_is_on_curve
from protocol.bn254.fields import P, R
from protocol.bn254.types import Fq2, G1Affine, G2Affine
from protocol.errors import LocalProtocolError, RemoteProtocolError

WORD = 32
G1_BYTES = 2 * WORD
G2_BYTES = 4 * WORD


def _word(value: int) -> bytes:
    return value.to_bytes(WORD, "big")


def _words(data: bytes, count: int, what: str) -> list[int]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise RemoteProtocolError(f"{what}: expected bytes, got {type(data).__name__}")
    if len(data) != count * WORD:
        raise RemoteProtocolError(f"{what}: expected {count * WORD} bytes, got {len(data)}")
    values = [int.from_bytes(data[i * WORD : (i + 1) * WORD], "big") for i in range(count)]
    if any(v >= P for v in values):
        raise RemoteProtocolError(f"{what}: coordinate is not below the field modulus")
    return values


def g1_to_bytes(p: G1Affine) -> bytes:
    """The 64-byte EIP-196 encoding of a G1 point (infinity is 64 zero bytes)."""
    if p is None:
        return bytes(G1_BYTES)
    if not g1_is_on_curve(p):
        raise LocalProtocolError("g1_to_bytes: point is not on G1")
    return _word(p[0]) + _word(p[1])


def g1_from_bytes(data: bytes) -> G1Affine:
    """Decode a 64-byte EIP-196 G1 point; bad length, range or curve raises."""
    x, y = _words(data, 2, "G1 point")
    if x == 0 and y == 0:
        return None
    point = (x, y)
    if not g1_is_on_curve(point):
        raise RemoteProtocolError("G1 point is not on the curve")
    return point


def _fq2_to_bytes(a: Fq2) -> bytes:
    return _word(a[1]) + _word(a[0])


def g2_to_bytes(p: G2Affine) -> bytes:
    """The 128-byte EIP-197 encoding of a G2 point: x.c1, x.c0, y.c1, y.c0."""
    if p is None:
        return bytes(G2_BYTES)
    if not g2_in_subgroup(p):
        raise LocalProtocolError("g2_to_bytes: point is not in G2")
    return _fq2_to_bytes(p[0]) + _fq2_to_bytes(p[1])


def g2_from_bytes(data: bytes) -> G2Affine:
    """Decode a 128-byte EIP-197 G2 point; bad length, range, curve or subgroup raises."""
    x1, x0, y1, y0 = _words(data, 4, "G2 point")
    if x0 == x1 == y0 == y1 == 0:
        return None
    point = ((x0, x1), (y0, y1))
    if not g2_in_subgroup(point):
        raise RemoteProtocolError("G2 point is not on the twist or not in the order-R subgroup")
    return point


def scalar_to_bytes(k: int) -> bytes:
    """The 32-byte big-endian encoding of a scalar in ``[0, R)``."""
    if not 0 <= k < R:
        raise LocalProtocolError("scalar_to_bytes: scalar is not in [0, R)")
    return _word(k)


def scalar_from_bytes(data: bytes) -> int:
    """Decode a 32-byte big-endian scalar; a wrong length or a value ``>= R`` raises."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) != WORD:
        raise RemoteProtocolError("scalar: expected 32 bytes")
    k = int.from_bytes(data, "big")
    if k >= R:
        raise RemoteProtocolError("scalar is not below the group order R")
    return k


# --- snarkjs's binary files --------------------------------------------------
#
# ``.ptau`` and ``.zkey`` store points "LEM": affine coordinates in Montgomery form
# (``x * 2^256 mod q``) as 32-byte little-endian words, G2 coordinates ``c0`` then
# ``c1``, and infinity as all zero bytes (not a curve point, since b != 0).

_MONT = pow(2, 256, P)
_MONT_INV = pow(_MONT, -1, P)


def _lem_words(data: bytes, offset: int, count: int, what: str) -> list[int]:
    end = offset + count * WORD
    if len(data) < end:
        raise RemoteProtocolError(f"{what}: truncated")
    words = [int.from_bytes(data[i : i + WORD], "little") for i in range(offset, end, WORD)]
    if any(w >= P for w in words):
        raise RemoteProtocolError(f"{what}: coordinate is not below the field modulus")
    return [w * _MONT_INV % P for w in words]


def _lem_word(value: int) -> bytes:
    return (value * _MONT % P).to_bytes(WORD, "little")


def g1_to_lem(p: G1Affine) -> bytes:
    """The 64-byte snarkjs (Montgomery, little-endian) encoding of a G1 point."""
    if p is None:
        return bytes(G1_BYTES)
    return _lem_word(p[0]) + _lem_word(p[1])


def g2_to_lem(p: G2Affine) -> bytes:
    """The 128-byte snarkjs encoding of a G2 point: x.c0, x.c1, y.c0, y.c1."""
    if p is None:
        return bytes(G2_BYTES)
    (x0, x1), (y0, y1) = p
    return b"".join(_lem_word(v) for v in (x0, x1, y0, y1))


def g1_batch_from_lem(data: bytes, offset: int, count: int, what: str) -> list[G1Affine]:
    """``count`` G1 points from ``data[offset:]``; each is checked on the curve."""
    words = _lem_words(data, offset, 2 * count, what)
    out: list[G1Affine] = []
    for i in range(count):
        x, y = words[2 * i], words[2 * i + 1]
        if x == 0 and y == 0:
            out.append(None)
            continue
        point = (x, y)
        if not g1_is_on_curve(point):
            raise RemoteProtocolError(f"{what}[{i}] is not on G1")
        out.append(point)
    return out


def g2_batch_from_lem(
    data: bytes, offset: int, count: int, what: str, *, subgroup: bool
) -> list[G2Affine]:
    """``count`` G2 points from ``data[offset:]``, each checked on the twist and, when
    ``subgroup`` is set, in the order-R subgroup (a scalar multiplication each)."""
    words = _lem_words(data, offset, 4 * count, what)
    out: list[G2Affine] = []
    for i in range(count):
        x0, x1, y0, y1 = words[4 * i : 4 * i + 4]
        if x0 == x1 == y0 == y1 == 0:
            out.append(None)
            continue
        point = ((x0, x1), (y0, y1))
        valid = g2_in_subgroup(point) if subgroup else g2_is_on_curve(point)
        if not valid:
            where = "in G2" if subgroup else "on the G2 twist"
            raise RemoteProtocolError(f"{what}[{i}] is not {where}")
        out.append(point)
    return out
