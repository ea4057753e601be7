"""The 1-D convolutional network of the Kex seed system (Albinet et al. 2022, ``mirzai``).

Five convolution blocks ``Conv1d(k=3, no bias) -> BatchNorm -> LeakyReLU(0.1) -> AvgPool(3)``
with 16, 32, 64, 128 and 256 channels, then a small dense head ``Dropout(0.4) -> Linear(20)
-> BatchNorm -> LeakyReLU(0.1) -> Linear(1)``. The convolutions are padded so that only the
pooling shortens the spectrum, each block dividing its length by 3 (rounded down): 1701
bands (600-4000 cm-1 every 2 cm-1) become 567, 189, 63, 21 and 7 positions, flattened to
256 x 7 = 1792 features; with the default preprocessing, which drops the 60 bands of the CO2
region, 1641 bands become 547, 182, 60, 20 and 6 positions (1536 features). 243 = 3^5 bands
is the shortest input that keeps one position.
"""

from __future__ import annotations

import torch
from torch import nn

from geosoil.models.layers import kaiming_leaky_init

__all__ = [
    "CHANNELS",
    "MIN_INPUT_BANDS",
    "AvgPool1d3",
    "SpectralCNNNetwork",
    "flattened_features",
]

CHANNELS = (16, 32, 64, 128, 256)
POOL = 3
MIN_INPUT_BANDS = POOL ** len(CHANNELS)  # 243: the shortest input leaving one position
HIDDEN = 20
NEGATIVE_SLOPE = 0.1


def flattened_features(n_bands: int) -> int:
    """Features entering the dense head for an input of ``n_bands`` preprocessed bands."""
    length = n_bands
    for _ in CHANNELS:
        length //= POOL
    return CHANNELS[-1] * length


class AvgPool1d3(nn.AvgPool1d):
    """``nn.AvgPool1d(3)`` computed as a reshape and a mean over each window of 3.

    The same values as the parent (windows of 3, stride 3, no padding, trailing positions
    dropped), in about half the time forward and backward on CPU, where the generic pooling
    kernel took a quarter of a training step.
    """

    def __init__(self) -> None:
        super().__init__(POOL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        length = x.shape[-1] // POOL
        return x[..., : length * POOL].unflatten(-1, (length, POOL)).mean(-1)


class SpectralCNNNetwork(nn.Module):
    """The network: ``features`` (five conv blocks, flattened) and the dense ``head``.

    ``forward`` maps preprocessed spectra ``(n, 1, n_bands)`` float32 to ``(n, 1)`` on the
    transformed target scale (e.g. log10 Kex): the head's standardized output times the
    buffer ``target_scale`` plus ``target_mean``. Training works on :meth:`standardized`.
    It follows :class:`~geosoil.models.spectral.network.SpectralNetwork`.
    """

    def __init__(self, n_bands: int, *, dropout: float = 0.4) -> None:
        super().__init__()
        if n_bands < MIN_INPUT_BANDS:
            raise ValueError(f"the network needs at least {MIN_INPUT_BANDS} bands, got {n_bands}")
        self.n_bands = n_bands
        layers: list[nn.Module] = []
        in_channels = 1
        for out_channels in CHANNELS:
            layers += [
                nn.Conv1d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
                nn.BatchNorm1d(out_channels),
                nn.LeakyReLU(NEGATIVE_SLOPE),
                AvgPool1d3(),
            ]
            in_channels = out_channels
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.head = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(flattened_features(n_bands), HIDDEN),
            nn.BatchNorm1d(HIDDEN),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Linear(HIDDEN, 1),
        )
        self.register_buffer("target_mean", torch.zeros((), dtype=torch.float32))
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal weights for the LeakyReLU slope, zero biases (torch's global RNG)."""
        kaiming_leaky_init(self, NEGATIVE_SLOPE)

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """Output on the standardized target scale, the scale of the training loss."""
        return self.head(self.features(x))

    def layer_groups(self) -> dict[str, nn.Module]:
        """The groups transfer learning can freeze: the convolutions and the dense head."""
        return {"features": self.features, "head": self.head}

    @property
    def dropout_width(self) -> int:
        """Features entering the dropout layer (the first of the head)."""
        return self.head[1].in_features

    def pre_dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Activations at the dropout layer: the flattened convolution features."""
        return self.features(x)

    def post_dropout(self, h: torch.Tensor) -> torch.Tensor:
        """Standardized output from (masked) activations at the dropout layer."""
        return self.head[1:](h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardized(x) * self.target_scale + self.target_mean
