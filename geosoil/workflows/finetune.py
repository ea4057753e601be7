"""``geosoil finetune``: adapt a pretrained spectral network to a small target set.

Transfer learning as He et al. (2025) do it for lead: a network pretrained on a large
library (pH from LUCAS vis-NIR) keeps its convolutional layers frozen while its dense head
learns the new property from a hundred-odd local samples. The parent is checked before any
data is read (a network estimator, the frozen groups exist) and the target spectra before
any fit (the parent's axis, or an explicit resampling onto it).
"""

from __future__ import annotations

import logging

from geosoil.artifacts import load_artifact
from geosoil.config.evaluate import SpectralModelConfig, SpectralTrainConfig
from geosoil.config.finetune import FinetuneConfig
from geosoil.errors import ConfigError
from geosoil.spectra import SpectraError, SpectralAxis
from geosoil.workflows.evaluate import read_configured_spectra
from geosoil.workflows.train_spectra import SpectralTrainResult, train_spectra_from_config

__all__ = ["finetune_from_config"]

log = logging.getLogger(__name__)

# Hyperparameters of the parent that describe its own run, not the model.
_NOT_INHERITED = ("init_from", "freeze", "seed", "target_transform")


def finetune_from_config(config: FinetuneConfig) -> SpectralTrainResult:
    """Fine-tune the parent artifact on the target spectra; write the child artifact.

    Returns
    -------
    SpectralTrainResult
        As ``geosoil train``; the artifact's provenance holds ``parent_sha256``.

    Raises
    ------
    ConfigError
        The parent is not a network spectral model, or ``freeze`` names a group it lacks.
    SpectraError
        The target spectra are on another axis than the parent's and no resampling is set.
    """
    parent = load_artifact(config.parent)
    header = parent.header
    networks = getattr(parent.estimator, "networks_", None)
    if header.input_spec.kind != "spectra" or not networks:
        raise ConfigError(
            f"the parent '{header.estimator}' is not a spectral network and cannot be fine-tuned",
            path=config.parent,
            field="parent",
            fix="pretrain a spectral_resnet or spectral_cnn (geosoil train) and name its "
            "artifact here",
        )
    groups = sorted(networks[0].layer_groups())
    unknown = sorted(set(config.freeze) - set(groups))
    if unknown:
        raise ConfigError(
            f"freeze names {unknown}, which the parent's network ({config.parent}) does not have",
            field="freeze",
            fix=f"choose among its layer groups: {', '.join(groups)}",
        )
    spectra = config.target_spectra()
    samples = read_configured_spectra(spectra)
    parent_axis = SpectralAxis.from_values(
        header.input_spec.axis, header.input_spec.axis_unit, source=config.parent
    )
    if not samples.axis.same_as(parent_axis):
        raise SpectraError(
            f"the target spectra are on {samples.axis.describe()} but the parent was trained "
            f"on {parent_axis.describe()}",
            path=spectra.path,
            field="resample_to_parent",
            fix="set resample_to_parent: true to interpolate them onto the parent's axis "
            "(linear, no extrapolation), or spectra.resample",
        )
    inherited = {
        key: value for key, value in header.hyperparameters.items() if key not in _NOT_INHERITED
    }
    params = {
        **inherited,
        **config.params,
        "init_from": str(config.parent),
        "freeze": list(config.freeze),
    }
    log.info(
        "fine-tuning %s (%s) with %s frozen", config.parent.name, header.estimator, config.freeze
    )
    train = SpectralTrainConfig(
        spectra=spectra,
        model=SpectralModelConfig(estimator=header.estimator, params=params),
        target_transform=config.target_transform,
        valid_fraction=config.valid_fraction,
        group_column=config.group_column,
        seed=config.seed,
        output=config.output,
    )
    return train_spectra_from_config(train, record=config)
