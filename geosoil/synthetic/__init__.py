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
"""

from geosoil.synthetic.cube import bare_soil_cube
from geosoil.synthetic.library import mir_library, write_library
from geosoil.synthetic.pipeline import COMPONENTS, synthesize, write_world
from geosoil.synthetic.sizes import WORLD_SIZES, WorldSize
from geosoil.synthetic.visnir_library import pb_target_set, pb_truth, ph_truth, visnir_library
from geosoil.synthetic.world import Component, Spectra, SyntheticWorld

__all__ = [
    "COMPONENTS",
    "WORLD_SIZES",
    "Component",
    "Spectra",
    "SyntheticWorld",
    "WorldSize",
    "bare_soil_cube",
    "mir_library",
    "pb_target_set",
    "pb_truth",
    "ph_truth",
    "synthesize",
    "visnir_library",
    "write_library",
    "write_world",
]
