"""provernet's market rules: job lifecycles, winner selection, admission and pricing.

Pure functions of (state, event, now); the node stores every action before acting.
"""

from protocol.market.errors import IllegalTransition
from protocol.market.planning import (
    Admission,
    PlannedJob,
    QueuedJob,
    Quote,
    SuggestedDeadlines,
    admit,
    next_to_prove,
    plan,
    price,
    proving_seconds,
    submit_gas_estimate,
    suggest_deadlines,
)
from protocol.market.prover import (
    ProverJob,
    ProverState,
    award_event,
    new_prover_job,
    new_rescue_job,
    prover_step,
    rescue_event,
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
    "SuggestedDeadlines",
    "admit",
    "award_event",
    "bid_problem",
    "new_prover_job",
    "new_requester_job",
    "new_rescue_job",
    "next_to_prove",
    "plan",
    "price",
    "prover_step",
    "proving_seconds",
    "requester_step",
    "rescue_event",
    "select_winner",
    "submit_gas_estimate",
    "suggest_deadlines",
]
