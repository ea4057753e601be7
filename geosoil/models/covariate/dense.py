"""The covariate MLP's forward pass in numpy.

A fitted :class:`~geosoil.models.covariate.mlp.CovariateMLP` predicts through
:class:`DenseNetwork`, so that loading an artifact and mapping it never imports torch (about
1.5 s of a small map's start-up). Training stays in torch; the weights are the same numbers.

The layer layout is the torch ``nn.Sequential`` of the MLP: ``Linear, SiLU, Dropout`` per
hidden layer, then a ``Linear`` output, so the state-dict keys of the weights are
``<3i>.weight`` and ``<3i>.bias``. Dropout is the identity at prediction time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["DenseNetwork", "as_array", "checked_float64", "layer_keys"]


def layer_keys(n_layers: int) -> list[tuple[str, str]]:
    """(weight, bias) state-dict keys of each ``Linear`` of the MLP's ``nn.Sequential``."""
    return [(f"{3 * i}.weight", f"{3 * i}.bias") for i in range(n_layers)]


def as_array(value: Any) -> np.ndarray:
    """A numpy view of a numpy array or a CPU torch tensor (as ``from_state`` receives)."""
    if isinstance(value, np.ndarray):
        return value
    return value.detach().numpy()


def checked_float64(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Artifact array ``name`` as float64, refused (ValueError) unless finite and of
    ``shape``."""
    values = as_array(value).astype(np.float64)
    if values.shape != tuple(shape) or not np.isfinite(values).all():
        raise ValueError(f"tensor '{name}' has shape {values.shape}, expected {tuple(shape)}")
    return values


@dataclass(frozen=True)
class DenseNetwork:
    """Weights ``(out, in)`` and biases ``(out,)`` of each layer, float32; SiLU between layers."""

    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    @classmethod
    def from_weights(
        cls, weights: Mapping[str, Any], *, n_inputs: int, hidden: Sequence[int], n_outputs: int
    ) -> DenseNetwork:
        """The network of ``weights`` (state-dict keys without the ``network.`` prefix).

        Raises
        ------
        ValueError
            A key is missing or left over, or a shape differs from what ``n_inputs``,
            ``hidden`` and ``n_outputs`` imply (checked before anything is allocated).
        """
        widths = [int(n_inputs), *(int(h) for h in hidden), int(n_outputs)]
        keys = layer_keys(len(widths) - 1)
        expected = {}
        for (weight, bias), n_in, n_out in zip(keys, widths[:-1], widths[1:], strict=True):
            expected[weight], expected[bias] = (n_out, n_in), (n_out,)
        if missing := sorted(set(expected) - set(weights)):
            raise ValueError(f"missing weights {missing[:3]}")
        if unexpected := sorted(set(weights) - set(expected)):
            raise ValueError(f"unexpected weights {unexpected[:3]}")
        arrays = {k: as_array(v) for k, v in weights.items()}
        for key, shape in expected.items():
            if arrays[key].shape != shape:
                raise ValueError(f"size mismatch for {key}: {arrays[key].shape}, expected {shape}")
        return cls(
            tuple(
                (
                    np.ascontiguousarray(arrays[weight], dtype=np.float32),
                    np.ascontiguousarray(arrays[bias], dtype=np.float32),
                )
                for weight, bias in keys
            )
        )

    @classmethod
    def from_module(cls, network: Any) -> DenseNetwork:
        """The current weights of a torch MLP (views: later in-place updates show through)."""
        linear = [layer for layer in network if hasattr(layer, "weight")]
        return cls(tuple((as_array(layer.weight), as_array(layer.bias)) for layer in linear))

    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights under the torch ``nn.Sequential`` keys."""
        out = {}
        for (weight_key, bias_key), (weight, bias) in zip(
            layer_keys(len(self.layers)), self.layers, strict=True
        ):
            out[weight_key], out[bias_key] = weight, bias
        return out

    def __call__(self, inputs: np.ndarray) -> np.ndarray:
        """Float32 (n, n_outputs) outputs of float32 (n, n_inputs) inputs."""
        hidden = inputs
        last = len(self.layers) - 1
        for position, (weight, bias) in enumerate(self.layers):
            hidden = hidden @ weight.T
            hidden += bias
            if position < last:
                _silu(hidden)
        return hidden


def _silu(values: np.ndarray) -> None:
    """``x * sigmoid(x)`` in place, as ``x / (1 + exp(-x))`` (exp overflows to inf: -0)."""
    denominator = np.negative(values)
    with np.errstate(over="ignore"):
        np.exp(denominator, out=denominator)
    denominator += 1.0
    np.divide(values, denominator, out=values)
