"""``spectral_auto``: the spectral candidates compared under the same inner folds, the best
refitted on all training spectra.

Candidates: PLSR, SVR, memory-based learning, PCA + gradient boosting, and the CNN when
the training set has at least ``cnn_min_spectra`` spectra (:data:`CNN_MIN_SPECTRA`, 5,000
by default). The threshold is set by cost, a priori: the CNN enters the nested comparison
with ``inner_folds + 1`` network fits (each with its early stopping and refit), and one
such fit on 1,000 MIR spectra of 1,765 bands takes 5 to 10 minutes on one thread (6 s per
epoch on 880 AfSIS spectra, measured on the 2-core development machine), against under a
minute for the other four candidates together. Below 5,000 spectra the CNN would make
``auto`` some 50 times slower; it also trailed the best linear model on every LimeSoDa
set and was level with PLSR on AfSIS (1,103 spectra) in earlier reports. It stays
available by name (``candidates: [..., cnn]``) or with a lower ``cnn_min_spectra``. The
training spectra are cut once into ``inner_folds`` folds (whole groups when
groups are given); every candidate predicts every fold, each of its own settings (PLS
components, SVR C/gamma, ridge penalty) from a model fitted on the other folds.

Each candidate's out-of-fold predictions are made honest from that one round of fits: on
each fold, the candidate's setting is the one best on the *other* folds, and its
predictions of the fold are that setting's, so no fold's score chose the setting it is
scored with. Then, with ``combine: stack`` (the default), non-negative weights summing to
one are fitted to those honest predictions (a super learner: it never does worse on them
than the best single candidate, and gains where candidates err differently); with
``combine: select`` the candidate with the best pooled R2 wins. Every candidate kept
takes its setting best over all folds and is refitted on all training spectra.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch

from geosoil.errors import ConfigError
from geosoil.models.base import pack_inner, unpack_inner
from geosoil.models.registry import get_estimator_class, register
from geosoil.models.spectral.base import (
    SpectralEstimator,
    _check_choice,
    _check_spectra,
    _check_target,
    check_axis,
)
from geosoil.models.spectral.selection import (
    best_candidate,
    inner_folds,
    join_validation,
    nested_oof,
    pooled_r2,
)
from geosoil.models.targets import TargetTransform
from geosoil.spectra import SpectralAxis

__all__ = ["CNN_MIN_SPECTRA", "DEFAULT_CANDIDATES", "SpectralAuto"]

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "plsr": ("plsr", {}),
    "svr": ("svr", {}),
    "mbl": ("spectral_mbl", {}),
    "pca_gbm": ("spectral_pca", {"learner": "gbm"}),
    "cnn": ("spectral_cnn", {"threads": 1}),
}
"""Candidate name -> (registered estimator, its hyperparameters)."""

_NETWORKS = ("cnn",)

CNN_MIN_SPECTRA = 5000
"""Training spectra from which the default candidates include the CNN (see the module
docstring for why: cost, stated before any score was looked at)."""


@register
class SpectralAuto(SpectralEstimator):
    """The best of several spectral estimators by nested inner cross-validation.

    Parameters
    ----------
    candidates
        Names from :data:`DEFAULT_CANDIDATES` (``plsr``, ``svr``, ``mbl``, ``pca_gbm``,
        ``cnn``); None: all, the CNN only from ``cnn_min_spectra`` training spectra.
    candidate_params
        Per candidate name, hyperparameters overriding its defaults.
    cnn_min_spectra
        Training spectra from which the default candidates include the CNN (5,000: chosen
        by its cost, see the module docstring).
    target_transform
        Passed to every candidate.
    inner_folds
        Folds shared by every candidate.
    combine
        ``"stack"``: non-negative weights (summing to one) fitted to the candidates'
        honest out-of-fold predictions; ``"select"``: the single best candidate.
    refit_all
        Refit (and save) every candidate, those of weight 0 too, e.g. to report each
        candidate's test skill beside the combination's; only weighted ones predict.
    seed
        Seeds the folds and every candidate.
    preprocessing, valid_fraction, selection
        Unused (each candidate has its own preprocessing); kept for a common signature.

    Notes
    -----
    Learned state: ``members_`` (name -> fitted candidate with a weight above 0),
    ``weights_``, ``chosen_`` (the member with the largest weight), ``candidate_scores_``
    (per candidate: nested out-of-fold R2 on the transformed scale, weight, seconds), and
    the shared state of the chosen member.
    """

    registry_name = "spectral_auto"
    default_preprocessing: Mapping[str, tuple] = {"cm-1": (), "nm": ()}

    def __init__(
        self,
        *,
        candidates: Sequence[str] | None = None,
        candidate_params: dict[str, dict[str, Any]] | None = None,
        cnn_min_spectra: int = CNN_MIN_SPECTRA,
        target_transform: Literal["none", "log10"] = "log10",
        inner_folds: int = 5,
        seed: int = 0,
        preprocessing: list[dict[str, Any]] | None = None,
        valid_fraction: float = 0.1,
        selection: Literal["cv"] = "cv",
        combine: Literal["stack", "select"] = "stack",
        refit_all: bool = False,
    ) -> None:
        self._store_params(locals())

    def _check_params(self) -> None:
        if self.combine not in ("stack", "select"):
            raise ConfigError(
                f"combine={self.combine!r} is not 'stack' or 'select'",
                field="params.combine",
                fix="use 'stack' (weighted candidates) or 'select' (the best one)",
            )
        names = list(DEFAULT_CANDIDATES) if self.candidates is None else self.candidates
        if isinstance(names, str) or not names:
            raise ConfigError(
                f"candidates={self.candidates!r} must be a non-empty list of names",
                field="params.candidates",
                fix=f"choose among {list(DEFAULT_CANDIDATES)}, or null for all",
            )
        params = self.candidate_params or {}
        for name in [*names, *params]:
            if name not in DEFAULT_CANDIDATES:
                raise ConfigError(
                    f"'{name}' is not a spectral_auto candidate",
                    field="params.candidates",
                    fix=f"choose among {list(DEFAULT_CANDIDATES)}",
                )

    def _candidate_names(self, n_train: int) -> list[str]:
        if self.candidates is not None:
            return list(self.candidates)
        return [
            name
            for name in DEFAULT_CANDIDATES
            if name not in _NETWORKS or n_train >= self.cnn_min_spectra
        ]

    def _build(self, name: str) -> SpectralEstimator:
        registered, defaults = DEFAULT_CANDIDATES[name]
        params = {
            **defaults,
            "target_transform": self.target_transform,
            "seed": self.seed,
            **(self.candidate_params or {}).get(name, {}),
        }
        cls = get_estimator_class(registered)
        model = cls.from_params(params, source=f"params.candidate_params.{name}")
        return model.attach_tables(getattr(self, "_step_tables", {}))

    def table_paths(self) -> list[str]:
        """The tables every candidate's preprocessing is fitted from (see the base)."""
        self._check_params()
        names = list(DEFAULT_CANDIDATES) if self.candidates is None else self.candidates
        return [path for name in names for path in self._build(name).table_paths()]

    # ---------------------------------------------------------------- fitting
    def fit(
        self,
        X: np.ndarray,
        y: Sequence[float] | np.ndarray,
        *,
        axis: SpectralAxis,
        X_valid: np.ndarray | None = None,
        y_valid: Sequence[float] | np.ndarray | None = None,
        groups: np.ndarray | None = None,
        groups_valid: np.ndarray | None = None,
    ) -> SpectralAuto:
        """Compare the candidates by nested inner CV and refit the best on all spectra.

        A validation set joins the training spectra (as with ``selection: cv``);
        ``groups`` make the inner folds hold out whole groups.
        """
        import time

        self._check_params()
        axis = check_axis(axis)
        X = _check_spectra(X, axis, field="X")
        if X_valid is not None:
            X_valid = _check_spectra(X_valid, axis, field="X_valid")
        X, y, groups = join_validation(X, y, X_valid, y_valid, groups, groups_valid)
        transform = TargetTransform(_check_choice(self.target_transform))
        t = transform.forward(_check_target(y, len(X), transform, field="y"))
        folds = inner_folds(len(y), self.inner_folds, groups=groups, seed=self.seed)
        scores, oofs, honest = {}, {}, {}
        for name in self._candidate_names(len(y)):
            started = time.perf_counter()
            oofs[name] = _out_of_fold(self._build(name), X, y, axis, folds)
            honest[name] = nested_oof(oofs[name], t, folds)
            scores[name] = {
                "cv_r2": float(pooled_r2(honest[name], t)[0]),
                "seconds": time.perf_counter() - started,
            }
            log.info("spectral_auto: %s nested inner-CV R2 %.3f", name, scores[name]["cv_r2"])
        names = list(scores)
        if self.combine == "stack":
            weights = _stack_weights(np.column_stack([honest[n] for n in names]), t)
        else:
            weights = np.zeros(len(names))
            weights[best_candidate([scores[n]["cv_r2"] for n in names])] = 1.0
        members = {}
        for name, weight in zip(names, weights, strict=True):
            scores[name]["weight"] = float(weight)
            if weight > 0 or self.refit_all:
                members[name] = self._refit(name, oofs[name], t, X, y, axis)
        self.weights_ = {name: scores[name]["weight"] for name in members}
        self.members_ = members
        self.chosen_ = max(self.weights_, key=self.weights_.get)
        self.candidate_scores_ = scores
        log.info("spectral_auto: weights %s, refitted on %d spectra", self.weights_, len(y))
        self._copy_shared_state()
        return self

    def _refit(self, name, oof, t, X, y, axis) -> SpectralEstimator:
        """Candidate ``name`` with its setting best over all folds, fitted on all spectra."""
        model = self._build(name)
        if name in _NETWORKS:
            return model.fit(X, y, axis=axis)
        model._check_params()
        model._selected = dict(model._candidates()[best_candidate(pooled_r2(oof, t))])
        data = model._prepare(X, y, axis=axis, hold_out=False)
        model._fit_prepared(data)
        model._set_prepared_state(data)
        return model

    @property
    def estimator_(self) -> SpectralEstimator:
        """The member with the largest weight (the one chosen with ``combine: select``)."""
        return self.members_[self.chosen_]

    def _copy_shared_state(self) -> None:
        model = self.estimator_
        self.axis_ = model.axis_
        self.preprocessing_ = model.preprocessing_
        self.target_mean_ = model.target_mean_
        self.target_scale_ = model.target_scale_
        self.n_train_ = model.n_train_
        self.n_valid_ = model.n_valid_

    # ---------------------------------------------------------------- prediction
    def transform_inputs(self, X: np.ndarray, *, axis: SpectralAxis | None = None) -> np.ndarray:
        """The preprocessed inputs of the member with the largest weight."""
        self._check_fitted()
        return self.estimator_.transform_inputs(X, axis=axis)

    def predict(self, X: np.ndarray, *, axis: SpectralAxis | None = None) -> np.ndarray:
        """Weighted mean of the members on the transformed scale, in target units (float32)."""
        self._check_fitted()
        transform = TargetTransform(self.target_transform)
        total = None
        for name, model in self.members_.items():
            if self.weights_[name] == 0:
                continue
            part = transform.forward(model.predict(X, axis=axis).astype(np.float64))
            total = part * self.weights_[name] + (0.0 if total is None else total)
        return transform.inverse(total).astype(np.float32)

    # ---------------------------------------------------------------- artifact
    def export_state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Each member's tensors under ``<name>.``; JSON with the weights, each member's
        params and state, and the candidates' scores."""
        self._check_fitted()
        tensors: dict[str, torch.Tensor] = {}
        members = {}
        for name, model in self.members_.items():
            member_tensors, members[name] = pack_inner(
                name, model, params=_jsonable(model.get_params())
            )
            tensors.update(member_tensors)
        state = {
            "weights": self.weights_,
            "members": members,
            "candidate_scores": self.candidate_scores_,
        }
        return tensors, state

    @classmethod
    def from_state(cls, params, tensors, state) -> SpectralAuto:
        model = cls(**params)
        members = {}
        for name, entry in state["members"].items():
            if name not in DEFAULT_CANDIDATES:
                raise ValueError(f"unknown member {name!r}")
            inner = get_estimator_class(DEFAULT_CANDIDATES[name][0])
            members[name], _ = unpack_inner(inner, name, tensors, entry)
        model.members_ = members
        model.weights_ = {name: float(w) for name, w in state["weights"].items()}
        if set(model.weights_) != set(members):
            raise ValueError("weights and members differ")
        model.chosen_ = max(model.weights_, key=model.weights_.get)
        model.candidate_scores_ = dict(state["candidate_scores"])
        model._copy_shared_state()
        return model


