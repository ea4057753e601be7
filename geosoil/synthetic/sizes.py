"""The sizes a synthetic world comes in, from a test-sized region to a benchmark-sized one.

Features are defined in metres (correlation lengths, plume lengths, lake radius), so a larger
size is a larger region at a finer pixel, not a stretched copy of the small one.
"""

from __future__ import annotations

from dataclasses import dataclass

from geosoil.errors import ConfigError

__all__ = ["WORLD_SIZES", "WorldSize", "get_size"]


@dataclass(frozen=True)
class WorldSize:
    """Extent and sampling density of a synthetic world.

    Parameters
    ----------
    width_px, height_px
        Grid size in pixels of the main (UTM) grid.
    pixel_m
        Pixel size in metres.
    n_sites
        Number of sampling sites.
    samples_per_site
        Most samples taken at one site; each site gets 1 to this many, within about 150 m.
    """

    width_px: int
    height_px: int
    pixel_m: float
    n_sites: int
    samples_per_site: int

    @property
    def width_m(self) -> float:
        """East-west extent in metres."""
        return self.width_px * self.pixel_m

    @property
    def height_m(self) -> float:
        """North-south extent in metres."""
        return self.height_px * self.pixel_m


WORLD_SIZES: dict[str, WorldSize] = {
    "small": WorldSize(width_px=200, height_px=200, pixel_m=100.0, n_sites=120, samples_per_site=4),
    "medium": WorldSize(
        width_px=1000, height_px=1000, pixel_m=40.0, n_sites=800, samples_per_site=4
    ),
    "large": WorldSize(
        width_px=4000, height_px=4000, pixel_m=20.0, n_sites=5000, samples_per_site=4
    ),
}


def get_size(name: str) -> WorldSize:
    """The size called ``name``, or a ConfigError listing the valid names."""
    try:
        return WORLD_SIZES[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown synthetic world size {name!r}",
            field="size",
            fix=f"use one of {sorted(WORLD_SIZES)}",
        ) from None
