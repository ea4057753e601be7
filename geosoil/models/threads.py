"""How many threads a model may use inside one block of a map, known without importing torch.

The map engine sets it for the duration of a run (each block's share of the cores, see
:func:`geosoil.mapping.execution.block_threads`). Elsewhere it is torch's setting when torch
is loaded (the training kit bounds it with ``torch_threads``), else every core this process
may use. Tree ensembles split their walks over it.
"""

from __future__ import annotations

import os
import sys

__all__ = ["block_threads", "set_block_threads"]

_block_threads: int | None = None


def set_block_threads(threads: int | None) -> int | None:
    """Set the threads each block may use (None: no map is running); returns the previous."""
    global _block_threads
    previous, _block_threads = _block_threads, threads
    return previous


def block_threads() -> int:
    """Threads a model may use for one batch of a block."""
    if _block_threads is not None:
        return _block_threads
    torch = sys.modules.get("torch")
    if torch is not None:
        return torch.get_num_threads()
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
