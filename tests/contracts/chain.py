"""web3.py helpers for the contract tests: artifacts, deployment, reverts, time, bids, storage.

Artifacts come from contracts/build, or from the folder named by $PROVERNET_CONTRACTS_BUILD
(bench.contract_mutation points it at a mutated build).
"""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractCustomError, ContractLogicError
from web3.logs import DISCARD
from web3.types import RPCEndpoint, TxReceipt

BUILD = Path(__file__).resolve().parents[2] / "contracts" / "build"
BUILD_ENV = "PROVERNET_CONTRACTS_BUILD"
TX_GAS = 2_000_000  # a fixed limit above any single call here (submitProof, 11 signals: ~0.3M)


def build_dir() -> Path:
    """Where artifacts are read from: $PROVERNET_CONTRACTS_BUILD if set, else contracts/build."""
    override = os.environ.get(BUILD_ENV)
    return Path(override) if override else BUILD


def artifact(name: str) -> dict[str, Any]:
    """A compiled artifact: <build>/<name>.json or <build>/test/<name>.json (see build_dir)."""
    build = build_dir()
    path = build / f"{name}.json"
    if not path.is_file():
        path = build / "test" / f"{name}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def deploy(w3: Web3, name: str, *args: Any, sender: str) -> Contract:
    """Deploy an artifact from ``sender`` and return the bound contract."""
    art = artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    receipt = wait(w3, factory.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"])


def wait(w3: Web3, tx_hash: bytes) -> TxReceipt:
    """The receipt of a mined transaction; fails the test if it reverted."""
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"transaction reverted: {receipt}"
    return receipt


def send(w3: Web3, call: Any, sender: str, value: int = 0) -> TxReceipt:
    """Transact a bound contract call from an unlocked anvil account."""
    return wait(w3, call.transact({"from": sender, "value": value}))


def transact(
    w3: Web3, call: Any, sender: str, value: int = 0, gas: int = TX_GAS, **fields: Any
) -> TxReceipt:
    """Mine ``call`` from ``sender`` with a fixed gas limit (no estimate, so a transaction that
    will revert is still mined); returns the receipt, whose status may be 0."""
    tx_hash = call.transact({"from": sender, "value": value, "gas": gas, **fields})
    return w3.eth.wait_for_transaction_receipt(tx_hash)


def transact_at(
    w3: Web3, timestamp: int, call: Any, sender: str, value: int = 0, gas: int = TX_GAS
) -> TxReceipt:
    """``transact`` in a block stamped exactly ``timestamp``."""
    next_tx_at(w3, timestamp)
    return transact(w3, call, sender, value, gas)


def gas_cost(receipt: TxReceipt) -> int:
    """Wei a transaction's sender paid for gas."""
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def trace_transaction(w3: Web3, tx_hash: bytes) -> dict[str, Any]:
    """The call tree of a mined transaction (debug_traceTransaction, callTracer)."""
    trace: dict[str, Any] = rpc(
        w3, "debug_traceTransaction", [Web3.to_hex(tx_hash), {"tracer": "callTracer"}]
    )
    return trace


def trace_call(w3: Web3, tx: dict[str, Any]) -> dict[str, Any]:
    """The call tree of ``tx`` run on the latest state without mining (debug_traceCall)."""
    request = {k: Web3.to_hex(v) if isinstance(v, int) else v for k, v in tx.items()}
    trace: dict[str, Any] = rpc(
        w3, "debug_traceCall", [request, "latest", {"tracer": "callTracer"}]
    )
    return trace


def calls_to(trace: dict[str, Any], address: str) -> int:
    """How many frames of a call tree (the root included) call ``address``."""
    own = int(str(trace.get("to", "")).lower() == address.lower())
    return own + sum(calls_to(sub, address) for sub in trace.get("calls", []))


def mined_revert_data(w3: Web3, receipt: TxReceipt) -> bytes:
    """The revert data of a mined transaction that reverted, replayed where it was mined."""
    assert receipt["status"] == 0, "the transaction did not revert"
    output = trace_transaction(w3, receipt["transactionHash"]).get("output", "0x")
    return bytes.fromhex(str(output).removeprefix("0x"))


def assert_mined_reverts(contract: Contract, name: str, receipt: TxReceipt) -> bytes:
    """Check a mined transaction reverted with ``contract``'s custom error ``name``."""
    data = mined_revert_data(contract.w3, receipt)
    assert data[:4] == error_selector(contract.abi, name), f"expected {name}, got 0x{data.hex()}"
    return data[4:]


def events(contract: Contract, name: str, receipt: TxReceipt) -> list[dict[str, Any]]:
    """The arguments of ``contract``'s ``name`` events in ``receipt`` (other logs skipped)."""
    logs = contract.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def rpc_batch(w3: Web3, requests: Sequence[tuple[str, list[Any]]]) -> list[Any]:
    """Several JSON-RPC calls in one HTTP round trip; results in request order."""
    body = [
        {"jsonrpc": "2.0", "id": i, "method": method, "params": params}
        for i, (method, params) in enumerate(requests)
    ]
    url = str(w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        replies = sorted(json.loads(response.read()), key=lambda r: int(r["id"]))
    for reply in replies:
        assert "error" not in reply, reply
    return [reply["result"] for reply in replies]


def call_words(contract: Contract, signature: str, *args: str | int) -> tuple[str, list[Any]]:
    """An eth_call request for ``contract.signature(args)`` with address/uint arguments."""
    data = keccak(text=signature)[:4] + b"".join(
        int(a, 16).to_bytes(32, "big") if isinstance(a, str) else a.to_bytes(32, "big")
        for a in args
    )
    return "eth_call", [{"to": contract.address, "data": "0x" + data.hex()}, "latest"]


def words(result: str) -> list[int]:
    """An eth_call result split into uint256 words."""
    raw = bytes.fromhex(result.removeprefix("0x"))
    return [int.from_bytes(raw[i : i + 32], "big") for i in range(0, len(raw), 32)]


def error_selector(abi: Sequence[dict[str, Any]], name: str) -> bytes:
    """The 4-byte selector of the custom error ``name`` declared in ``abi``."""
    for item in abi:
        if item["type"] == "error" and item["name"] == name:
            types = ",".join(inp["type"] for inp in item["inputs"])
            return keccak(text=f"{name}({types})")[:4]
    raise KeyError(f"no error {name} in the ABI")


def revert_data(action: Callable[[], object]) -> bytes:
    """Run ``action`` (a transact or call) and return its revert data; fails if it succeeds."""
    with pytest.raises((ContractCustomError, ContractLogicError)) as info:
        action()
    data = info.value.data
    if isinstance(data, dict):  # web3 reports some reverts as {"data": "0x..."}
        data = data.get("data")
    assert isinstance(data, str), f"no revert data in {info.value!r}"
    return bytes.fromhex(data.removeprefix("0x"))


def assert_reverts(contract: Contract, name: str, action: Callable[[], object]) -> bytes:
    """Run ``action`` and check it reverted with ``contract``'s custom error ``name``."""
    data = revert_data(action)
    assert data[:4] == error_selector(contract.abi, name), f"expected {name}, got 0x{data.hex()}"
    return data[4:]


def now(w3: Web3) -> int:
    """The latest block's timestamp."""
    return int(w3.eth.get_block("latest")["timestamp"])


def rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    """One raw JSON-RPC call (anvil's evm_* methods); returns its result."""
    reply = w3.provider.make_request(RPCEndpoint(method), params)
    assert "error" not in reply, reply
    return reply["result"]


def snapshot(w3: Web3) -> str:
    """Take an anvil snapshot; returns its id."""
    return str(rpc(w3, "evm_snapshot", []))


def revert_to(w3: Web3, snapshot_id: str) -> None:
    """Return the chain to a snapshot (which is consumed)."""
    assert rpc(w3, "evm_revert", [snapshot_id]) is True


def set_time(w3: Web3, timestamp: int) -> None:
    """Mine an empty block at ``timestamp``; the next transaction lands at or after it."""
    rpc(w3, "evm_mine", [timestamp])


def next_tx_at(w3: Web3, timestamp: int) -> None:
    """Make the next mined block carry exactly ``timestamp``."""
    rpc(w3, "evm_setNextBlockTimestamp", [timestamp])


def mapping_slot(key: str | int, slot: int) -> int:
    """The storage slot of ``mapping[key]`` for a mapping declared at ``slot`` (solc layout)."""
    word = int(key, 16) if isinstance(key, str) else key
    return int.from_bytes(keccak(word.to_bytes(32, "big") + slot.to_bytes(32, "big")), "big")


def storage_at(w3: Web3, address: str, slot: int) -> int:
    """One storage word of a contract."""
    return int(rpc(w3, "eth_getStorageAt", [address, Web3.to_hex(slot), "latest"]), 16)


def set_storage_at(w3: Web3, address: str, slot: int, value: int) -> None:
    """Overwrite one storage word of a contract (anvil_setStorageAt)."""
    word = "0x" + value.to_bytes(32, "big").hex()
    assert rpc(w3, "anvil_setStorageAt", [address, Web3.to_hex(slot), word]) is True


def set_balance(w3: Web3, address: str, wei: int) -> None:
    """Give an account exactly ``wei`` of ether (anvil_setBalance)."""
    rpc(w3, "anvil_setBalance", [address, Web3.to_hex(wei)])


@dataclass(frozen=True)
class Signer:
    """An anvil dev account with its private key (for EIP-712 bids)."""

    address: str
    key: str


BID_TYPE = [
    {"name": "jobId", "type": "uint256"},
    {"name": "prover", "type": "address"},
    {"name": "fee", "type": "uint256"},
    {"name": "expiry", "type": "uint64"},
    {"name": "requester", "type": "address"},
    {"name": "modelId", "type": "uint256"},
    {"name": "inputCommitment", "type": "uint256"},
    {"name": "collateral", "type": "uint256"},
    {"name": "acceptWindow", "type": "uint32"},
    {"name": "proofWindow", "type": "uint32"},
]


@dataclass(frozen=True)
class Terms:
    """The job terms a bid covers (IJobMarket.Bid after jobId, prover, fee and expiry)."""

    requester: str
    model_id: int
    input_commitment: int
    collateral: int
    accept_window: int
    proof_window: int


def bid_tuple(job_id: int, prover: str, fee: int, expiry: int, terms: Terms) -> tuple[Any, ...]:
    """IJobMarket.Bid as the ABI tuple awardJob takes."""
    return (
        job_id,
        prover,
        fee,
        expiry,
        terms.requester,
        terms.model_id,
        terms.input_commitment,
        terms.collateral,
        terms.accept_window,
        terms.proof_window,
    )


def bid_digest_message(
    market_address: str, chain_id: int, bid: tuple[Any, ...], version: str = "2"
) -> dict[str, Any]:
    """The EIP-712 typed data of a Bid tuple (for eth_account's encode_typed_data)."""
    return {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Bid": BID_TYPE,
        },
        "primaryType": "Bid",
        "domain": {
            "name": "provernet JobMarket",
            "version": version,
            "chainId": chain_id,
            "verifyingContract": market_address,
        },
        "message": {field["name"]: value for field, value in zip(BID_TYPE, bid, strict=True)},
    }


def bid_digest(
    market_address: str, chain_id: int, bid: tuple[Any, ...], version: str = "2"
) -> bytes:
    """The 32-byte EIP-712 digest of a Bid tuple, computed off-chain by eth_account."""
    signable = encode_typed_data(
        full_message=bid_digest_message(market_address, chain_id, bid, version)
    )
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


def bid_signature(
    signer: Signer, market_address: str, chain_id: int, bid: tuple[Any, ...], version: str = "2"
) -> bytes:
    """``signer``'s EIP-712 signature over a Bid tuple (which may name another prover)."""
    typed = bid_digest_message(market_address, chain_id, bid, version)
    signed = Account.sign_message(encode_typed_data(full_message=typed), signer.key)
    return bytes(signed.signature)
