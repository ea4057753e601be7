"""Writing outputs so that a final path only ever holds a complete result.

Every workflow writes into a hidden staging folder beside its output folder and renames it
into place at the end; an error or a kill leaves the final path untouched. While it runs, the
output folder is locked (``.<name>.lock`` beside it, holding the PID and host), so two runs
never write the same output at once. Staging folders are created exclusively and never
followed through a symbolic link, and every name that becomes a file name passes
:func:`check_file_name`.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from geosoil.errors import ConfigError, GeoSoilError, OutputError, OutputExistsError

__all__ = [
    "check_file_name",
    "contained_path",
    "fixed_gpkg_timestamp",
    "output_lock",
    "replaced_atomically",
    "resumable_directory",
    "staged_directory",
    "write_bytes_atomic",
]

log = logging.getLogger(__name__)

# A name that becomes a file name: a plain identifier, no separator, no "..", not absolute.
_FILE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,119}")


def check_file_name(name: str, *, path: str | Path | None = None, field: str) -> str:
    """Return ``name`` if it is safe as a file name inside an output folder.

    Layer names come from artifacts, configs and products; each becomes ``<name>.tif``,
    ``<name>.qml`` and a Zarr variable. Only letters, digits, ``_`` and ``-`` (starting with
    a letter or ``_``, at most 120 characters) are accepted, so no name can climb out of the
    output folder or be mistaken for a path.

    Raises
    ------
    ConfigError
        The name is empty, absolute, holds a separator, ``..`` or another character.
    """
    if not isinstance(name, str) or not _FILE_NAME.fullmatch(name):
        raise ConfigError(
            f"layer name {name!r} cannot be a file name: names are written as <name>.tif "
            "inside the output folder",
            path=path,
            field=field,
            fix="use a plain identifier: letters, digits, '_' and '-', starting with a letter "
            "(e.g. kex_cmol_kg)",
        )
    return name


def contained_path(root: str | Path, name: str) -> Path:
    """``root / name``, refused unless it resolves to a direct child of ``root``."""
    root = Path(root)
    target = root / name
    if target.parent.resolve() != root.resolve() or target.name != name:
        raise OutputError(
            f"refusing to write {name!r} outside the output folder",
            path=root,
            field="output.dir",
            fix="use plain layer names (letters, digits, '_' and '-')",
        )
    return target


def _remove(path: Path) -> None:
    """Delete a file, a link (never what it points to) or a folder tree."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _unwritable(final: Path, err: OSError) -> OutputError:
    return OutputError(
        f"cannot create the output folder ({err.strerror or err})",
        path=final.parent,
        field="output.dir",
        fix="choose a folder you can write to",
    )


def _lock_path(final: Path) -> Path:
    return final.parent / f".{final.name}.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _read_holder(lock: Path) -> dict | None:
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


@contextmanager
def output_lock(final: str | Path) -> Iterator[Path]:
    """Hold an advisory lock on the output folder ``final`` for the duration of the block.

    The lock is a file ``.<name>.lock`` beside ``final`` holding the PID and host of the
    run; it appears atomically (a hard link of a complete file) and is removed at the end. A
    lock whose process is dead on this host is stale: it is taken over with a warning.

    Raises
    ------
    OutputError
        Another live run (or a run on another host) holds the lock, or the folder beside
        ``final`` cannot be written.
    """
    final = Path(final)
    lock = _lock_path(final)
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        draft = final.parent / f".{final.name}.lock-{uuid.uuid4().hex[:8]}"
        draft.write_text(json.dumps(me))
    except OSError as err:
        raise _unwritable(final, err) from err
    try:
        for _ in range(3):
            try:
                os.link(draft, lock)
                break
            except FileExistsError:
                holder = _read_holder(lock)
                if not _stale(holder, me):
                    raise OutputError(
                        "another geosoil run is writing this output "
                        f"(pid {holder.get('pid')} on {holder.get('host')})",
                        path=final,
                        field="output.dir",
                        fix="wait for it to finish, or choose another output folder; if no "
                        f"run is active, delete {lock}",
                    ) from None
                log.warning(
                    "taking over the stale lock of a run that no longer exists (%s): %s",
                    holder or "unreadable",
                    lock,
                )
                lock.unlink(missing_ok=True)
        else:  # pragma: no cover - three takeovers lost in a row
            raise OutputError("cannot take the output folder's lock", path=lock, field="output.dir")
    finally:
        draft.unlink(missing_ok=True)
    try:
        yield lock
    finally:
        if _read_holder(lock) == me:
            lock.unlink(missing_ok=True)


