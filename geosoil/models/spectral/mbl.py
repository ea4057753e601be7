"""Memory-based learning (``spectral_mbl``): a local PLS model per spectrum to predict.

In the spirit of resemble's ``mbl`` (Ramirez-Lopez et al. 2013): the training spectra are
kept as a library; each spectrum to predict gets its ``k`` most similar library spectra
and a PLS model fitted on them alone. Soil libraries mix soils whose spectra relate to the
property in different ways, and a local model follows those changes where one global
model averages them out.

* **Dissimilarity**: Mahalanobis distance in the space of the first ``d`` global PCA (or
  PLS) scores of the preprocessed library, or the correlation dissimilarity
  ``sqrt((1 - r) / 2)`` between spectra. ``d`` is fixed or chosen as the count whose
  nearest neighbours have the closest targets (resemble's "optimal principal components").
* **Neighbours**: ``k`` fixed, or chosen among several by nearest-neighbour validation:
  library spectra are predicted from their own neighbourhoods with themselves left out,
  and the ``k`` with the lowest RMSE is kept.
* **Local model**: PLS with ``max_pls_components``, or weighted-average PLS (``wapls``,
  resemble's default): the models with ``min..max`` components averaged with weights
  ``1 / (s_j g_j)`` (s_j: residual of the spectrum to predict after ``j`` components, g_j:
  root mean square of the regression vector), after Shenk et al. (1997).
  The dissimilarities can weight the neighbours (tricube) or join them as predictors.

**Spiking** (Guerrero et al. 2010, 2016): local samples of the site to predict join a large
library, flagged with ``fit(..., spiked=...)``; ``spiking_weight`` weighs them more than
library spectra in every local model (chosen among several values, with ``k``, by
nearest-neighbour validation on the spiked samples themselves: the population to predict).

The local models work in the space of the library's first ``n_local_features`` principal
components: PLS is invariant to an orthogonal rotation of its predictors, so with every
component this equals PLS on the spectra, and a truncation keeps all but a sliver of
variance while making each local model cost ``k x n_local_features`` instead of
``k x bands``. Prediction is batched (stacked matrix products, one per spectrum, so a
spectrum's value never depends on its batch). The library (scores, targets, loadings) is
stored in the artifact as tensors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from geosoil.errors import ConfigError, SampleDataError
from geosoil.models.registry import register
from geosoil.models.spectral.base import PreparedData, SpectralEstimator, unpack_samples
from geosoil.models.spectral.local_pls import local_pls_predict, pairwise_distances, pls_rotations
from geosoil.models.spectral.plsr import PLSR
from geosoil.models.spectral.selection import join_validation

__all__ = ["SpectralMBL"]

log = logging.getLogger(__name__)

_BATCH = 256  # spectra per batch at prediction: (256, k, m) float64 stays near 20 MB
_TENSORS = ("library_features", "library_target", "loadings", "feature_mean", "score_scale")
_OPTIONAL_TENSORS = ("library_weight",)  # absent from artifacts written before spiking


@register
class SpectralMBL(SpectralEstimator):
    """Memory-based learning: a local (weighted-average) PLS per spectrum to predict.

    Parameters
    ----------
    preprocessing
        Preprocessing steps; None uses PLSR's (SNV, Savitzky-Golay first derivative, the
        CO2 band dropped on a cm-1 axis).
    target_transform
        ``"log10"`` or ``"none"``.
    dissimilarity
        ``"pca"`` or ``"pls"`` (Mahalanobis distance on global scores) or ``"correlation"``.
    n_dissimilarity_components
        Score components of the dissimilarity; None chooses 1..``max_dissimilarity_
        components`` by the targets of nearest neighbours.
    max_dissimilarity_components
        Largest count tried when ``n_dissimilarity_components`` is None.
    k
        Neighbours per spectrum: a count, or a list of counts chosen among by
        nearest-neighbour validation.
    local_model
        ``"wapls"`` (weighted average of ``min..max_pls_components``) or ``"pls"``
        (``max_pls_components``).
    min_pls_components, max_pls_components
        Components of the local models (capped at ``k - 1``).
    dissimilarity_usage
        ``"none"``, ``"weights"`` (tricube weights of the neighbours) or ``"predictors"``
        (the dissimilarities to the neighbours join the local predictors).
    n_local_features
        Library principal components the local models work in.
    spiking_weight
        Weight of the spiked (local) spectra in each local model, relative to 1 for the
        other library spectra; a list is chosen among with ``k`` by nearest-neighbour
        validation on the spiked spectra. Unused without ``spiked`` in ``fit``.
    validation_size
        Library spectra left out one at a time to choose ``k`` (and ``d``); with spiked
        spectra, drawn from them.
    seed
        Seeds the choice of those spectra.
    valid_fraction
        Unused (MBL holds nothing out); kept for a common signature.
    selection, inner_folds
        Unused: ``k`` is chosen by nearest-neighbour validation.

    Notes
    -----
    Learned state: ``library_features_`` (n, m), ``library_target_`` (n,, standardized),
    ``loadings_`` (m, bands), ``feature_mean_`` (bands,), ``score_scale_`` (d,),
    ``n_dissimilarity_components_``, ``k_``, ``validation_rmse_`` (per ``k`` and spiking
    weight tried, on the standardized target), ``library_weight_`` (n,: each library
    spectrum's weight in the local models), ``n_spiked_``, ``spiking_weight_`` (None when
    nothing was spiked), and the shared state of :class:`SpectralEstimator`.
    """

    registry_name = "spectral_mbl"
    default_preprocessing = PLSR.default_preprocessing

    def __init__(
        self,
        *,
        preprocessing: list[dict[str, Any]] | None = None,
        target_transform: Literal["none", "log10"] = "log10",
        dissimilarity: Literal["pca", "pls", "correlation"] = "pca",
        n_dissimilarity_components: int | None = None,
        max_dissimilarity_components: int = 30,
        k: int | Sequence[int] = (40, 60, 80, 100, 150),
        local_model: Literal["wapls", "pls"] = "wapls",
        min_pls_components: int = 3,
        max_pls_components: int = 15,
        dissimilarity_usage: Literal["none", "weights", "predictors"] = "none",
        n_local_features: int = 100,
        spiking_weight: float | Sequence[float] = 1.0,
        validation_size: int = 200,
        seed: int = 0,
        valid_fraction: float = 0.1,
        selection: Literal["cv", "holdout"] = "cv",
        inner_folds: int = 5,
    ) -> None:
        self._store_params(locals())

    # ---------------------------------------------------------------- checks
    def _check_params(self) -> None:
        choices = {
            "dissimilarity": ("pca", "pls", "correlation"),
            "local_model": ("wapls", "pls"),
            "dissimilarity_usage": ("none", "weights", "predictors"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ConfigError(
                    f"{name}={getattr(self, name)!r} is not one of {list(allowed)}",
                    field=f"params.{name}",
                    fix=f"use one of {list(allowed)}",
                )
        counts = {
            "max_dissimilarity_components": self.max_dissimilarity_components,
            "min_pls_components": self.min_pls_components,
            "max_pls_components": self.max_pls_components,
            "n_local_features": self.n_local_features,
            "validation_size": self.validation_size,
        }
        if self.n_dissimilarity_components is not None:
            counts["n_dissimilarity_components"] = self.n_dissimilarity_components
        for value in self._k_values():
            counts["k"] = value
            for name, number in counts.items():
                if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                    raise ConfigError(
                        f"{name}={number!r} must be a whole number of at least 1",
                        field=f"params.{name}",
                        fix="e.g. k: [40, 60, 80, 100], min_pls_components: 3, "
                        "max_pls_components: 15",
                    )
        for weight in self._spiking_weights():
            if isinstance(weight, bool) or not isinstance(weight, int | float) or not weight > 0:
                raise ConfigError(
                    f"spiking_weight={self.spiking_weight!r} must be a positive number or a "
                    "list of them",
                    field="params.spiking_weight",
                    fix="e.g. 1 (spiked spectra count as library ones), 4, or [1, 2, 4, 8]",
                )
        if self.min_pls_components > self.max_pls_components:
            raise ConfigError(
                f"min_pls_components={self.min_pls_components} exceeds "
                f"max_pls_components={self.max_pls_components}",
                field="params.min_pls_components",
                fix="keep min_pls_components <= max_pls_components",
            )

    def _k_values(self) -> list[Any]:
        values = [self.k] if isinstance(self.k, int | bool) or self.k is None else list(self.k)
        if not values:
            raise ConfigError("k is an empty list", field="params.k", fix="give at least one count")
        return values

    def _spiking_weights(self) -> list[Any]:
        weights = self.spiking_weight
        values = [weights] if isinstance(weights, int | float) else list(weights or [])
        if not values:
            raise ConfigError(
                "spiking_weight is an empty list",
                field="params.spiking_weight",
                fix="give at least one weight, e.g. 1",
            )
        return values

    def _needs_validation(self) -> bool:
        return False

    # ---------------------------------------------------------------- fitting
    def fit(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray | str,
        *,
        spiked: np.ndarray | None = None,
        **sets: Any,
    ) -> SpectralMBL:
        """Keep spectra ``X`` with targets ``y`` as the library; returns self.

        ``sets`` are those of :meth:`SpectralEstimator.fit
        <geosoil.models.spectral.base.SpectralEstimator.fit>` (``axis``, ``X_valid``,
        ``y_valid``, ``groups``, ``groups_valid``). MBL holds nothing out: a validation set
        joins the library (groups are not used). ``spiked`` flags the rows of ``X`` that
        are local samples spiked into a larger library (a boolean mask, or row indices):
        they are weighted by ``spiking_weight`` and ``k`` is validated on them.

        Raises
        ------
        SampleDataError
            ``spiked`` is not a mask or indices of ``X``'s rows, or comes with ``X_valid``
            (whose rows it cannot flag); and as
            :meth:`SpectralEstimator.fit <geosoil.models.spectral.base.SpectralEstimator.fit>`.
        """
        if unknown := sorted(set(sets) - {"axis", "X_valid", "y_valid", "groups", "groups_valid"}):
            raise TypeError(f"SpectralMBL.fit got unexpected keyword arguments {unknown}")
        X_valid, y_valid = sets.get("X_valid"), sets.get("y_valid")
        X, y, axis = unpack_samples(X, y, sets.get("axis"))
        X = np.asarray(X)
        if spiked is not None and X_valid is not None:
            raise SampleDataError(
                "spiked flags rows of X, but a validation set X_valid was given as well",
                field="spiked",
                fix="put the local samples and the library together in X and flag the local "
                "ones with spiked, without X_valid",
            )
        mask = _spiked_mask(spiked, len(X))
        X, y, _ = join_validation(X, y, X_valid, y_valid, None, None)
        self._spiked = np.concatenate([mask, np.zeros(len(X) - len(mask), dtype=bool)])
        try:
            return super().fit(X, y, axis=axis)
        finally:
            del self._spiked

    def _fit_prepared(self, data: PreparedData) -> None:
        Z = data.Z_train.astype(np.float64)
        t = data.t_train
        n, p = Z.shape
        spiked = getattr(self, "_spiked", None)
        self.library_spiked_ = np.zeros(n, dtype=bool) if spiked is None else spiked.copy()
        self.n_spiked_ = int(self.library_spiked_.sum())
        usable = [k for k in self._k_values() if k <= n - 1]
        if not usable:
            raise SampleDataError(
                f"the library has {n} spectra, too few for k={self.k} neighbours (each "
                "spectrum needs k others)",
                field="params.k",
                fix=f"lower k to at most {n - 1}, or provide more library spectra",
            )
        mean = Z.mean(axis=0)
        _, singular, vt = np.linalg.svd(Z - mean, full_matrices=False)
        m = int(min(self.n_local_features, n - 1, p, int(np.sum(singular > singular[0] * 1e-9))))
        self.feature_mean_ = mean
        self.loadings_ = vt[:m]
        self.library_features_ = (Z - mean) @ vt[:m].T
        self.library_target_ = t.copy()
        self._fit_dissimilarity(singular[:m], n)
        self._choose_k(usable)

    def _fit_dissimilarity(self, singular: np.ndarray, n: int) -> None:
        """The score space of the dissimilarity and its component count."""
        F = self.library_features_
        if self.dissimilarity == "pls":
            weights = pls_rotations(F, self.library_target_, F.shape[1])
            self.score_rotation_ = weights
            scores = F @ weights
        else:
            self.score_rotation_ = np.eye(F.shape[1])
            scores = F
        scale = np.std(scores, axis=0)
        scale[scale == 0] = 1.0
        self.score_scale_ = scale
        if self.dissimilarity == "correlation":
            self.n_dissimilarity_components_ = F.shape[1]
            return
        if self.n_dissimilarity_components is not None:
            self.n_dissimilarity_components_ = min(self.n_dissimilarity_components, scores.shape[1])
            return
        most = min(self.max_dissimilarity_components, scores.shape[1])
        standardized = scores[:, :most] / scale[:most]
        queries = self._validation_rows(n)
        distances = np.zeros((len(queries), n))
        errors = []
        for d in range(most):
            distances += np.square(standardized[queries, d, None] - standardized[None, :, d])
            masked = distances.copy()
            masked[np.arange(len(queries)), queries] = np.inf
            nearest = np.argmin(masked, axis=1)
            gap = self.library_target_[queries] - self.library_target_[nearest]
            errors.append(float(np.sqrt(np.mean(np.square(gap)))))
        self.n_dissimilarity_components_ = int(np.argmin(errors)) + 1

    def _validation_rows(self, n: int) -> np.ndarray:
        """Library rows predicted from their neighbours to choose ``d``, ``k`` and the
        spiking weight: spiked rows when there are any (the population to predict)."""
        rng = np.random.default_rng(self.seed)
        pool = np.flatnonzero(self.library_spiked_) if self.n_spiked_ else np.arange(n)
        return np.sort(rng.permutation(pool)[: min(self.validation_size, len(pool))])

    def _row_weights(self, spiking_weight: float | None) -> np.ndarray:
        weights = np.ones(len(self.library_target_))
        if spiking_weight is not None:
            weights[self.library_spiked_] = float(spiking_weight)
        return weights

    def _choose_k(self, usable: list[int]) -> None:
        spiking = [float(w) for w in self._spiking_weights()] if self.n_spiked_ else [None]
        grid = [(k, w) for k in usable for w in spiking]
        if len(grid) == 1:
            self.k_, self.spiking_weight_ = grid[0]
            self.library_weight_ = self._row_weights(self.spiking_weight_)
            self.validation_rmse_ = []
            return
        n = len(self.library_target_)
        rows = self._validation_rows(n)
        features = self.library_features_[rows]
        rmse = []
        for k, weight in grid:
            self.library_weight_ = self._row_weights(weight)
            predicted = self._local_predictions(features, k, exclude=rows)
            rmse.append(float(np.sqrt(np.mean(np.square(predicted - self.library_target_[rows])))))
        self.k_, self.spiking_weight_ = grid[int(np.argmin(rmse))]
        self.library_weight_ = self._row_weights(self.spiking_weight_)
        self.validation_rmse_ = [
            {"k": k, "spiking_weight": w, "rmse": r} for (k, w), r in zip(grid, rmse, strict=True)
        ]
        log.info(
            "MBL: k=%d%s chosen by nearest-neighbour validation on %d %s spectra "
            "(RMSE %s), %d dissimilarity components, %d local features",
            self.k_,
            "" if self.spiking_weight_ is None else f", spiking weight {self.spiking_weight_:g}",
            len(rows),
            "spiked" if self.n_spiked_ else "library",
            ", ".join(f"{r:.3f}" for r in rmse),
            self.n_dissimilarity_components_,
            self.library_features_.shape[1],
        )

    # ---------------------------------------------------------------- prediction
    def _predict_standardized(self, Z: np.ndarray) -> np.ndarray:
        out = np.empty(len(Z))
        for start in range(0, len(Z), _BATCH):
            block = np.asarray(Z[start : start + _BATCH], dtype=np.float64) - self.feature_mean_
            # One vector-matrix product per row: a row's features never depend on its batch.
            features = np.matmul(block[:, None, :], self.loadings_.T)[:, 0]
            out[start : start + len(block)] = self._local_predictions(features, self.k_)
        return out

    def _dissimilarities(self, features: np.ndarray) -> np.ndarray:
        """(B, n_library) dissimilarity of each query to each library spectrum."""
        library = self.library_features_
        if self.dissimilarity == "correlation":
            a = features - features.mean(axis=1, keepdims=True)
            b = library - library.mean(axis=1, keepdims=True)
            a /= np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-300)
            b /= np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-300)
            r = np.matmul(a[:, None, :], b.T)[:, 0]
            return np.sqrt(np.clip((1.0 - r) / 2.0, 0.0, None))
        d = self.n_dissimilarity_components_
        rotation = self.score_rotation_[:, :d]
        scale = self.score_scale_[:d]
        q = np.matmul(features[:, None, :], rotation)[:, 0] / scale
        lib = (library @ rotation) / scale
        squared = (
            np.sum(q * q, axis=1)[:, None]
            + np.sum(lib * lib, axis=1)[None, :]
            - 2.0 * np.matmul(q[:, None, :], lib.T)[:, 0]
        )
        return np.sqrt(np.clip(squared, 0.0, None))

    def _local_predictions(
        self, features: np.ndarray, k: int, *, exclude: np.ndarray | None = None
    ) -> np.ndarray:
        """Local predictions (standardized) for query ``features``; ``exclude[i]`` is a
        library row left out of query ``i``'s neighbourhood (validation)."""
        out = np.empty(len(features))
        for start in range(0, len(features), _BATCH):
            block = features[start : start + _BATCH]
            diss = self._dissimilarities(block)
            if exclude is not None:
                diss[np.arange(len(block)), exclude[start : start + _BATCH]] = np.inf
            index = np.argpartition(diss, k - 1, axis=1)[:, :k]
            near = np.take_along_axis(diss, index, axis=1)
            neighbours = self.library_features_[index]
            weights = self.library_weight_[index]
            query = block
            if self.dissimilarity_usage == "weights":
                scaled = near / np.maximum(near.max(axis=1, keepdims=True), 1e-300)
                weights = weights * (np.clip(1.0 - scaled**3, 0.0, None) ** 3 + 1e-6)
            elif self.dissimilarity_usage == "predictors":
                among = pairwise_distances(neighbours)
                spread = np.maximum(among.std(axis=(1, 2), keepdims=True), 1e-300)
                neighbours = np.concatenate([neighbours, among / spread], axis=2)
                query = np.concatenate([block, near / spread[:, 0]], axis=1)
            out[start : start + len(block)] = local_pls_predict(
                neighbours,
                self.library_target_[index],
                query,
                max_components=self.max_pls_components,
                min_components=self.min_pls_components if self.local_model == "wapls" else None,
                weights=weights,
            )
        return out

    # ---------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Tensors ``preprocessing.*`` and the library: ``library_features``,
        ``library_target``, ``loadings``, ``feature_mean``, ``score_scale``,
        ``score_rotation``, ``library_weight`` (float64); JSON state with ``k``, the
        dissimilarity and the spiking."""
        self._check_fitted()
        tensors, state = self._export_common()
        for name in (*_TENSORS, *_OPTIONAL_TENSORS, "score_rotation"):
            tensors[name] = torch.from_numpy(np.ascontiguousarray(getattr(self, f"{name}_")))
        state["k"] = self.k_
        state["n_spiked"] = self.n_spiked_
        state["spiking_weight"] = self.spiking_weight_
        state["n_dissimilarity_components"] = self.n_dissimilarity_components_
        state["validation_rmse"] = self.validation_rmse_
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> SpectralMBL:
        model = cls(**params)
        rest = model._restore_common(tensors, state)
        names = {*_TENSORS, "score_rotation"}
        if unexpected := sorted(set(rest) - names - set(_OPTIONAL_TENSORS)):
            raise ValueError(f"unexpected tensors {unexpected[:3]}")
        for name in names:
            setattr(model, f"{name}_", rest[name].numpy().astype(np.float64))
        n, m = model.library_features_.shape
        weight = rest.get("library_weight")
        model.library_weight_ = np.ones(n) if weight is None else weight.numpy().astype(np.float64)
        if model.library_weight_.shape != (n,):
            raise ValueError(f"library_weight has shape {tuple(model.library_weight_.shape)}")
        model.n_spiked_ = int(state.get("n_spiked", 0))
        spiking_weight = state.get("spiking_weight")
        model.spiking_weight_ = None if spiking_weight is None else float(spiking_weight)
        if model.loadings_.shape != (m, len(model.preprocessing_.axis_out_)):
            raise ValueError(f"loadings has shape {tuple(model.loadings_.shape)}")
        if model.library_target_.shape != (n,):
            raise ValueError(f"library_target has shape {tuple(model.library_target_.shape)}")
        model.k_ = int(state["k"])
        if not 1 <= model.k_ < n:
            raise ValueError(f"k={model.k_} does not fit a library of {n} spectra")
        model.n_dissimilarity_components_ = int(state["n_dissimilarity_components"])
        model.validation_rmse_ = list(state["validation_rmse"])
        return model


def _spiked_mask(spiked: Any, n: int) -> np.ndarray:
    """A boolean mask of ``n`` rows from a mask or row indices (None: nothing spiked)."""
    if spiked is None:
        return np.zeros(n, dtype=bool)
    values = np.asarray(spiked)
    if values.dtype == bool and values.shape == (n,):
        return values.copy()
    if values.dtype.kind in "iu" and values.ndim == 1 and np.all((values >= 0) & (values < n)):
        mask = np.zeros(n, dtype=bool)
        mask[values] = True
        return mask
    raise SampleDataError(
        f"spiked must be a boolean mask of the {n} rows of X or their row indices, got "
        f"{values.dtype} of shape {values.shape}",
        field="spiked",
        fix="pass e.g. np.arange(n_library, n_library + n_local) for local samples appended "
        "to the library",
    )
