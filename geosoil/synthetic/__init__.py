"""A deterministic synthetic soil region with known truth (DESIGN section 5).

``synthesize`` builds a world in memory: covariate rasters, true soil property maps, sample
points with lab values and MIR / vis-NIR spectra. ``write_world`` writes it as GeoTIFFs,
a covariate catalog, GeoParquet and Parquet files and a README. The same size and seed give
the same bytes in every file.

``mir_library`` makes a mid-infrared spectral library of any size (pedons of several soil
orders, exchangeable K and known composition) by the same physics, not tied to the region;
``write_library`` writes it as a wide Parquet table.

``visnir_library`` makes a LUCAS-like vis-NIR library with pH (a pretraining source) and
``pb_target_set`` a small local set with Pb (a fine-tuning target), whose truth
(``ph_truth``, ``pb_truth``) depends on the same constituents; ``bare_soil_cube`` writes a
hyperspectral image of the same district with truth maps.

``soc_profile_set`` simulates SOC profiles with the CLM5 model from parameters that are
known functions of the covariates (:class:`PrescribedParameters`), in the ``binn_ny``
layout; ``soc_world_rasters`` writes the same covariates, forcings and truth maps over the
world's grid. They need torch, so they are imported on first use.
"""

from importlib import import_module

from geosoil.synthetic.cube import bare_soil_cube
from geosoil.synthetic.library import mir_library, write_library
from geosoil.synthetic.pipeline import COMPONENTS, synthesize, write_world
from geosoil.synthetic.sizes import WORLD_SIZES, WorldSize
from geosoil.synthetic.visnir_library import pb_target_set, pb_truth, ph_truth, visnir_library
from geosoil.synthetic.world import Component, Spectra, SyntheticWorld

# name -> module of exports that need torch, loaded on first access
_LAZY = {
    "DEFAULT_PRESCRIBED": "geosoil.synthetic.soc_profiles",
    "PrescribedFunction": "geosoil.synthetic.soc_profiles",
    "PrescribedParameters": "geosoil.synthetic.soc_profiles",
    "PrescribedTerm": "geosoil.synthetic.soc_profiles",
    "SocProfiles": "geosoil.synthetic.soc_profiles",
    "scale_covariates": "geosoil.synthetic.soc_profiles",
    "simulate_soc_layers": "geosoil.synthetic.soc_profiles",
    "SyntheticFluxSites": "geosoil.synthetic.flux_sites",
    "make_flux_sites": "geosoil.synthetic.flux_sites",
    "write_flux_rasters": "geosoil.synthetic.flux_rasters",
    "soc_profile_set": "geosoil.synthetic.soc_profiles",
    "soc_world_rasters": "geosoil.synthetic.soc_rasters",
}

__all__ = [
    "COMPONENTS",
    "DEFAULT_PRESCRIBED",
    "WORLD_SIZES",
    "Component",
    "PrescribedFunction",
    "PrescribedParameters",
    "PrescribedTerm",
    "SocProfiles",
    "Spectra",
    "SyntheticFluxSites",
    "SyntheticWorld",
    "WorldSize",
    "bare_soil_cube",
    "make_flux_sites",
    "mir_library",
    "pb_target_set",
    "pb_truth",
    "ph_truth",
    "scale_covariates",
    "simulate_soc_layers",
    "soc_profile_set",
    "soc_world_rasters",
    "synthesize",
    "visnir_library",
    "write_flux_rasters",
    "write_library",
    "write_world",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
