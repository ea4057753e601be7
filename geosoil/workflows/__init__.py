"""End-to-end workflows: a typed config in, a complete output folder out.

Each CLI command is a thin adapter over one function here.
"""

from geosoil.workflows.calibrate import CalibrateResult, calibrate_from_config
from geosoil.workflows.evaluate import EvaluateResult, evaluate_from_config
from geosoil.workflows.explain import ExplainResult, explain_from_config
from geosoil.workflows.map import MapResult, map_from_config
from geosoil.workflows.recommend import RecommendResult, recommend_k_from_config
from geosoil.workflows.recommend_pb import PbRiskResult, recommend_pb_risk_from_config
from geosoil.workflows.soc_maps import SocCellsResult, soc_cells_from_config
from geosoil.workflows.train import TrainResult, train_from_config
from geosoil.workflows.train_soc import SocTrainResult, train_soc_from_config
from geosoil.workflows.train_spectra import SpectralTrainResult, train_spectra_from_config

__all__ = [
    "CalibrateResult",
    "EvaluateResult",
    "ExplainResult",
    "MapResult",
    "PbRiskResult",
    "RecommendResult",
    "SocCellsResult",
    "SocTrainResult",
    "SpectralTrainResult",
    "TrainResult",
    "calibrate_from_config",
    "evaluate_from_config",
    "explain_from_config",
    "map_from_config",
    "recommend_k_from_config",
    "recommend_pb_risk_from_config",
    "soc_cells_from_config",
    "train_from_config",
    "train_soc_from_config",
    "train_spectra_from_config",
]
