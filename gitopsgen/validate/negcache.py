"""Charts that could not be fetched, remembered for a short while: the negative cache of the chart fetch.

Online, a chart whose repository cannot be reached (no network, a private registry, a host that is down)
costs a connection attempt, often a time-out, in every run, and its cluster's outcome could not be
cached (what the next attempt finds is not among the cache key's inputs). For :data:`TTL` seconds after
a failed fetch, the same request fails at once with the same message, and the outcomes of the clusters
that used it are stored until then (:attr:`NegativeCache.expires`): a warm run within that time is as
fast as one whose charts are all fetchable, and later runs try again. Entries live in the result cache
(kind :data:`KIND`), so ``--no-cache`` bypasses them; offline runs do not use them (there, what Helm
finds depends only on the chart cache, which the cluster key covers).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from .resultcache import ResultCache, digest

KIND = "chart-unavailable"
TTL = 600.0  # seconds a failed fetch is not retried


class NegativeCache:
    def __init__(self, cache: ResultCache, ttl: float | None = None, clock: Callable[[], float] = time.time) -> None:
        self.cache = cache
        self.ttl = TTL if ttl is None else ttl
        self.clock = clock
        self.expires: float | None = None  # the earliest expiry of the entries this run read or wrote
        self._lock = threading.Lock()

    def _used(self, until: float) -> None:
        with self._lock:
            self.expires = until if self.expires is None else min(self.expires, until)

    def get(self, request: object) -> str | None:
        """The message of ``request``'s failed fetch while it is remembered, else None."""
        value = self.cache.get(KIND, digest(KIND, repr(request)))
        if not isinstance(value, dict):
            return None
        message, until = value.get("message"), value.get("until")
        if not isinstance(message, str) or not isinstance(until, int | float) or isinstance(until, bool):
            return None
        if until <= self.clock():
            return None
        self._used(float(until))
        return message

    def put(self, request: object, message: str) -> None:
        """Remember that ``request`` could not be fetched (``message``: why), for :attr:`ttl` seconds."""
        until = self.clock() + self.ttl
        self.cache.put(KIND, digest(KIND, repr(request)), {"message": message, "until": until})
        self._used(until)
