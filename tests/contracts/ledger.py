"""Ledgers for the attack tests: every involved account's holdings before and after, and gas.

A ``Ledger`` opens by reading, for each named party, its ether, its JobMarket balance,
its stake, locked collateral and pending withdrawal, and the ether held by the market,
the staking contract and the burn address. ``assert_changes`` reads them all again and
checks the exact change of every one against what the test expects (anything not named
must not have moved). An account's ether is corrected by the gas it paid: the sum of
gasUsed * effectiveGasPrice over the receipts of every transaction it sent since the
ledger opened, read block by block, so no transaction is missed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from web3 import Web3

from tests.contracts.chain import Signer, call_words, rpc_batch, words
from tests.contracts.deployment import BURN_ADDRESS, Deployment

POOLS = ("market", "staking", "burn")  # contracts' and the burn address's ether, by name


@dataclass(frozen=True)
class Holdings:
    """What one account holds across the chain and the two contracts."""

    eth: int
    market: int
    stake: int
    locked: int
    pending: int


class Ledger:
    """Holdings of named parties, read when the ledger opens and compared on demand."""

    def __init__(self, chain: Deployment, parties: Mapping[str, Signer | str] | None = None):
        self.chain = chain
        if parties is None:
            parties = {n: getattr(chain, n) for n in ("alice", "bob", "carol", "dave")}
        self.parties = {
            name: party.address if isinstance(party, Signer) else Web3.to_checksum_address(party)
            for name, party in parties.items()
        }
        self.pools = {
            "market": chain.market.address,
            "staking": chain.staking.address,
            "burn": BURN_ADDRESS,
        }
        self.start_block = int(chain.w3.eth.block_number)
        self.before, self.pools_before = self.read()

    def read(self) -> tuple[dict[str, Holdings], dict[str, int]]:
        """Every party's holdings and every pool's ether, in one round trip."""
        m, s = self.chain.market, self.chain.staking
        requests = [("eth_getBalance", [a, "latest"]) for a in self.pools.values()]
        for address in self.parties.values():
            requests += [
                ("eth_getBalance", [address, "latest"]),
                call_words(m, "balanceOf(address)", address),
                call_words(s, "stakeOf(address)", address),
                call_words(s, "pendingWithdrawalOf(address)", address),
            ]
        results = rpc_batch(self.chain.w3, requests)
        pools = {name: int(results[i], 16) for i, name in enumerate(self.pools)}
        holdings = {}
        for i, name in enumerate(self.parties):
            eth, balance, stake, pending = results[len(pools) + 4 * i : len(pools) + 4 * i + 4]
            (stake_wei, locked), (pending_wei, _) = words(stake), words(pending)
            holdings[name] = Holdings(
                int(eth, 16), words(balance)[0], stake_wei, locked, pending_wei
            )
        return holdings, pools

    def gas_paid(self) -> dict[str, int]:
        """Wei each party paid for gas since the ledger opened, summed from every receipt."""
        latest = int(self.chain.w3.eth.block_number)
        paid: dict[str, int] = defaultdict(int)
        by_address = {a.lower(): name for name, a in self.parties.items()}
        blocks = [
            ("eth_getBlockReceipts", [hex(n)]) for n in range(self.start_block + 1, latest + 1)
        ]
        for receipts in rpc_batch(self.chain.w3, blocks) if blocks else []:
            for receipt in receipts:
                name = by_address.get(receipt["from"].lower())
                if name is not None:
                    paid[name] += int(receipt["gasUsed"], 16) * int(
                        receipt["effectiveGasPrice"], 16
                    )
        return {name: paid[name] for name in self.parties}

    def changes(self) -> dict[str, dict[str, int]]:
        """The change of every holding since the ledger opened, ether net of gas paid."""
        after, pools_after = self.read()
        gas = self.gas_paid()
        changes: dict[str, dict[str, int]] = {}
        for name, old in self.before.items():
            new = after[name]
            changes[name] = {
                "eth": new.eth - old.eth + gas[name],
                "market": new.market - old.market,
                "stake": new.stake - old.stake,
                "locked": new.locked - old.locked,
                "pending": new.pending - old.pending,
            }
        for name in POOLS:
            changes[name] = {"eth": pools_after[name] - self.pools_before[name]}
        return changes

    def assert_changes(
        self,
        *,
        eth: Mapping[str, int] | None = None,
        market: Mapping[str, int] | None = None,
        stake: Mapping[str, int] | None = None,
        locked: Mapping[str, int] | None = None,
        pending: Mapping[str, int] | None = None,
    ) -> None:
        """Check every holding moved by exactly what is given (ether before gas; else zero),
        and that no ether entered or left the parties and pools together except as gas.

        ``eth`` also takes the pools: "market", "staking" and "burn".
        """
        given = {
            "eth": eth or {},
            "market": market or {},
            "stake": stake or {},
            "locked": locked or {},
            "pending": pending or {},
        }
        for kind, entries in given.items():
            known = set(self.parties) | (set(POOLS) if kind == "eth" else set())
            assert set(entries) <= known, f"unknown {kind} entries: {set(entries) - known}"
        expected = {
            name: {kind: given[kind].get(name, 0) for kind in given} for name in self.parties
        }
        for name in POOLS:
            expected[name] = {"eth": given["eth"].get(name, 0)}
        actual = self.changes()
        assert actual == expected
        assert sum(change["eth"] for change in actual.values()) == 0, "ether was not conserved"

    def spent(self, name: str) -> int:
        """Wei ``name`` paid for gas since the ledger opened."""
        return self.gas_paid()[name]
