"""Per-process and per-thread state of the workers that compute blocks.

GDAL datasets must not be shared between threads, so each thread opens its own reader of a
job's stack, once, and keeps it for every block it computes. Process-wide settings (torch
threads, BLAS threads, the allocator) are applied once per process, where the blocks run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from geosoil.errors import ConfigError
from geosoil.mapping.stack import StackReader
from geosoil.models.threads import set_block_threads

__all__ = [
    "PATH_MAP_VARIABLE",
    "available_cores",
    "in_dask_worker",
    "keep_heap_memory",
    "path_map",
    "prepare_process",
    "reader_for",
    "release_thread_reader",
    "worker_path",
]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_local = threading.local()
_prepared = threading.Event()


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks and container limits)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def reader_for(job) -> StackReader:
    """This thread's reader of the job's stack, opened on first use.

    A thread keeps one job's reader at a time; a block of another job closes it first.
    GDAL datasets must be closed on the thread that opened them.
    """
    entry = getattr(_local, "entry", None)
    if entry is not None and entry[0] == job.fingerprint:
        return entry[2]
    release_thread_reader()
    resources = ExitStack()
    reader = resources.enter_context(job.stack.open(job.grid))
    _local.entry = (job.fingerprint, resources, reader)
    return reader


def release_thread_reader() -> bool:
    """Close this thread's reader, if it has one."""
    entry = getattr(_local, "entry", None)
    _local.entry = None
    if entry is None:
        return False
    entry[1].close()
    return True


def prepare_process() -> None:
    """Apply the process-wide settings of a process that computes blocks, once.

    In a dask worker, torch threads (when a model has imported torch) are set so that worker
    threads x torch threads = cores, and BLAS runs one thread per task (see
    :func:`geosoil.mapping.execution.block_threads`); the threaded scheduler sets them
    itself, for the duration of a run.
    """
    if _prepared.is_set():
        return
    with _lock:
        if _prepared.is_set():
            return
        threads = _threads_for_dask_worker()
        if threads:
            set_block_threads(threads)
            torch = sys.modules.get("torch")
            if torch is not None and torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
            from threadpoolctl import threadpool_limits

            threadpool_limits(1, user_api="blas")
        keep_heap_memory()
        _prepared.set()


def _dask_worker():
    if "distributed" not in sys.modules:
        return None  # a worker process has imported it; this process never started one
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None


PATH_MAP_VARIABLE = "GEOSOIL_PATH_MAP"
"""Environment variable of a dask worker that sees the shared files under other paths than
the machine running ``geosoil map``: ``CLIENT_PREFIX=WORKER_PREFIX`` pairs separated by
``;`` (e.g. ``/data=/mnt/data;/scratch/out=/mnt/out``)."""


def path_map() -> list[tuple[str, str]]:
    """The (client prefix, worker prefix) pairs of :data:`PATH_MAP_VARIABLE`, longest first.

    Raises
    ------
    ConfigError
        A pair without ``=`` or with an empty side.
    """
    pairs = []
    for item in filter(None, os.environ.get(PATH_MAP_VARIABLE, "").split(";")):
        client, sep, worker = (part.strip() for part in item.partition("="))
        if not (sep and client and worker):
            raise ConfigError(
                f"{PATH_MAP_VARIABLE} entry '{item}' is not CLIENT_PREFIX=WORKER_PREFIX",
                field=PATH_MAP_VARIABLE,
                fix="set it to pairs like /data=/mnt/data, separated by ';'",
            )
        pairs.append((client.rstrip("/") or "/", worker.rstrip("/") or "/"))
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def worker_path(path, prefixes: list[tuple[str, str]]):
    """``path`` with its longest matching client prefix replaced (same type as given)."""
    text = str(path)
    for client, worker in prefixes:
        if text == client or text.startswith(client.rstrip("/") + "/"):
            mapped = worker + text[len(client) :]
            return Path(mapped) if isinstance(path, Path) else mapped
    return path


def in_dask_worker() -> bool:
    """Whether this code runs in a dask.distributed worker."""
    return _dask_worker() is not None


def _threads_for_dask_worker() -> int | None:
    """In a dask worker: cores / worker threads, so the worker's tasks do not oversubscribe."""
    worker = _dask_worker()
    if worker is None:
        return None
    return max(1, available_cores() // max(1, worker.state.nthreads))


def keep_heap_memory() -> bool:
    """Serve large arrays from the heap and keep up to 64 MB of freed memory (glibc only).

    Activations of a forward pass above glibc's mmap threshold are otherwise mapped fresh and
    zeroed by the kernel on every batch: a third to half of CPU time on the mapping workload
    (../shared/PERFORMANCE_NOTES.md). Peak memory stays bounded by the block size.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    ok = libc.mallopt(m_mmap_max, 0) == 1
    ok &= libc.mallopt(m_trim_threshold, 64 << 20) == 1
    if not ok:
        log.debug("mallopt refused; keeping the allocator's defaults")
    return ok
