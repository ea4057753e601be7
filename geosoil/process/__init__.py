"""Differentiable process models: torch only, no I/O.

:mod:`geosoil.process.clm5` holds the vertically resolved CLM5 soil-carbon model in matrix
form (BINN's process model); its parameter table, vertical grid and forcings live in
``clm5_params``, ``clm5_grid`` and ``clm5_forcing``.

:mod:`geosoil.process.lsm` holds the bulk land surface model (MdPL's process model):
``simulate`` runs it for a batch of parameter sets; its parameter table
(``LSM_PARAMETERS``, ``LSM_PARAMETER_NAMES``) and the per-IGBP-class
``default_parameters`` live in ``lsm_params``.
"""

from geosoil.process.clm5 import (
    POOL_NAMES,
    Clm5Matrix,
    Clm5SteadyState,
    steady_state,
)
from geosoil.process.clm5_bulk import BULK_PROCESS_NAMES, bulk_processes
from geosoil.process.clm5_forcing import Clm5Forcings
from geosoil.process.clm5_grid import interpolate_to_depths, soc_stock_kg_m2
from geosoil.process.clm5_params import (
    CLM5_PARAMETERS,
    PARAMETER_NAMES,
    ParameterSpec,
    check_parameters,
    merge_parameters,
    scale_parameters,
    unscale_parameters,
)
from geosoil.process.lsm import simulate
from geosoil.process.lsm_params import LSM_PARAMETER_NAMES, LSM_PARAMETERS, default_parameters

__all__ = [
    "BULK_PROCESS_NAMES",
    "CLM5_PARAMETERS",
    "LSM_PARAMETERS",
    "LSM_PARAMETER_NAMES",
    "PARAMETER_NAMES",
    "POOL_NAMES",
    "Clm5Forcings",
    "Clm5Matrix",
    "Clm5SteadyState",
    "ParameterSpec",
    "bulk_processes",
    "check_parameters",
    "default_parameters",
    "interpolate_to_depths",
    "merge_parameters",
    "scale_parameters",
    "simulate",
    "soc_stock_kg_m2",
    "steady_state",
    "unscale_parameters",
]
