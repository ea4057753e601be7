"""Start-up cost: the CLI imports a command's heavy libraries only when that command runs."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "pandas", "geopandas", "dask", "distributed", "xarray", "sklearn", "scipy")


def imported_after(statement: str, modules=HEAVY) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after ``statement``."""
    code = (
        f"import json, sys\n{statement}\n"
        f"print(json.dumps([m for m in {tuple(modules)!r} if m in sys.modules]))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_cli_entry_point_imports_no_heavy_library():
    assert imported_after("import geosoil.cli.main") == []


def test_the_map_workflow_leaves_out_what_a_threaded_covariate_map_does_not_use():
    """No dask.distributed (only --workers/--scheduler), no xarray (only the lazy API), no
    geopandas (only vector input), no scipy.signal (only spectral preprocessing)."""
    modules = ("distributed", "xarray", "geopandas", "scipy.signal")
    assert imported_after("import geosoil.workflows.map", modules) == []


def test_every_command_is_listed_and_loads(tmp_path):
    from click.testing import CliRunner

    from geosoil.cli.main import COMMANDS, cli

    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in COMMANDS:
        assert f"  {name} " in result.output
        assert cli.get_command(None, name).name == name


def test_a_covariate_mlp_map_imports_no_torch_sklearn_or_pandas(world_dir, trained_dir, tmp_path):
    """``geosoil map`` of the demo's covariate MLP (with its AOA and intervals) predicts in
    numpy: torch, scikit-learn, scipy and pandas stay out of the process."""
    args = [
        "map",
        str(ROOT / "configs" / "demo" / "map.yaml"),
        "--model",
        str(trained_dir / "model.safetensors"),
        "--covariates",
        str(world_dir / "covariates.yaml"),
        "--out",
        str(tmp_path / "m"),
        "--set=products=[]",
    ]
    statement = f"from geosoil.cli.main import cli\ncli({args!r}, standalone_mode=False)"
    modules = ("torch", "sklearn", "scipy", "pandas", "distributed")
    assert imported_after(statement, modules) == []
    assert (tmp_path / "m" / "kex_cmol_kg.tif").is_file()


def test_tree_and_linear_artifacts_load_and_predict_without_torch(tmp_path):
    """Forests, boosting and ridge keep plain arrays: their maps import no torch."""
    import numpy as np
    import pandas as pd

    from geosoil.artifacts import artifact_from_estimator
    from geosoil.models import CovariateGBM, CovariateLinear, CovariateRandomForest

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.uniform(0, 1, 200), "b": rng.uniform(0, 1, 200)})
    y = 3 * X["a"] + X["b"]
    rows = tmp_path / "rows.npy"
    np.save(rows, X.to_numpy(np.float32))
    for cls in (CovariateRandomForest, CovariateGBM, CovariateLinear):
        kwargs = {} if cls is CovariateLinear else {"n_estimators": 10}
        model = cls(**kwargs).fit(X, y)
        path = tmp_path / f"{cls.__name__}.safetensors"
        artifact = artifact_from_estimator(model, output="t", path=path)
        statement = (
            "import numpy as np\nfrom geosoil.artifacts import load_artifact\n"
            f"model = load_artifact({str(artifact.path)!r}).estimator\n"
            f"model.predict(np.load({str(rows)!r}))"
        )
        assert imported_after(statement, ("torch",)) == [], cls.__name__
