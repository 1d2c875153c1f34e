"""Connecting to an Ethereum JSON-RPC endpoint, with bounded retries.

``connect`` returns a web3.py ``Web3`` (the synchronous client; the daemon calls
it from worker threads) after checking the chain id. Read-only requests that fail
in transport are retried with exponential backoff and then raise
``RpcUnreachable``; ``eth_sendRawTransaction`` is never retried here, because a
send that failed on the wire may have landed: the transaction sender reconciles
instead (node/chain/sender.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from eth_typing import ChecksumAddress
from web3 import HTTPProvider, Web3
from web3.types import RPCEndpoint, RPCResponse

from node.chain.errors import InvalidRpcUrl, NoContractCode, RpcUnreachable, WrongChain

# Methods whose repetition could change chain state; a transport failure on these
# is surfaced at once so that the caller can reconcile.
NOT_RETRIED = frozenset({"eth_sendRawTransaction", "eth_sendTransaction"})
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.HTTPError,  # 429 and 5xx from hosted providers
    ConnectionError,
    TimeoutError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try a read before declaring the RPC unreachable."""

    attempts: int = 5
    backoff_s: float = 0.25  # first pause; doubles after each failure
    max_backoff_s: float = 4.0
    timeout_s: float = 10.0  # per HTTP request

    def pause(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures."""
        return float(min(self.max_backoff_s, self.backoff_s * 2 ** (failures - 1)))


class RetryingHTTPProvider(HTTPProvider):
    """An HTTP provider that retries reads and turns transport failures into RpcUnreachable."""

    def __init__(self, url: str, retry: RetryPolicy) -> None:
        super().__init__(
            url,
            request_kwargs={"timeout": retry.timeout_s},
            exception_retry_configuration=None,
        )
        self.retry = retry

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        attempts = 1 if method in NOT_RETRIED else max(1, self.retry.attempts)
        for attempt in range(1, attempts + 1):
            try:
                return super().make_request(method, params)
            except TRANSPORT_ERRORS as exc:
                if attempt == attempts:
                    raise RpcUnreachable(str(self.endpoint_uri), method, attempt, exc) from exc
                time.sleep(self.retry.pause(attempt))
        raise AssertionError("unreachable: the loop returns or raises")


def connect(
    rpc_url: str, *, expected_chain_id: int | None = None, retry: RetryPolicy | None = None
) -> Web3:
    """A web3 client for ``rpc_url``; raises InvalidRpcUrl, RpcUnreachable or WrongChain."""
    if urlsplit(rpc_url).scheme not in ("http", "https") or not urlsplit(rpc_url).netloc:
        raise InvalidRpcUrl(f"{rpc_url!r} is not an RPC URL; write e.g. http://127.0.0.1:8545")
    w3 = Web3(RetryingHTTPProvider(rpc_url, retry or RetryPolicy()))
    actual = int(w3.eth.chain_id)
    if expected_chain_id is not None and actual != expected_chain_id:
        raise WrongChain(rpc_url, actual, expected_chain_id)
    return w3


def require_code(w3: Web3, name: str, address: str) -> ChecksumAddress:
    """``address`` as a checksum address, after checking that it holds contract code."""
    checksum = Web3.to_checksum_address(address)
    if len(w3.eth.get_code(checksum)) == 0:
        raise NoContractCode(name, checksum, int(w3.eth.chain_id))
    return checksum
