from __future__ import annotations

from node.anvil import AnvilProcess, rpc_call


def test_anvil_answers_with_its_chain_id(anvil: AnvilProcess) -> None:
    assert int(str(rpc_call(anvil.rpc_url, "eth_chainId")), 16) == anvil.chain_id
