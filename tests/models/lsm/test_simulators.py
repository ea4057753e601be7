"""Simulators: geosoil's LSM, a Python callable and an external program behind one interface."""

from __future__ import annotations

import math
import shlex
import sys
import textwrap

import numpy as np
import pytest
import torch

from geosoil.errors import ConfigError
from geosoil.models.lsm.simulators import (
    CallableSimulator,
    CommandSimulator,
    LsmSimulator,
    Simulator,
    SimulatorError,
    simulator_from_spec,
)
from geosoil.process.lsm import simulate
from geosoil.process.lsm_forcing import LsmForcing
from geosoil.process.lsm_params import LSM_PARAMETERS, scale_lsm_parameters
from geosoil.process.parameters import ParameterSpec

torch.set_num_threads(1)

TOY_SPECS = (
    ParameterSpec("albedo", "1", 0.05, 0.35, "shortwave albedo"),
    ParameterSpec("offset_w_m2", "W/m2", -10.0, 10.0, "added to LE"),
)

# A toy external model: H = albedo * SW, LE = offset + time_step_s / 900 (= offset + 2 for
# half-hours). It checks that it runs inside the folder holding its input files.
TOY_SCRIPT = """
import csv, json, os, sys
forcing_path, parameters_path, output_path = sys.argv[1:4]
assert os.path.exists("forcing.csv") and os.path.exists("parameters.json"), os.getcwd()
with open(parameters_path) as f:
    p = json.load(f)
with open(forcing_path, newline="") as f:
    rows = list(csv.DictReader(f))
with open(output_path, "w") as f:
    f.write("h_w_m2,le_w_m2\\n")
    for row in rows:
        h = p["albedo"] * float(row["sw_in_w_m2"])
        le = p["offset_w_m2"] + float(row["time_step_s"]) / 900
        f.write(f"{h!r},{le!r}\\n")
"""


def make_forcing(rows: int = 1, steps: int = 6, *, lw: bool = False) -> LsmForcing:
    hour = torch.arange(steps, dtype=torch.float32)[None, :] + 8 + torch.arange(rows)[:, None]
    sw = torch.clamp(600 * torch.sin((hour - 6) / 12 * math.pi), min=0.0)
    tair = 15 + 0.5 * hour
    ones = torch.ones(rows, steps)
    return LsmForcing(
        sw_in_w_m2=sw,
        tair_c=tair,
        vpd_kpa=0.8 * ones,
        wind_m_s=2.5 * ones,
        pressure_kpa=100.0 * ones,
        precip_mm=torch.zeros(rows, steps),
        lw_in_w_m2=320 * ones if lw else None,
        time_step_s=1800.0,
    )


def toy_parameters() -> torch.Tensor:
    return torch.tensor([[0.1, 0.0], [0.3, -5.0]])


def toy_expected(forcing: LsmForcing, parameters: torch.Tensor) -> torch.Tensor:
    h = parameters[:, :1] * forcing.sw_in_w_m2
    le = (parameters[:, 1:] + 2.0).expand_as(h)
    return torch.stack([h, le], dim=1)


def write_script(tmp_path, body: str, name: str = "model.py") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def command_simulator(tmp_path, body: str = TOY_SCRIPT, **options) -> CommandSimulator:
    script = write_script(tmp_path, body)
    options.setdefault("workdir", tmp_path / "runs")
    return CommandSimulator(
        [sys.executable, script, "{forcing}", "{parameters}", "{output}"],
        parameter_specs=TOY_SPECS,
        name="toy",
        **options,
    )


# --- LsmSimulator ---------------------------------------------------------------------


def test_lsm_simulator_equals_simulate():
    forcing = make_forcing(1, 24)
    g = torch.Generator().manual_seed(0)
    params = scale_lsm_parameters(0.1 + 0.8 * torch.rand(3, 8, generator=g))
    simulator = LsmSimulator()
    assert isinstance(simulator, Simulator)
    assert simulator.parameter_specs == LSM_PARAMETERS and simulator.name == "lsm"
    fluxes = simulator.run(forcing, params)
    assert fluxes.shape == (3, 2, 24) and fluxes.dtype == torch.float32
    reference = simulate(forcing, params.double()).fluxes()
    torch.testing.assert_close(fluxes, reference.float())
    assert fluxes[:, 1].abs().max() > 10  # not trivially zero


def test_lsm_simulator_needs_no_gradient_and_checks_bounds():
    params = scale_lsm_parameters(torch.full((2, 8), 0.5)).requires_grad_(True)
    fluxes = LsmSimulator().run(make_forcing(), params)
    assert not fluxes.requires_grad
    params = params.detach().clone()
    params[0, 0] = 0.9  # albedo
    with pytest.raises(ConfigError, match="albedo"):
        LsmSimulator().run(make_forcing(), params)


# --- CallableSimulator ----------------------------------------------------------------


def toy_function(forcing: LsmForcing, parameters: torch.Tensor) -> np.ndarray:
    return toy_expected(forcing.expand(parameters.shape[0]), parameters).numpy()


