"""A deterministic synthetic soil region with known truth (DESIGN section 5).

``synthesize`` builds a world in memory: covariate rasters, true soil property maps, sample
points with lab values and MIR / vis-NIR spectra. ``write_world`` writes it as GeoTIFFs,
a covariate catalog, GeoParquet and Parquet files and a README. The same size and seed give
the same bytes in every file.
"""

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
    "synthesize",
    "write_world",
]
