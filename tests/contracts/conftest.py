"""Contract-test fixtures: real Groth16 proofs and one deployment on the session's anvil.

Each test gets the deployment inside an anvil snapshot that is reverted afterwards,
so tests are independent and the expensive set-up happens once.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from node.anvil import AnvilProcess
from tests.contracts.chain import revert_to, snapshot
from tests.contracts.circuits import ProvedCircuit, prove_toy_circuit
from tests.contracts.deployment import Deployment, deploy_all

# Public-signal counts under test, with how many distinct proofs each needs.
PROOFS_PER_CIRCUIT = {1: 2, 3: 3, 11: 1}


@pytest.fixture(scope="session")
def circuits() -> dict[int, ProvedCircuit]:
    """Toy circuits with protocol.groth16 keys and proofs, made once per session."""
    return {n: prove_toy_circuit(n, k) for n, k in PROOFS_PER_CIRCUIT.items()}


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess) -> Web3:
    """A web3 client of the session's anvil."""
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


@pytest.fixture(scope="session")
def deployed(w3: Web3, circuits: dict[int, ProvedCircuit]) -> Deployment:
    """The contracts, deployed once per session."""
    return deploy_all(w3, circuits)


@pytest.fixture
def chain(deployed: Deployment) -> Iterator[Deployment]:
    """The deployment, with every change the test makes reverted afterwards."""
    snapshot_id = snapshot(deployed.w3)
    yield deployed
    revert_to(deployed.w3, snapshot_id)
