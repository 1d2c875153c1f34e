"""What can go wrong opening or writing the store."""

from __future__ import annotations


class StoreError(Exception):
    """Root of the store's errors."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer provernet."""


class WrongChainError(StoreError):
    """The database holds another chain's (or another deployment's) state."""


class CorruptRecordError(StoreError):
    """A stored row no longer decodes."""


class UnknownRecordError(StoreError):
    """No row with that key."""


class DuplicateIntentError(StoreError):
    """An intent of this kind for this job is already open or has succeeded."""

    def __init__(self, kind: str, job_key: int, existing: int) -> None:
        super().__init__(
            f"a {kind} intent for job {job_key} is already open or succeeded (intent {existing}); "
            "it is never journaled twice"
        )
        self.existing = existing


class IntentTransitionError(StoreError):
    """An intent was marked in a way its status does not allow (a bug in the caller)."""
