"""Land surface model speed: a year of half-hours for a batch of parameter sets.

    python benchmarks/lsm_speed.py [--sets 1,64,256] [--steps 17520] [--threads 1] [--json OUT]

Times :func:`geosoil.process.lsm.simulate` on the synthetic weather of one tower (float64),
without gradients (what the surrogate's training data and the evaluation cost) and with a
backward pass through the whole year (what a direct, surrogate-free calibration would cost),
and reports parameter-set-years per second: the median of three repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch
from provenance import code_state, cpu_name

from geosoil.models.lsm.parameter_sampling import latin_hypercube, scale_to_bounds
from geosoil.process.lsm import simulate
from geosoil.process.lsm_params import LSM_PARAMETERS
from geosoil.synthetic import make_flux_sites


def timed(function, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default="1,64,256")
    parser.add_argument("--steps", type=int, default=17520, help="half-hours (17520 = a year)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    days = args.steps // 48
    forcing = make_flux_sites(1, n_days=days, seed=0).sites[0].to_forcing(torch.float64)
    rows = []
    for n in (int(v) for v in args.sets.split(",")):
        unit = latin_hypercube(n, LSM_PARAMETERS, seed=0)
        physical = scale_to_bounds(unit, LSM_PARAMETERS).to(torch.float64)

        def forward(physical=physical):
            with torch.no_grad():
                simulate(forcing, physical)

        def backward(physical=physical):
            params = physical.clone().requires_grad_(True)
            simulate(forcing, params).le_w_m2.mean().backward()

        seconds = timed(forward)
        seconds_grad = timed(backward)
        rows.append(
            {
                "parameter_sets": n,
                "steps": forcing.shape[1],
                "forward_s": round(seconds, 3),
                "forward_backward_s": round(seconds_grad, 3),
                "set_years_per_s": round(n * forcing.shape[1] / 17520 / seconds, 1),
            }
        )
        print(json.dumps(rows[-1]))
    out = {
        "benchmark": "lsm_speed",
        "command": "python benchmarks/lsm_speed.py " + " ".join(argv or sys.argv[1:]),
        "threads": args.threads,
        "results": rows,
        "machine": {"cpu": cpu_name(), "python": platform.python_version()},
        "code": code_state(),
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return out


if __name__ == "__main__":
    main()
