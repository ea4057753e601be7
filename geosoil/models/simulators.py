"""The land surface model as a black box: anything that maps parameters to H and LE.

The MdPL workflow samples parameters, runs a simulator, trains a surrogate on the result and
evaluates calibrated parameters in the simulator again. It needs no gradient from the
simulator, only :class:`Simulator`: declared parameters (names, units, bounds) and
``run(forcing, parameters) -> (n, 2, t)`` float32 [H, LE] in W m-2. Three kinds:

- :class:`LsmSimulator`: geosoil's own bulk model (:mod:`geosoil.process.lsm`);
- :class:`CallableSimulator`: a Python function of the user's;
- :class:`CommandSimulator`: an external program, run once per parameter set through files.

File contract of :class:`CommandSimulator`, one run per parameter set, in a fresh temporary
folder that is also the working directory of the program:

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

import importlib
import json
import logging
import math
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError, GeoSoilError, OutputError
from geosoil.process.lsm import check_forcing_rows, check_parameter_tensor, simulate
from geosoil.process.lsm_forcing import FLUX_NAMES, FORCING_NAMES, LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETERS, LsmParameterSpec

__all__ = [
    "CallableSimulator",
    "CommandSimulator",
    "LsmSimulator",
    "Simulator",
    "SimulatorError",
    "simulator_from_spec",
]

logger = logging.getLogger(__name__)

FORCING_FILE = "forcing.csv"
PARAMETERS_FILE = "parameters.json"
OUTPUT_FILE = "fluxes.csv"
PLACEHOLDERS = ("{forcing}", "{parameters}", "{output}")
_STDERR_LINES = 20


class SimulatorError(GeoSoilError):
    """A simulator failed: not found, crashed, timed out, or returned unusable fluxes."""

    exit_code = 1


@runtime_checkable
class Simulator(Protocol):
    """What the MdPL workflow needs from a land surface model.

    Attributes
    ----------
    parameter_specs
        The parameters ``run`` takes, in column order, with units and bounds.
    name
        A short name for messages and provenance.
    """

    parameter_specs: tuple[LsmParameterSpec, ...]
    name: str

    def run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        """(n, p) physical parameters -> (n, 2, t) float32 fluxes [H, LE] in W m-2."""
        ...


class _Base:
    """Shared checks; subclasses implement ``_run`` on validated inputs."""

    name: str
    parameter_specs: tuple[LsmParameterSpec, ...]

    @property
    def parameter_names(self) -> tuple[str, ...]:
        """Names of the parameter columns."""
        return tuple(spec.name for spec in self.parameter_specs)

    def run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        """Fluxes (n, 2, t) float32 [H, LE] in W m-2 for (n, p) physical ``parameters``.

        Parameters
        ----------
        forcing
            (n, t) forcing, or one row shared by every parameter set.
        parameters
            Physical values in the order of :attr:`parameter_specs`, within their bounds.

        Raises
        ------
        ConfigError
            For parameters of the wrong shape or outside their bounds.
        SampleDataError
            For a forcing with neither n rows nor one.
        SimulatorError
            When the simulator fails or returns fluxes of the wrong shape or with NaN.
        """
        check_parameter_tensor(parameters, self.parameter_specs, owner=f"simulator {self.name!r}")
        check_forcing_rows(forcing, parameters.shape[0])
        with torch.no_grad():
            fluxes = self._run(forcing, parameters.detach())
        return _checked_fluxes(
            fluxes, (parameters.shape[0], len(FLUX_NAMES), forcing.shape[1]), self.name
        )

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, parameters={list(self.parameter_names)})"


def _checked_fluxes(values: Any, shape: tuple[int, int, int], name: str) -> torch.Tensor:
    try:
        if not isinstance(values, torch.Tensor):
            values = np.asarray(values, dtype=np.float64)
        fluxes = torch.as_tensor(values).detach().to(device="cpu", dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise SimulatorError(
            f"simulator {name!r} returned {type(values).__name__}, not numbers ({exc})",
            field="fluxes",
            fix="return an array-like of shape (n, 2, t): [H, LE] in W m-2 per parameter set",
        ) from exc
    if tuple(fluxes.shape) != shape:
        raise SimulatorError(
            f"simulator {name!r} returned fluxes of shape {tuple(fluxes.shape)}, expected {shape}",
            field="fluxes",
            fix="return (n parameter sets, 2 fluxes [H, LE], t forcing steps)",
        )
    if not bool(torch.isfinite(fluxes).all()):
        bad = int((~torch.isfinite(fluxes)).sum())
        raise SimulatorError(
            f"simulator {name!r} returned {bad} missing or non-finite flux values",
            field="fluxes",
            fix="make the simulator return finite H and LE for every step, or narrow the "
            "parameter bounds to where it runs",
        )
    return fluxes


class LsmSimulator(_Base):
    """geosoil's bulk land surface model (:func:`geosoil.process.lsm.simulate`) as a simulator.

    Runs in float64 and returns float32.

    Parameters
    ----------
    initial_soil_water_fraction
        Bucket filling at the start of every run, share of ``soil_water_max_mm``.
    """

    name = "lsm"
    parameter_specs = LSM_PARAMETERS

    def __init__(self, *, initial_soil_water_fraction: float = 1.0) -> None:
        if not (
            isinstance(initial_soil_water_fraction, (int, float))
            and 0.0 <= initial_soil_water_fraction <= 1.0
        ):
            raise ConfigError(
                f"initial soil water fraction is {initial_soil_water_fraction!r}",
                field="initial_soil_water_fraction",
                fix="give the bucket's initial filling as a share between 0 and 1",
            )
        self.initial_soil_water_fraction = float(initial_soil_water_fraction)

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
        output = simulate(
            forcing,
            parameters.to(torch.float64),
            initial_soil_water_fraction=self.initial_soil_water_fraction,
        )
        return output.fluxes()


def _checked_specs(
    specs: Sequence[LsmParameterSpec], field: str = "parameter_specs"
) -> tuple[LsmParameterSpec, ...]:
    specs = tuple(specs)
    if not specs:
        raise ConfigError(
            "a simulator needs at least one parameter",
            field=field,
            fix="declare the parameters to calibrate, each with name, unit, lower and upper",
        )
    seen = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, LsmParameterSpec):
            raise ConfigError(
                f"parameter {i} is a {type(spec).__name__}, not an LsmParameterSpec",
                field=f"{field}[{i}]",
                fix="declare parameters as LsmParameterSpec(name, unit, lower, upper, meaning)",
            )
        if spec.name in seen or not spec.name:
            raise ConfigError(
                f"parameter name {spec.name!r} is empty or given twice",
                field=f"{field}[{i}].name",
                fix="give every parameter a unique, non-empty name",
            )
        seen.add(spec.name)
        if not (
            math.isfinite(spec.lower) and math.isfinite(spec.upper) and spec.lower < spec.upper
        ):
            raise ConfigError(
                f"parameter {spec.name} has bounds [{spec.lower}, {spec.upper}]",
                field=f"{field}[{i}]",
                fix="give finite bounds with lower < upper",
            )
    return specs


def _checked_defaults(
    defaults: Mapping[str, float] | None, specs: tuple[LsmParameterSpec, ...]
) -> dict[str, float]:
    by_name = {spec.name: spec for spec in specs}
    values = {}
    for key, value in (defaults or {}).items():
        if key not in by_name:
            raise ConfigError(
                f"default given for unknown parameter {key!r}",
                field=f"defaults.{key}",
                fix=f"use one of {', '.join(by_name)}",
            )
        spec = by_name[key]
        value = float(value)
        if not (math.isfinite(value) and spec.lower <= value <= spec.upper):
            raise ConfigError(
                f"default {key} = {value:g} {spec.unit} is outside [{spec.lower:g}, "
                f"{spec.upper:g}]",
                field=f"defaults.{key}",
                fix=f"give {key} a default within its bounds",
            )
        values[key] = value
    return values


class CallableSimulator(_Base):
    """A user's Python function as a simulator.

    Parameters
    ----------
    function
        ``function(forcing, parameters) -> array-like (n, 2, t)`` [H, LE] in W m-2, with
        ``parameters`` an (n, p) tensor of physical values in ``parameter_specs`` order and
        ``forcing`` with n rows or one.
    parameter_specs
        The parameters the function takes, with units and bounds.
    name
        Short name for messages.
    defaults
        Optional default physical values by name (the uncalibrated run), within bounds.
    """

    def __init__(
        self,
        function: Callable[[LsmForcing, torch.Tensor], Any],
        *,
        parameter_specs: Sequence[LsmParameterSpec],
        name: str = "callable",
        defaults: Mapping[str, float] | None = None,
    ) -> None:
        if not callable(function):
            raise ConfigError(
                f"simulator {name!r} was given a {type(function).__name__}, not a function",
                field="callable",
                fix="pass a function(forcing, parameters) -> (n, 2, t) fluxes",
            )
        self.function = function
        self.parameter_specs = _checked_specs(parameter_specs)
        self.name = name
        self.defaults = _checked_defaults(defaults, self.parameter_specs)

    def _run(self, forcing: LsmForcing, parameters: torch.Tensor) -> Any:
        try:
            return self.function(forcing, parameters)
        except GeoSoilError:
            raise
        except Exception as exc:
            raise SimulatorError(
                f"simulator {self.name!r} raised {type(exc).__name__}: {exc}",
                field="callable",
                fix="fix the simulator function; it received forcing and an (n, p) tensor of "
                "physical parameters",
            ) from exc


class CommandSimulator(_Base):
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
        parameter_specs: Sequence[LsmParameterSpec],
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
        self.parameter_specs = _checked_specs(parameter_specs)
        self.name = name
        self.timeout_s = timeout_s
        self.workdir = Path(workdir) if workdir is not None else None
        self.keep_failed = keep_failed
        self.defaults = _checked_defaults(defaults, self.parameter_specs)

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
            completed = subprocess.run(
                arguments,
                cwd=folder,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=self.timeout_s,
                check=False,
            )
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
            fix="make the simulator return finite H and LE for every step, or narrow the "
            "parameter bounds to where it runs",
        )
    return values.T


# config keys per kind: required, optional
_SPEC_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "lsm": (frozenset(), frozenset({"initial_soil_water_fraction"})),
    "command": (
        frozenset({"command", "parameters"}),
        frozenset({"name", "timeout_s", "workdir", "keep_failed"}),
    ),
    "python": (frozenset({"callable", "parameters"}), frozenset({"name"})),
}
_PARAMETER_KEYS = (frozenset({"name", "unit", "lower", "upper"}), frozenset({"default", "meaning"}))


def simulator_from_spec(spec: Mapping[str, Any]) -> Simulator:
    """Build a simulator from a config mapping.

    Parameters
    ----------
    spec
        ``{"kind": "lsm"}`` (optionally ``initial_soil_water_fraction``);
        ``{"kind": "command", "command": [...], "parameters": [...]}`` (optionally ``name``,
        ``timeout_s``, ``workdir``, ``keep_failed``); or ``{"kind": "python", "callable":
        "package.module:function", "parameters": [...]}`` (optionally ``name``). Each entry
        of ``parameters`` has ``name``, ``unit``, ``lower``, ``upper`` and optionally
        ``default`` and ``meaning``.

    Raises
    ------
    ConfigError
        For an unknown kind, a missing or unknown key, bad parameters, or a callable that
        cannot be imported; ``field`` is ``simulator.<key>``.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"the simulator is a {type(spec).__name__}, not a mapping",
            field="simulator",
            fix='give a mapping such as {"kind": "lsm"}',
        )
    kind = spec.get("kind")
    if kind not in _SPEC_KEYS:
        raise ConfigError(
            f"unknown simulator kind {kind!r}",
            field="simulator.kind",
            fix=f"use one of {', '.join(_SPEC_KEYS)}",
        )
    required, optional = _SPEC_KEYS[kind]
    _check_keys(spec, required, required | optional | {"kind"}, "simulator", f"a {kind} simulator")
    options = {key: spec[key] for key in optional if key in spec}
    if kind == "lsm":
        return LsmSimulator(**options)
    specs, defaults = _parameters_from_spec(spec["parameters"])
    if kind == "command":
        return CommandSimulator(
            spec["command"], parameter_specs=specs, defaults=defaults, **options
        )
    return CallableSimulator(
        _import_callable(spec["callable"]), parameter_specs=specs, defaults=defaults, **options
    )


