"""Writing outputs so that a final path only ever holds a complete result.

Every workflow writes into a hidden staging folder beside its output folder and renames it
into place at the end; an error or a kill leaves the final path untouched.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from geosoil.errors import OutputError, OutputExistsError

__all__ = ["resumable_directory", "staged_directory", "write_bytes_atomic"]

log = logging.getLogger(__name__)


@contextmanager
def staged_directory(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder that replaces ``final`` only if the block succeeds.

    Parameters
    ----------
    final
        The output folder users will see.
    overwrite
        Replace an existing non-empty ``final``; otherwise that is an error, raised before
        any work starts.
    """
    final = Path(final)
    _check_final(final, overwrite=overwrite)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
    except OSError as err:
        raise OutputError(
            f"cannot create the output folder ({err.strerror})",
            path=parent,
            field="output.dir",
            fix="choose a folder you can write to",
        ) from err
    try:
        yield staging
        _publish(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


@contextmanager
def resumable_directory(
    final: str | Path, *, overwrite: bool = False, resume: bool = False
) -> Iterator[tuple[Path, bool]]:
    """Like :func:`staged_directory`, but a failed run's folder is kept for ``resume``.

    The staging folder has a fixed name (``.<name>.partial`` beside ``final``), so a rerun
    finds what a crashed, killed or failed run left.

    Yields
    ------
    (Path, bool)
        The staging folder, and whether it holds an interrupted run to resume.
    """
    final = Path(final)
    _check_final(final, overwrite=overwrite, resume=resume)
    staging = final.parent / f".{final.name}.partial"
    resumed = staging.is_dir()
    if resumed and not resume:
        if not overwrite:
            raise OutputExistsError(
                "an interrupted run of this output is waiting to be finished",
                path=staging,
                field="output.dir",
                fix="pass --resume to finish it, or --overwrite to start over",
            )
        shutil.rmtree(staging)
        resumed = False
    if resume and not resumed:
        log.info("nothing to resume at %s; starting a new run", staging)
    try:
        staging.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(
            f"cannot create the output folder ({err.strerror})",
            path=final.parent,
            field="output.dir",
            fix="choose a folder you can write to",
        ) from err
    yield staging, resumed
    _publish(staging, final)


def _check_final(final: Path, *, overwrite: bool, resume: bool = False) -> None:
    if final.exists() and not final.is_dir():
        raise OutputExistsError(
            "output path exists and is not a folder",
            path=final,
            fix="choose another output folder",
        )
    if final.is_dir() and any(final.iterdir()) and not overwrite:
        fix = "choose a new folder, or pass --overwrite to replace it"
        if resume:
            fix = "the run already finished there; " + fix
        raise OutputExistsError(
            "output folder exists and is not empty", path=final, field="output.dir", fix=fix
        )


def _publish(staging: Path, final: Path) -> None:
    if final.exists():
        retired = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, retired)
        os.replace(staging, final)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, final)
    log.debug("published %s", final)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        # os.open with 0o666 keeps the user's umask; mkstemp would leave the file 0600.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write file: {exc.strerror or exc}",
            path=path,
            fix="check permissions and free space, or choose another output folder",
        ) from exc
    return path
