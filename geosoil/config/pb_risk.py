"""Config of ``geosoil recommend pb-risk``: Pb and pH maps -> contamination risk classes.

Lead (total Pb, mg/kg) comes from a covariate model mapped in the run (``pb.model``) or from an
existing raster (``pb.layer``). Soil pH, which sets the thresholds, is required and comes the
same ways, or as an explicit, recorded assumption (``ph.constant`` with ``ph.reason``) for data
sets without pH. Land use picks the screening row: one for the whole map (``land_use``) or a
class layer (``land_use_layer`` with ``paddy_codes``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from geosoil.config.base import StrictModel
from geosoil.config.common import CovariatesConfig, GridConfig
from geosoil.config.map import MapRunConfig
from geosoil.errors import ConfigError
from geosoil.products.pb_risk import PH_RANGE, check_land_use_options

__all__ = ["PbSourceConfig", "PhSourceConfig", "RecommendPbRiskConfig"]

_LAYER_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
NO_PH_FIX = (
    "add a `ph:` section with one of: `model: <pH artifact>` (mapped in the same run), "
    "`layer: <catalog layer or pH raster>`, or `constant: <pH>` with `reason: <why this pH "
    "holds>` (an explicit assumption, recorded with the outputs)"
)


class PbSourceConfig(StrictModel):
    """Where total Pb (mg/kg) comes from: exactly one of ``model`` or ``layer``."""

    model: Path | None = Field(default=None, description="covariate artifact predicting Pb")
    layer: str | None = Field(
        default=None, description="an existing Pb raster: catalog layer name or raster path"
    )
    name: str = Field(
        default="pb_mg_kg",
        pattern=_LAYER_NAME,
        description="name of the Pb layer in the run (model output or raster given by path)",
    )
    uncertainty: bool = Field(
        default=False,
        description="map the model's calibrated conformal 90 % bounds (<name>_lo/_hi) and a "
        "precautionary class from the upper bound (the calibrated 95th percentile)",
    )

    @model_validator(mode="after")
    def _one_source(self) -> PbSourceConfig:
        if (self.model is None) == (self.layer is None):
            given = "both" if self.model is not None else "neither"
            raise ValueError(
                f"{given} of pb.model and pb.layer set; set exactly one: pb.model: <covariate "
                "artifact> or pb.layer: <Pb raster or catalog layer, mg/kg>"
            )
        if self.uncertainty and self.model is None:
            raise ValueError("pb.uncertainty needs pb.model (a raster has no uncertainty layers)")
        return self


class PhSourceConfig(StrictModel):
    """Where soil pH comes from: exactly one of ``model``, ``layer`` or ``constant``."""

    model: Path | None = Field(default=None, description="covariate artifact predicting pH")
    layer: str | None = Field(default=None, description="catalog layer name or pH raster path")
    constant: float | None = Field(
        default=None, ge=PH_RANGE[0], le=PH_RANGE[1], description="one pH assumed everywhere"
    )
    reason: str | None = Field(
        default=None, description="why the constant holds: recorded in the outputs"
    )
    name: str = Field(
        default="ph", pattern=_LAYER_NAME, description="name of the pH layer in the run"
    )

    @model_validator(mode="after")
    def _one_source(self) -> PhSourceConfig:
        given = [key for key in ("model", "layer", "constant") if getattr(self, key) is not None]
        if len(given) != 1:
            which = " and ".join(given) if given else "none"
            raise ValueError(
                f"ph has {which} set; set exactly one of ph.model, ph.layer or ph.constant "
                "(with ph.reason)"
            )
        if self.constant is not None and not (self.reason or "").strip():
            raise ValueError(
                f"ph.constant: {self.constant:g} needs ph.reason: a sentence on why this pH "
                "holds here; it is an assumption that decides the thresholds and is recorded "
                "with the outputs"
            )
        if self.constant is None and self.reason is not None:
            raise ValueError("ph.reason explains ph.constant; remove it or set ph.constant")
        return self

    @property
    def source(self) -> str:
        """``model``, ``layer`` or ``constant``."""
        if self.model is not None:
            return "model"
        return "layer" if self.layer is not None else "constant"


class RecommendPbRiskConfig(MapRunConfig):
    """``geosoil recommend pb-risk``: Pb and pH -> risk classes against pH-banded thresholds."""

    pb: PbSourceConfig
    ph: PhSourceConfig
    covariates: CovariatesConfig
    grid: GridConfig
    land_use: Literal["other", "paddy"] | None = Field(
        default=None, description="screening row for the whole map; `other` if unset"
    )
    land_use_layer: str | None = Field(
        default=None, description="class layer of land use: catalog name or raster path"
    )
    paddy_codes: list[int] = Field(default_factory=list, description="paddy codes of the layer")
    other_codes: list[int] | None = Field(
        default=None,
        description="other-farmland codes; any other code is not farmland (no class). "
        "Null: every non-paddy code is other farmland",
    )
    thresholds: Path | None = Field(
        default=None, description="threshold table (YAML); the packaged GB 15618-2018 if null"
    )
    output_prefix: str = Field(
        default="pb_risk", pattern=_LAYER_NAME, description="prefix of the product layers"
    )

    @model_validator(mode="before")
    @classmethod
    def _ph_is_required(cls, data: Any) -> Any:
        # Raised as is, not as a pydantic error, so the fix can name the three ways.
        if isinstance(data, dict) and data.get("ph") is None:
            raise ConfigError(
                "no soil pH: the Pb thresholds depend on it",
                field="ph",
                fix=NO_PH_FIX,
            )
        return data

    @model_validator(mode="after")
    def _land_use(self) -> RecommendPbRiskConfig:
        try:
            check_land_use_options(
                self.land_use, self.land_use_layer, self.paddy_codes, self.other_codes
            )
        except ValueError as err:
            # Raised as a ConfigError: pydantic would blame the top level, not these keys.
            raise ConfigError(
                str(err),
                field="land_use_layer",
                fix="set land_use: other | paddy for the whole map, or land_use_layer with "
                "paddy_codes (and other_codes to leave non-farmland codes unclassified)",
            ) from None
        return self

    def product_params(
        self, *, pb_layer: str, ph_layer: str | None, land_use_layer: str | None
    ) -> dict[str, Any]:
        """Parameters of the ``pb_risk`` product, given the layer names of the run."""
        return {
            "pb": pb_layer,
            "ph": ph_layer,
            "ph_constant": self.ph.constant,
            "land_use": self.land_use,
            "land_use_layer": land_use_layer,
            "paddy_codes": list(self.paddy_codes),
            "other_codes": self.other_codes,
            "thresholds": self.thresholds,
            "use_percentile_layer": self.pb.uncertainty,
            "output": self.output_prefix,
        }

    def result_defining(self) -> dict[str, Any]:
        """The settings that decide the outputs (not where or how the run went)."""
        return self.model_dump(mode="json", exclude={"output", "execution", "max_pixels"})
