"""Config of ``geosoil recommend k-fertilizer``: Kex map -> K fertilizer doses -> per-field table.

Exchangeable K comes by one of two routes:

(a) ``kex.model``: a covariate artifact mapped over the covariates; or
(b) ``kex.spectra``: a spectral artifact predicts Kex at the spectra's sample points, and a
    covariate model (``kex.covariate_model``) fitted on those predictions maps it.

The dose at ``percentile`` (default 90) rests on the calibrated conformal Kex bounds
``<kex>_lo`` and ``<kex>_hi``: route (a) needs an artifact trained with intervals (every
``geosoil train`` since the trust layer), route (b) calibrates its covariate model by 3-fold
CV. Set ``percentile: null`` to map only the dose at the mapped Kex. Pixels outside the Kex
model's area of applicability get no dose and their own ``dose_status`` class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from geosoil.config.base import StrictModel, config_error
from geosoil.config.common import CovariatesConfig, EstimatorConfig, GridConfig
from geosoil.config.map import MapRunConfig
from geosoil.products.k_fertilizer import KFertilizer

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
    x_column: str | None = Field(
        default=None, description="easting/longitude column, when the table is not GeoParquet"
    )
    y_column: str | None = Field(default=None, description="northing/latitude column")
    crs: str | None = Field(default=None, description="CRS of x/y columns, e.g. EPSG:32654")
    convert_quantity: bool = Field(
        default=False,
        description="convert absorbance <-> reflectance to the artifact's quantity instead of "
        "refusing spectra of the other quantity",
    )


class CovariateModelConfig(EstimatorConfig):
    """Route (b): the covariate model fitted on the Kex predicted at the points."""

    estimator: str = Field(
        default="covariate_mlp", description="registry name of the covariate estimator"
    )
    params: dict[str, Any] = Field(
        default_factory=lambda: {
            "hidden_layers": [64, 64],
            "target_transform": "log10",
            "n_members": 5,
            "seed": 0,
        },
        description="hyperparameters; an ensemble's spread can normalise the conformal bounds",
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

    path: Path = Field(description="field polygons: GeoPackage, GeoJSON or Shapefile")
    id_column: str = Field(default="field_id", description="column naming each field")
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
    plough_depth_cm: float = Field(
        default=15.0, gt=0, le=100, description="depth of the fertilized layer, cm"
    )
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

    @model_validator(mode="after")
    def _product(self) -> RecommendKConfig:
        # The k_fertilizer product owns the rules for its parameters (products/): they are
        # checked once, through it, when the config loads.
        try:
            KFertilizer.Params.model_validate(self.product_params())
        except ValidationError as err:
            error = config_error(err, KFertilizer.Params, None)
            if error.field == "kex_layer":
                error.field = "kex.layer"
                error.args = (str(error),)
            raise error from None
        return self

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
