"""The engine pool: at most ``capacity`` engines alive (one by default), the oldest freed first."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable

from clue.engines.base import Engine

log = logging.getLogger(__name__)


class EnginePool:
    """Builds engines on demand and keeps at most ``capacity`` of them.

    Engines are cheap to build (tokenizer only); the model inside loads on first generate, so a
    model whose generations are all cached never loads. Before a new engine is built beyond
    capacity, the least recently used one is closed (GPU memory included).
    """

    def __init__(self, factory: Callable[[str], Engine], capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._factory = factory
        self._capacity = capacity
        self._engines: OrderedDict[str, Engine] = OrderedDict()

    def get(self, alias: str) -> Engine:
        if alias in self._engines:
            self._engines.move_to_end(alias)
            return self._engines[alias]
        while len(self._engines) >= self._capacity:
            old_alias, old = self._engines.popitem(last=False)
            log.info("freeing engine %s before loading %s", old_alias, alias)
            old.close()
        engine = self._factory(alias)
        self._engines[alias] = engine
        return engine

    def close(self) -> None:
        while self._engines:
            _, engine = self._engines.popitem(last=False)
            engine.close()
