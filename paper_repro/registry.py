"""One registry class for every named family of the package: models, losses, datasets, perturbations,
encoders, training stages, model-reference resolvers and results tables.

In the manner of timm's model registry and detectron2's ``Registry``: ``REG.register("name")`` decorates a
factory (or ``REG.register("name", obj)`` stores an object), ``REG["name"]`` returns it, and a registry reads
as a read-only mapping (``in``, iteration in registration order, ``len``, ``names()``). Registering a name
twice is an error, as is asking for a name that is not there (the message lists the names that are).
Keyword metadata given at registration (``REG.register("x", paper="Table 4")``) is kept beside the object
(:meth:`Registry.meta`).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Callable


class Registry(Mapping):
    """Named objects of one ``kind`` (the word used in error messages: ``"model"``, ``"dataset"``, ...)."""

    def __init__(self, kind: str):
        self.kind = str(kind)
        self._objects: dict[str, Any] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(self, name: str, obj: Any = None, **meta) -> Any:
        """Store ``obj`` under ``name`` (returns it); without ``obj`` a decorator that does so."""
        if obj is None:
            def deco(fn: Callable) -> Callable:
                self.register(name, fn, **meta)
                return fn

            return deco
        name = str(name)
        if not name:
            raise ValueError(f"a {self.kind} needs a non-empty name")
        if name in self._objects:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._objects[name] = obj
        self._meta[name] = dict(meta)
        return obj

    def unregister(self, name: str) -> Any:
        """Remove ``name`` (returns what was stored): for tests and plug-ins that replace an entry."""
        obj = self[name]
        del self._objects[name], self._meta[name]
        return obj

    def meta(self, name: str) -> dict[str, Any]:
        """The keyword metadata given when ``name`` was registered."""
        self[name]  # noqa: B018 - the same error as a lookup
        return dict(self._meta[name])

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._objects)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._objects[name]
        except KeyError:
            known = ", ".join(sorted(self._objects)) or "none"
            raise KeyError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._objects))

    def __len__(self) -> int:
        return len(self._objects)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self._objects)})"
