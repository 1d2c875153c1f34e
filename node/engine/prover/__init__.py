"""The prover role, one module per stage, composed by ``role.ProverRole``.

- ``jobs``: stepping a job's lifecycle, saving it, dispatching its actions, the queue;
- ``bidding``: announcements in, admission and pricing, signed bids out;
- ``acceptance``: a won job's input checked (commitment, range, a satisfying witness)
  and our plan re-checked before acceptJob locks any collateral;
- ``proving``: accepted jobs proved earliest deadline first, submitted, paid;
- ``recovery``: work a crash or a failed send interrupted, carried on;
- ``work``: the CPU work (input checks, proofs); ``network``: the p2p edge and the
  operator's prices; ``heartbeats``: the standing offer gossiped to requesters.
"""

from node.engine.prover.network import P2PProverNetwork, Pricing, ProverNetwork
from node.engine.prover.proving import DEFAULT_RATE
from node.engine.prover.role import ProverRole

__all__ = ["DEFAULT_RATE", "P2PProverNetwork", "Pricing", "ProverNetwork", "ProverRole"]
