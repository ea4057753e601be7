"""QGIS layer styles (``.qml``) written beside each raster, so QGIS opens it styled.

QGIS loads ``<name>.qml`` automatically when ``<name>.tif`` is added to a project.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import quoteattr

from geosoil.io.writers import write_bytes_atomic

__all__ = [
    "VIRIDIS",
    "classes_style",
    "continuous_style",
    "write_classes_qml",
    "write_continuous_qml",
]

# Five stops of viridis: perceptually uniform and readable by colour-blind users.
VIRIDIS = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")


def continuous_style(
    *, band: int, minimum: float, maximum: float, units: str, colors: tuple[str, ...] = VIRIDIS
) -> str:
    """A single-band pseudocolor style stretched from ``minimum`` to ``maximum``."""
    if not maximum > minimum:
        maximum = minimum + 1.0
    step = (maximum - minimum) / (len(colors) - 1)
    items = "\n".join(
        f'          <item alpha="255" color="{color}" value="{minimum + i * step!r}" '
        f"label={quoteattr(f'{minimum + i * step:.4g} {units}'.strip())}/>"
        for i, color in enumerate(colors)
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="singlebandpseudocolor" band="{band}" opacity="1" alphaBand="-1"
                    classificationMin="{minimum!r}" classificationMax="{maximum!r}">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <rastershader>
        <colorrampshader colorRampType="INTERPOLATED" classificationMode="2" clip="0"
                         minimumValue="{minimum!r}" maximumValue="{maximum!r}">
{items}
        </colorrampshader>
      </rastershader>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0"/>
    <rasterresampler maxOversampling="2"/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def write_continuous_qml(
    raster: Path, *, minimum: float, maximum: float, units: str, band: int = 1
) -> Path:
    """Write ``<raster stem>.qml`` beside ``raster``; returns its path."""
    style = continuous_style(band=band, minimum=minimum, maximum=maximum, units=units)
    return write_bytes_atomic(raster.with_suffix(".qml"), style.encode())


def classes_style(*, band: int, classes: Sequence[tuple[int, str, str]]) -> str:
    """A paletted style: one colour and legend label per class code ``(value, label, color)``."""
    entries = "\n".join(
        f'        <paletteEntry value="{value}" color="{color}" alpha="255" '
        f"label={quoteattr(label)}/>"
        for value, label, color in classes
    )
    return f"""<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22" styleCategories="AllStyleCategories">
  <pipe>
    <rasterrenderer type="paletted" band="{band}" opacity="1" alphaBand="-1">
      <rasterTransparency/>
      <colorPalette>
{entries}
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" grayscaleMode="0" colorizeOn="0"/>
    <rasterresampler/>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
"""


def write_classes_qml(
    raster: Path, *, classes: Sequence[tuple[int, str, str]], band: int = 1
) -> Path:
    """Write a paletted ``<raster stem>.qml`` legend beside ``raster``; returns its path."""
    style = classes_style(band=band, classes=classes)
    return write_bytes_atomic(raster.with_suffix(".qml"), style.encode())
