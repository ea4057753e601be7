"""The single-file model artifact (DESIGN 4.3).

One ``.safetensors`` file holds every tensor of a trained model (network weights and fitted
preprocessing arrays) and a JSON header under the metadata key ``geosoil``. Loading reads
tensors and JSON only: nothing is unpickled and nothing is imported by a name found in the
file, so an artifact from a stranger cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from geosoil import __version__
from geosoil.errors import ArtifactError, InputFileNotFoundError
from geosoil.specs import InputLayer, InputSpec, OutputSpec

__all__ = [
    "SCHEMA_VERSION",
    "Artifact",
    "ArtifactHeader",
    "InputLayer",
    "InputSpec",
    "OutputSpec",
    "Provenance",
    "artifact_from_estimator",
    "file_sha256",
    "load_artifact",
    "load_parent_artifact",
    "read_header",
    "read_trust",
    "restore_state",
    "save_artifact",
]

SCHEMA_VERSION = 1
METADATA_KEY = "geosoil"


class _Header(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Provenance(_Header):
    data_fingerprint: str
    n_samples: int
    seed: int
    metrics: dict[str, Any] = Field(default_factory=dict)
    package_version: str = __version__
    created_utc: str = Field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    config: dict[str, Any] | None = None
    parent_sha256: str | None = None


class ArtifactHeader(_Header):
    schema_version: int
    estimator: str
    hyperparameters: dict[str, Any]
    input_spec: InputSpec
    output_spec: OutputSpec
    preprocessing: list[dict[str, Any]] = Field(default_factory=list)
    fitted_state: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance
    trust: dict[str, Any] | None = Field(
        default=None,
        description="area of applicability, intervals, back-transform, spectral domain "
        "(geosoil.trust); absent in artifacts trained before the trust layer",
    )


@dataclass(frozen=True)
class Artifact:
    """A loaded artifact: the fitted estimator, its header, the file's SHA-256 and its trust
    layer (:class:`geosoil.trust.TrustLayer`; an empty one for older artifacts)."""

    estimator: Any
    header: ArtifactHeader
    path: Path
    sha256: str
    trust: Any = None


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(1 << 20), b""):
            digest.update(piece)
    return digest.hexdigest()


def save_artifact(
    estimator: Any,
    path: str | Path,
    *,
    provenance: Provenance,
    input_spec: InputSpec | None = None,
    output_spec: OutputSpec | None = None,
    preprocessing: list[dict[str, Any]] | None = None,
    trust: Any = None,
) -> Path:
    """Write a fitted estimator as one ``.safetensors`` file, atomically.

    ``input_spec`` and ``output_spec`` default to the estimator's own (its
    ``input_spec()`` and ``output_spec()``), for estimators that know their inputs.
    ``trust`` (a :class:`geosoil.trust.TrustLayer`) adds tensors ``trust.*`` and the
    header's ``trust`` section.

    Returns
    -------
    Path
        The artifact path; the file appears there only once complete.
    """
    import torch
    from safetensors.torch import save_file

    tensors, state = estimator.export_state()
    trust_header = None
    if trust is not None:
        trust_arrays, trust_header = trust.to_parts()
        tensors = {**tensors, **{k: torch.from_numpy(v.copy()) for k, v in trust_arrays.items()}}
    header = ArtifactHeader(
        schema_version=SCHEMA_VERSION,
        estimator=estimator.registry_name,
        hyperparameters=_jsonable(estimator.get_params()),
        input_spec=input_spec if input_spec is not None else estimator.input_spec(),
        output_spec=output_spec if output_spec is not None else estimator.output_spec(),
        preprocessing=preprocessing or [],
        fitted_state=_jsonable(state),
        provenance=provenance,
        trust=_jsonable(trust_header) if trust_header is not None else None,
    )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    # safetensors refuses tensors that share memory; contiguous copies are cheap here.
    contiguous = {name: t.detach().contiguous().clone() for name, t in tensors.items()}
    try:
        save_file(contiguous, tmp, metadata={METADATA_KEY: header.model_dump_json()})
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def artifact_from_estimator(
    estimator: Any,
    *,
    output: str,
    units: str = "",
    inputs: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    input_units: Mapping[str, str] | None = None,
    path: str | Path | None = None,
    n_samples: int = 0,
) -> Artifact:
    """A fitted covariate estimator as an artifact, in one call.

    Parameters
    ----------
    estimator
        A fitted geosoil estimator (e.g. ``CovariateMLP``).
    output, units
        Name and units of the mapped layer (the target).
    inputs
        Covariate names in the order the estimator reads them; its ``feature_names_in_``
        by default. They must be layer names of the catalog it will be mapped with.
    categorical
        Class covariates; the estimator's ``categorical_features`` by default (none for an
        estimator without that parameter, such as ordinary kriging).
    input_units
        Units per covariate, for the record.
    path
        Where to write the ``.safetensors`` file; a temporary file (deleted at once) when
        None, so the result lives only in memory.

    Returns
    -------
    Artifact
        Loaded back from the bytes written, with their sha256: what ``geosoil map`` would use.
    """
    import tempfile

    names = list(inputs if inputs is not None else getattr(estimator, "feature_names_in_", []))
    if not names:
        raise ArtifactError(
            "the estimator's input names are unknown",
            field="inputs",
            fix="fit it on a DataFrame with named columns, or pass inputs=[...]",
        )
    if categorical is None:  # e.g. ordinary kriging reads coordinates only: no classes
        categorical = getattr(estimator, "categorical_features", ())
    classes = set(categorical)
    units_of = dict(input_units or {})
    spec = InputSpec(
        kind="covariates",
        layers=[
            InputLayer(name=name, units=units_of.get(name, ""), categorical=name in classes)
            for name in names
        ],
    )
    params = estimator.get_params()
    outputs = OutputSpec(
        names=[output],
        units=[units],
        back_transform=params.get("target_transform", "none"),
    )
    provenance = Provenance(
        data_fingerprint="in-memory", n_samples=n_samples, seed=int(params.get("seed", 0))
    )
    if path is not None:
        save_artifact(estimator, path, input_spec=spec, output_spec=outputs, provenance=provenance)
        return load_artifact(path)
    with tempfile.TemporaryDirectory(prefix="geosoil-artifact-") as folder:
        target = Path(folder) / f"{output}.safetensors"
        save_artifact(
            estimator, target, input_spec=spec, output_spec=outputs, provenance=provenance
        )
        return load_artifact(target)


def read_header(path: str | Path) -> ArtifactHeader:
    """Read and validate the JSON header without building the estimator."""
    from safetensors import safe_open

    path = _existing(path)
    try:
        with safe_open(path, framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except Exception as err:  # safetensors raises its own error types for damaged files
        raise ArtifactError(
            f"not a readable safetensors artifact ({err})",
            path=path,
            fix="the file is truncated or not a geosoil artifact; copy it again or retrain",
        ) from err
    return _parse_header(metadata, path)


def load_artifact(path: str | Path) -> Artifact:
    """Load an artifact: validate the header, look the estimator up, restore its state."""
    from geosoil.models.registry import get_estimator_class

    path = _existing(path)
    header = read_header(path)
    cls = get_estimator_class(header.estimator, source=path, field="geosoil.estimator")
    estimator = restore_state(cls, header, path, what=f"estimator '{header.estimator}'")
    trust = read_trust(path, header)
    if estimator.registry_name == "ordinary_kriging":
        # its kind never gets an AOA, whatever an older train noted
        from geosoil.trust.layer import NOT_FOR_KRIGING, TrustLayer

        if not header.trust:  # not from geosoil train: no calibration either
            trust = TrustLayer(notes=(NOT_FOR_KRIGING,))
        elif NOT_FOR_KRIGING not in trust.notes:
            trust = replace(trust, notes=(*trust.notes, NOT_FOR_KRIGING))
    return Artifact(
        estimator=estimator, header=header, path=path, sha256=file_sha256(path), trust=trust
    )


def read_trust(path: str | Path, header: ArtifactHeader):
    """The artifact's :class:`~geosoil.trust.TrustLayer` (empty for older artifacts)."""
    from safetensors import safe_open

    from geosoil.trust.layer import TENSOR_PREFIX, TrustLayer

    arrays = {}
    if header.trust:
        with safe_open(Path(path), framework="numpy") as handle:
            names = [k for k in handle.keys() if k.startswith(TENSOR_PREFIX)]  # noqa: SIM118
            arrays = {k: handle.get_tensor(k) for k in names}
    try:
        return TrustLayer.from_parts(arrays, header.trust)
    except (KeyError, TypeError, ValueError) as err:
        raise ArtifactError(
            f"the artifact's trust layer cannot be read ({err})",
            path=path,
            field="geosoil.trust",
            fix="the file was edited or written by an incompatible version; retrain",
        ) from err


