"""The 1-D ResNet of the Pb seed system (He et al. 2025, Sensors 25:4209).

``features``: ``AvgPool1d(pool)`` -> ``Conv1d(48, k=3)`` -> LeakyReLU(0.01) -> ``MaxPool1d(2)``
-> two residual blocks of 48 channels (``conv -> BatchNorm -> LeakyReLU -> conv ->
BatchNorm``, plus the identity, then LeakyReLU) -> ``Conv1d(32, k=3)`` -> LeakyReLU(0.01) ->
``MaxPool1d(2)`` -> flatten. ``head``: ``Linear(16)`` -> LeakyReLU -> ``Linear(10)`` ->
LeakyReLU -> ``Dropout`` (for MC dropout; p=0 in the paper) -> ``Linear(1)`` -> the output
activation (ReLU in the paper, for a non-negative target; or the identity).

Every convolution is padded (``padding=1``), so only the pooling shortens the spectrum: the
paper's 2100 bands (400-2499 nm every 1 nm) become 210 positions after the average pooling
by 10, 105 after the first max pooling and 52 after the second, flattened to 32 x 52 = 1664
features. The shortest input keeping one position is ``4 * pool`` bands.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from geosoil.models.layers import kaiming_leaky_init

__all__ = [
    "NEGATIVE_SLOPE",
    "OUTPUT_ACTIVATIONS",
    "ResidualBlock1d",
    "SpectralResNetNetwork",
    "min_input_bands",
    "resnet_flattened_features",
]

CHANNELS = 48
OUT_CHANNELS = 32
HIDDEN = (16, 10)
NEGATIVE_SLOPE = 0.01
OUTPUT_ACTIVATIONS = ("relu", "identity")
# Two MaxPool1d(2) after the average pooling: each halves the length (rounding down).
_MAX_POOLS = 2


def min_input_bands(pool: int) -> int:
    """Shortest input leaving one position after the three poolings: ``pool * 2 * 2``."""
    return pool * 2**_MAX_POOLS


def resnet_flattened_features(n_bands: int, pool: int) -> int:
    """Features entering the dense head for ``n_bands`` preprocessed bands."""
    length = n_bands // pool
    for _ in range(_MAX_POOLS):
        length //= 2
    return OUT_CHANNELS * length


class ResidualBlock1d(nn.Module):
    """``x -> LeakyReLU(x + BN(conv(LeakyReLU(BN(conv(x))))))``, channels and length kept."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        # No conv bias: the BatchNorm after each convolution has its own shift.
        self.conv1 = nn.Conv1d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(channels)
        self.conv2 = nn.Conv1d(channels, channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(channels)
        self.activation = nn.LeakyReLU(NEGATIVE_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.activation(self.bn1(self.conv1(x)))
        return self.activation(x + self.bn2(self.conv2(residual)))


class SpectralResNetNetwork(nn.Module):
    """The network: ``features`` (pooling, convolutions, residual blocks) and ``head``.

    ``forward`` maps preprocessed spectra ``(n, 1, n_bands)`` float32 to ``(n, 1)`` on the
    transformed target scale: the head's standardized output times the buffer
    ``target_scale`` plus ``target_mean``. It follows
    :class:`~geosoil.models.spectral.network.SpectralNetwork`.

    Parameters
    ----------
    n_bands
        Input length (the paper: 2100); at least ``4 * pool``.
    pool
        Width of the first average pooling (the paper: 10).
    dropout
        Dropout probability before the output layer (0 in the paper; > 0 for MC dropout).
    output_activation
        ``"relu"`` (the paper: non-negative outputs) or ``"identity"``.
    """

    # Index of the Dropout layer in ``head``: MC dropout masks the activations entering it.
    _DROPOUT_AT = 4

    def __init__(
        self,
        n_bands: int,
        *,
        pool: int = 10,
        dropout: float = 0.0,
        output_activation: Literal["relu", "identity"] = "relu",
    ) -> None:
        super().__init__()
        if n_bands < min_input_bands(pool):
            raise ValueError(
                f"the network needs at least {min_input_bands(pool)} bands with pool={pool}, "
                f"got {n_bands}"
            )
        if output_activation not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output_activation must be one of {OUTPUT_ACTIVATIONS}")
        self.n_bands = n_bands
        self.features = nn.Sequential(
            nn.AvgPool1d(pool),
            nn.Conv1d(1, CHANNELS, kernel_size=3, padding=1),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.MaxPool1d(2),
            ResidualBlock1d(CHANNELS),
            ResidualBlock1d(CHANNELS),
            nn.Conv1d(CHANNELS, OUT_CHANNELS, kernel_size=3, padding=1),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.MaxPool1d(2),
            nn.Flatten(),
        )
        self.head = nn.Sequential(
            nn.Linear(resnet_flattened_features(n_bands, pool), HIDDEN[0]),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Linear(HIDDEN[0], HIDDEN[1]),
            nn.LeakyReLU(NEGATIVE_SLOPE),
            nn.Dropout(dropout),
            nn.Linear(HIDDEN[1], 1),
            nn.ReLU() if output_activation == "relu" else nn.Identity(),
        )
        self.register_buffer("target_mean", torch.zeros((), dtype=torch.float32))
        self.register_buffer("target_scale", torch.ones((), dtype=torch.float32))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal weights for the LeakyReLU slope, zero biases (torch's global RNG)."""
        kaiming_leaky_init(self, NEGATIVE_SLOPE)

    def start_output_at(self, value: float) -> None:
        """Start training from the mean target: output weights zero, bias ``value``.

        With a ReLU output, a fresh network whose output is negative for every spectrum gets
        no gradient at all and never learns (a dead output). Kaiming-initialized output
        weights on hundreds of features give outputs of either sign far larger than any
        bias, so they start at zero (the gradient of the weights is the hidden activations,
        not zero) and the bias at the mean of the positive, scaled target.
        """
        output_layer = self.head[-2]
        with torch.no_grad():
            output_layer.weight.zero_()
            output_layer.bias.fill_(value)

    def standardized(self, x: torch.Tensor) -> torch.Tensor:
        """Output on the standardized target scale, the scale of the training loss."""
        return self.head(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.standardized(x) * self.target_scale + self.target_mean

    def layer_groups(self) -> dict[str, nn.Module]:
        """The groups transfer learning can freeze: convolutional and residual layers
        (``features``, frozen in the paper) and the dense ``head``."""
        return {"features": self.features, "head": self.head}

    @property
    def dropout_width(self) -> int:
        """Units entering the dropout layer (the second dense layer's outputs)."""
        return HIDDEN[1]

    def pre_dropout(self, x: torch.Tensor) -> torch.Tensor:
        """Activations at the dropout layer, ``(n, 10)``."""
        return self.head[: self._DROPOUT_AT](self.features(x))

    def post_dropout(self, h: torch.Tensor) -> torch.Tensor:
        """Standardized output from (masked) activations at the dropout layer."""
        return self.head[self._DROPOUT_AT + 1 :](h)
