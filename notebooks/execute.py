"""Execute the notebooks and store them with their outputs, within the size budget.

    python notebooks/execute.py                      # every notebook
    python notebooks/execute.py notebooks/01_quickstart.ipynb

Each notebook runs top to bottom in a temporary folder (its ``*_out/`` folders never land in
the checkout), then is written back with its outputs, so the figures show wherever the
repository is read. Outputs are kept small: figures are PNG, re-encoded with a 256-colour
palette (a third of the size, no visible change on these maps), text outputs longer than
:data:`MAX_TEXT_CHARS` are cut, and no per-cell timing metadata is stored.
``tests/test_notebooks.py`` checks the stored outputs against the budget and runs the
notebooks again in CI.
"""

from __future__ import annotations

import base64
import io
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
MAX_TEXT_CHARS = 4000


def execute(path: Path, *, timeout_s: int = 1200) -> nbformat.NotebookNode:
    """Run ``path`` in a temporary folder and return it with its (trimmed) outputs."""
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    with tempfile.TemporaryDirectory(prefix=f"{path.stem}_") as folder:
        NotebookClient(
            notebook,
            timeout=timeout_s,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": folder}},
        ).execute()
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [trim(output) for output in cell.outputs]
    return notebook


def trim(output: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Cut long text (streams, plain-text results); drop HTML where a PNG or text says it."""
    if output.get("output_type") == "stream" and len(output.text) > MAX_TEXT_CHARS:
        output.text = output.text[:MAX_TEXT_CHARS] + "\n[... output cut ...]\n"
    data = output.get("data")
    if data is not None and "image/png" in data:
        data["image/png"] = palette_png(data["image/png"])
    if data is not None:
        text = data.get("text/plain")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            data["text/plain"] = text[:MAX_TEXT_CHARS] + "\n[... output cut ...]"
        html = data.get("text/html")
        if isinstance(html, str) and len(html) > 4 * MAX_TEXT_CHARS:
            del data["text/html"]
    return output


def palette_png(encoded: str) -> str:
    """A base64 PNG re-encoded with an adaptive 256-colour palette, when that is smaller."""
    from PIL import Image

    image = Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB")
    buffer = io.BytesIO()
    image.quantize(256, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
    smaller = base64.b64encode(buffer.getvalue()).decode("ascii")
    return smaller if len(smaller) < len(encoded) else encoded


def main(paths: list[str]) -> None:
    for path in [Path(p) for p in paths] or sorted(NOTEBOOKS.glob("*.ipynb")):
        began = time.perf_counter()
        notebook = execute(path)
        nbformat.write(notebook, path)
        print(f"{path.name}: {time.perf_counter() - began:.0f} s, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
