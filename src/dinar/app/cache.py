"""Bounded, thread-safe in-memory caches of the web app, and the key of a result.

The same photo with the same choices gives the same avatar (the pipeline is deterministic for a
seed), so people found, fits and whole results are kept by a key made of the photo's SHA-256 and
every choice that changes the output (:func:`result_key`). Each cache holds at most ``capacity``
entries and drops the least recently used; ``on_evict`` lets the owner delete files that go with an
entry. An entry whose files were swept meanwhile is a miss (``valid``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class LruCache(Generic[V]):
    """A dict of at most ``capacity`` entries; the least recently used goes first."""

    def __init__(self, capacity: int, on_evict: Callable[[V], None] | None = None,
                 valid: Callable[[V], bool] | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._on_evict = on_evict
        self._valid = valid
        self._items: OrderedDict[str, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None and self._valid is not None and not self._valid(value):
                del self._items[key]
                value = None
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            evicted = []
            while len(self._items) > self.capacity:
                evicted.append(self._items.popitem(last=False)[1])
        for old in evicted:
            if self._on_evict is not None:
                self._on_evict(old)

    def __len__(self) -> int:
        return len(self._items)


def result_key(parts: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of ``parts``' canonical JSON: the photo digests, the person, the options, the
    motion's digest and the model's identity."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()
