"""The engine pool: at most ``capacity`` engines alive (one by default), the oldest freed first.

Models may share an engine: a LoRA adapter runs on its base's engine. ``route(alias)`` says which
engine serves a model (its key) and whether the pool hands out an :class:`AdapterView` of it (the
base with its adapters off, or one adapter on) rather than the engine itself. Such a group is built,
loaded and freed once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from clue.engines.adapters import AdapterView
from clue.engines.base import Engine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Route:
    """Which engine serves a model: the engine ``key`` (what the factory is called with), and, for an
    engine shared with adapters (``view``), the adapter to switch on (None: the base)."""

    key: str
    view: bool = False
    adapter: str | None = None


class EnginePool:
    """Builds engines on demand and keeps at most ``capacity`` of them.

    Engines are cheap to build (tokenizer only); the model inside loads on first generate, so a
    model whose generations are all cached never loads. Before a new engine is built beyond
    capacity, the least recently used one is closed (GPU memory included). ``builds`` counts the
    engines built per key: an adapter and its base count one.
    """

    def __init__(
        self, factory: Callable[[str], Engine], capacity: int = 1, route: Callable[[str], Route] | None = None
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._factory = factory
        self._capacity = capacity
        self._route = route or (lambda alias: Route(alias))
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._views: dict[str, AdapterView] = {}
        self.builds: dict[str, int] = {}

    def get(self, alias: str) -> Engine:
        route = self._route(alias)
        engine = self._engine(route.key)
        if not route.view:
            return engine
        view = self._views.get(alias)
        if view is None or view.engine is not engine:
            view = self._views[alias] = AdapterView(engine, route.adapter)
        return view

    def _engine(self, key: str) -> Engine:
        if key in self._engines:
            self._engines.move_to_end(key)
            return self._engines[key]
        while len(self._engines) >= self._capacity:
            old_key, old = self._engines.popitem(last=False)
            log.info("freeing engine %s before loading %s", old_key, key)
            old.close()
        engine = self._factory(key)
        self._engines[key] = engine
        self.builds[key] = self.builds.get(key, 0) + 1
        return engine

    def close(self) -> None:
        while self._engines:
            _, engine = self._engines.popitem(last=False)
            engine.close()
        self._views.clear()
