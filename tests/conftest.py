"""Shared fixtures: a small synthetic world and a model trained on it, built once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from geosoil.artifacts import Provenance, save_artifact
from geosoil.cli.main import cli
from geosoil.config import TrainConfig, load_config
from geosoil.synthetic import synthesize, write_world
from geosoil.workflows import train_from_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# Settings that keep the demo configs quick in tests while exercising every code path.
FAST_TRAIN = ["model.params.max_epochs=40", "model.params.patience=10", "evaluation.n_splits=3"]


def world_overrides(world: Path) -> list[str]:
    """Point a demo config at a world written elsewhere than demo/world."""
    return [
        f"samples.path={world / 'samples.parquet'}",
        f"covariates.catalog={world / 'covariates.yaml'}",
    ]


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("world")
    write_world(synthesize(size="small", seed=0), out)
    return out


@pytest.fixture(scope="session")
def trained_dir(world_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("train") / "model"
    config = load_config(
        CONFIGS / "demo" / "train.yaml",
        TrainConfig,
        [*world_overrides(world_dir), *FAST_TRAIN, f"output.dir={out}"],
    )
    train_from_config(config)
    return out


@pytest.fixture
def run_cli():
    """Invoke the CLI in-process; returns the click Result."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def real_data_dir() -> Path:
    return Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


def save_model(model, path: Path, *, n_samples: int = 0, input_spec=None, output_spec=None):
    """Save a fitted model as an artifact with synthetic provenance; returns the path.

    The specs default to the model's own (``input_spec()``/``output_spec()``).
    """
    return save_artifact(
        model,
        path,
        input_spec=input_spec if input_spec is not None else model.input_spec(),
        output_spec=output_spec if output_spec is not None else model.output_spec(),
        provenance=Provenance(data_fingerprint="synthetic", n_samples=n_samples, seed=0),
    )


def artifact_without_trust(source: Path, target: Path) -> Path:
    """A copy of an artifact as geosoil wrote it before the trust layer: no ``trust`` header
    section, no ``trust.*`` tensors."""
    import json

    from safetensors.torch import load_file, save_file

    from geosoil.artifacts import read_header

    header = read_header(source).model_dump(mode="json")
    header.pop("trust")
    tensors = {k: v for k, v in load_file(source).items() if not k.startswith("trust.")}
    save_file(tensors, target, metadata={"geosoil": json.dumps(header)})
    return target
