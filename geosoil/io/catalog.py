"""Covariate layer declarations and the YAML catalog that lists them.

A layer is declared, not coded: name, file, band, units, whether it is categorical, how to
resample it onto another grid, and an optional scale/offset/nodata override. A catalog file
(``covariates.yaml``) holds a list of layers; relative paths in it are resolved against the
catalog's own folder, so a catalog and its rasters can be moved together.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import rasterio
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from rasterio.errors import RasterioError

from geosoil.errors import ConfigError, CovariateError, InputFileNotFoundError

__all__ = [
    "CATALOG_VERSION",
    "CovariateCatalog",
    "CovariateLayer",
    "CovariateSource",
    "has_category_names",
    "read_catalog",
    "write_catalog",
    "write_union_catalog",
]

CATALOG_VERSION = 1

Resampling = Literal["nearest", "bilinear", "cubic", "average", "mode"]


class CovariateLayer(BaseModel):
    """One covariate: a band of a raster file, with its meaning and how to align it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="layer name the models know it by"
    )
    path: Path = Field(description="raster file (GeoTIFF, VRT, ...), relative to the catalog")
    band: int = Field(default=1, ge=1, description="band of the file, from 1")
    units: str = Field(default="", description="units of the values after scale/offset")
    categorical: bool = Field(default=False, description="classes (one-hot), not a quantity")
    resampling: Resampling | None = Field(
        default=None, description="resampling onto the grid; nearest for classes, else bilinear"
    )
    scale: float = Field(default=1.0, description="value = raw * scale + offset")
    offset: float = Field(default=0.0, description="value = raw * scale + offset")
    nodata: float | None = Field(default=None, description="overrides the file's nodata")
    description: str = Field(default="", description="free text")

    @property
    def resampling_method(self) -> Resampling:
        """Resampling used when warping: declared, else nearest for classes, bilinear otherwise."""
        if self.resampling is not None:
            return self.resampling
        return "nearest" if self.categorical else "bilinear"

    @field_validator("resampling")
    @classmethod
    def _categorical_needs_class_preserving(cls, value, info):
        if value in ("bilinear", "cubic", "average") and info.data.get("categorical"):
            raise ValueError(
                f"resampling '{value}' would invent classes; use 'nearest' or 'mode' "
                "for a categorical layer"
            )
        return value

    def resolved(self, base_dir: Path) -> CovariateLayer:
        """Return a copy whose relative path is anchored at ``base_dir``."""
        if self.path.is_absolute():
            return self
        return self.model_copy(update={"path": base_dir / self.path})


RASTER_SUFFIXES = (".tif", ".tiff", ".vrt", ".img", ".nc")


