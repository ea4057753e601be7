"""The folder a ``geosoil train`` run writes: its file names, the record beside the
artifact, and the result that names them.

Shared by training on spectra (:mod:`geosoil.workflows.train_spectra`, also behind
``geosoil finetune``) and on SOC profiles (:mod:`geosoil.workflows.train_soc`); the
covariate command (:mod:`geosoil.workflows.train`) writes the same artifact name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from geosoil.config import save_config
from geosoil.io.writers import write_bytes_atomic
from geosoil.workflows.run_record import write_json

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ARTIFACT_NAME",
    "HISTORY_NAME",
    "METRICS_NAME",
    "TrainedModelResult",
    "write_training_record",
]

ARTIFACT_NAME = "model.safetensors"
METRICS_NAME = "metrics.json"
HISTORY_NAME = "training_history.csv"


@dataclass(frozen=True)
class TrainedModelResult:
    """Paths of a trained model's folder, and its metrics."""

    out_dir: Path
    artifact: Path
    config: Path
    metrics_file: Path
    metrics: dict[str, Any]

    @classmethod
    def in_folder(cls, out_dir: Path, metrics: dict[str, Any], **more: Any):
        """The result of a run whose folder is ``out_dir``; ``more``: the fields a
        subclass adds."""
        return cls(
            out_dir=out_dir,
            artifact=out_dir / ARTIFACT_NAME,
            config=out_dir / "config.yaml",
            metrics_file=out_dir / METRICS_NAME,
            metrics=metrics,
            **more,
        )


def write_training_record(
    staging: Path, metrics: dict[str, Any], history: pd.DataFrame | None, config: BaseModel
) -> None:
    """Write ``metrics.json``, ``training_history.csv`` (for a model that keeps a
    per-epoch history) and ``config.yaml`` beside the artifact."""
    write_json(staging / METRICS_NAME, metrics)
    if history is not None:
        write_bytes_atomic(staging / HISTORY_NAME, history.to_csv(index=False).encode())
    save_config(config, staging / "config.yaml")
