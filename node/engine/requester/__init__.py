"""The requester role, one module per stage, composed by ``role.RequesterRole``.

- ``jobs``: stepping a job's lifecycle, saving it, dispatching its actions, its event log;
- ``auction``: announcements, bids and their verdicts, the award, re-awards after a
  lapse or a slash;
- ``delivery``: the private input to the prover awarded on-chain, and to no one else;
- ``settlement``: createJob, cancelJob, slash, withdraw, resubmission;
- ``inputs``: quantizing and committing to an input, decoding outputs; ``body``: the
  request's fields; ``network``: the p2p edge; ``recovery``: what a settled job is owed
  after a crash; ``views``: a job as the API shows it.
"""

from node.engine.requester.network import P2PRequesterNetwork, RequesterNetwork
from node.engine.requester.role import RequesterRole
from node.engine.requester.settlement import Resubmission

__all__ = ["P2PRequesterNetwork", "RequesterNetwork", "RequesterRole", "Resubmission"]
