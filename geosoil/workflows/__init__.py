"""End-to-end workflows: a typed config in, a complete output folder out.

Each CLI command is a thin adapter over one function here.
"""

from geosoil import lazy_attributes

# Each workflow is imported when first asked for: ``geosoil map`` should not pay for torch,
# xarray and geopandas through the calibrate or evaluate workflows it never runs.
_MODULES = {
    "CalibrateResult": "calibrate",
    "calibrate_from_config": "calibrate",
    "EvaluateResult": "evaluate",
    "evaluate_from_config": "evaluate",
    "ExplainResult": "explain",
    "explain_from_config": "explain",
    "MapResult": "map",
    "map_from_config": "map",
    "RecommendResult": "recommend",
    "recommend_k_from_config": "recommend",
    "PbRiskResult": "recommend_pb",
    "recommend_pb_risk_from_config": "recommend_pb",
    "SocCellsResult": "soc_maps",
    "soc_cells_from_config": "soc_maps",
    "TrainResult": "train",
    "train_from_config": "train",
    "SocTrainResult": "train_soc",
    "train_soc_from_config": "train_soc",
    "SpectralTrainResult": "train_spectra",
    "train_spectra_from_config": "train_spectra",
}


__getattr__, __dir__ = lazy_attributes(
    __name__, {name: f"{__name__}.{module}" for name, module in _MODULES.items()}
)


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