def load_parent_artifact(path: str | Path, *, field: str = "params.init_from") -> Artifact:
    """:func:`load_artifact` for the parent of a fine-tuned model (``init_from``).

    Raises
    ------
    InputFileNotFoundError
        The file does not exist; the message names ``field``.
    """
    try:
        return load_artifact(path)
    except InputFileNotFoundError:
        raise InputFileNotFoundError(
            "the parent artifact of init_from does not exist",
            path=path,
            field=field,
            fix="point init_from at an artifact saved by a previous training run",
        ) from None


def restore_state(cls: Any, header: ArtifactHeader, path: str | Path, *, what: str) -> Any:
    """``cls.from_state`` on the tensors and state of the artifact at ``path``.

    Raises
    ------
    ArtifactError
        The tensors cannot be read, or the state does not fit ``cls`` (``what`` names it).

    Notes
    -----
    An estimator that declares ``state_arrays = "numpy"`` receives numpy arrays and must
    check their shapes against the hyperparameters before allocating anything; the others
    receive torch tensors, and a dry run on torch's meta device does that check for them.
    """
    from safetensors import SafetensorError

    path = Path(path)
    numpy_state = getattr(cls, "state_arrays", "torch") == "numpy"
    try:
        if numpy_state:
            from safetensors.numpy import load_file
        else:
            from safetensors.torch import load_file
        tensors = load_file(path)
    except (SafetensorError, OSError) as err:
        raise ArtifactError(
            f"artifact tensors cannot be read ({err})", path=path, fix="copy the file again"
        ) from err
    # Trust-layer tensors belong to the artifact, not to the estimator's state.
    tensors = {k: v for k, v in tensors.items() if not k.startswith("trust.")}
    _check_finite(tensors, path)
    if numpy_state:
        try:
            return cls.from_state(header.hyperparameters, tensors, header.fitted_state)
        except (KeyError, TypeError, ValueError) as err:
            raise _state_error(err, path, what) from err
    import torch

    try:
        # A dry run on the meta device first: a header that implies other shapes than the
        # tensors (hidden_layers: [40000, 40000] beside small weights) fails here, before a
        # single parameter is allocated.
        with torch.device("meta"), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "copying ... to a meta parameter"
            cls.from_state(header.hyperparameters, tensors, header.fitted_state)
    except (KeyError, RuntimeError, TypeError, ValueError, NotImplementedError) as err:
        if "meta" not in str(err).lower():  # an estimator that cannot restore on meta
            raise _state_error(err, path, what) from err
    try:
        return cls.from_state(header.hyperparameters, tensors, header.fitted_state)
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise _state_error(err, path, what) from err


