"""Vectorised numpy helpers of the demo generator (strings, group ranks, seeded RNGs)."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import numpy.typing as npt

#: Variable-width UTF-8 strings: every text column of the generator uses this dtype.
STR = np.dtypes.StringDType()

#: PostgreSQL COPY text format's NULL; text columns of the dataset hold it for a missing value.
NULL = "\\N"

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
#: StringDType arrays (numpy's stubs type them loosely, hence ``Any``).
StrArray = npt.NDArray[Any]


def rng_for(seed: int, section: str) -> np.random.Generator:
    """An independent, reproducible RNG per generator section.

    Each section (roads, buildings, persons, ...) draws from its own stream, so changing how
    one section consumes random numbers never shifts the output of another.
    """
    return np.random.default_rng([seed, zlib.crc32(section.encode("utf-8"))])


def strs(values: object) -> StrArray:
    """Any array-like as a StringDType array."""
    return np.asarray(values).astype(STR)


def cat(*parts: object) -> StrArray:
    """Element-wise concatenation of string arrays and scalars (numpy broadcasting)."""
    out: StrArray = strs(parts[0])
    for part in parts[1:]:
        out = np.strings.add(out, part if isinstance(part, str) else strs(part))
    return out


def zero_pad(values: npt.ArrayLike, width: int) -> StrArray:
    """Non-negative integers as zero-padded decimal strings of a fixed width."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= 10**width):
        raise ValueError(f"value out of range for {width} digits")
    return np.strings.slice(strs(arr + 10**width), 1, None)


def pick(options: list[str] | tuple[str, ...], index: npt.ArrayLike) -> StrArray:
    """``options[index]`` for an array of indexes, as strings."""
    return strs(np.asarray(options, dtype=object))[np.asarray(index)]


def choice_index(
    rng: np.random.Generator, weights: npt.ArrayLike, size: int
) -> npt.NDArray[np.intp]:
    """Indexes drawn with the given (unnormalised) weights."""
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=size, p=w / w.sum())


def group_rank(keys: npt.ArrayLike, order_by: npt.ArrayLike | None = None) -> IntArray:
    """0-based rank of each element within its group of equal ``keys``.

    Ranked by ``order_by`` (ascending; ties by position) or by position when it is None.
    """
    k = np.asarray(keys)
    n = len(k)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    secondary = np.arange(n) if order_by is None else np.asarray(order_by)
    order = np.lexsort((np.arange(n), secondary, k))
    sorted_keys = k[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = sorted_keys[1:] != sorted_keys[:-1]
    start_pos = np.maximum.accumulate(np.where(starts, np.arange(n), 0))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = np.arange(n) - start_pos
    return ranks


def group_sizes(keys: npt.ArrayLike) -> IntArray:
    """For each element, the size of its group of equal ``keys``."""
    _, inverse, counts = np.unique(np.asarray(keys), return_inverse=True, return_counts=True)
    return counts[inverse].astype(np.int64)


def expand(counts: npt.ArrayLike) -> tuple[IntArray, IntArray]:
    """For parents with ``counts`` children: (parent index, 0-based child position) per child."""
    c = np.asarray(counts, dtype=np.int64)
    parent = np.repeat(np.arange(len(c), dtype=np.int64), c)
    first = np.cumsum(c) - c
    position = np.arange(int(c.sum()), dtype=np.int64) - first[parent]
    return parent, position