def test_callable_simulator_returns_float32_fluxes():
    simulator = CallableSimulator(toy_function, parameter_specs=TOY_SPECS, name="toy")
    assert isinstance(simulator, Simulator)
    forcing = make_forcing(2)
    fluxes = simulator.run(forcing, toy_parameters())
    assert fluxes.dtype == torch.float32 and fluxes.shape == (2, 2, 6)
    torch.testing.assert_close(fluxes, toy_expected(forcing, toy_parameters()))


@pytest.mark.parametrize(
    ("function", "message"),
    [
        (lambda f, p: np.zeros((p.shape[0], 3, f.shape[1])), "shape"),
        (lambda f, p: np.zeros((p.shape[0], 2, f.shape[1] - 1)), "shape"),
        (lambda f, p: np.full((p.shape[0], 2, f.shape[1]), np.nan), "non-finite"),
        (lambda f, p: "fluxes", "not numbers"),
        (lambda f, p: 1 / 0, "ZeroDivisionError"),
    ],
)
def test_callable_simulator_refuses_bad_results(function, message):
    simulator = CallableSimulator(function, parameter_specs=TOY_SPECS, name="broken")
    with pytest.raises(SimulatorError, match=message) as info:
        simulator.run(make_forcing(), toy_parameters())
    assert "'broken'" in str(info.value)


def test_callable_simulator_checks_declared_parameters():
    simulator = CallableSimulator(toy_function, parameter_specs=TOY_SPECS)
    with pytest.raises(ConfigError) as info:
        simulator.run(make_forcing(), torch.tensor([[0.1, 20.0]]))
    assert info.value.field == "parameters.offset_w_m2"
    with pytest.raises(ConfigError) as info:
        simulator.run(make_forcing(), torch.zeros(2, 3))
    assert info.value.field == "parameters"
    with pytest.raises(ConfigError):
        CallableSimulator(toy_function, parameter_specs=(TOY_SPECS[0], TOY_SPECS[0]))
    with pytest.raises(ConfigError):
        CallableSimulator("not callable", parameter_specs=TOY_SPECS)


# --- CommandSimulator -----------------------------------------------------------------


@pytest.mark.parametrize("forcing_rows", [1, 2])
def test_command_simulator_round_trips_the_file_contract(tmp_path, forcing_rows):
    simulator = command_simulator(tmp_path)
    assert isinstance(simulator, Simulator)
    forcing = make_forcing(forcing_rows, lw=True)
    fluxes = simulator.run(forcing, toy_parameters())
    assert fluxes.dtype == torch.float32 and fluxes.shape == (2, 2, 6)
    torch.testing.assert_close(fluxes, toy_expected(forcing, toy_parameters()))
    assert list((tmp_path / "runs").iterdir()) == []  # run folders removed


def test_command_given_as_a_string(tmp_path):
    script = write_script(tmp_path, TOY_SCRIPT)
    command = (
        f"{shlex.quote(sys.executable)} {shlex.quote(script)} {{forcing}} {{parameters}} {{output}}"
    )
    simulator = CommandSimulator(command, parameter_specs=TOY_SPECS, workdir=tmp_path / "runs")
    forcing = make_forcing()
    torch.testing.assert_close(
        simulator.run(forcing, toy_parameters()[:1]), toy_expected(forcing, toy_parameters()[:1])
    )


