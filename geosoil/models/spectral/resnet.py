"""``SpectralResNet``: the Pb seed system's 1-D ResNet (:mod:`geosoil.models.spectral.resnet1d`).

He et al. (2025) pretrain the ResNet on a large vis-NIR library (LUCAS pH), then freeze its
convolutional and residual layers and fine-tune the dense layers on some 130 local Pb
samples. Here pretraining is an ordinary ``fit``; fine-tuning is a ``fit`` with
``init_from`` (the pretrained artifact) and ``freeze: [features]``, the defaults of
:class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`.

The output goes through a ReLU as in the paper, so predictions on the transformed scale are
never negative. A ReLU cannot reach a centred target (half of it is negative), so with
``output_activation="relu"`` the target is only divided by its root mean square, and
transformed training targets below 0 are refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.registry import register
from geosoil.models.spectral.base import PreparedData
from geosoil.models.spectral.network import NetworkSpectralEstimator
from geosoil.models.spectral.resnet1d import (
    OUTPUT_ACTIVATIONS,
    SpectralResNetNetwork,
    min_input_bands,
)
from geosoil.spectra import SpectraError

__all__ = ["SpectralResNet"]


@register
class SpectralResNet(NetworkSpectralEstimator):
    """1-D ResNet regression on spectra; pretrain, then fine-tune with ``init_from``.

    Parameters
    ----------
    preprocessing
        Preprocessing steps (see :class:`~geosoil.spectra.SpectralPipeline`). None uses SNV
        on either axis: it removes brightness and scatter, which differ between the
        instruments of a source library and a target set, and brings reflectance given in
        percent or in 0-1 to the same scale (raw percent reflectance drives the ReLU output
        into its dead zone). The average pooling by ``pool`` already smooths the spectra.
    target_transform
        ``"none"`` (default: the paper models Pb and pH as measured) or ``"log10"``.
    seed
        Seeds the validation split; member ``k`` uses ``seed + k`` for its initialization,
        minibatch order and dropout.
    valid_fraction
        Share of the spectra held out for early stopping when ``fit`` gets no validation set.
    max_epochs, patience
        Epoch limit (300) and epochs without a lower validation loss before stopping (30):
        fine-tuning on some 100 samples takes only a few minibatches per epoch.
    batch_size
        Minibatch size (32).
    base_lr, max_lr, cycle_epochs
        Triangular cyclic learning rate for Adam, 1e-4 to 1e-3 over ``cycle_epochs`` (10)
        epochs; the paper trains with Adam at 1e-3.
    dropout
        Dropout before the output layer: 0 as in the paper; set it (e.g. 0.2) for MC dropout.
    n_members, mc_dropout
        Ensemble members, or Monte Carlo dropout samples, for :meth:`predict_dist`.
    threads, progress
        Torch threads while fitting; a progress bar over epochs.
    pool
        Width of the first average pooling (10: 2100 bands become 210 positions).
    output_activation
        ``"relu"`` (the paper: non-negative outputs; the target is then scaled but not
        centred) or ``"identity"`` (the target is centred and scaled as for the CNN).
    init_from
        Path of a ``spectral_resnet`` artifact to fine-tune from (transfer learning), or None.
    freeze
        Layer groups (``features``, ``head``) kept fixed when fine-tuning; the paper freezes
        ``features``, the convolutional and residual layers.
    final_fit
        ``"refit"`` (default): the networks are retrained on all spectra, validation ones
        included, for the epoch count early stopping chose; ``"validated"``: the
        early-stopped networks are kept (see
        :class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`).

    Notes
    -----
    Learned state: ``networks_`` (see :class:`~.resnet1d.SpectralResNetNetwork`),
    ``history_``, ``best_epochs_``, ``parent_sha256_``, ``frozen_groups_`` (see
    :class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`), and the shared state
    of :class:`~geosoil.models.spectral.base.SpectralEstimator`.
    """

    registry_name = "spectral_resnet"
    default_preprocessing = {  # noqa: RUF012 (read-only by convention; copied before use)
        "cm-1": ({"name": "snv"},),
        "nm": ({"name": "snv"},),
    }

    def __init__(
        self,
        *,
        preprocessing: Sequence[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "none",
        seed: int = 0,
        valid_fraction: float = 0.1,
        max_epochs: int = 300,
        patience: int = 30,
        batch_size: int = 32,
        base_lr: float = 1e-4,
        max_lr: float = 1e-3,
        cycle_epochs: int = 10,
        dropout: float = 0.0,
        n_members: int = 1,
        mc_dropout: int = 0,
        threads: int | None = None,
        progress: bool = False,
        pool: int = 10,
        output_activation: Literal["relu", "identity"] = "relu",
        init_from: str | None = None,
        freeze: Sequence[str] = ("features",),
        final_fit: Literal["refit", "validated"] = "refit",
    ) -> None:
        self._store_params(locals())

    def _check_params(self) -> None:
        super()._check_params()
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 1:
            raise ConfigError(
                f"pool={self.pool!r} must be a whole number of at least 1",
                field="params.pool",
                fix="use the paper's 10 for 1 nm vis-NIR spectra (1 for no pooling)",
            )
        if self.output_activation not in OUTPUT_ACTIVATIONS:
            raise ConfigError(
                f"output_activation={self.output_activation!r} is not one of "
                f"{list(OUTPUT_ACTIVATIONS)}",
                field="params.output_activation",
                fix="use 'relu' (the paper, non-negative targets) or 'identity'",
            )

    def _centres_target(self) -> bool:
        # A ReLU output cannot reach the negative half of a centred target.
        return self.output_activation != "relu"

    def _build_network(self, n_bands: int) -> SpectralResNetNetwork:
        return SpectralResNetNetwork(
            n_bands, pool=self.pool, dropout=self.dropout, output_activation=self.output_activation
        )

    def _check_prepared(self, data: PreparedData) -> None:
        n_bands = data.Z_train.shape[1]
        minimum = min_input_bands(self.pool)
        if n_bands < minimum:
            raise SpectraError(
                f"SpectralResNet with pool={self.pool} needs at least {minimum} bands after "
                f"preprocessing (the pooling by {self.pool} and two by 2 must leave one "
                f"position), but the preprocessing leaves {n_bands} of the {len(data.axis)} "
                f"input bands ({data.axis.describe()})",
                field="params.preprocessing",
                fix="trim less or resample to a finer axis (a {'name': 'resample', ...} step), "
                "or lower params.pool",
            )
        if self.output_activation == "relu":
            negative = int(np.count_nonzero(data.t_train < 0))
            if negative:
                raise SampleDataError(
                    f"{negative} of {len(data.t_train)} training targets are below 0 after "
                    f"the {self.target_transform!r} target transform, but the ReLU output "
                    "cannot predict negative values",
                    field="params.output_activation",
                    fix="use a target_transform that keeps the values >= 0 (none for a "
                    "non-negative property, log10 for values >= 1), or output_activation: "
                    "identity",
                )
