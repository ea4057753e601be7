"""CLM5 matrix model: steady-state solves per second, batched (issue 6 evidence).

    python benchmarks/clm5_solve.py [--batch-sizes 1,64,1024] [--threads 1,2] \\
        [--min-seconds 1.0] [--json OUT]

For each torch thread count, dtype (float32, float64) and batch size, times
:func:`geosoil.process.clm5.steady_state` (matrix assembly + one batched solve of 140 x 140
systems) and a forward + backward pass of a SOC misfit through it, and reports sites
(steady states) per second: the median over repeats of at least ``--min-seconds`` each.
Forcings are random but shaped like ``data/real/binn_ny`` (bedrock layer 8-20, a quarter of
the sites with permafrost) and parameters are uniform in [0, 1] before scaling, so the
float32 rows also report the share of sites whose SOC came out finite.

The peer's CLM5 (the BINN workshop demo, ``/work/shared/ANCHORS.md``) ran about 90 profiles
per second whatever the batch size (a Python loop over profiles) and about 31 per second
forward + backward. ``OMP_WAIT_POLICY`` defaults to PASSIVE here (see PERFORMANCE_NOTES:
spinning OpenMP threads on a busy 2-core machine cost several times).
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

from geosoil.process import Clm5Forcings, scale_parameters, steady_state

PEER_PROFILES_PER_S = {"forward": 90.0, "forward_backward": 31.0}


def random_case(n: int, dtype: torch.dtype, seed: int = 0):
    """Forcings and unit parameters for ``n`` sites."""
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    altmax = torch.where(rand(n, 1) < 0.25, 0.3 + 1.5 * rand(n, 1), torch.tensor(41.998))
    forcings = Clm5Forcings(
        input_cwd_gc_m2_month=20 * rand(n, 12),
        input_litter1_gc_m2_month=10 * rand(n, 12),
        input_litter2_gc_m2_month=15 * rand(n, 12),
        input_litter3_gc_m2_month=8 * rand(n, 12),
        altmax_m=altmax.expand(n, 12).clone(),
        nbedrock=torch.randint(8, 21, (n,), generator=g),
        xio=torch.ones(n, 20, 12, dtype=torch.float64),
        xin=0.2 + 0.8 * rand(n, 20, 12),
        sand_pct=100 * rand(n, 20, 12),
        soil_temp_k=268 + 30 * rand(n, 20, 12),
        soil_water_scalar=0.05 + 0.95 * rand(n, 20, 12),
    ).to(dtype)
    return forcings, rand(n, 21).to(dtype)


def sites_per_second(run, n: int, min_seconds: float, repeats: int) -> float:
    """Median rate over ``repeats`` timed blocks of at least ``min_seconds`` each."""
    run()  # warm-up
    rates = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            run()
            calls += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        rates.append(calls * n / elapsed)
    return statistics.median(rates)


def measure(n: int, dtype: torch.dtype, min_seconds: float, repeats: int) -> dict:
    forcings, unit = random_case(n, dtype)

    def forward() -> None:
        with torch.no_grad():
            steady_state(scale_parameters(unit), forcings)

    def forward_backward() -> None:
        u = unit.clone().requires_grad_(True)
        soc = steady_state(scale_parameters(u), forcings).soc_gc_m3
        torch.log1p(soc.abs()).mean().backward()

    with torch.no_grad():
        soc = steady_state(scale_parameters(unit), forcings).soc_gc_m3
    finite = torch.isfinite(soc).all(dim=1).double().mean().item()
    return {
        "batch": n,
        "dtype": str(dtype).removeprefix("torch."),
        "forward_sites_per_s": sites_per_second(forward, n, min_seconds, repeats),
        "forward_backward_sites_per_s": sites_per_second(forward_backward, n, min_seconds, repeats),
        "finite_share": finite,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="1,64,1024")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)

    rows = []
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for dtype in (torch.float32, torch.float64):
            for n in (int(b) for b in args.batch_sizes.split(",")):
                row = {"threads": threads, **measure(n, dtype, args.min_seconds, args.repeats)}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    result = {
        "benchmark": "clm5_solve",
        "unit": "steady states (sites) per second",
        "rows": rows,
        "peer_profiles_per_s": PEER_PROFILES_PER_S,
        "torch": torch.__version__,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "code": code_state(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return result


if __name__ == "__main__":
    main()