def _check_keys(
    mapping: Mapping[str, Any],
    required: frozenset[str],
    allowed: frozenset[str],
    field: str,
    what: str,
) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(
                f"unknown key {key!r} for {what}",
                field=f"{field}.{key}",
                fix=f"use only {', '.join(sorted(allowed))}",
            )
    for key in sorted(required):
        if key not in mapping:
            raise ConfigError(
                f"{what} needs {key!r}",
                field=f"{field}.{key}",
                fix=f"add {key} to {field}",
            )


def _parameters_from_spec(
    entries: Any,
) -> tuple[tuple[LsmParameterSpec, ...], dict[str, float]]:
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence) or not entries:
        raise ConfigError(
            "simulator parameters must be a non-empty list",
            field="simulator.parameters",
            fix="list each parameter as {name, unit, lower, upper, default}",
        )
    specs, defaults = [], {}
    for i, entry in enumerate(entries):
        field = f"simulator.parameters[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(
                f"parameter {i} is a {type(entry).__name__}, not a mapping",
                field=field,
                fix="give each parameter as {name, unit, lower, upper, default}",
            )
        _check_keys(
            entry, _PARAMETER_KEYS[0], _PARAMETER_KEYS[0] | _PARAMETER_KEYS[1], field, "a parameter"
        )
        try:
            lower, upper = float(entry["lower"]), float(entry["upper"])
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"parameter {entry['name']!r} has non-numeric bounds",
                field=f"{field}.lower",
                fix="give lower and upper as numbers",
            ) from exc
        specs.append(
            LsmParameterSpec(
                str(entry["name"]), str(entry["unit"]), lower, upper, str(entry.get("meaning", ""))
            )
        )
        if "default" in entry:
            default = entry["default"]
            if not (
                isinstance(default, (int, float))
                and not isinstance(default, bool)
                and lower <= default <= upper
            ):
                raise ConfigError(
                    f"parameter {entry['name']!r} has the default {default!r}, outside "
                    f"[{lower:g}, {upper:g}]",
                    field=f"{field}.default",
                    fix="give a numeric default within the bounds, or leave it out",
                )
            defaults[str(entry["name"])] = float(default)
    specs_tuple = _checked_specs(specs, field="simulator.parameters")
    return specs_tuple, _checked_defaults(defaults, specs_tuple)


def _import_callable(reference: Any) -> Callable[..., Any]:
    fix = (
        'give "package.module:function" naming an importable module (installed or on '
        "PYTHONPATH) and a function in it"
    )
    if not isinstance(reference, str) or reference.count(":") != 1:
        raise ConfigError(
            f"callable {reference!r} is not of the form package.module:function",
            field="simulator.callable",
            fix=fix,
        )
    module_name, attribute = reference.split(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(
            f"cannot import module {module_name!r} of callable {reference!r}: {exc}",
            field="simulator.callable",
            fix=fix,
        ) from exc
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(
                f"module {module_name!r} has no {attribute!r}",
                field="simulator.callable",
                fix=fix,
            )
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(
            f"{reference!r} is a {type(target).__name__}, not callable",
            field="simulator.callable",
            fix=fix,
        )
    return target
