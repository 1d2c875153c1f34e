"""What the prover role's halves (bids, recovery, rescue) share: one declaration of the
attributes ``ProverRole.__init__`` sets and of the methods prover.py defines.

The mixins in prover_bids.py, prover_recovery.py and prover_rescue.py inherit from
``ProverParts`` so that each names only what is its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from node.chain.interface import Chain
from node.engine.prover_net import Pricing, ProverNetwork
from node.metrics import Metrics

if TYPE_CHECKING:
    from node.engine.core import EngineContext
    from node.store import Store
    from protocol.market import ProverJob
    from protocol.market import actions as ma
    from protocol.market.planning import QueuedJob


class ProverParts:
    """The prover role's shared state and core steps (set and defined in prover.py)."""

    chain: Chain
    network: ProverNetwork
    market: bytes
    me: bytes
    rate: int
    rescue_window: int
    pricing: Pricing
    metrics: Metrics | None
    clock: Callable[[], float]
    _key: bytes

    if TYPE_CHECKING:

        def _queue(self, store: Store) -> list[QueuedJob]: ...

        def _advance(
            self,
            ctx: EngineContext,
            key: int,
            event: ma.Event,
            *,
            now: int | None = None,
            defer: bool = False,
        ) -> ProverJob | None: ...

        def _decide(self, ctx: EngineContext, key: int) -> Awaitable[None]: ...

        def _submit(self, ctx: EngineContext, key: int) -> Awaitable[None]: ...

        def _circuit(self, model_id: int) -> Awaitable[Path]: ...
