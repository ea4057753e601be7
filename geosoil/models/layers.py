"""Pieces shared by the spectral networks (:mod:`~geosoil.models.spectral.cnn1d`, ``resnet1d``)."""

from __future__ import annotations

from torch import nn

__all__ = ["kaiming_leaky_init"]


def kaiming_leaky_init(network: nn.Module, negative_slope: float) -> None:
    """Kaiming-normal weights for a LeakyReLU of ``negative_slope``, zero biases.

    Applies to every Conv1d and Linear layer of ``network``; draws from torch's global
    generator, so a seeded run gives the same network.
    """
    for module in network.modules():
        if isinstance(module, nn.Conv1d | nn.Linear):
            nn.init.kaiming_normal_(module.weight, a=negative_slope, nonlinearity="leaky_relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
