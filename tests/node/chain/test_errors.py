from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from node.chain.client import Web3Chain
from node.chain.contracts import load_artifacts
from node.chain.deploy import Deployment
from node.chain.errors import (
    ContractRevert,
    RevertDecoder,
    TransactionRejected,
    UnknownRevert,
    revert_class,
    revert_from_web3,
)
from node.chain.types import JobRequest
from node.keys import dev_account

ABIS = [artifact.abi for artifact in load_artifacts().values()]


def test_every_solidity_error_gets_a_named_exception_class() -> None:
    decoder = RevertDecoder(ABIS)
    assert {"UnknownJob", "InsufficientFreeStake", "NotModelOwner"} <= decoder.error_names
    cls = revert_class("UnknownJob")
    assert issubclass(cls, ContractRevert)
    assert cls.__name__ == "UnknownJob"
    assert revert_class("UnknownJob") is cls


def test_custom_error_arguments_are_decoded_by_name() -> None:
    data = function_signature_to_4byte_selector("FeeAboveMax(uint256,uint256)") + encode(
        ["uint256", "uint256"], [7, 5]
    )
    error = RevertDecoder(ABIS).decode(data)
    assert isinstance(error, revert_class("FeeAboveMax"))
    assert error.error_args == {"fee": 7, "maxFee": 5}
    assert "FeeAboveMax(fee=7, maxFee=5)" in str(error)


def test_builtin_and_unknown_reverts() -> None:
    decoder = RevertDecoder()
    reason = function_signature_to_4byte_selector("Error(string)") + encode(["string"], ["no"])
    assert decoder.decode(reason).error_args == {"message": "no"}
    panic = function_signature_to_4byte_selector("Panic(uint256)") + encode(["uint256"], [0x11])
    assert decoder.decode(panic).error_args["reason"] == "arithmetic overflow or underflow"
    assert isinstance(decoder.decode(b"\xde\xad\xbe\xef"), UnknownRevert)
    truncated = function_signature_to_4byte_selector("Error(string)") + b"\x00" * 3
    assert isinstance(decoder.decode(truncated), UnknownRevert)


def test_real_reverts_raise_the_named_errors(w3: Web3, deployment: Deployment) -> None:
    prover = Web3Chain(w3, deployment, dev_account(1))
    with pytest.raises(revert_class("UnknownJob")) as caught:
        prover.get_job(42)  # a view call
    assert caught.value.error_args == {"jobId": 42}
    with pytest.raises(revert_class("ZeroAmount")):
        prover.deposit_stake(0)  # a transaction, refused at gas estimation
    with pytest.raises(revert_class("NoPendingWithdrawal")) as pending:
        prover.withdraw_stake()
    assert pending.value.error_args["prover"] == prover.address
    with pytest.raises(revert_class("UnknownModel")):
        prover.create_job(JobRequest(9, 1, 0, 60, 600, 10**15))
    assert w3.eth.get_transaction_count(prover.sender.account.address) == 0  # nothing was sent


def test_reverts_without_data_are_still_chain_errors() -> None:
    decoder = RevertDecoder(ABIS)
    bare = revert_from_web3(ContractLogicError("execution reverted", data=None), decoder)
    assert isinstance(bare, UnknownRevert)
    empty = revert_from_web3(ContractLogicError("execution reverted", data="0x"), decoder)
    assert isinstance(empty, UnknownRevert)
    refused = revert_from_web3(Web3RPCError("insufficient funds for gas"), decoder)
    assert isinstance(refused, TransactionRejected)
    assert "insufficient funds" in str(refused)
