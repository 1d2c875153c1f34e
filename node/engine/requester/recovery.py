"""What a requester's settled job may still be owed after a crash.

A job's last transition is saved before its actions run (ARCHITECTURE invariant 4),
so a node killed right after saving a job PROVEN or CANCELLED may
never have pulled the refund JobMarket credited, nor proposed the resubmission of
an unproven job. At start-up the requester asks ``owed_actions`` for each job that
was already settled then; anything a later run may have started is left alone.
"""

from __future__ import annotations

from node.store import Role, Store
from protocol.market import RequesterJob, RequesterState
from protocol.market import actions as ma

S = RequesterState
# The settled states whose transition credited the requester (requester_step's Withdraw).
PAYS_BACK = frozenset({S.PROVEN, S.CANCELLED, S.RESUBMITTED})
UNPROVEN = frozenset({S.CANCELLED})


def owed_actions(
    store: Store, key: int, job: RequesterJob, *, resubmitting: bool
) -> tuple[ma.Action, ...]:
    """The actions settled job ``key`` is owed: a withdrawal never journaled, a resubmission
    never started (when the node resubmits)."""
    owed: list[ma.Action] = []
    if job.state in PAYS_BACK and not any(i.kind == "withdraw" for i in store.intents_for_job(key)):
        owed.append(ma.Withdraw())
    if resubmitting and job.state in UNPROVEN and replacement_of(store, key) is None:
        owed.append(ma.ProposeResubmit())
    return tuple(owed)


def replacement_of(store: Store, key: int) -> int | None:
    """The key of the job journaled to replace job ``key``, if any."""
    for record in store.list_jobs(Role.REQUESTER):
        for intent in store.intents_for_job(record.key):
            if intent.kind == "create_job" and intent.params.get("resubmit_of") == key:
                return record.key
    return None
