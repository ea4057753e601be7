"""Open geosoil rasters in real QGIS (headless) and render them to PNG.

Runs under the Python that has QGIS's bindings (Debian: /usr/bin/python3 with
python3-qgis), not under the project's venv, so it imports nothing from geosoil.

    QT_QPA_PLATFORM=offscreen python3 qgis_check.py OUT_DIR RASTER [RASTER ...]

A RASTER is a file or any GDAL dataset name (e.g. ``ZARR:"map.zarr":/kex_cmol_kg``).
Prints one JSON object per raster: CRS, band names, nodata, whether the style loaded, the
renderer type, legend labels and the PNG written.
"""

import json
import re
import sys
from pathlib import Path

from osgeo import gdal
from qgis.core import (
    QgsApplication,
    QgsMapRendererParallelJob,
    QgsMapSettings,
    QgsRasterLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor


def check(source: str, out_dir: Path) -> dict:
    driver, _, rest = source.rpartition(":") if source.startswith("ZARR:") else ("", "", source)
    name = re.sub(r"[^A-Za-z0-9_]+", "_", f"{driver[:4]} {Path(rest).stem}").strip("_").lower()
    layer = QgsRasterLayer(source, name, "gdal")
    report = {"path": source, "valid": layer.isValid()}
    if not layer.isValid():
        return report
    provider = layer.dataProvider()
    # Category names as QGIS's GDAL reads them (QGIS 3.30+ also shows the RAT).
    dataset = gdal.Open(source)
    categories = None
    if dataset is not None:
        dataset.GetMetadata()  # GDAL loads the .aux.xml sidecar on the first metadata read
        categories = dataset.GetRasterBand(1).GetCategoryNames()
    # What QGIS desktop does when a raster is added: load <name>.qml beside it.
    message, style_loaded = layer.loadDefaultStyle()
    renderer = layer.renderer()
    legend = [label for label, _ in renderer.legendSymbologyItems()]
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(400, 400))
    settings.setBackgroundColor(QColor(255, 255, 255))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    png = out_dir / f"{name}.png"
    image.save(str(png), "PNG")
    white = QColor(255, 255, 255).rgb()
    painted = sum(image.pixel(x, y) != white for x in range(0, 400, 8) for y in range(0, 400, 8))
    report.update(
        crs=layer.crs().authid(),
        width=layer.width(),
        height=layer.height(),
        band_names=[provider.generateBandName(b) for b in range(1, layer.bandCount() + 1)],
        band_descriptions=[layer.bandName(b) for b in range(1, layer.bandCount() + 1)],
        nodata=[provider.sourceNoDataValue(b) for b in range(1, layer.bandCount() + 1)],
        style_loaded=bool(style_loaded),
        style_message=message,
        renderer=renderer.type(),
        legend=legend,
        gdal_categories=list(categories or []),
        png=str(png),
        painted_fraction=painted / 2500,
    )
    return report


def main() -> None:
    out_dir = Path(sys.argv[1])
    app = QgsApplication([], False)
    app.initQgis()
    try:
        for raster in sys.argv[2:]:
            print(json.dumps(check(raster, out_dir)))
    finally:
        app.exitQgis()


if __name__ == "__main__":
    main()
