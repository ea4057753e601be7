"""Kolmogorov-Arnold network (KAN) layers and the encoder ScIReN puts in front of a process model.

A KAN layer (Liu et al., 2024) carries a learned 1-D function on every edge, input ``i`` to
output ``j``::

    phi_ij(x) = w_base_ij * silu(x) + w_spline_ij * sum_k c_ijk * B_k(x)
    y_j = sum_i phi_ij(x_i) + b_j

where ``B_k`` are B-splines on a uniform grid over the input range. A single layer is therefore
an additive model, and ``phi_ij`` is the read-out of how output ``j`` depends on covariate
``i``; :func:`read_out` tabulates those functions and :func:`plot_read_out` draws them.

Inputs are expected scaled to the layer's range (``[0, 1]`` by default, the min-max scaled
covariates). Outside it the spline term is clamped (constant beyond the edges, see
:class:`BSplineBasis`) while the base term still follows the raw input.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import nn

from geosoil.errors import ConfigError
from geosoil.evaluate.report_parts import agg_figure, png_bytes
from geosoil.io.writers import write_bytes_atomic

__all__ = [
    "BSplineBasis",
    "KANEncoder",
    "KANLayer",
    "plot_read_out",
    "read_out",
]

OutputSquash = Literal["sigmoid", "hard_sigmoid", "identity"]

_OUTPUTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "sigmoid": torch.sigmoid,
    # clamp(x / 6 + 1/2, 0, 1): exactly 0 or 1 beyond |x| >= 3, so a parameter can sit on its
    # bound, which a sigmoid only approaches
    "hard_sigmoid": nn.functional.hardsigmoid,
    "identity": lambda x: x,
}
# Points of the uniform grid on which the regularization measures each edge's activation.
_REGULARIZATION_POINTS = 32
# Standard deviation of the initial spline slope, before division by sqrt(in_features).
_INITIAL_SPLINE_SLOPE = 0.1
_INITIAL_NOISE = 0.01
_TABLE_COLUMNS = ("covariate", "output", "x", "value")


class BSplineBasis(nn.Module):
    """B-spline basis of a given order on a uniform grid, evaluated by Cox-de Boor recursion.

    Parameters
    ----------
    grid_size
        Number of intervals between ``low`` and ``high``.
    order
        Polynomial degree of the splines (3: cubic), at least 1.
    input_range
        ``(low, high)``, the interval the grid covers.

    Notes
    -----
    The knot vector is extended by ``order`` knots on each side, so there are
    ``grid_size + order`` basis functions and they sum to one everywhere in ``[low, high]``
    (the right end included). Inputs outside the range are clamped to it before evaluation:
    each spline is then constant beyond the edges, which keeps an extrapolating edge function
    bounded (a cubic edge polynomial would grow without limit) at the price of a zero
    gradient there. The evaluation is differentiable with respect to the input inside the
    range.
    """

    def __init__(
        self, grid_size: int = 5, order: int = 3, input_range: tuple[float, float] = (0.0, 1.0)
    ) -> None:
        super().__init__()
        grid_size = _whole_at_least(grid_size, 1, "params.grid_size")
        order = _whole_at_least(order, 1, "params.order")
        low, high = (float(v) for v in input_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise ConfigError(
                f"input_range {input_range!r} is not an increasing pair of finite numbers",
                field="params.input_range",
                fix="give (low, high) with low < high, e.g. (0, 1) for min-max scaled inputs",
            )
        self.grid_size, self.order, self.low, self.high = grid_size, order, low, high
        step = (high - low) / grid_size
        knots = low + step * torch.arange(-order, grid_size + order + 1, dtype=torch.float64)
        self.register_buffer("knots", knots, persistent=False)

    @property
    def n_basis(self) -> int:
        """Number of basis functions, ``grid_size + order``."""
        return self.grid_size + self.order

    def greville_abscissae(self) -> torch.Tensor:
        """Knot averages ``xi_k``; with coefficients ``xi_k`` the spline is exactly ``x``."""
        windows = self.knots[1:].unfold(0, self.order, 1)  # row k: t_(k+1) .. t_(k+order)
        return windows[: self.n_basis].mean(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Values of every basis function: shape ``x.shape + (n_basis,)``, dtype of ``x``."""
        t = self.knots.to(x.dtype)
        x = x.clamp(self.low, self.high).unsqueeze(-1)
        # Degree 0: indicators of the half-open knot intervals. At x == high the interval
        # starting at ``high`` is selected; the last basis function of degree >= 1 is
        # continuous there, so the sum still equals one.
        basis = ((x >= t[:-1]) & (x < t[1:])).to(x.dtype)
        for p in range(1, self.order + 1):
            left = (x - t[: -(p + 1)]) / (t[p:-1] - t[: -(p + 1)]) * basis[..., :-1]
            right = (t[p + 1 :] - x) / (t[p + 1 :] - t[1:-p]) * basis[..., 1:]
            basis = left + right
        return basis


