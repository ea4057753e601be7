"""Notebooks: stored with their outputs within a size budget, on the public API, and run in CI.

The notebooks are committed executed (``python notebooks/execute.py``), so the repository
shows their figures; the fast tests check what is stored, the slow one runs each notebook
again top to bottom.
"""

import ast
import base64
import importlib
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))

MAX_NOTEBOOK_BYTES = 1_500_000
MAX_IMAGE_BYTES = 400_000
MAX_TEXT_CHARS = 5_000


def _code_cells(path):
    return [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def _outputs(path):
    return [output for cell in _code_cells(path) for output in cell.get("outputs", [])]


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stored_executed_within_the_budget(path):
    assert path.stat().st_size <= MAX_NOTEBOOK_BYTES, "strip outputs or lower the figure dpi"
    cells = _code_cells(path)
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        "store notebooks executed top to bottom: python notebooks/execute.py"
    )
    outputs = _outputs(path)
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o.data["image/png"] for o in outputs if "image/png" in o.get("data", {})]
    assert images, "a notebook shows its figures"
    assert max(len(base64.b64decode(image)) for image in images) <= MAX_IMAGE_BYTES
    for output in outputs:
        text = output.get("text") or output.get("data", {}).get("text/plain", "")
        assert len(text) <= MAX_TEXT_CHARS, text[:200]
        assert "IProgress not found" not in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_only_the_public_api(path):
    """``geosoil`` or one of its modules ``geosoil.<name>``, and only names in its __all__."""
    for cell in _code_cells(path):
        source = "\n".join(
            line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))
        )
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names if alias.name.startswith("geosoil.")]
                assert not names, f"import the public modules with 'from': {names}"
            if not isinstance(node, ast.ImportFrom) or not node.module.startswith("geosoil"):
                continue
            assert node.module.count(".") <= 1, f"{node.module} is below the public modules"
            module = importlib.import_module(node.module)
            public = set(getattr(module, "__all__", ()))
            hidden = [a.name for a in node.names if a.name not in public]
            assert not hidden, f"{node.module} does not export {hidden}"


@pytest.mark.slow
@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    stored_figures = [
        any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))
        for cell in notebook.cells
        if cell.cell_type == "code"
    ]
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    errors = [o for cell in cells for o in cell.get("outputs", []) if o.output_type == "error"]
    assert not errors
    figures = [any("image/png" in o.get("data", {}) for o in cell.outputs) for cell in cells]
    # a figure the stored notebook lacks means it was edited and not executed again (the
    # reverse is allowed: a section on real data draws only where the data are)
    new = [
        i
        for i, (now, stored) in enumerate(zip(figures, stored_figures, strict=True))
        if now and not stored
    ]
    assert not new, f"stale stored outputs (code cells {new}): python notebooks/execute.py"