def _state_error(err: Exception, path: Path, what: str) -> ArtifactError:
    text = str(err)
    if len(text) > 300:
        text = text[:300] + " ..."
    return ArtifactError(
        f"artifact state does not fit {what} ({text})",
        path=path,
        field="geosoil.fitted_state",
        fix="the file was edited or written by an incompatible version; retrain",
    )


def _check_finite(tensors: dict[str, Any], path: Path) -> None:
    """Refuse NaN or infinite weights: they would map as nodata everywhere, silently.

    ``tensors`` are torch tensors or numpy arrays (see :func:`restore_state`).
    """
    import numpy as np

    for name, tensor in tensors.items():
        if isinstance(tensor, np.ndarray):
            bad = tensor.dtype.kind == "f" and not bool(np.isfinite(tensor).all())
        else:
            bad = tensor.is_floating_point() and not bool(tensor.isfinite().all())
        if bad:
            raise ArtifactError(
                f"tensor '{name}' holds NaN or infinite values",
                path=path,
                field=f"tensors.{name}",
                fix="the file was damaged or the training diverged; retrain the model "
                "(a lower learning rate helps a diverging run)",
            )


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputFileNotFoundError(
            "model artifact not found", path=path, fix="check the path or run `geosoil train`"
        )
    return path


def _parse_header(metadata: dict[str, str], path: Path) -> ArtifactHeader:
    if METADATA_KEY not in metadata:
        raise ArtifactError(
            f"safetensors file has no '{METADATA_KEY}' header",
            path=path,
            field=METADATA_KEY,
            fix="this is not a geosoil artifact; save models with geosoil.save_artifact",
        )
    try:
        raw = json.loads(metadata[METADATA_KEY])
    except json.JSONDecodeError as err:
        raise ArtifactError(
            f"artifact header is not valid JSON ({err})", path=path, field=METADATA_KEY
        ) from err
    version = raw.get("schema_version") if isinstance(raw, dict) else None
    if version != SCHEMA_VERSION:
        raise ArtifactError(
            f"artifact schema version {version!r} is not supported (this geosoil reads "
            f"{SCHEMA_VERSION})",
            path=path,
            field="geosoil.schema_version",
            fix="use the geosoil version that wrote it, or retrain",
        )
    try:
        return ArtifactHeader.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        field = "geosoil." + ".".join(str(p) for p in first["loc"])
        raise ArtifactError(
            f"artifact header is invalid: {first['msg']}",
            path=path,
            field=field,
            fix="the header was edited or damaged; retrain or restore the original file",
        ) from err


def _jsonable(value: Any) -> Any:
    """Tuples to lists and numpy scalars to Python, so headers round-trip through JSON."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
