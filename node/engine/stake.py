"""The stake commands: deposit, request a withdrawal, complete it after the delay, status.

Every one that moves money goes through the intent journal (``IntentExecutor``).
Errors the user can act on are raised as the API's HTTP errors with a sentence
that says what to do: an amount that does not parse (400), too little balance
or free stake, a withdrawal whose delay has not passed yet, with the time it
will have (409).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import trio

from node.api.errors import BadRequest, Conflict
from node.chain.amounts import AmountError, format_amount, parse_amount
from node.chain.errors import ContractRevert, TransactionRejected
from node.chain.interface import Chain
from node.chain.types import StakeInfo
from node.engine.core import Engine, EngineContext


class StakeCommands:
    """Registers ``stake.status``, ``stake.deposit``, ``stake.withdraw``, ``stake.complete``."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    def register(self, engine: Engine) -> None:
        """Add the stake commands to ``engine``."""
        engine.on_command("stake.status", self.status)
        engine.on_command("stake.deposit", self.deposit)
        engine.on_command("stake.withdraw", self.request_withdrawal)
        engine.on_command("stake.complete", self.complete_withdrawal)
        engine.expose("GET", "/stake", "stake.status")
        engine.expose("POST", "/stake/deposit", "stake.deposit")
        engine.expose("POST", "/stake/withdraw", "stake.withdraw")
        engine.expose("POST", "/stake/withdraw/complete", "stake.complete")

    async def status(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """The account's stake, locked collateral and pending withdrawal."""
        info, now = await trio.to_thread.run_sync(self._read)
        return stake_json(self.chain.address, info, now)

    def _read(self) -> tuple[StakeInfo, int]:
        return self.chain.stake_of(self.chain.address), self.chain.timestamp()

    async def deposit(self, ctx: EngineContext, body: Mapping[str, Any]) -> dict[str, Any]:
        """Deposit ``body["amount"]`` into ProverStaking."""
        amount = _amount(body)
        try:
            result = await ctx.executor.execute(
                "stake_deposit", None, {"amount": str(amount)}, lambda c: c.deposit_stake(amount)
            )
        except TransactionRejected as exc:
            if "insufficient funds" in str(exc).lower():
                raise Conflict(
                    f"insufficient balance: {self.chain.address} cannot pay "
                    f"{format_amount(amount)} plus gas; fund the account first"
                ) from exc
            raise
        except ContractRevert as exc:
            raise Conflict(f"the deposit was refused: {exc}") from exc
        return {"tx": result.record.tx_hash, **await self.status(ctx, body)}

    async def request_withdrawal(
        self, ctx: EngineContext, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Ask to withdraw ``body["amount"]`` of free stake; it is paid after the delay."""
        amount = _amount(body)
        try:
            result = await ctx.executor.execute(
                "stake_withdraw_request",
                None,
                {"amount": str(amount)},
                lambda c: c.request_withdrawal(amount),
            )
        except ContractRevert as exc:
            raise Conflict(_withdrawal_refusal(exc, amount)) from exc
        return {"tx": result.record.tx_hash, **await self.status(ctx, body)}

    async def complete_withdrawal(
        self, ctx: EngineContext, body: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Pay out the pending withdrawal once its delay has passed."""
        try:
            result = await ctx.executor.execute(
                # The journal has one "withdraw" kind; params say which contract pays.
                "withdraw",
                None,
                {"contract": "ProverStaking"},
                lambda c: c.withdraw_stake(),
            )
        except ContractRevert as exc:
            raise Conflict(_completion_refusal(exc)) from exc
        paid = int(result.event("StakeWithdrawn").args["amount"])
        return {"tx": result.record.tx_hash, "paid": str(paid), **await self.status(ctx, body)}


def stake_json(address: str, info: StakeInfo, chain_time: int | None = None) -> dict[str, Any]:
    """The stake as the API answers it (amounts as decimal strings of wei)."""
    answer: dict[str, Any] = {
        "address": address,
        "stake": str(info.stake),
        "locked": str(info.locked),
        "free": str(info.free),
        "pending_withdrawal": str(info.pending_withdrawal),
        "available_at": info.available_at,
    }
    if chain_time is not None:
        answer["chain_time"] = chain_time  # the contracts' clock, for the withdrawal delay
    return answer


def _amount(body: Mapping[str, Any]) -> int:
    raw = body.get("amount")
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise BadRequest('the request needs an amount, e.g. {"amount": "0.5eth"}')
    try:
        amount = parse_amount(str(raw))
    except AmountError as exc:
        raise BadRequest(str(exc)) from exc
    if amount <= 0:
        raise BadRequest("the amount must be more than zero")
    return amount


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _withdrawal_refusal(exc: ContractRevert, amount: int) -> str:
    if exc.name == "InsufficientFreeStake":
        free = int(exc.error_args["free"])
        return (
            f"only {format_amount(free)} of stake is free (the rest backs jobs as collateral "
            f"or is already being withdrawn); cannot withdraw {format_amount(amount)}"
        )
    return f"the withdrawal request was refused: {exc}"


def _completion_refusal(exc: ContractRevert) -> str:
    if exc.name == "WithdrawalNotReady":
        ready = int(exc.error_args["availableAt"])
        return (
            f"the withdrawal delay has not passed yet; complete it at or after {_when(ready)} "
            f"(unix time {ready})"
        )
    if exc.name == "NoPendingWithdrawal":
        return "no withdrawal is pending; request one first with `stake withdraw AMOUNT`"
    return f"the withdrawal was refused: {exc}"
