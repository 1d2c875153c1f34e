"""Where the node's bounded maps and queues report that they are full.

Every map or queue that peers can grow has a fixed bound; when one is reached the
owner drops (or evicts) and calls ``Bounds.hit(name)``. The count per name is a
Prometheus counter (``provernet_bounds_hit_total{bound=...}``) and the first hit
of each name per ``LOG_EVERY_S`` is logged as a warning, so a flood shows in the
logs without flooding them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

logger = logging.getLogger(__name__)

# One warning per bound per minute at most.
LOG_EVERY_S = 60.0


class Bounds:
    """Counts and logs each bound reached (one instance per daemon)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.hits: Counter[str] = Counter()
        self._clock = clock
        self._logged: dict[str, float] = {}

    def hit(self, name: str, detail: str = "") -> None:
        """Record that the bound ``name`` was reached (``detail`` goes to the log line)."""
        self.hits[name] += 1
        now = self._clock()
        last = self._logged.get(name)
        if last is None or now - last >= LOG_EVERY_S:
            self._logged[name] = now
            extra = f": {detail}" if detail else ""
            logger.warning("bound %s reached (%d times so far)%s", name, self.hits[name], extra)
