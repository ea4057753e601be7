"""``geosoil finetune``: a pretrained spectral network adapted to a small target set."""

import numpy as np
import pytest
import torch
import yaml
from click.testing import CliRunner

from geosoil.artifacts import file_sha256, load_artifact
from geosoil.cli.main import cli
from geosoil.config import validate_config
from geosoil.config.evaluate import SpectralTrainConfig
from geosoil.config.finetune import FinetuneConfig
from geosoil.errors import ConfigError
from geosoil.models.training import torch_threads
from geosoil.spectra import SpectraError
from geosoil.workflows.finetune import finetune_from_config
from geosoil.workflows.train_spectra import train_spectra_from_config

from ..spectra_tables import write_spectra_table

RESNET = {"pool": 2, "max_epochs": 3, "patience": 3, "threads": 1, "target_transform": "none"}


@pytest.fixture(autouse=True)
def one_thread():
    with torch_threads(1):
        yield


def pretrain(folder, estimator="spectral_resnet", params=RESNET):
    source = write_spectra_table(folder / "source.parquet", n=120, seed=1)
    config = validate_config(
        {
            "spectra": {"path": str(source), "target": "kex_cmol_kg"},
            "model": {"estimator": estimator, "params": params},
            "output": {"dir": str(folder / "parent")},
        },
        SpectralTrainConfig,
        source="test",
    )
    return train_spectra_from_config(config).artifact


@pytest.fixture(scope="module")
def parent(tmp_path_factory):
    return pretrain(tmp_path_factory.mktemp("pretrain"))


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    return write_spectra_table(tmp_path_factory.mktemp("target") / "target.parquet", n=40, seed=2)


def finetune_config(parent, target, out, **changes):
    raw = {
        "parent": str(parent),
        "spectra": {"path": str(target), "target": "kex_cmol_kg", "target_units": "cmol(+)/kg"},
        "params": {"max_epochs": 4},
        "target_transform": "none",  # Kex < 1 cmol(+)/kg: log10 is negative, ReLU output
        "valid_fraction": 0.2,
        "output": {"dir": str(out)},
        **changes,
    }
    return validate_config(raw, FinetuneConfig, source="test")


def test_finetune_keeps_the_frozen_groups_and_records_the_parent(parent, target, tmp_path):
    result = finetune_from_config(finetune_config(parent, target, tmp_path / "child"))
    child = load_artifact(result.artifact)
    source = load_artifact(parent)
    assert child.header.provenance.parent_sha256 == file_sha256(parent)
    assert child.header.hyperparameters["max_epochs"] == 4  # the config's params win
    assert child.header.hyperparameters["pool"] == 2  # the parent's architecture is kept
    assert child.estimator.frozen_groups_ == ["features"]
    new, old = child.estimator.networks_[0], source.estimator.networks_[0]
    frozen = zip(new.features.state_dict().items(), old.features.state_dict().values(), strict=True)
    for (name, a), b in frozen:
        assert torch.equal(a, b), name
    assert not torch.equal(new.head[0].weight, old.head[0].weight)
    saved = yaml.safe_load((tmp_path / "child" / "config.yaml").read_text())
    assert saved["parent"] == str(parent) and saved["freeze"] == ["features"]
    assert np.isfinite(result.metrics["valid"]["rmse"])
    # The epochs chosen on valid, then the head refitted on train and valid for as many.
    final = result.metrics["final_fit"]
    assert final["policy"] == "refit" and final["refit_epochs"] == final["best_epochs"]
    assert child.estimator.n_train_ == result.metrics["n_train"] + result.metrics["n_valid"]
    members = child.header.fitted_state["members"]
    assert [m["refit_epochs"] for m in members] == final["best_epochs"]


def test_unknown_frozen_group_is_refused_before_any_fit(parent, target, tmp_path):
    with pytest.raises(ConfigError, match="does not have") as info:
        finetune_from_config(finetune_config(parent, target, tmp_path / "c", freeze=["conv9"]))
    assert info.value.field == "freeze" and "features, head" in info.value.fix
    assert not (tmp_path / "c").exists()


def test_target_on_another_axis_needs_an_explicit_resampling(parent, tmp_path):
    coarse = write_spectra_table(tmp_path / "coarse.parquet", n=40, seed=3)
    import pandas as pd

    frame = pd.read_parquet(coarse)
    bands = [c for c in frame.columns if c.startswith("wn_")]
    frame.drop(columns=bands[1:-1:2]).to_parquet(coarse)  # a coarser axis, same range
    with pytest.raises(SpectraError, match="parent was trained on") as info:
        finetune_from_config(finetune_config(parent, coarse, tmp_path / "c"))
    assert info.value.field == "resample_to_parent" and "resample_to_parent: true" in info.value.fix
    assert not (tmp_path / "c").exists()
    result = finetune_from_config(
        finetune_config(parent, coarse, tmp_path / "c", resample_to_parent=True)
    )
    assert len(load_artifact(result.artifact).header.input_spec.axis) == 300


def test_a_parent_without_a_network_is_refused(tmp_path, target):
    plsr = pretrain(tmp_path, "plsr", {"max_components": 3})
    with pytest.raises(ConfigError, match="not a spectral network") as info:
        finetune_from_config(finetune_config(plsr, target, tmp_path / "c"))
    assert info.value.field == "parent"


def test_config_refuses_reserved_params_and_double_resampling(parent, target, tmp_path):
    with pytest.raises(ConfigError, match="set by parent: and freeze:"):
        finetune_config(parent, target, tmp_path / "c", params={"init_from": "x"})
    with pytest.raises(ConfigError, match="not both"):
        finetune_config(
            parent,
            target,
            tmp_path / "c",
            resample_to_parent=True,
            spectra={"path": str(target), "target": "kex_cmol_kg", "resample": {"like": "m"}},
        )


def test_cli_finetune_and_its_errors(parent, target, tmp_path):
    config = tmp_path / "finetune.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "parent": str(parent),
                "spectra": {"path": str(target), "target": "kex_cmol_kg"},
                "params": {"max_epochs": 2},
                "target_transform": "none",
            }
        )
    )
    runner = CliRunner()
    done = runner.invoke(cli, ["finetune", str(config), "--out", str(tmp_path / "child")])
    assert done.exit_code == 0, done.output
    assert "artifact:" in done.output and (tmp_path / "child" / "model.safetensors").is_file()
    failed = runner.invoke(
        cli, ["finetune", str(config), "--out", str(tmp_path / "c2"), "--set", "freeze=[head, x]"]
    )
    assert failed.exit_code == 2
    assert "field: freeze" in failed.output and f"file: {config}" in failed.output
    assert not (tmp_path / "c2").exists()
