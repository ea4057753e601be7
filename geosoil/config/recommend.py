"""Config of ``geosoil recommend k-fertilizer``: Kex map -> K fertilizer doses -> per-field table.

Exchangeable K comes by one of two routes:

(a) ``kex.model``: a covariate artifact (a ``covariate_mlp``, ideally an ensemble with
    ``n_members >= 2`` so it maps uncertainty) mapped over the covariates; or
(b) ``kex.spectra``: a spectral artifact predicts Kex at the spectra's sample points, and a
    covariate model (``kex.covariate_model``) fitted on those predictions maps it.

The dose at ``percentile`` (default 90) needs the Kex uncertainty layers ``<kex>_p05`` and
``<kex>_p95``: route (a) needs an ensemble artifact, route (b) a covariate model with
``n_members >= 2``. Set ``percentile: null`` to map only the dose at the mapped Kex.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationInfo, field_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import CovariatesConfig, EstimatorConfig, GridConfig
from geosoil.config.map import MapRunConfig
from geosoil.products.k_fertilizer import (
    check_bulk_density_g_cm3,
    check_bulk_density_options,
    check_crop,
    check_percentile,
)

__all__ = [
    "CovariateModelConfig",
    "FieldsConfig",
    "KexConfig",
    "KexSpectraConfig",
    "RecommendKConfig",
]


class KexSpectraConfig(StrictModel):
    """Route (b): a spectral artifact and the spectra table it predicts Kex from."""

    artifact: Path = Field(description="spectral model artifact (.safetensors)")
    table: Path = Field(description="spectra with coordinates (CSV, Parquet, GeoParquet)")
    id_column: str | None = Field(default=None, description="sample id (replicates averaged)")
    x_column: str | None = None
    y_column: str | None = None
    crs: str | None = Field(default=None, description="CRS of x/y columns, e.g. EPSG:32654")


class CovariateModelConfig(EstimatorConfig):
    """Route (b): the covariate model fitted on the Kex predicted at the points."""

    estimator: str = "covariate_mlp"
    params: dict[str, Any] = Field(
        default_factory=lambda: {
            "hidden_layers": [64, 64],
            "target_transform": "log10",
            "n_members": 5,
            "seed": 0,
        },
        description="hyperparameters; n_members >= 2 maps the uncertainty a percentile needs",
    )


class KexConfig(StrictModel):
    """Where exchangeable K (cmol(+)/kg) comes from: exactly one of ``model`` or ``spectra``."""

    model: Path | None = Field(default=None, description="route (a): covariate artifact")
    spectra: KexSpectraConfig | None = Field(default=None, description="route (b)")
    covariate_model: CovariateModelConfig | None = Field(
        default=None,
        description="route (b): model mapping the predicted Kex",
        validate_default=True,
    )
    layer: str = Field(default="kex_cmol_kg", description="name of the mapped Kex layer")

    @field_validator("covariate_model")
    @classmethod
    def _one_route(
        cls, value: CovariateModelConfig | None, info: ValidationInfo
    ) -> CovariateModelConfig | None:
        model, spectra = info.data.get("model"), info.data.get("spectra")
        if (model is None) == (spectra is None):
            given = "both" if model is not None else "neither"
            raise ValueError(
                f"{given} of kex.model and kex.spectra set; set exactly one: kex.model: "
                "<covariate artifact> (route a), or kex.spectra: {artifact, table, ...} "
                "(route b)"
            )
        if model is not None and value is not None:
            raise ValueError("kex.covariate_model belongs to route (b), kex.spectra; remove it")
        if spectra is not None and value is None:
            return CovariateModelConfig()
        return value


class FieldsConfig(StrictModel):
    """Field polygons for the per-field table."""

    path: Path
    id_column: str = "field_id"
    layer: str | None = Field(default=None, description="layer of a multi-layer GeoPackage")


class RecommendKConfig(MapRunConfig):
    """``geosoil recommend k-fertilizer``: Kex map -> K2O/KCl doses -> per-field table."""

    kex: KexConfig
    covariates: CovariatesConfig
    grid: GridConfig
    bulk_density: str | None = Field(
        default=None, description="covariate layer of dry bulk density in g/cm3"
    )
    bulk_density_g_cm3: float | None = Field(
        default=None, description="constant dry bulk density (0.1-2.7)", validate_default=True
    )
    plough_depth_cm: float = Field(default=15.0, gt=0, le=100)
    target_mg_k2o_100g: float | None = Field(
        default=None, gt=0, description="target; the table's default (25, paddy rice) if null"
    )
    crop: str | None = Field(
        default=None, description="a crop of the target table instead of a target"
    )
    percentile: float | None = Field(
        default=90.0, description="also the dose at this percentile (50, 100); null for none"
    )
    fields: FieldsConfig | None = None

    @field_validator("bulk_density_g_cm3")
    @classmethod
    def _bulk_density(cls, value: float | None, info: ValidationInfo) -> float | None:
        check_bulk_density_options(info.data.get("bulk_density"), value)
        return check_bulk_density_g_cm3(value)

    @field_validator("crop")
    @classmethod
    def _crop(cls, value: str | None, info: ValidationInfo) -> str | None:
        check_crop(value, info.data.get("target_mg_k2o_100g"))
        return value

    @field_validator("percentile")
    @classmethod
    def _percentile(cls, value: float | None, info: ValidationInfo) -> float | None:
        check_percentile(value)
        kex = info.data.get("kex")
        model = kex.covariate_model if kex is not None else None
        if value is not None and model is not None and _members(model.params) < 2:
            raise ValueError(
                f"percentile {value:g} needs the Kex uncertainty layers, which only an ensemble "
                "maps: set kex.covariate_model.params.n_members: 5 (>= 2), or percentile: null"
            )
        return value

    def product_params(self) -> dict[str, Any]:
        """Parameters of the ``k_fertilizer`` product this config asks for."""
        return {
            "kex_layer": self.kex.layer,
            "target_mg_k2o_100g": self.target_mg_k2o_100g,
            "crop": self.crop,
            "bulk_density": self.bulk_density,
            "bulk_density_g_cm3": self.bulk_density_g_cm3,
            "plough_depth_cm": self.plough_depth_cm,
            "percentile": self.percentile,
        }

    def result_defining(self) -> dict[str, Any]:
        """The settings that decide the outputs (not where or how the run went)."""
        return self.model_dump(mode="json", exclude={"output", "execution", "max_pixels"})


def _members(params: dict[str, Any]) -> int:
    try:
        return int(params.get("n_members", 1))
    except (TypeError, ValueError):
        return 1  # the estimator refuses it with its own message when it is built