def _out_of_fold(
    model: SpectralEstimator,
    X: np.ndarray,
    y: np.ndarray,
    axis: SpectralAxis,
    folds: list[tuple[np.ndarray, np.ndarray]],
) -> np.ndarray:
    """(n, settings) out-of-fold predictions on the transformed scale; a network (which
    learns through its own ``fit``) gives one column."""
    from geosoil.models.spectral.network import NetworkSpectralEstimator

    if not isinstance(model, NetworkSpectralEstimator):
        return model.out_of_fold(X, y, axis=axis, folds=folds)
    transform = TargetTransform(model.target_transform)
    out = np.empty((len(y), 1))
    for train, valid in folds:
        fresh = type(model)(**model.get_params()).attach_tables(model._step_tables)
        fitted = fresh.fit(X[train], y[train], axis=axis)
        out[valid, 0] = transform.forward(fitted.predict(X[valid], axis=axis).astype(np.float64))
    return out


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}


def _stack_weights(predictions: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative least-squares weights of ``predictions`` (n, m) (Breiman 1996), rescaled
    to sum to one. Not the least-squares blend over the simplex that the covariate stack
    fits (``models.covariate.stack.blend_weights``): changing it would move the spectral
    benchmark figures, which have not been rerun."""
    from scipy.optimize import nnls

    weights, _ = nnls(predictions, target)
    if weights.sum() <= 0:
        weights = np.zeros(predictions.shape[1])
        weights[best_candidate(pooled_r2(predictions, target))] = 1.0
    weights = weights / weights.sum()
    weights[weights < 1e-3] = 0.0  # members this light only cost prediction time
    return weights / weights.sum()
