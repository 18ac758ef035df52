"""Modules imported when first used.

matplotlib and pandas take about a second to import. Every smbench process would pay it at
start-up (each rank of a collectives job, a run's worker processes, `smbench targets`) for
figures and tables most of them never draw, because the families' publish hooks name them.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any, Callable


class LazyModule:
    """Stands for a module until an attribute is asked of it, then imports it (after
    `prepare`, e.g. choosing matplotlib's backend) and hands on every attribute."""

    def __init__(self, name: str, prepare: Callable[[], None] | None = None):
        self._name = name
        self._prepare = prepare
        self._module = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._module is None:
                if self._prepare is not None:
                    self._prepare()
                self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._load(), attribute)

    def __repr__(self) -> str:
        return f"<module {self._name}, {'imported' if self._module is not None else 'not imported yet'}>"


class LazySequence:
    """A list made on first use (len, index, iteration)."""

    def __init__(self, make: Callable[[], list]):
        self._make = make
        self._items: list | None = None

    def _list(self) -> list:
        if self._items is None:
            self._items = self._make()
        return self._items

    def __len__(self) -> int:
        return len(self._list())

    def __getitem__(self, index):
        return self._list()[index]

    def __iter__(self):
        return iter(self._list())
