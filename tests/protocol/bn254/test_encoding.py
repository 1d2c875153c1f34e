from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.bn254 import encoding as e
from protocol.bn254.curve import G1, G2
from protocol.bn254.fields import P, R
from protocol.errors import LocalProtocolError, RemoteProtocolError
from tests.protocol.bn254.helpers import random_g1, random_g2, twist_point_outside_g2


def word(v: int) -> bytes:
    return v.to_bytes(32, "big")


def test_generator_layouts_follow_eip_196_197() -> None:
    assert e.g1_to_bytes(G1) == word(1) + word(2)
    assert G2 is not None
    (x0, x1), (y0, y1) = G2
    assert e.g2_to_bytes(G2) == word(x1) + word(x0) + word(y1) + word(y0)


def test_round_trips(rng: random.Random) -> None:
    for p in [None, G1, random_g1(rng), random_g1(rng)]:
        assert e.g1_from_bytes(e.g1_to_bytes(p)) == p
    for q in [None, G2, random_g2(rng)]:
        assert e.g2_from_bytes(e.g2_to_bytes(q)) == q
    assert e.g1_to_bytes(None) == bytes(64)
    assert e.g2_to_bytes(None) == bytes(128)


@given(st.integers(min_value=0, max_value=R - 1))
def test_scalar_round_trip(k: int) -> None:
    assert e.scalar_from_bytes(e.scalar_to_bytes(k)) == k


@pytest.mark.parametrize("length", [0, 63, 65, 128])
def test_g1_rejects_bad_length(length: int) -> None:
    with pytest.raises(RemoteProtocolError):
        e.g1_from_bytes(bytes(length))


@pytest.mark.parametrize("length", [0, 64, 127, 129])
def test_g2_rejects_bad_length(length: int) -> None:
    with pytest.raises(RemoteProtocolError):
        e.g2_from_bytes(bytes(length))


def test_g1_rejects_off_curve_and_unreduced() -> None:
    with pytest.raises(RemoteProtocolError, match="not on the curve"):
        e.g1_from_bytes(word(1) + word(3))
    with pytest.raises(RemoteProtocolError, match="modulus"):
        e.g1_from_bytes(word(1 + P) + word(2))
    with pytest.raises(RemoteProtocolError, match="modulus"):
        e.g1_from_bytes(word(1) + word(2 + P))
    with pytest.raises(RemoteProtocolError):
        e.g1_from_bytes(word(0) + word(1))


def test_g2_rejects_off_curve_unreduced_and_outside_subgroup(rng: random.Random) -> None:
    good = e.g2_to_bytes(G2)
    bad_y = good[:96] + word((int.from_bytes(good[96:], "big") + 1) % P)
    with pytest.raises(RemoteProtocolError):
        e.g2_from_bytes(bad_y)
    unreduced = word(int.from_bytes(good[:32], "big") + P) + good[32:]
    with pytest.raises(RemoteProtocolError, match="modulus"):
        e.g2_from_bytes(unreduced)
    (x0, x1), (y0, y1) = twist_point_outside_g2(rng)  # type: ignore[misc]
    with pytest.raises(RemoteProtocolError, match="subgroup"):
        e.g2_from_bytes(word(x1) + word(x0) + word(y1) + word(y0))


def test_scalar_rejects_out_of_range() -> None:
    with pytest.raises(RemoteProtocolError):
        e.scalar_from_bytes(word(R))
    with pytest.raises(RemoteProtocolError):
        e.scalar_from_bytes(bytes(31))
    with pytest.raises(LocalProtocolError):
        e.scalar_to_bytes(R)
    with pytest.raises(LocalProtocolError):
        e.scalar_to_bytes(-1)


def test_encoders_refuse_invalid_points(rng: random.Random) -> None:
    with pytest.raises(LocalProtocolError):
        e.g1_to_bytes((1, 3))
    with pytest.raises(LocalProtocolError):
        e.g2_to_bytes(twist_point_outside_g2(rng))