class CovariateSource(BaseModel):
    """Many layers at once: every band of a multi-band raster or VRT, of a folder's rasters,
    or of a STAC item's raster assets (or a collection's items, read with pystac).

    A band is named by its description (GDAL band description), a single-band file in a
    folder by its description or else its file stem, a single-band STAC asset by its key;
    ``names`` overrides them in band (and sorted file) order. Names are made valid (other
    characters become ``_``). Rasters may differ in CRS and resolution: each is warped onto
    the grid when read.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(
        description="a multi-band raster, a VRT, a folder of rasters or a STAC item (.json)"
    )
    names: list[str] | None = Field(
        default=None, description="layer names in band order; the band descriptions if null"
    )
    pattern: str = Field(default="*", description="file pattern inside a folder")
    categorical: list[str] = Field(default_factory=list, description="names of class layers")
    units: dict[str, str] = Field(default_factory=dict, description="units by layer name")

    def resolved(self, base_dir: Path) -> CovariateSource:
        """Return a copy whose relative path is anchored at ``base_dir``."""
        if self.path.is_absolute():
            return self
        return self.model_copy(update={"path": base_dir / self.path})


class CovariateCatalog(BaseModel):
    """The content of a ``covariates.yaml`` file: single layers and/or multi-layer sources."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(default=CATALOG_VERSION, description="catalog format version")
    crs: str | None = Field(default=None, description="CRS of the rasters, when all share one")
    layers: list[CovariateLayer] = Field(
        default_factory=list, description="the layers, one band each"
    )
    sources: list[CovariateSource] = Field(
        default_factory=list, description="multi-band rasters, VRTs or folders, expanded to layers"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> CovariateCatalog:
        if not self.layers and not self.sources:
            raise ValueError("a catalog needs layers or sources")
        return self

    def names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    def select(
        self, names: list[str] | None, *, source: Path | str, field: str
    ) -> list[CovariateLayer]:
        """Layers by name, in the order asked; all layers when ``names`` is None."""
        if names is None:
            return list(self.layers)
        by_name = {layer.name: layer for layer in self.layers}
        missing = [name for name in names if name not in by_name]
        if missing:
            raise ConfigError(
                f"covariate(s) {missing} are not in the catalog",
                path=source,
                field=field,
                fix=f"use names the catalog declares: {sorted(by_name)}, or add the layer "
                "to the catalog",
            )
        return [by_name[name] for name in names]


def read_catalog(path: str | Path) -> CovariateCatalog:
    """Read a covariate catalog and anchor its layer paths at the catalog's folder."""
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "covariate catalog not found",
            path=path,
            fix="check the path, or run `geosoil synth` to make an example catalog",
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
        catalog = CovariateCatalog.model_validate(raw)
    except yaml.YAMLError as err:
        raise ConfigError(f"catalog is not valid YAML: {err}", path=path) from err
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(
            f"catalog entry is invalid: {first['msg']}",
            path=path,
            field=field,
            fix="see docs of CovariateLayer for the allowed keys and values",
        ) from err
    base = path.parent
    layers = [layer.resolved(base) for layer in catalog.layers]
    for index, source in enumerate(catalog.sources):
        layers += source_layers(source.resolved(base), catalog=path, field=f"sources.{index}")
    names = [layer.name for layer in layers]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(
            f"layer name(s) {twice} appear more than once",
            path=path,
            field="layers",
            fix="rename them (a source's `names:` overrides band descriptions)",
        )
    return catalog.model_copy(update={"layers": layers, "sources": []})


def source_layers(source: CovariateSource, *, catalog: Path, field: str) -> list[CovariateLayer]:
    """The layers of a multi-band raster, VRT, folder of rasters or STAC item, named as
    documented in :class:`CovariateSource`."""
    files: list[tuple[Path, str | None]]  # a raster and the name of its band if it has one
    if source.path.is_dir():
        files = [
            (p, p.stem)
            for p in sorted(source.path.glob(source.pattern))
            if p.suffix.lower() in RASTER_SUFFIXES
        ]
        if not files:
            raise CovariateError(
                f"no raster matches '{source.pattern}' in the folder",
                path=source.path,
                field=f"{field}.path",
                fix=f"put rasters ({', '.join(RASTER_SUFFIXES)}) there or change `pattern`",
            )
    elif source.path.is_file() and source.path.suffix.lower() == ".json":
        files = stac_rasters(source.path, field=f"{field}.path")
    elif source.path.is_file():
        files = [(source.path, None)]
    else:
        raise InputFileNotFoundError(
            "covariate source not found", path=source.path, field=f"{field}.path"
        )
    bands = []  # (file, band, name or None)
    for file, single_name in files:
        try:
            with rasterio.open(file) as dataset:
                descriptions = dataset.descriptions
        except RasterioError as err:
            raise CovariateError(
                f"cannot read the raster ({err})", path=file, field=f"{field}.path"
            ) from err
        fallback = single_name if len(descriptions) == 1 else None
        for band, description in enumerate(descriptions, start=1):
            bands.append((file, band, description or fallback))
    if source.names is not None:
        if len(source.names) != len(bands):
            raise ConfigError(
                f"{len(source.names)} names for {len(bands)} bands",
                path=catalog,
                field=f"{field}.names",
                fix="give one name per band, in band order (files sorted by name)",
            )
        names = list(source.names)
    else:
        unnamed = [f"{file.name} band {band}" for file, band, name in bands if not name]
        if unnamed:
            raise ConfigError(
                f"bands without a description cannot be named: {', '.join(unnamed[:5])}",
                path=source.path,
                field=f"{field}.names",
                fix="list the layer names in band order under `names:` in the catalog, or "
                "set band descriptions (gdal_edit.py -mo / rasterio set_band_description)",
            )
        names = [name for _, _, name in bands]
    names = [_valid_name(name) for name in names]
    unknown = sorted(set(source.categorical) - set(names))
    if unknown:
        raise ConfigError(
            f"categorical names {unknown} are not layers of the source",
            path=catalog,
            field=f"{field}.categorical",
            fix=f"use names among {names}",
        )
    return [
        CovariateLayer(
            name=name,
            path=file,
            band=band,
            units=source.units.get(name, ""),
            categorical=name in source.categorical,
        )
        for (file, band, _), name in zip(bands, names, strict=True)
    ]


def stac_rasters(path: Path, *, field: str) -> list[tuple[Path, str | None]]:
    """The raster assets of a STAC item (or of every item of a collection), resolved
    relative to the file; a single-band asset is named by its key (``<item>_<key>`` in a
    collection of several items)."""
    import pystac

    try:
        stac = pystac.read_file(str(path))
    except Exception as err:  # pystac raises many kinds on a malformed file
        raise ConfigError(
            f"not a readable STAC item or collection ({err})", path=path, field=field
        ) from err
    items = [stac] if isinstance(stac, pystac.Item) else list(stac.get_items(recursive=True))
    files = []
    for item in items:
        for key, asset in item.get_assets().items():
            is_raster = (asset.media_type or "").startswith(
                "image/tiff"
            ) or asset.href.lower().endswith(RASTER_SUFFIXES)
            if not is_raster or "data" not in (asset.roles or ["data"]):
                continue
            href = Path(asset.get_absolute_href() or asset.href)
            if not href.is_file():
                raise InputFileNotFoundError(
                    f"asset '{key}' of STAC item '{item.id}' not found",
                    path=href,
                    field=field,
                    fix="correct the asset's href (relative to the item file) or add the file",
                )
            files.append((href, key if len(items) == 1 else f"{item.id}_{key}"))
    if not files:
        raise CovariateError(
            "the STAC file has no raster data asset",
            path=path,
            field=field,
            fix="add GeoTIFF assets with role 'data'",
        )
    return files


def has_category_names(path: Path, band: int) -> bool:
    """Whether GDAL's sidecar ``<file>.aux.xml`` names the classes of ``band`` (category
    names or a raster attribute table): how GeoTIFFs carry them."""
    import xml.etree.ElementTree as ET

    sidecar = path.with_name(path.name + ".aux.xml")
    if not sidecar.is_file():
        return False
    try:
        root = ET.parse(sidecar).getroot()
    except ET.ParseError:
        return False
    for element in root.iter("PAMRasterBand"):
        if element.get("band") == str(band):
            return element.find("CategoryNames") is not None or (
                element.find("GDALRasterAttributeTable") is not None
            )
    return False


def _valid_name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_]", "_", text.strip())
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"


