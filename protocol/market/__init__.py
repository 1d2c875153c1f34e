"""provernet's market rules: job lifecycles, winner selection, admission and pricing.

Pure functions of (state, event, now); the node stores every action before acting.
"""

from protocol.market.errors import IllegalTransition
from protocol.market.planning import (
    Admission,
    PlannedJob,
    QueuedJob,
    Quote,
    SuggestedTerms,
    admit,
    fits,
    next_to_prove,
    plan,
    price,
    proving_seconds,
    submit_gas_estimate,
    suggest_terms,
)
from protocol.market.prover import (
    ProverJob,
    ProverState,
    award_event,
    new_prover_job,
    prover_step,
)
from protocol.market.requester import (
    RequesterJob,
    RequesterState,
    new_requester_job,
    requester_step,
)
from protocol.market.selection import Reputation, bid_problem, select_winner

__all__ = [
    "Admission",
    "IllegalTransition",
    "PlannedJob",
    "ProverJob",
    "ProverState",
    "QueuedJob",
    "Quote",
    "Reputation",
    "RequesterJob",
    "RequesterState",
    "SuggestedTerms",
    "admit",
    "award_event",
    "bid_problem",
    "fits",
    "new_prover_job",
    "new_requester_job",
    "next_to_prove",
    "plan",
    "price",
    "prover_step",
    "proving_seconds",
    "requester_step",
    "select_winner",
    "submit_gas_estimate",
    "suggest_terms",
]
