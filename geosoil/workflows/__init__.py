"""End-to-end workflows: a typed config in, a complete output folder out.

Each CLI command is a thin adapter over one function here.
"""

import importlib

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


def __getattr__(name: str):
    if name not in _MODULES:
        raise AttributeError(f"module 'geosoil.workflows' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"geosoil.workflows.{_MODULES[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_MODULES])


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
