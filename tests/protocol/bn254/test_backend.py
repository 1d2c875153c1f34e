from __future__ import annotations

import random

import pytest

from protocol.bn254.backend import (
    PureBackend,
    available_backends,
    get_backend,
    register_backend,
)
from protocol.bn254.curve import G1, G2
from protocol.bn254.fields import R
from protocol.bn254.fixed_base import g1_fixed_base_batch, g2_fixed_base_batch
from protocol.bn254.msm import msm_g1, msm_g2
from protocol.bn254.ntt import COSET_SHIFT, coset_intt, coset_ntt, intt, ntt, root_of_unity
from protocol.errors import LocalProtocolError
from tests.protocol.bn254.helpers import random_g1, random_g2


def test_pure_is_the_default_backend() -> None:
    assert "pure" in available_backends()
    assert get_backend("pure").name == "pure"
    assert get_backend().name == available_backends()[0]
    with pytest.raises(LocalProtocolError, match="unknown"):
        get_backend("no-such-backend")


def test_pure_backend_agrees_with_the_functions(rng: random.Random) -> None:
    backend = get_backend("pure")
    g1s = [random_g1(rng) for _ in range(5)] + [None]
    g2s = [random_g2(rng), None, G2]
    scalars = [rng.randrange(R) for _ in range(6)]
    bases1 = backend.load_g1(g1s)
    assert len(bases1) == 6
    assert backend.msm_g1(bases1, scalars) == msm_g1(g1s, scalars)
    assert backend.msm_g1(bases1, [1] * 6) == msm_g1(g1s, [1] * 6)
    assert backend.msm_g2(backend.load_g2(g2s), scalars[:3]) == msm_g2(g2s, scalars[:3])
    assert backend.g1_fixed_base_batch(G1, scalars) == g1_fixed_base_batch(G1, scalars)
    assert backend.g2_fixed_base_batch(G2, scalars[:2]) == g2_fixed_base_batch(G2, scalars[:2])


def test_pure_backend_ntt_flags(rng: random.Random) -> None:
    backend = get_backend("pure")
    values = [rng.randrange(R) for _ in range(16)]
    omega = root_of_unity(16)
    assert backend.ntt(values) == ntt(values, omega)
    assert backend.ntt(values, inverse=True) == intt(values, omega)
    assert backend.ntt(values, coset=True) == coset_ntt(values, omega, COSET_SHIFT)
    assert backend.ntt(values, inverse=True, coset=True) == coset_intt(values, omega, COSET_SHIFT)


def test_bases_from_elsewhere_are_refused() -> None:
    backend = PureBackend()
    with pytest.raises(LocalProtocolError):
        backend.msm_g1(backend.load_g2([G2]), [1])
    with pytest.raises(LocalProtocolError):
        backend.msm_g2(backend.load_g1([G1]), [1])


def test_registered_backend_can_be_preferred() -> None:
    class Named(PureBackend):
        name = "test-named"

    try:
        register_backend("test-named", Named, preferred=True)
        assert available_backends()[0] == "test-named"
        assert get_backend().name == "test-named"
    finally:
        register_backend("test-named", Named, preferred=False)
    assert available_backends()[-1] == "test-named"