FAILING = {
    "exit": ("import sys\nsys.stderr.write('model blew up: bad soil\\n')\nsys.exit(3)\n", "code 3"),
    "silent": ("pass\n", "wrote no fluxes.csv"),
    "rows": (
        "import sys\nopen(sys.argv[3], 'w').write('h_w_m2,le_w_m2\\n1,2\\n')\n",
        "1 rows for 6 forcing steps",
    ),
    "columns": (
        "import sys\nopen(sys.argv[3], 'w').write('h,le\\n' + '1,2\\n' * 6)\n",
        "columns",
    ),
    "nan": (
        "import sys\nopen(sys.argv[3], 'w').write('h_w_m2,le_w_m2\\n' + '1,nan\\n' * 6)\n",
        "non-finite",
    ),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_command_simulator_failures_are_reported_and_cleaned(tmp_path, case):
    body, message = FAILING[case]
    simulator = command_simulator(tmp_path, body)
    with pytest.raises(SimulatorError, match=message) as info:
        simulator.run(make_forcing(), toy_parameters())
    assert "'toy'" in str(info.value) and info.value.fix
    assert info.value.exit_code == 1
    if case == "exit":
        assert "model blew up: bad soil" in str(info.value)
    assert list((tmp_path / "runs").iterdir()) == []


def test_command_not_found(tmp_path):
    simulator = CommandSimulator(
        [str(tmp_path / "no-such-model"), "{forcing}"],
        parameter_specs=TOY_SPECS,
        workdir=tmp_path / "runs",
    )
    with pytest.raises(SimulatorError, match="not found") as info:
        simulator.run(make_forcing(), toy_parameters())
    assert info.value.field == "command"
    assert list((tmp_path / "runs").iterdir()) == []


def test_command_timeout(tmp_path):
    simulator = command_simulator(tmp_path, "import time\ntime.sleep(30)\n", timeout_s=0.5)
    with pytest.raises(SimulatorError, match="did not finish") as info:
        simulator.run(make_forcing(), toy_parameters()[:1])
    assert info.value.field == "timeout_s"
    assert list((tmp_path / "runs").iterdir()) == []


def test_keep_failed_keeps_and_names_the_folder(tmp_path):
    simulator = command_simulator(tmp_path, FAILING["rows"][0], keep_failed=True)
    with pytest.raises(SimulatorError) as info:
        simulator.run(make_forcing(), toy_parameters()[:1])
    (kept,) = list((tmp_path / "runs").iterdir())
    assert info.value.path == kept and str(kept) in str(info.value)
    assert (kept / "forcing.csv").is_file() and (kept / "parameters.json").is_file()
    assert (kept / "fluxes.csv").is_file()


# --- simulator_from_spec --------------------------------------------------------------

SPEC_PARAMETERS = [
    {"name": "albedo", "unit": "1", "lower": 0.05, "upper": 0.35, "default": 0.2},
    {"name": "offset_w_m2", "unit": "W/m2", "lower": -10, "upper": 10},
]


def test_spec_lsm():
    simulator = simulator_from_spec({"kind": "lsm", "initial_soil_water_fraction": 0.5})
    assert isinstance(simulator, LsmSimulator)
    assert simulator.initial_soil_water_fraction == 0.5


def test_spec_command(tmp_path):
    script = write_script(tmp_path, TOY_SCRIPT)
    simulator = simulator_from_spec(
        {
            "kind": "command",
            "command": [sys.executable, script, "{forcing}", "{parameters}", "{output}"],
            "parameters": SPEC_PARAMETERS,
            "name": "toy",
            "timeout_s": 60,
            "workdir": str(tmp_path / "runs"),
        }
    )
    assert isinstance(simulator, CommandSimulator)
    assert [s.name for s in simulator.parameter_specs] == ["albedo", "offset_w_m2"]
    assert simulator.parameter_specs[1].lower == -10.0
    assert simulator.defaults == {"albedo": 0.2}
    forcing = make_forcing()
    torch.testing.assert_close(
        simulator.run(forcing, toy_parameters()), toy_expected(forcing, toy_parameters())
    )


def test_spec_python(tmp_path, monkeypatch):
    (tmp_path / "geosoil_toy_model_mod.py").write_text(
        "import numpy as np\n"
        "def fluxes(forcing, parameters):\n"
        "    h = parameters[:, :1].numpy() * forcing.sw_in_w_m2.numpy()\n"
        "    le = np.broadcast_to(parameters[:, 1:].numpy() + 2.0, h.shape)\n"
        "    return np.stack([h, le], axis=1)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    simulator = simulator_from_spec(
        {
            "kind": "python",
            "callable": "geosoil_toy_model_mod:fluxes",
            "parameters": SPEC_PARAMETERS,
        }
    )
    assert isinstance(simulator, CallableSimulator) and simulator.name == "callable"
    forcing = make_forcing()
    torch.testing.assert_close(
        simulator.run(forcing, toy_parameters()), toy_expected(forcing, toy_parameters())
    )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"kind": "fortran"}, "simulator.kind"),
        ({"kind": "lsm", "initial_soil_water_fraction": 2}, "initial_soil_water_fraction"),
        ({}, "simulator.kind"),
        ({"kind": "lsm", "parameters": SPEC_PARAMETERS}, "simulator.parameters"),
        ({"kind": "command", "parameters": SPEC_PARAMETERS}, "simulator.command"),
        ({"kind": "command", "command": ["x"], "parameters": []}, "simulator.parameters"),
        (
            {"kind": "python", "callable": "no_such_module_xyz:run", "parameters": SPEC_PARAMETERS},
            "simulator.callable",
        ),
        (
            {"kind": "python", "callable": "math:no_such_function", "parameters": SPEC_PARAMETERS},
            "simulator.callable",
        ),
        (
            {"kind": "python", "callable": "math", "parameters": SPEC_PARAMETERS},
            "simulator.callable",
        ),
        (
            {"kind": "python", "callable": "math:pi", "parameters": SPEC_PARAMETERS},
            "simulator.callable",
        ),
        (
            {
                "kind": "command",
                "command": ["x"],
                "parameters": [{"name": "a", "unit": "1", "lower": 1, "upper": 0}],
            },
            "simulator.parameters[0]",
        ),
        (
            {
                "kind": "command",
                "command": ["x"],
                "parameters": [{"name": "a", "unit": "1", "lower": 0, "upper": 1, "dflt": 1}],
            },
            "simulator.parameters[0].dflt",
        ),
        (
            {
                "kind": "command",
                "command": ["x"],
                "parameters": [{"name": "a", "unit": "1", "lower": 0, "upper": 1, "default": 2}],
            },
            "simulator.parameters[0].default",
        ),
    ],
)
def test_bad_specs_are_config_errors(spec, field):
    with pytest.raises(ConfigError) as info:
        simulator_from_spec(spec)
    assert info.value.field == field
    assert info.value.fix
