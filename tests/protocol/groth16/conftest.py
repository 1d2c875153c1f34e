"""Seeded Groth16 setups shared by the Groth16 tests (never use fixed seeds elsewhere)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protocol.groth16.keys import ProvingKey
from protocol.groth16.setup import ToxicWaste, setup
from protocol.r1cs.system import R1CS
from tests.protocol.circuits import cubic, cubic_witness, product_sum, product_sum_witness


@dataclass(frozen=True)
class Circuit:
    r1cs: R1CS
    pk: ProvingKey
    witness: list[int]

    @property
    def public(self) -> list[int]:
        return self.witness[1 : 1 + self.r1cs.n_public_total]


def seeded(label: str) -> ToxicWaste:
    return ToxicWaste.from_entropy(label.encode().ljust(32, b"."))


@pytest.fixture(scope="session")
def cubic_circuit() -> Circuit:
    r1cs = cubic()
    return Circuit(r1cs, setup(r1cs, seeded("cubic")), cubic_witness(3))


@pytest.fixture(scope="session")
def multi_public_circuit() -> Circuit:
    r1cs = product_sum(4)
    return Circuit(r1cs, setup(r1cs, seeded("product-sum")), product_sum_witness(6, 7, 4))
