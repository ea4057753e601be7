"""ScIReN: BINN with a Kolmogorov-Arnold encoder whose functions can be read off.

Same estimator as :class:`~geosoil.models.soc.binn.BINN` (same fit, predictions and artifact);
the encoder is :class:`~geosoil.models.soc.kan.KANEncoder`, and :meth:`ScIReN.read_out` tabulates
each learned covariate -> parameter function.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np
import pandas as pd
import torch

from geosoil.errors import ConfigError
from geosoil.models.base import check_choice
from geosoil.models.registry import register
from geosoil.models.soc.binn import BINN, DTYPES
from geosoil.process import PARAMETER_NAMES

__all__ = ["ScIReN"]


@register
class ScIReN(BINN):
    """BINN with a Kolmogorov-Arnold encoder whose covariate -> parameter functions read off.

    Parameters
    ----------
    kan_hidden
        None for one KAN layer (an additive model: each covariate's edge function is its
        exact contribution to a parameter before the squashing), or a hidden width.
    grid_size, order
        B-spline intervals and degree of every edge.
    sparsity_weight
        Weight of the KAN's L1 on its edge activations (measured on a fixed grid).
    output
        ``"sigmoid"`` or ``"hard_sigmoid"`` (reaches the bounds exactly).
    **others
        As for :class:`BINN`; ``encoder`` defaults to ``"kan"`` and the MLP settings
        (``hidden_layers``, ``embedding_dim``, ``dropout``) are unused with it.

    Notes
    -----
    Categorical covariates enter the KAN one-hot (one input per training code, named
    ``<column>=<code>``); an unseen code is an all-zero row with
    ``unseen_categories="mean"``.
    """

    registry_name: ClassVar[str] = "sciren"

    def __init__(
        self,
        *,
        kan_hidden: int | None = None,
        grid_size: int = 5,
        order: int = 3,
        sparsity_weight: float = 0.0,
        output: str = "sigmoid",
        hidden_layers: Sequence[int] = (128, 128),
        embedding_dim: int = 4,
        dropout: float = 0.1,
        learning_rate: float = 1e-2,
        weight_decay: float = 1e-4,
        lr_schedule: str = "constant",
        batch_size: int = 32,
        max_epochs: int = 200,
        patience: int = 20,
        valid_fraction: float = 0.1,
        seed: int = 0,
        n_members: int = 1,
        penalty_weight: float = 1e-3,
        learned_parameters: Sequence[str] | None = None,
        fixed_parameters: Mapping[str, float] | None = None,
        covariates: Sequence[str] | None = None,
        scale_from: str = "training",
        unseen_categories: str = "error",
        drop_empty: bool = False,
        below_column: str = "error",
        encoder: str = "kan",
        dtype: str = "float64",
        threads: int | None = None,
        progress: bool = False,
    ) -> None:
        self._store_params(locals())

    def _check_settings(self) -> None:
        super()._check_settings()
        check_choice(self.output, ("sigmoid", "hard_sigmoid"), "params.output")

    def read_out(self, *, n_points: int = 101) -> pd.DataFrame:
        """Every (KAN input, learned parameter) function as a table.

        Returns
        -------
        pandas.DataFrame
            One row per input, parameter and grid point: ``covariate``, ``parameter``,
            ``x_scaled`` (in [0, 1]), ``x`` (covariate units; 0/1 for one-hot inputs),
            ``contribution`` (from :func:`geosoil.models.soc.kan.read_out`, before the
            squashing: the additive edge function for one layer, the partial dependence for
            two) and ``value`` (the physical parameter). Other inputs sit at the training
            medians of the scaled covariates and the most frequent category. For an
            ensemble, ``contribution`` and ``value`` are the members' means.
        """
        return self._averaged(self._member_read_out, n_points, columns=["contribution", "value"])

    def _member_read_out(self, n_points: int) -> pd.DataFrame:
        from geosoil.models.soc.kan import read_out

        self._check_fitted()
        if self.encoder != "kan":
            raise ConfigError(
                "read_out needs the KAN encoder",
                field="params.encoder",
                fix="set encoder='kan', or use partial_dependence for the MLP",
            )
        coding, kan = self.coding_, self.encoder_.kan
        inputs = [*coding.continuous]
        for name in coding.categorical:
            inputs += [f"{name}={code}" for code in coding.labels[name]]
        dtype = DTYPES[self.dtype]
        modes = torch.tensor(self.reference_["modes"], dtype=torch.long).reshape(1, -1)
        medians = torch.tensor(self.reference_["medians"], dtype=dtype).reshape(1, -1)
        with torch.no_grad():
            reference = self.encoder_.inputs(medians, modes)[0]
            grid = torch.linspace(0.0, 1.0, n_points, dtype=dtype)
            values = []
            for i in range(len(inputs)):
                rows = reference.repeat(n_points, 1)
                rows[:, i] = grid
                values.append(self._physical(kan(rows)))  # (n_points, 21)
        table = read_out(
            kan,
            n_points=n_points,
            covariate_names=inputs,
            output_names=self.learned_parameters_,
            reference=reference.numpy(),
        )
        names = {"output": "parameter", "x": "x_scaled", "value": "contribution"}
        table = table.rename(columns=names)
        columns = [PARAMETER_NAMES.index(p) for p in self.learned_parameters_]
        # table order: input outermost, then parameter, then grid point
        stacked = torch.stack([v[:, columns].T for v in values])  # (inputs, k, n_points)
        table["value"] = stacked.reshape(-1).numpy().astype(np.float64)
        span = np.where(coding.high > coding.low, coding.high - coding.low, 1.0)
        x = table["x_scaled"].to_numpy().copy()
        for i, name in enumerate(coding.continuous):
            rows = (table["covariate"] == name).to_numpy()
            x[rows] = coding.low[i] + x[rows] * span[i]
        table["x"] = x
        return table[["covariate", "parameter", "x", "x_scaled", "contribution", "value"]]
