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

# Rows per pass of the forward: each layer's activations (2048 x 64 float32: 0.5 MiB) stay in
# cache and their buffers are reused; whole-batch arrays (65,536 rows per call from the MLP)
# cost fresh pages and memory traffic (11 % more prediction CPU on the engine workload:
# benchmarks/results/engine_phases_mlp_chunks.json).
_CHUNK_ROWS = 2048


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
        """Float32 (n, n_outputs) outputs of float32 (n, n_inputs) inputs.

        Rows go through in chunks of :data:`_CHUNK_ROWS`, the last one padded: every product
        then has the same shape, so BLAS takes the same path for every row and a row's
        output never depends on how many rows came with it.
        """
        inputs = np.asarray(inputs, dtype=np.float32)
        n_rows = len(inputs)
        out = np.empty((n_rows, self.layers[-1][0].shape[0]), dtype=np.float32)
        buffers = [
            np.empty((_CHUNK_ROWS, weight.shape[0]), np.float32) for weight, _ in self.layers
        ]
        scratch = np.empty((_CHUNK_ROWS, max(b.shape[1] for b in buffers)), dtype=np.float32)
        padded = np.zeros((_CHUNK_ROWS, inputs.shape[1]), dtype=np.float32)
        for start in range(0, n_rows, _CHUNK_ROWS):
            rows = min(_CHUNK_ROWS, n_rows - start)
            hidden = inputs[start : start + rows]
            if rows < _CHUNK_ROWS:
                padded[:rows] = hidden
                hidden = padded
            for position, ((weight, bias), target) in enumerate(
                zip(self.layers, buffers, strict=True)
            ):
                np.matmul(hidden, weight.T, out=target)
                target += bias
                if position < len(self.layers) - 1:
                    _silu(target, scratch[:, : target.shape[1]])
                hidden = target
            out[start : start + rows] = hidden[:rows]
        return out


def _silu(values: np.ndarray, scratch: np.ndarray) -> None:
    """``x * sigmoid(x)`` in place, as ``x / (1 + exp(-x))`` (exp overflows to inf: -0);
    ``scratch`` is a float32 buffer of the same shape."""
    np.negative(values, out=scratch)
    with np.errstate(over="ignore"):
        np.exp(scratch, out=scratch)
    scratch += 1.0
    np.divide(values, scratch, out=values)
