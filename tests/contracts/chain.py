"""web3.py helpers for the contract tests: artifacts, deployment, reverts, time, bids."""

from __future__ import annotations

import json
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


def artifact(name: str) -> dict[str, Any]:
    """A compiled artifact: contracts/build/<name>.json or contracts/build/test/<name>.json."""
    path = BUILD / f"{name}.json"
    if not path.is_file():
        path = BUILD / "test" / f"{name}.json"
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


@dataclass(frozen=True)
class Signer:
    """An anvil dev account with its private key (for EIP-712 bids)."""

    address: str
    key: str


def bid_signature(
    signer: Signer,
    market_address: str,
    chain_id: int,
    job_id: int,
    fee: int,
    expiry: int,
    prover: str | None = None,
) -> bytes:
    """``signer``'s EIP-712 signature over a Bid (naming ``prover``, default the signer)."""
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ],
            "Bid": [
                {"name": "jobId", "type": "uint256"},
                {"name": "prover", "type": "address"},
                {"name": "fee", "type": "uint256"},
                {"name": "expiry", "type": "uint64"},
            ],
        },
        "primaryType": "Bid",
        "domain": {
            "name": "provernet JobMarket",
            "version": "1",
            "chainId": chain_id,
            "verifyingContract": market_address,
        },
        "message": {
            "jobId": job_id,
            "prover": prover or signer.address,
            "fee": fee,
            "expiry": expiry,
        },
    }
    signed = Account.sign_message(encode_typed_data(full_message=typed), signer.key)
    return bytes(signed.signature)
