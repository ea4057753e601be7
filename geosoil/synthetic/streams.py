"""Independent random streams, one per named part of the world.

Each component draws from ``default_rng([seed, stable_int(name)])``; inside a component each
field draws from a named child of that stream. The integers come from a hash of the names that
does not change between runs (Python's ``hash`` does), so adding a component or a field never
shifts the numbers drawn by existing ones.
"""

from __future__ import annotations

import hashlib
import numbers
from typing import Any

import numpy as np

from geosoil.errors import ConfigError

__all__ = ["check_whole", "component_rng", "stable_int", "substream"]


def stable_int(name: str) -> int:
    """A 63-bit integer derived from ``name``, the same on every run and machine."""
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def component_rng(seed: int, component: str) -> np.random.Generator:
    """The random generator of the component called ``component`` under ``seed``."""
    return np.random.default_rng([seed, stable_int(component)])


def substream(rng: np.random.Generator, name: str) -> np.random.Generator:
    """A child generator of ``rng`` named ``name``; ``rng`` itself is not advanced.

    The child's seed extends the parent's seed sequence by the name's stable integer, so the
    same parent and name always give the same numbers, whatever else was drawn before.
    """
    parent = rng.bit_generator.seed_seq
    child = np.random.SeedSequence(parent.entropy, spawn_key=(*parent.spawn_key, stable_int(name)))
    return np.random.default_rng(child)


def check_whole(value: Any, *, name: str, minimum: int, fix: str) -> None:
    """Refuse a ``value`` that is not a whole number >= ``minimum`` (0: a seed, 1: a count).

    Raises
    ------
    ConfigError
        ``field`` is ``name``; booleans and floats are refused too.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
            minimum, f"an integer >= {minimum}"
        )
        raise ConfigError(f"{name} must be {kind}, got {value!r}", field=name, fix=fix)