def write_catalog(catalog: CovariateCatalog, path: str | Path) -> None:
    """Write a catalog, keeping layer paths relative to the catalog's folder when possible."""
    path = Path(path)
    layers = []
    for layer in catalog.layers:
        data = layer.model_dump(mode="json", exclude_defaults=True)
        data["name"] = layer.name
        data["path"] = _relative_to(layer.path, path.parent).as_posix()
        layers.append(data)
    body = {"version": catalog.version, "crs": catalog.crs, "layers": layers}
    if catalog.sources:
        body["sources"] = [
            {
                **source.model_dump(mode="json", exclude_defaults=True),
                "path": _relative_to(source.path, path.parent).as_posix(),
            }
            for source in catalog.sources
        ]
    path.write_text(yaml.safe_dump(body, sort_keys=False))


def _relative_to(target: Path, base: Path) -> Path:
    try:
        return target.resolve().relative_to(base.resolve())
    except ValueError:
        return target


def write_union_catalog(catalogs: Sequence[str | Path], out: str | Path) -> Path:
    """Write one covariate catalog holding the layers of several, in order.

    A name in more than one catalog is kept once when every entry points at the same band
    of the same file (``nbedrock`` is in both ``covariates.yaml`` and ``forcings.yaml`` of
    the synthetic SOC rasters). Paths are written relative to ``out``'s folder when possible.

    Raises
    ------
    CovariateError
        One name points at different data in two catalogs, or the catalogs' CRS differ.
    InputFileNotFoundError, ConfigError
        A catalog is missing or invalid.
    """
    layers, seen, crs = [], {}, None
    for path in catalogs:
        catalog = read_catalog(path)
        if catalog.crs is not None and crs is not None and catalog.crs != crs:
            raise CovariateError(
                f"catalogs declare different CRS ({crs}, {catalog.crs})",
                path=path,
                field="covariates.catalog",
                fix="merge catalogs of rasters on one grid",
            )
        crs = crs or catalog.crs
        for layer in catalog.layers:
            earlier = seen.get(layer.name)
            if earlier is None:
                seen[layer.name] = layer
                layers.append(layer)
            elif (Path(earlier.path).resolve(), earlier.band) != (
                Path(layer.path).resolve(),
                layer.band,
            ):
                raise CovariateError(
                    f"layer '{layer.name}' means different data in two catalogs",
                    path=path,
                    field=f"covariates.{layer.name}",
                    fix="rename one of them",
                )
    out = Path(out)
    write_catalog(CovariateCatalog(crs=crs, layers=layers), out)
    return out
