"""snarkjs's JSON files: verification_key.json, proof.json and public.json.

Numbers are decimal strings; points are projective triples in affine form
(G1 ``[x, y, "1"]``, G2 ``[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]``, real part
first) and infinity has ``z = 0``. ``vk_alphabeta_12`` is not written: snarkjs
0.7.6's ``groth16 verify`` recomputes the pairing and never reads it; readers
ignore it. Readers raise RemoteProtocolError naming the offending field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from protocol.bn254.curve import g1_is_on_curve, g2_in_subgroup
from protocol.bn254.fields import P, R
from protocol.bn254.types import Fq2, G1Affine, G2Affine
from protocol.errors import RemoteProtocolError
from protocol.groth16.keys import Proof, VerifyingKey

PROTOCOL = "groth16"
CURVE = "bn128"  # snarkjs's name for BN254 / alt_bn128
_DECIMAL = re.compile(r"(0|[1-9][0-9]{0,79})")  # at most 80 digits: far above 2^254


def _dec(x: int) -> str:
    return str(x)


def g1_to_json(p: G1Affine) -> list[str]:
    """``[x, y, "1"]``, or ``["0", "1", "0"]`` for infinity."""
    if p is None:
        return ["0", "1", "0"]
    return [_dec(p[0]), _dec(p[1]), "1"]


def g2_to_json(p: G2Affine) -> list[list[str]]:
    """``[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]``, or z = 0 for infinity."""
    if p is None:
        return [["0", "0"], ["1", "0"], ["0", "0"]]
    (x0, x1), (y0, y1) = p
    return [[_dec(x0), _dec(x1)], [_dec(y0), _dec(y1)], ["1", "0"]]


def vk_to_json(vk: VerifyingKey) -> dict[str, Any]:
    """The snarkjs ``verification_key.json`` object for ``vk``."""
    return {
        "protocol": PROTOCOL,
        "curve": CURVE,
        "nPublic": vk.n_public,
        "vk_alpha_1": g1_to_json(vk.alpha_g1),
        "vk_beta_2": g2_to_json(vk.beta_g2),
        "vk_gamma_2": g2_to_json(vk.gamma_g2),
        "vk_delta_2": g2_to_json(vk.delta_g2),
        "IC": [g1_to_json(p) for p in vk.gamma_abc_g1],
    }


def proof_to_json(proof: Proof) -> dict[str, Any]:
    """The snarkjs ``proof.json`` object for ``proof``."""
    return {
        "pi_a": g1_to_json(proof.a),
        "pi_b": g2_to_json(proof.b),
        "pi_c": g1_to_json(proof.c),
        "protocol": PROTOCOL,
        "curve": CURVE,
    }


def public_to_json(public: Sequence[int]) -> list[str]:
    """The snarkjs ``public.json`` array: decimal strings in signal order."""
    return [_dec(x) for x in public]


# --- readers ----------------------------------------------------------------


def _number(value: object, what: str, bound: int) -> int:
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise RemoteProtocolError(f"{what}: expected a decimal string, got {value!r:.60}")
    n = int(value)
    if n >= bound:
        raise RemoteProtocolError(f"{what}: {n} is out of range")
    return n


def _list(value: object, length: int | None, what: str) -> list[Any]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        expected = "a list" if length is None else f"a list of {length}"
        raise RemoteProtocolError(f"{what}: expected {expected}")
    return value


def g1_from_json(value: object, what: str) -> G1Affine:
    """Parse a G1 point; off-curve points and non-affine triples raise."""
    x, y, z = (_number(v, what, P) for v in _list(value, 3, what))
    if z == 0:
        return None
    if z != 1:
        raise RemoteProtocolError(f"{what}: z must be 1 (affine) or 0 (infinity)")
    if not g1_is_on_curve((x, y)):
        raise RemoteProtocolError(f"{what}: point is not on G1")
    return (x, y)


def _fq2(value: object, what: str) -> Fq2:
    c0, c1 = (_number(v, what, P) for v in _list(value, 2, what))
    return (c0, c1)


def g2_from_json(value: object, what: str) -> G2Affine:
    """Parse a G2 point; points off the twist or outside the subgroup raise."""
    x, y, z = (_fq2(v, what) for v in _list(value, 3, what))
    if z == (0, 0):
        return None
    if z != (1, 0):
        raise RemoteProtocolError(f"{what}: z must be 1 (affine) or 0 (infinity)")
    if not g2_in_subgroup((x, y)):
        raise RemoteProtocolError(f"{what}: point is not in G2")
    return (x, y)


def _object(obj: object, what: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict):
        raise RemoteProtocolError(f"{what}: expected a JSON object")
    for key, want in (("protocol", PROTOCOL), ("curve", CURVE)):
        if key in obj and obj[key] != want:
            raise RemoteProtocolError(f"{what}.{key}: expected {want!r}, got {obj[key]!r:.40}")
    return obj


def _field(obj: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in obj:
        raise RemoteProtocolError(f"{what}: missing {key}")
    return obj[key]


def vk_from_json(obj: object) -> VerifyingKey:
    """Parse a snarkjs ``verification_key.json`` object (Groth16 on bn128)."""
    vk = _object(obj, "verification key")
    if vk.get("protocol") != PROTOCOL:
        raise RemoteProtocolError("verification key: protocol must be 'groth16'")
    n_public = _field(vk, "nPublic", "verification key")
    if not isinstance(n_public, int) or isinstance(n_public, bool) or n_public < 0:
        raise RemoteProtocolError("verification key: nPublic must be a non-negative integer")
    ic = _list(_field(vk, "IC", "verification key"), n_public + 1, "verification key IC")
    return VerifyingKey(
        alpha_g1=g1_from_json(_field(vk, "vk_alpha_1", "verification key"), "vk_alpha_1"),
        beta_g2=g2_from_json(_field(vk, "vk_beta_2", "verification key"), "vk_beta_2"),
        gamma_g2=g2_from_json(_field(vk, "vk_gamma_2", "verification key"), "vk_gamma_2"),
        delta_g2=g2_from_json(_field(vk, "vk_delta_2", "verification key"), "vk_delta_2"),
        gamma_abc_g1=tuple(g1_from_json(p, f"IC[{i}]") for i, p in enumerate(ic)),
    )


def proof_from_json(obj: object) -> Proof:
    """Parse a snarkjs ``proof.json`` object (Groth16 on bn128)."""
    proof = _object(obj, "proof")
    return Proof(
        a=g1_from_json(_field(proof, "pi_a", "proof"), "pi_a"),
        b=g2_from_json(_field(proof, "pi_b", "proof"), "pi_b"),
        c=g1_from_json(_field(proof, "pi_c", "proof"), "pi_c"),
    )


def public_from_json(obj: object) -> list[int]:
    """Parse a snarkjs ``public.json`` array of decimal strings, each below R."""
    items = _list(obj, None, "public signals")
    return [_number(x, f"public signal {i}", R) for i, x in enumerate(items)]
