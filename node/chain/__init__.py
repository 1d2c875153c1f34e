"""The chain client: provernet's contracts through web3.py's synchronous API.

The market engine depends on the ``Chain`` interface (interface.py); ``Web3Chain``
(client.py) implements it on an RPC endpoint. Below it: ``TxSender`` (nonces,
gas, reconciliation), ``EventWatcher`` (bounded, confirmed log ranges), named
errors (errors.py), deployment (deploy.py) and ether amounts (amounts.py).
Nothing here is async: the daemon calls in through ``trio.to_thread.run_sync``.
"""

from node.chain.amounts import AmountError, format_amount, parse_amount
from node.chain.client import Web3Chain
from node.chain.deploy import Deployment, DeployParams, deploy_contracts
from node.chain.errors import (
    ChainError,
    ChainReorg,
    ContractRevert,
    DeploymentFileError,
    InvalidRpcUrl,
    NoContractCode,
    NonceConflict,
    ReceiptTimeout,
    RpcUnreachable,
    TransactionFailed,
    TransactionRejected,
    TransactionUnsettled,
    WrongChain,
    revert_class,
)
from node.chain.events import ChainEvent, EventBatch, EventWatcher
from node.chain.interface import Chain
from node.chain.rpc import RetryPolicy, connect
from node.chain.sender import Receipt, SenderConfig, TxRecord, TxSender, TxStatus
from node.chain.types import (
    Bid,
    JobInfo,
    JobRequest,
    JobStatus,
    ModelInfo,
    ModelSpec,
    ProverStats,
    StakeInfo,
    TxResult,
)

__all__ = [
    "AmountError",
    "Bid",
    "Chain",
    "ChainError",
    "ChainEvent",
    "ChainReorg",
    "ContractRevert",
    "DeployParams",
    "Deployment",
    "DeploymentFileError",
    "EventBatch",
    "EventWatcher",
    "InvalidRpcUrl",
    "JobInfo",
    "JobRequest",
    "JobStatus",
    "ModelInfo",
    "ModelSpec",
    "NoContractCode",
    "NonceConflict",
    "ProverStats",
    "Receipt",
    "ReceiptTimeout",
    "RetryPolicy",
    "RpcUnreachable",
    "SenderConfig",
    "StakeInfo",
    "TransactionFailed",
    "TransactionRejected",
    "TransactionUnsettled",
    "TxRecord",
    "TxResult",
    "TxSender",
    "TxStatus",
    "Web3Chain",
    "WrongChain",
    "connect",
    "deploy_contracts",
    "format_amount",
    "parse_amount",
    "revert_class",
]
