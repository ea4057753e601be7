"""Running a map's blocks: dask's threaded scheduler here, or a dask.distributed cluster.

Each block is one task that reads, predicts, writes its chunks to the store and returns its
statistics, so nothing large ever travels back and memory stays bounded by the blocks in
flight. Thread counts are chosen so that dask threads x each block's torch threads = cores;
numpy models (the covariate MLP) run one BLAS thread per block.
"""

from __future__ import annotations

import copy
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace

from tqdm import tqdm

from geosoil.errors import ConfigError
from geosoil.geo.grid import Block
from geosoil.mapping.job import MapJob, compute_block
from geosoil.mapping.runtime import (
    available_cores,
    in_dask_worker,
    path_map,
    prepare_process,
    reader_for,
    release_thread_reader,
    worker_path,
)
from geosoil.mapping.statistics import BandStatistics
from geosoil.mapping.store import BlockStore
from geosoil.models.threads import set_block_threads

__all__ = ["Execution", "on_this_worker", "run_block", "run_blocks", "thread_plan"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Execution:
    """Where blocks run.

    Parameters
    ----------
    threads
        Threads of the threaded scheduler (all cores by default; more than the cores are
        clamped to them, with a warning).
    workers
        Start a local dask.distributed cluster of this many worker processes.
    scheduler
        Address of a running dask scheduler to join (``tcp://host:8786``).
    progress
        Show a progress bar with ETA (on a terminal).
    """

    threads: int | None = None
    workers: int | None = None
    scheduler: str | None = None
    progress: bool = True


def run_block(job: MapJob, store: BlockStore, block: Block) -> tuple[tuple[int, int], dict]:
    """Compute one block, write it to the store, mark it finished; returns its statistics.

    Covariates are read through this thread's reader, which stays open until a block of
    another job runs on the thread or :func:`release_thread_reader` is called there.
    """
    prepare_process()
    if in_dask_worker():
        job, store = on_this_worker(job, store)
        # A worker process ends without a chance to close thread-held GDAL datasets on their
        # threads ("No GDAL environment exists" at exit): open and close them per block.
        with job.stack.open(job.grid) as reader:
            features = reader.read(block.window)
    else:
        features = reader_for(job).read(block.window)
    layers = compute_block(job, block, features)
    stats = {}
    stored = {}
    for var in job.variables:
        values = layers[var.name]
        stats[var.name] = BandStatistics.of(values).to_dict()
        stored[var.name] = var.to_storage(values)
    store.write_block(block, stored)
    store.mark_done(block, stats)
    return block.index, stats


def on_this_worker(job: MapJob, store: BlockStore) -> tuple[MapJob, BlockStore]:
    """``job`` and ``store`` with their files named as this worker sees them.

    A worker on another machine may mount the shared storage elsewhere than the machine that
    runs ``geosoil map``: :data:`PATH_MAP_VARIABLE` in the worker's environment maps the
    client's path prefixes to the worker's (covariates, cube and output store).
    """
    prefixes = path_map()
    if not prefixes:
        return job, store
    layers = tuple(
        layer.model_copy(update={"path": worker_path(layer.path, prefixes)})
        for layer in job.stack.layers
    )
    cube = job.stack.cube
    if cube is not None:
        cube = replace(cube, path=worker_path(cube.path, prefixes))
    local_store = copy.copy(store)
    local_store.path = worker_path(store.path, prefixes)
    return replace(job, stack=replace(job.stack, layers=layers, cube=cube)), local_store


def run_blocks(
    job: MapJob,
    store: BlockStore,
    blocks: Sequence[Block],
    execution: Execution,
    *,
    n_total: int | None = None,
) -> Iterator[tuple[tuple[int, int], dict]]:
    """Run ``blocks`` on the chosen scheduler; yields (block index, statistics) of each."""
    n_total = n_total or len(blocks)
    bar = tqdm(
        total=n_total,
        initial=n_total - len(blocks),
        desc="mapping",
        unit="block",
        disable=None if execution.progress else True,
    )
    with bar:
        if execution.workers is None and execution.scheduler is None:
            yield from _run_threaded(job, store, blocks, execution.threads, bar)
        else:
            yield from _run_distributed(job, store, blocks, execution, bar)


def thread_plan(requested: int | None, n_blocks: int) -> tuple[int, int]:
    """Threads of the threaded scheduler, and each block's own threads (torch, tree kernels).

    ``requested`` above the cores is clamped to them, with a warning: more threads than cores
    only make the blocks wait on each other. With fewer blocks than threads, the cores that no
    block would use go to each block's own threads (a small map is often a single block).
    """
    cores = available_cores()
    if requested is not None and requested > cores:
        log.warning(
            "execution.threads=%d is more than the %d core(s) this process may use: "
            "running %d threads",
            requested,
            cores,
            cores,
        )
        requested = cores
    threads = max(1, min(requested or cores, n_blocks))
    return threads, max(1, cores // threads)


@contextmanager
def block_threads(threads: int) -> Iterator[None]:
    """Each block's own threads for the duration of a run: ``threads`` for tree walks
    (:func:`geosoil.models.threads.block_threads`) and torch (when a model of the run has
    imported torch; nothing else uses them), and one BLAS thread.

    A numpy model's products are small (a batch of pixels through a few dense layers): a
    second BLAS thread made the Meuse MLP's predict 3x slower in CPU and elapsed time on the
    shared 2-core machine (3,047 and 65,536 rows), so blocks, not BLAS, use the cores.
    """
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    with ExitStack() as stack:
        stack.callback(set_block_threads, set_block_threads(threads))
        if torch is not None:
            stack.callback(torch.set_num_threads, torch.get_num_threads())
            torch.set_num_threads(threads)
        stack.enter_context(threadpool_limits(1, user_api="blas"))
        yield


def _run_threaded(job, store, blocks, threads, bar) -> Iterator:
    threads, block_thread_count = thread_plan(threads, len(blocks))
    log.info("threaded scheduler: %d threads x %d threads per block", threads, block_thread_count)
    if threads == 1:
        # One block, or one thread asked for: the blocks run here, without a scheduler.
        try:
            with block_threads(block_thread_count):
                for block in blocks:
                    result = run_block(job, store, block)
                    bar.update(1)
                    yield result
        finally:
            release_thread_reader()
        return
    import dask
    from dask.threaded import get as threaded_get

    tasks = [
        dask.delayed(run_block, pure=False)(job, store, block, dask_key_name=_key(block))
        for block in blocks
    ]
    pool = ThreadPoolExecutor(threads, thread_name_prefix="geosoil-block")
    try:
        with block_threads(block_thread_count), _block_progress(bar):
            # The scheduler as a function: dask then skips importing dask.distributed.
            results = dask.compute(*tasks, scheduler=threaded_get, pool=pool)
    finally:
        _release_every_thread(pool, threads)
    yield from results


def _release_every_thread(pool: ThreadPoolExecutor, threads: int) -> None:
    """Close each pool thread's reader on that thread (GDAL requires it), then stop the pool."""
    barrier = threading.Barrier(threads)

    def release() -> None:
        release_thread_reader()
        # Holding every thread here until all have released gives each thread one call.
        barrier.wait(timeout=60)

    try:
        for future in [pool.submit(release) for _ in range(threads)]:
            future.result()
    finally:
        pool.shutdown()


def _key(block: Block) -> str:
    return f"geosoil-block-{block.index[0]}-{block.index[1]}"


def _block_progress(bar):
    """A dask callback that advances the bar when a block task finishes."""
    from dask.callbacks import Callback

    class BlockProgress(Callback):
        def _posttask(self, key, result, dsk, state, worker_id) -> None:
            if isinstance(key, str) and key.startswith("geosoil-block-"):
                bar.update(1)

    return BlockProgress()


def _run_distributed(job, store, blocks, execution: Execution, bar) -> Iterator:
    from distributed import as_completed

    with _client(execution) as client:
        # The job (models included) travels once to every worker, not inside every task.
        job_future = client.scatter(job, broadcast=True, hash=False)
        store_future = client.scatter(store, broadcast=True, hash=False)
        futures = [
            client.submit(
                run_block,
                job_future,
                store_future,
                block,
                key=_key(block) + f"-{job.fingerprint[:12]}",
                pure=False,
            )
            for block in blocks
        ]
        try:
            for future in as_completed(futures):
                result = future.result()
                bar.update(1)
                yield result
        finally:
            client.cancel(futures)


@contextmanager
def _client(execution: Execution):
    try:
        from distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - distributed is a dependency
        raise ConfigError(
            "dask.distributed is not installed",
            field="execution.workers",
            fix="pip install distributed, or run without --workers/--scheduler",
        ) from err
    # Importing distributed applies its own logging config (INFO); put its loggers back to
    # what the CLI gives third-party libraries, so `-q` and the default stay quiet.
    verbose = logging.getLogger().getEffectiveLevel() <= logging.DEBUG
    logging.getLogger("distributed").setLevel(logging.DEBUG if verbose else logging.WARNING)
    if execution.scheduler is not None:
        try:
            client = Client(execution.scheduler, timeout="10s")
        except OSError as err:
            raise ConfigError(
                f"cannot reach the dask scheduler at {execution.scheduler} ({err})",
                field="execution.scheduler",
                fix="check the address (tcp://host:8786) and that the scheduler is running",
            ) from err
        with client:
            log.info("joined dask scheduler %s", execution.scheduler)
            yield client
        return
    cores = available_cores()
    threads_per_worker = max(1, cores // execution.workers)
    with (
        LocalCluster(
            n_workers=execution.workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            dashboard_address=None,
            # Task errors reach the client as exceptions; what workers log themselves at
            # shutdown (a heartbeat racing the closing scheduler) is noise with a traceback.
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        log.info("local cluster: %d workers x %d threads", execution.workers, threads_per_worker)
        yield client
