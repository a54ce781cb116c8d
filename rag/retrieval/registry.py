"""The retrieval routes and modes this installation knows. The configuration's accepted
`retrieval.mode` values, the CLI's `--retrieval` choices and `rag serve`'s request schema are all
read from here, so a new route is one module plus one `register_route` call:

    register_route(RouteSpec("keywords", lambda parts: KeywordRoute(parts.store)))

A route registered this way is a mode of its own (`retrieval.mode = "keywords"`); `register_mode`
names a fusion of several (the built-in "hybrid" is dense + lexical).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rag.errors import ConfigError

if TYPE_CHECKING:
    from rag.embedding.base import Embedder
    from rag.retrieval.base import Route
    from rag.retrieval.lexical.base import LexicalIndex
    from rag.store.base import Store


@dataclass(frozen=True)
class RouteParts:
    """What a route may be built from: the index's store, its lexical index and embedder."""

    store: Store
    lexical: LexicalIndex | None = None
    embedder: Embedder | None = None


@dataclass(frozen=True)
class RouteSpec:
    """One route.

    Attributes:
        name: its name, which is also the name of the mode that runs it alone.
        build: makes the route from the index's parts (raises ConfigError when one it needs is
            missing).
        needs_vector: whether it searches with the question's vector (the retriever embeds the
            question first; other routes run on worker threads meanwhile).
        weight: its weight in reciprocal rank fusion (the built-in routes' weights are
            `retrieval.dense_weight` and `retrieval.lexical_weight`).
    """

    name: str
    build: Callable[[RouteParts], Route]
    needs_vector: bool = False
    weight: float = 1.0


_ROUTES: dict[str, RouteSpec] = {}
_MODES: dict[str, tuple[str, ...]] = {}


def register_route(spec: RouteSpec) -> None:
    """Add a route, and the mode of the same name that runs it alone.

    Raises:
        ConfigError: the name is taken by another route or mode.
    """
    if spec.name in _MODES:
        raise ConfigError(f"retrieval route {spec.name!r} is already registered")
    _ROUTES[spec.name] = spec
    _MODES[spec.name] = (spec.name,)


def register_mode(name: str, routes: tuple[str, ...]) -> None:
    """Add a mode that fuses several registered routes (first listed wins a fusion tie).

    Raises:
        ConfigError: the name is taken, or a route is not registered.
    """
    if name in _MODES:
        raise ConfigError(f"retrieval mode {name!r} is already registered")
    unknown = [r for r in routes if r not in _ROUTES]
    if len(routes) < 2 or unknown:
        raise ConfigError(f"retrieval mode {name!r} needs two or more registered routes; got {routes!r}")
    _MODES[name] = tuple(routes)


def unregister(name: str) -> None:
    """Remove a mode, and the route of that name with every mode using it (for tests)."""
    _MODES.pop(name, None)
    if _ROUTES.pop(name, None) is not None:
        for mode in [m for m, routes in _MODES.items() if name in routes]:
            del _MODES[mode]


def retrieval_modes() -> tuple[str, ...]:
    """Every mode, in registration order."""
    return tuple(_MODES)


def mode_routes(mode: str) -> tuple[RouteSpec, ...]:
    """The routes a mode runs, in fusion order.

    Raises:
        ConfigError: an unknown mode.
    """
    if mode not in _MODES:
        raise ConfigError(f"retrieval.mode = {mode!r} is invalid: expected "
                          + " or ".join(map(repr, _MODES)))
    return tuple(_ROUTES[name] for name in _MODES[mode])


def needs_embedder(mode: str, mmr: float | None) -> bool:
    """Whether a mode needs the question's vector: for a route, for MMR, or to rescore fused hits."""
    routes = mode_routes(mode)
    return len(routes) > 1 or mmr is not None or any(r.needs_vector for r in routes)


def scores_are_cosine(mode: str) -> bool:
    """Whether a mode's hit scores are cosine similarities (what `retrieval.min_score` compares):
    true for the dense route and for every fusion (fused hits are rescored by cosine)."""
    routes = mode_routes(mode)
    return len(routes) > 1 or any(r.name == "dense" for r in routes)


def _dense(parts: RouteParts) -> Route:
    from rag.retrieval.dense import DenseRoute

    return DenseRoute(parts.store)


def _lexical(parts: RouteParts) -> Route:
    from rag.retrieval.lexical.route import LexicalRoute

    if parts.lexical is None:
        raise ConfigError("the lexical route needs a lexical index")
    return LexicalRoute(parts.lexical)


register_route(RouteSpec("dense", _dense, needs_vector=True))
register_route(RouteSpec("lexical", _lexical))
register_mode("hybrid", ("dense", "lexical"))
