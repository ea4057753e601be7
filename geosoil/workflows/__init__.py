"""End-to-end workflows: a typed config in, a complete output folder out.

Each CLI command is a thin adapter over one function here.
"""

from geosoil.workflows.map import MapResult, map_from_config
from geosoil.workflows.train import TrainResult, train_from_config

__all__ = ["MapResult", "TrainResult", "map_from_config", "train_from_config"]
