"""A deterministic synthetic soil region with known truth (DESIGN section 5).

``synthesize`` builds a world in memory: covariate rasters, true soil property maps, sample
points with lab values and MIR / vis-NIR spectra. ``write_world`` writes it as GeoTIFFs,
a covariate catalog, GeoParquet and Parquet files and a README. The same size and seed give
the same bytes in every file.

``mir_library`` makes a mid-infrared spectral library of any size (pedons of several soil
orders, exchangeable K and known composition) by the same physics, not tied to the region;
``write_library`` writes it as a wide Parquet table.
"""

from geosoil.synthetic.library import mir_library, write_library
from geosoil.synthetic.pipeline import COMPONENTS, synthesize, write_world
from geosoil.synthetic.sizes import WORLD_SIZES, WorldSize
from geosoil.synthetic.world import Component, Spectra, SyntheticWorld

__all__ = [
    "COMPONENTS",
    "WORLD_SIZES",
    "Component",
    "Spectra",
    "SyntheticWorld",
    "WorldSize",
    "mir_library",
    "synthesize",
    "write_library",
    "write_world",
]
