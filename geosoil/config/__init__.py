"""Typed configs for every workflow, loaded from YAML once and validated once.

One module per workflow; shared sections live in :mod:`geosoil.config.common` and the
loading machinery in :mod:`geosoil.config.base`.
"""

from geosoil.config.base import (
    StrictModel,
    load_config,
    parse_overrides,
    read_config_mapping,
    save_config,
    validate_config,
)
from geosoil.config.calibrate import CalibrateConfig
from geosoil.config.common import (
    CovariatesConfig,
    EvaluationConfig,
    GridConfig,
    ModelConfig,
    OutputConfig,
    SamplesConfig,
    TrustConfig,
)
from geosoil.config.cube import CubeConfig
from geosoil.config.evaluate import (
    EvaluateConfig,
    LabelledSpectraConfig,
    SpectraConfig,
    SpectralTrainConfig,
)
from geosoil.config.explain import ExplainConfig
from geosoil.config.finetune import FinetuneConfig
from geosoil.config.map import (
    ExecutionConfig,
    MapConfig,
    MapModelConfig,
    MapOutputConfig,
    ProductConfig,
)
from geosoil.config.pb_risk import RecommendPbRiskConfig
from geosoil.config.recommend import RecommendKConfig
from geosoil.config.soc_cells import SocCellsConfig, SocTrainConfig
from geosoil.config.train import SynthConfig, TrainConfig

__all__ = [
    "CalibrateConfig",
    "CovariatesConfig",
    "CubeConfig",
    "EvaluateConfig",
    "EvaluationConfig",
    "ExecutionConfig",
    "ExplainConfig",
    "FinetuneConfig",
    "GridConfig",
    "LabelledSpectraConfig",
    "MapConfig",
    "MapModelConfig",
    "MapOutputConfig",
    "ModelConfig",
    "OutputConfig",
    "ProductConfig",
    "RecommendKConfig",
    "RecommendPbRiskConfig",
    "SamplesConfig",
    "SocCellsConfig",
    "SocTrainConfig",
    "SpectraConfig",
    "SpectralTrainConfig",
    "StrictModel",
    "SynthConfig",
    "TrainConfig",
    "TrustConfig",
    "load_config",
    "parse_overrides",
    "read_config_mapping",
    "save_config",
    "validate_config",
]
