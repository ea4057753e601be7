"""``SpectralCNN``: the Kex seed system's 1-D CNN (:mod:`~.spectral.cnn1d`) as an estimator.

Training follows the paper (Albinet et al. 2022, ``mirzai``): Adam with a triangular cyclic
learning rate (3e-5 to 1e-3, a full cycle every 10 epochs, one step per minibatch of 32), mean
squared error on the log10 target standardized, and early stopping when the validation loss has
not improved for ``patience`` epochs, keeping the best weights. Uncertainty comes from an
ensemble of independently seeded networks (``n_members``) or from Monte Carlo dropout
(``mc_dropout``). The training loop, uncertainty and transfer learning are those of
:class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`; this module declares the
network and the paper's defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from geosoil.models.registry import register
from geosoil.models.spectral.base import CO2_REGION_CM1, PreparedData
from geosoil.models.spectral.cnn1d import MIN_INPUT_BANDS, SpectralCNNNetwork
from geosoil.models.spectral.network import NetworkSpectralEstimator
from geosoil.spectra import SpectraError

__all__ = ["SpectralCNN"]


@register
class SpectralCNN(NetworkSpectralEstimator):
    """1-D CNN regression on spectra, with optional ensemble or MC-dropout uncertainty.

    Parameters
    ----------
    preprocessing
        Preprocessing steps (see :class:`~geosoil.spectra.SpectralPipeline`). None uses
        the paper's: SNV, then, on a cm-1 axis, the CO2 band 2269-2389 cm-1 dropped.
    target_transform
        ``"log10"`` (the paper, for skewed Kex) or ``"none"``.
    seed
        Seeds the validation split; member ``k`` of an ensemble uses ``seed + k`` for its
        initialization, minibatch order and dropout.
    valid_fraction
        Share of the spectra held out for early stopping when ``fit`` gets no validation set.
    max_epochs, patience, batch_size, base_lr, max_lr, cycle_epochs
        As for :class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`.
    dropout
        Dropout probability before the dense head.
    n_members, mc_dropout, threads, progress
        As for :class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`.
    init_from
        Path of a ``spectral_cnn`` artifact to fine-tune from (transfer learning), or None.
    freeze
        Layer groups (``features``, ``head``) kept fixed when fine-tuning.
    final_fit
        ``"refit"`` (default): the networks are retrained on all spectra, validation ones
        included, for the epoch count early stopping chose; ``"validated"``: the
        early-stopped networks are kept (see
        :class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`).

    Notes
    -----
    Learned state: ``networks_`` (in eval mode, see :class:`SpectralCNNNetwork`),
    ``history_``, ``best_epochs_``, ``parent_sha256_``, ``frozen_groups_`` (see
    :class:`~geosoil.models.spectral.network.NetworkSpectralEstimator`), and the shared state
    of :class:`~geosoil.models.spectral.base.SpectralEstimator`.
    """

    registry_name = "spectral_cnn"
    default_preprocessing = {  # noqa: RUF012 (read-only by convention; copied before use)
        "cm-1": ({"name": "snv"}, {"name": "drop_regions", "regions": [list(CO2_REGION_CM1)]}),
        "nm": ({"name": "snv"},),
    }

    def __init__(
        self,
        *,
        preprocessing: Sequence[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "log10",
        seed: int = 0,
        valid_fraction: float = 0.1,
        max_epochs: int = 200,
        patience: int = 20,
        batch_size: int = 32,
        base_lr: float = 3e-5,
        max_lr: float = 1e-3,
        cycle_epochs: int = 10,
        dropout: float = 0.4,
        n_members: int = 1,
        mc_dropout: int = 0,
        threads: int | None = None,
        progress: bool = False,
        init_from: str | None = None,
        freeze: Sequence[str] = ("features",),
        final_fit: Literal["refit", "validated"] = "refit",
    ) -> None:
        self._store_params(locals())

    def _build_network(self, n_bands: int) -> SpectralCNNNetwork:
        return SpectralCNNNetwork(n_bands, dropout=self.dropout)

    def _check_prepared(self, data: PreparedData) -> None:
        n_bands = data.Z_train.shape[1]
        if n_bands < MIN_INPUT_BANDS:
            raise SpectraError(
                f"SpectralCNN needs at least {MIN_INPUT_BANDS} bands after preprocessing (five "
                f"pooling steps divide the length by 3^5), but the preprocessing leaves "
                f"{n_bands} of the {len(data.axis)} input bands ({data.axis.describe()})",
                field="params.preprocessing",
                fix="trim less, or add a {'name': 'resample', ...} step to a finer axis; for "
                "few bands use PLSR",
            )
