"""An external program as a land surface model: :class:`CommandSimulator`.

File contract, one run per parameter set, in a fresh temporary folder that is also the
working directory of the program:

- ``forcing.csv``: columns ``step`` (0, 1, ...), ``time_step_s`` (the step length in
  seconds, the same on every row) and one column per forcing variable present, in
  :data:`~geosoil.process.lsm_forcing.FORCING_NAMES` order and
  :data:`~geosoil.process.lsm_forcing.FORCING_UNITS` units (``lw_in_w_m2`` only when measured;
  ``precip_mm`` is the depth fallen during the step);
- ``parameters.json``: an object parameter name -> physical value;
- the program writes ``fluxes.csv``: exactly the columns ``h_w_m2`` and ``le_w_m2`` (W m-2,
  upward positive) and one row per forcing step, no missing values.

The command is a list of arguments (or a string split like a shell would) in which
``{forcing}``, ``{parameters}`` and ``{output}`` are replaced by the absolute paths of those
three files. The folder is removed after the run, and after a failure too unless
``keep_failed=True`` (the error then names it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, OutputError, SimulatorError
from geosoil.models.lsm.simulator_base import (
    FINITE_FIX,
    SimulatorBase,
)
from geosoil.process.lsm_forcing import FLUX_NAMES, FORCING_NAMES, LsmForcing
from geosoil.process.parameters import ParameterSpec

__all__ = ["CommandSimulator"]

logger = logging.getLogger(__name__)

FORCING_FILE = "forcing.csv"
PARAMETERS_FILE = "parameters.json"
OUTPUT_FILE = "fluxes.csv"
PLACEHOLDERS = ("{forcing}", "{parameters}", "{output}")
_STDERR_LINES = 20


class CommandSimulator(SimulatorBase):
    """An external program as a simulator, run once per parameter set through files.

    See the module docstring for the file contract.

    Parameters
    ----------
    command
        Argument list (or a string, split like a shell would) with the placeholders
        ``{forcing}``, ``{parameters}`` and ``{output}``.
    parameter_specs
        The parameters written to ``parameters.json``, with units and bounds.
    name
        Short name for messages and the temporary folders.
    timeout_s
        Seconds one run may take.
    workdir
        Folder in which the temporary run folders are made (default: the system's).
    keep_failed
        Keep the folder of a failed run for inspection (the error names it).
    defaults
        Optional default physical values by name (the uncalibrated run), within bounds.
    """

    def __init__(
        self,
        command: Sequence[str] | str,
        *,
        parameter_specs: Sequence[ParameterSpec],
        name: str = "command",
        timeout_s: float = 600,
        workdir: str | Path | None = None,
        keep_failed: bool = False,
        defaults: Mapping[str, float] | None = None,
    ) -> None:
        arguments = shlex.split(command) if isinstance(command, str) else list(command)
        if not arguments or not all(isinstance(a, str) for a in arguments):
            raise ConfigError(
                f"simulator {name!r} has the command {command!r}",
                field="command",
                fix='give the program and its arguments, e.g. ["mymodel", "{forcing}", '
                '"{parameters}", "{output}"]',
            )
        if not timeout_s > 0:
            raise ConfigError(
                f"simulator {name!r} has timeout_s = {timeout_s}",
                field="timeout_s",
                fix="give the seconds one run may take, > 0",
            )
        self.command = arguments
        self.timeout_s = timeout_s
        self.workdir = Path(workdir) if workdir is not None else None
        self.keep_failed = keep_failed
        self._declare(name, parameter_specs, defaults)

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        n = parameters.shape[0]
        tables = [_forcing_table(forcing, row) for row in range(forcing.shape[0])]
        values = parameters.to(torch.float64).cpu().numpy()
        runs = []
        for i in range(n):
            logger.debug("simulator %s: run %d of %d", self.name, i + 1, n)
            table = tables[i if len(tables) > 1 else 0]
            runs.append(
                self._run_one(
                    table, dict(zip(self.parameter_names, map(float, values[i]), strict=True))
                )
            )
        return torch.from_numpy(np.stack(runs))

    def _run_one(self, forcing: pd.DataFrame, parameters: dict[str, float]) -> np.ndarray:
        try:
            if self.workdir is not None:
                self.workdir.mkdir(parents=True, exist_ok=True)
            folder = Path(tempfile.mkdtemp(prefix=f"geosoil-{self.name}-", dir=self.workdir))
        except OSError as exc:
            raise OutputError(
                f"cannot make a run folder for simulator {self.name!r}: {exc}",
                path=self.workdir or tempfile.gettempdir(),
                field="workdir",
                fix="give a writable workdir with free space",
            ) from exc
        try:
            fluxes = self._run_in(folder, forcing, parameters)
        except SimulatorError as exc:
            if self.keep_failed:
                exc.path = folder
                exc.message += f"; the run's files are kept in {folder}"
            else:
                shutil.rmtree(folder, ignore_errors=True)
                exc.path = None
                exc.fix = f"{exc.fix}; set keep_failed to keep the run's files for inspection"
            exc.args = (str(exc),)
            raise
        except OSError as exc:
            shutil.rmtree(folder, ignore_errors=True)
            raise OutputError(
                f"cannot write the input files of simulator {self.name!r}: {exc}",
                path=folder,
                field="workdir",
                fix="give a writable workdir with free space",
            ) from exc
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder, ignore_errors=True)
        return fluxes

    def _run_in(
        self, folder: Path, forcing: pd.DataFrame, parameters: dict[str, float]
    ) -> np.ndarray:
        paths = {
            "{forcing}": folder / FORCING_FILE,
            "{parameters}": folder / PARAMETERS_FILE,
            "{output}": folder / OUTPUT_FILE,
        }
        forcing.to_csv(paths["{forcing}"], index=False)
        paths["{parameters}"].write_text(json.dumps(parameters, indent=1))
        arguments = []
        for argument in self.command:
            for placeholder, path in paths.items():
                argument = argument.replace(placeholder, str(path.resolve()))
            arguments.append(argument)
        fix_command = "check the simulator's command (program name, arguments, placeholders)"
        try:
            completed = _run_process_group(arguments, cwd=folder, timeout_s=self.timeout_s)
        except FileNotFoundError as exc:
            raise SimulatorError(
                f"simulator {self.name!r}: program {arguments[0]!r} not found",
                field="command",
                fix="install the program or give its full path as the first element of command",
            ) from exc
        except PermissionError as exc:
            raise SimulatorError(
                f"simulator {self.name!r}: program {arguments[0]!r} cannot be executed ({exc})",
                field="command",
                fix="make the program executable or run it through its interpreter",
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise SimulatorError(
                f"simulator {self.name!r} did not finish within {self.timeout_s:g} s",
                field="timeout_s",
                fix="raise timeout_s or make the simulator faster",
            ) from exc
        if completed.returncode != 0:
            tail = "\n".join(completed.stderr.strip().splitlines()[-_STDERR_LINES:])
            raise SimulatorError(
                f"simulator {self.name!r} exited with code {completed.returncode}; end of its "
                f"stderr:\n{tail or '(empty)'}",
                field="command",
                fix=fix_command,
            )
        return _read_output(paths["{output}"], len(forcing), self.name)


def _run_process_group(
    arguments: list[str], *, cwd: Path, timeout_s: float
) -> subprocess.CompletedProcess:
    """Run a program in its own process group; on a timeout (or Ctrl-C) kill the whole group,
    so the children a simulator starts never outlive it as orphans."""
    process = subprocess.Popen(
        arguments,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    # Children that the program left running in its group go too.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    return subprocess.CompletedProcess(arguments, process.returncode, stdout, stderr)


def _forcing_table(forcing: LsmForcing, row: int) -> pd.DataFrame:
    steps = forcing.shape[1]
    columns: dict[str, Any] = {
        "step": np.arange(steps),
        "time_step_s": np.full(steps, float(forcing.time_step_s)),
    }
    for name in FORCING_NAMES:
        values = getattr(forcing, name)
        if values is not None:
            columns[name] = values[row].detach().to(torch.float64).cpu().numpy()
    return pd.DataFrame(columns)


def _read_output(path: Path, steps: int, name: str) -> np.ndarray:
    fix = (
        f"make the program write {OUTPUT_FILE} (the {{output}} path) with the columns "
        f"{','.join(FLUX_NAMES)} and one row per forcing step"
    )
    if not path.is_file():
        raise SimulatorError(
            f"simulator {name!r} exited normally but wrote no {OUTPUT_FILE}",
            path=path,
            field="output",
            fix=fix,
        )
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SimulatorError(
            f"simulator {name!r} wrote an unreadable {OUTPUT_FILE} ({exc})",
            path=path,
            field="output",
            fix=fix,
        ) from exc
    if sorted(table.columns) != sorted(FLUX_NAMES):
        raise SimulatorError(
            f"simulator {name!r} wrote the columns {list(table.columns)}",
            path=path,
            field="output",
            fix=fix,
        )
    if len(table) != steps:
        raise SimulatorError(
            f"simulator {name!r} wrote {len(table)} rows for {steps} forcing steps",
            path=path,
            field="output",
            fix=fix,
        )
    try:
        values = table[list(FLUX_NAMES)].to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise SimulatorError(
            f"simulator {name!r} wrote non-numeric fluxes ({exc})",
            path=path,
            field="output",
            fix=fix,
        ) from exc
    if not np.isfinite(values).all():
        raise SimulatorError(
            f"simulator {name!r} wrote {int((~np.isfinite(values)).sum())} missing or "
            "non-finite flux values",
            path=path,
            field="output",
            fix=FINITE_FIX,
        )
    return values.T