def _stale(holder: dict | None, me: dict) -> bool:
    if holder is None:
        return True  # unreadable: never a live run's (locks appear complete)
    if holder.get("host") != me["host"] or not isinstance(holder.get("pid"), int):
        return False
    return holder["pid"] != me["pid"] and not _pid_alive(holder["pid"])


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
    with output_lock(final):
        # Under the lock no other run is alive: staging folders of killed runs are orphans.
        for orphan in final.parent.glob(f".{glob.escape(final.name)}.partial-*"):
            log.warning("removing the staging folder of an interrupted run: %s", orphan)
            _remove(orphan)
        staging = final.parent / f".{final.name}.partial-{uuid.uuid4().hex[:8]}"
        _make_staging(staging, final)
        try:
            yield staging
            _publish(staging, final)
        except BaseException:
            _remove(staging)
            raise


def _make_staging(staging: Path, final: Path) -> None:
    """Create ``staging`` exclusively: an existing file, folder or link there is an error."""
    try:
        staging.mkdir()
    except FileExistsError as err:
        raise OutputError(
            "the staging folder exists already (another run, or a planted file)",
            path=staging,
            field="output.dir",
            fix=f"make sure no other run writes {final}, then delete {staging}",
        ) from err
    except OSError as err:
        raise _unwritable(final, err) from err


@contextmanager
def resumable_directory(
    final: str | Path,
    *,
    overwrite: bool = False,
    resume: bool = False,
    worth_keeping: Callable[[Path], bool] | None = None,
) -> Iterator[tuple[Path, bool]]:
    """Like :func:`staged_directory`, but a failed run's folder is kept for ``resume``.

    The staging folder has a fixed name (``.<name>.partial`` beside ``final``), so a rerun
    finds what a crashed, killed or failed run left.

    Parameters
    ----------
    worth_keeping
        Called on the staging folder when a new (not resumed) run fails with a
        :class:`GeoSoilError`: whether it holds finished work. If not (the run failed its
        input checks), the folder is removed, so a corrected rerun starts clean. By default
        a non-empty folder is kept.

    Yields
    ------
    (Path, bool)
        The staging folder, and whether it holds an interrupted run to resume.
    """
    final = Path(final)
    _check_final(final, overwrite=overwrite, resume=resume)
    staging = final.parent / f".{final.name}.partial"
    with output_lock(final):
        if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
            if not overwrite:
                raise OutputError(
                    "the staging folder of this output is a link or a file, not a folder "
                    "geosoil made; it is never followed",
                    path=staging,
                    field="output.dir",
                    fix=f"delete {staging} (only the link itself), or pass --overwrite",
                )
            staging.unlink()
        resumed = staging.is_dir()
        links = [entry for entry in staging.iterdir() if entry.is_symlink()] if resumed else []
        if links and resume:
            raise OutputError(
                "the interrupted run's folder holds a link, which geosoil never follows",
                path=links[0],
                field="output.resume",
                fix="pass --overwrite to start over",
            )
        if resumed and not resume:
            if not overwrite:
                raise OutputExistsError(
                    "an interrupted run of this output is waiting to be finished",
                    path=staging,
                    field="output.dir",
                    fix="pass --resume to finish it, or --overwrite to start over",
                )
            _remove(staging)
            resumed = False
        if resume and not resumed:
            log.info("nothing to resume at %s; starting a new run", staging)
        if not resumed:
            _make_staging(staging, final)
        try:
            yield staging, resumed
        except GeoSoilError:
            keep = worth_keeping or (lambda folder: any(folder.iterdir()))
            if not resumed and not keep(staging):
                _remove(staging)
            raise
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
    if final.exists() or final.is_symlink():
        retired = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, retired)
        os.replace(staging, final)
        _remove(retired)
    else:
        os.replace(staging, final)
    log.debug("published %s", final)


@contextmanager
def fixed_gpkg_timestamp(timestamp: str) -> Iterator[None]:
    """GeoPackages written inside the block record ``timestamp`` as their last change (GDAL's
    ``OGR_CURRENT_DATE``), so that identical runs give identical bytes."""
    import pyogrio

    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": timestamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


@contextmanager
def replaced_atomically(path: str | Path, *, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` when the block
    ends without an error, removed otherwise, so ``path`` only ever appears complete.

    ``suffix`` ends the temporary name (a writer that picks its format by it needs it).
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}{suffix}")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    try:
        with replaced_atomically(path) as temporary:
            # os.open with 0o666 keeps the user's umask; mkstemp would leave the file 0600.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        raise OutputError(
            f"cannot write file: {exc.strerror or exc}",
            path=path,
            fix="check permissions and free space, or choose another output folder",
        ) from exc
    return path
