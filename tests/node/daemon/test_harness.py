"""The harness's own promises."""

from __future__ import annotations

import time

from node.anvil import AnvilProcess, rpc_call
from tests.node.daemon.harness import catch_up_clock


def block_time(anvil: AnvilProcess) -> int:
    rpc_call(anvil.rpc_url, "evm_mine")
    return int(rpc_call(anvil.rpc_url, "eth_getBlockByNumber", ["latest", False])["timestamp"], 16)


def test_a_chain_clock_rewound_by_a_revert_is_caught_up(anvil: AnvilProcess) -> None:
    snapshot = rpc_call(anvil.rpc_url, "evm_snapshot")
    try:
        rpc_call(anvil.rpc_url, "evm_setTime", [int(time.time()) - 600])  # as after a revert
        assert block_time(anvil) < time.time() - 500
        catch_up_clock(anvil)
        assert abs(block_time(anvil) - time.time()) <= 2
        ahead = int(time.time()) + 3600  # a chain ahead of us is left alone
        rpc_call(anvil.rpc_url, "evm_setTime", [ahead])
        catch_up_clock(anvil)
        assert block_time(anvil) >= ahead
    finally:
        rpc_call(anvil.rpc_url, "evm_revert", [snapshot])
        catch_up_clock(anvil)