class KANLayer(nn.Module):
    """One Kolmogorov-Arnold layer: a learned 1-D function on every input-output edge.

    Parameters
    ----------
    in_features, out_features
        Number of inputs and outputs.
    grid_size, order, input_range
        Settings of the B-spline basis shared by all edges (see :class:`BSplineBasis`).
    base_activation
        The fixed function of the residual term, ``silu`` by default.
    generator
        Random generator for the initialization; the global one when None.

    Notes
    -----
    Initialization starts every edge small and close to linear: ``w_base`` is drawn like
    ``nn.Linear`` weights (uniform in +- 1/sqrt(in_features)); ``w_spline`` is 1; the spline
    coefficients ``c_ijk`` are ``s_ij * (xi_k - centre)`` with the Greville abscissae
    ``xi_k``, which makes each spline exactly the straight line ``s_ij * (x - centre)``, with
    slopes ``s_ij ~ N(0, 0.1^2 / in_features)``, plus noise of standard deviation 0.01 that
    breaks the symmetry between edges. The bias ``b_j`` starts at zero and is the only term
    outside the edge functions.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        grid_size: int = 5,
        order: int = 3,
        base_activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
        input_range: tuple[float, float] = (0.0, 1.0),
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = _whole_at_least(in_features, 1, "params.in_features")
        self.out_features = _whole_at_least(out_features, 1, "params.out_features")
        self.basis = BSplineBasis(grid_size, order, input_range)
        self.base_activation = base_activation if base_activation is not None else nn.SiLU()
        shape = (self.out_features, self.in_features)
        self.base_weight = nn.Parameter(torch.empty(shape))
        self.spline_weight = nn.Parameter(torch.empty(shape))
        self.spline_coef = nn.Parameter(torch.empty((*shape, self.basis.n_basis)))
        self.bias = nn.Parameter(torch.empty(self.out_features))
        self.reset_parameters(generator=generator)

    def reset_parameters(self, *, generator: torch.Generator | None = None) -> None:
        """Draw the near-linear, small initial edges described in the class notes."""
        bound = 1.0 / math.sqrt(self.in_features)
        with torch.no_grad():
            self.base_weight.uniform_(-bound, bound, generator=generator)
            self.spline_weight.fill_(1.0)
            slope = torch.randn(
                self.base_weight.shape, generator=generator, dtype=torch.float64
            ) * (_INITIAL_SPLINE_SLOPE * bound)
            centre = 0.5 * (self.basis.low + self.basis.high)
            line = self.basis.greville_abscissae() - centre
            noise = torch.randn(self.spline_coef.shape, generator=generator, dtype=torch.float64)
            coef = slope[..., None] * line + _INITIAL_NOISE * noise
            self.spline_coef.copy_(coef.to(self.spline_coef.dtype))
            self.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``y`` of shape (N, out_features) for inputs of shape (N, in_features)."""
        _check_width(x, self.in_features)
        basis = self.basis(x)  # (N, in, n_basis)
        coef = self.spline_coef * self.spline_weight[..., None]
        spline = torch.einsum("nik,oik->no", basis, coef)
        return self.base_activation(x) @ self.base_weight.T + spline + self.bias

    def edge_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Each edge's value ``phi_ij(x_i)``: shape (N, out_features, in_features).

        ``forward(x)`` equals ``edge_activations(x).sum(-1) + bias``.
        """
        _check_width(x, self.in_features)
        basis = self.basis(x)
        spline = torch.einsum("nik,oik->noi", basis, self.spline_coef)
        base = self.base_activation(x)[:, None, :] * self.base_weight
        return base + self.spline_weight * spline

    def edge_functions(self, x_grid: torch.Tensor) -> torch.Tensor:
        """Every edge's 1-D function on a grid: shape (in_features, out_features, n_points).

        Parameters
        ----------
        x_grid
            1-D tensor of input values, the same for every input.
        """
        x_grid = torch.as_tensor(x_grid, dtype=self.bias.dtype, device=self.bias.device)
        if x_grid.ndim != 1:
            raise ConfigError(
                f"x_grid must be 1-D, got shape {tuple(x_grid.shape)}",
                field="x_grid",
                fix="pass one vector of input values, e.g. torch.linspace(0, 1, 101)",
            )
        points = x_grid[:, None].expand(-1, self.in_features)
        return self.edge_activations(points).permute(2, 1, 0)

    def input_grid(self, n_points: int) -> torch.Tensor:
        """``n_points`` evenly spaced inputs spanning the B-spline range, in the layer's dtype."""
        return torch.linspace(
            self.basis.low,
            self.basis.high,
            n_points,
            dtype=self.bias.dtype,
            device=self.bias.device,
        )

    def edge_l1(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Mean absolute activation of each edge, shape (out_features, in_features).

        Over the rows of ``x`` (as in the KAN paper, on a batch) or, when ``x`` is None,
        over a uniform grid of 32 points spanning the input range, which makes the penalty
        independent of the data.
        """
        if x is None:
            x = self.input_grid(_REGULARIZATION_POINTS)[:, None].expand(-1, self.in_features)
        return self.edge_activations(x).abs().mean(dim=0)

    def l1_regularization(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Sum over edges of their mean absolute activation (see :meth:`edge_l1`)."""
        return self.edge_l1(x).sum()

    def entropy_regularization(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """Entropy of the edges' shares of the total L1; low when few edges carry the signal."""
        l1 = self.edge_l1(x)
        share = l1 / l1.sum().clamp_min(torch.finfo(l1.dtype).tiny)
        return -(share * torch.log(share.clamp_min(torch.finfo(l1.dtype).tiny))).sum()


class KANEncoder(nn.Module):
    """Covariates to process-model parameters in [0, 1] through one or two KAN layers.

    Parameters
    ----------
    in_features, out_features
        Number of (scaled) covariates and of parameters.
    hidden
        None for a single layer (an additive model whose edges are read off directly), or the
        width of a hidden layer.
    grid_size, order, input_range
        B-spline settings of every layer.
    output
        Squashing into [0, 1]: ``"sigmoid"``, ``"hard_sigmoid"`` (``clamp(x / 6 + 0.5, 0,
        1)``, which reaches the bounds) or ``"identity"`` (no squashing; for tests and
        read-outs).
    seed
        Seeds the initialization with a private generator (the global random state is left
        alone); None draws from the global generator.

    Notes
    -----
    With a hidden layer, the hidden values pass through a sigmoid and then an affine map onto
    ``input_range`` before the second layer, so that every spline works on its own grid without
    the grid updates of the original KAN.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        hidden: int | None = None,
        grid_size: int = 5,
        order: int = 3,
        output: OutputSquash = "sigmoid",
        input_range: tuple[float, float] = (0.0, 1.0),
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if output not in _OUTPUTS:
            raise ConfigError(
                f"unknown output squashing {output!r}",
                field="params.output",
                fix=f"choose one of {sorted(_OUTPUTS)}",
            )
        if hidden is not None:
            hidden = _whole_at_least(hidden, 1, "params.hidden")
        self.hidden = hidden
        self.output = output
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        settings = {"grid_size": grid_size, "order": order, "input_range": input_range}
        widths = (
            [in_features, out_features] if hidden is None else [in_features, hidden, out_features]
        )
        self.layers = nn.ModuleList(
            KANLayer(a, b, generator=generator, **settings) for a, b in itertools.pairwise(widths)
        )

    @property
    def in_features(self) -> int:
        """Number of covariates."""
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        """Number of outputs (process-model parameters)."""
        return self.layers[-1].out_features

    def forward_raw(self, x: torch.Tensor) -> torch.Tensor:
        """Outputs before the squashing, shape (N, out_features)."""
        x = self.layers[0](x)
        for layer in self.layers[1:]:
            low, high = layer.basis.low, layer.basis.high
            x = layer(low + (high - low) * torch.sigmoid(x))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Squashed outputs, shape (N, out_features), in [0, 1] unless ``output="identity"``."""
        return _OUTPUTS[self.output](self.forward_raw(x))

    def sparsity_loss(
        self, weight_l1: float = 1.0, weight_entropy: float = 0.0, x: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``weight_l1 * L1 + weight_entropy * entropy``, summed over layers.

        Measured on the data-independent grid of :meth:`KANLayer.edge_l1`, except for the
        first layer when ``x`` (a batch of inputs) is given.
        """
        bias = self.layers[0].bias
        total = torch.zeros((), dtype=bias.dtype, device=bias.device)
        for depth, layer in enumerate(self.layers):
            batch = x if depth == 0 else None
            if weight_l1:
                total = total + weight_l1 * layer.l1_regularization(batch)
            if weight_entropy:
                total = total + weight_entropy * layer.entropy_regularization(batch)
        return total


def read_out(
    encoder: KANEncoder,
    *,
    n_points: int = 101,
    covariate_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    reference: Sequence[float] | np.ndarray | None = None,
) -> pd.DataFrame:
    """Tabulate how each output depends on each covariate, before the output squashing.

    Parameters
    ----------
    encoder
        A :class:`KANEncoder`.
    n_points
        Points of the uniform grid spanning the input range.
    covariate_names, output_names
        Labels of the inputs and outputs; ``x0, x1, ...`` and ``y0, y1, ...`` when None.
    reference
        Values at which the other covariates are held for a two-layer encoder (length
        ``in_features``); the middle of the input range when None. Ignored for one layer.

    Returns
    -------
    pandas.DataFrame
        Columns ``covariate``, ``output``, ``x`` (input value, scaled) and ``value``; one row
        per covariate, output and grid point, covariates outermost.

    Notes
    -----
    For a one-layer encoder, ``value`` is the edge function ``phi_ij(x)``: the additive
    contribution of covariate ``i`` to output ``j`` (the outputs are these contributions
    summed, plus a bias). For two layers there is no such decomposition, and ``value`` is the
    partial dependence: the output with covariate ``i`` at ``x`` and every other covariate at
    ``reference``. For a one-layer model both agree up to a constant per covariate and output.
    """
    n_points = _whole_at_least(n_points, 2, "n_points")
    n_in, n_out = encoder.in_features, encoder.out_features
    covariates = _names(covariate_names, n_in, "x", "covariate_names")
    outputs = _names(output_names, n_out, "y", "output_names")
    first = encoder.layers[0]
    x_grid = first.input_grid(n_points)
    with torch.no_grad():
        if len(encoder.layers) == 1:
            values = first.edge_functions(x_grid)  # (in, out, n_points)
        else:
            values = _partial_dependence(encoder, x_grid, reference)
    values = values.detach().cpu().numpy().astype(np.float64)
    return pd.DataFrame(
        {
            "covariate": np.repeat(covariates, n_out * n_points),
            "output": np.tile(np.repeat(outputs, n_points), n_in),
            "x": np.tile(x_grid.cpu().numpy().astype(np.float64), n_in * n_out),
            "value": values.reshape(-1),
        }
    )


def _partial_dependence(
    encoder: KANEncoder, x_grid: torch.Tensor, reference: Sequence[float] | np.ndarray | None
) -> torch.Tensor:
    """Raw outputs along the grid for each covariate, others at ``reference``: (in, out, n)."""
    n_in = encoder.in_features
    basis = encoder.layers[0].basis
    if reference is None:
        ref = torch.full(
            (n_in,), 0.5 * (basis.low + basis.high), dtype=x_grid.dtype, device=x_grid.device
        )
    else:
        ref = torch.as_tensor(
            np.asarray(reference, dtype=np.float64), dtype=x_grid.dtype, device=x_grid.device
        )
        if ref.shape != (n_in,) or not torch.isfinite(ref).all():
            raise ConfigError(
                f"reference must hold {n_in} finite values, got shape {tuple(ref.shape)}",
                field="reference",
                fix="pass one value per covariate (e.g. the medians of the scaled covariates)",
            )
    n = len(x_grid)
    inputs = ref.repeat(n_in, n, 1)  # (in, n, in)
    index = torch.arange(n_in, device=x_grid.device)
    inputs[index, :, index] = x_grid
    raw = encoder.forward_raw(inputs.reshape(n_in * n, n_in))
    return raw.reshape(n_in, n, -1).permute(0, 2, 1)


def plot_read_out(
    table: pd.DataFrame,
    path: str | Path,
    *,
    covariates: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    dpi: int = 110,
) -> Path:
    """Draw a read-out table as a grid of small panels (rows: outputs; columns: covariates).

    Parameters
    ----------
    table
        As returned by :func:`read_out`.
    path
        PNG file to write (atomically).
    covariates, outputs
        Subsets to draw, in this order; every one in order of appearance when None.
    dpi
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ConfigError(
            f"read-out table lacks columns {missing}",
            field="table",
            fix="pass the table returned by geosoil.models.soc.kan.read_out",
        )
    covariates = list(pd.unique(table["covariate"])) if covariates is None else list(covariates)
    outputs = list(pd.unique(table["output"])) if outputs is None else list(outputs)
    for label, chosen, column in (
        ("covariates", covariates, "covariate"),
        ("outputs", outputs, "output"),
    ):
        unknown = sorted(set(chosen) - set(table[column]))
        if unknown or not chosen:
            raise ConfigError(
                f"{label} {unknown or chosen} are not in the read-out table",
                field=label,
                fix=f"choose among {list(pd.unique(table[column]))}",
            )
    return write_bytes_atomic(path, _read_out_png(table, covariates, outputs, dpi))


def _read_out_png(
    table: pd.DataFrame, covariates: list[str], outputs: list[str], dpi: int
) -> bytes:
    # matplotlib costs a noticeable share of import time; only figures pay for it

    n_rows, n_cols = len(outputs), len(covariates)
    figure = agg_figure(figsize=(1.0 + 1.3 * n_cols, 0.6 + 1.0 * n_rows))
    axes = figure.subplots(n_rows, n_cols, squeeze=False, sharex=True, sharey="row")
    groups = dict(tuple(table.groupby(["output", "covariate"], sort=False)))
    for row, output in enumerate(outputs):
        for col, covariate in enumerate(covariates):
            ax = axes[row, col]
            part = groups.get((output, covariate))
            if part is not None:
                ax.plot(part["x"].to_numpy(), part["value"].to_numpy(), color="C0", lw=1.2)
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title(str(covariate), fontsize=7)
            if col == 0:
                ax.set_ylabel(str(output), fontsize=7)
    figure.supxlabel("scaled covariate", fontsize=8)
    figure.tight_layout()
    return png_bytes(figure, dpi=dpi)


def _names(names: Sequence[str] | None, count: int, prefix: str, field: str) -> list[str]:
    if names is None:
        return [f"{prefix}{i}" for i in range(count)]
    names = [str(n) for n in names]
    if len(names) != count:
        raise ConfigError(
            f"{field} has {len(names)} names for {count} columns",
            field=field,
            fix=f"give exactly {count} names, in the encoder's order",
        )
    return names


def _check_width(x: torch.Tensor, width: int) -> None:
    if x.ndim != 2 or x.shape[1] != width:
        raise ConfigError(
            f"expected inputs of shape (N, {width}), got {tuple(x.shape)}",
            field="covariates",
            fix=f"pass a 2-D tensor with {width} scaled covariates per row",
        )


def _whole_at_least(value: object, minimum: int, field: str) -> int:
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not whole or value < minimum:
        raise ConfigError(
            f"{field.rsplit('.', 1)[-1]}={value!r} is not a whole number of at least {minimum}",
            field=field,
            fix=f"use an integer >= {minimum}",
        )
    return int(value)
