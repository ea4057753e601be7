"""What a benchmark result records about where it was measured: the code state and the CPU.

Imported by the benchmark scripts, which run as ``python benchmarks/<name>.py`` (this folder is
then first on ``sys.path``).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def code_state() -> dict:
    """The commit measured, the files that differed from it and a ``dirty`` flag.

    A result with ``dirty: true`` was not measured on the commit it names; README figures come
    only from clean runs.
    """

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return ""
        return done.stdout

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "dirty": bool(changed),
        "uncommitted": changed,
    }


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo``, or an empty string where there is none."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return ""
    names = [ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("model name")]
    return names[0].split(":", 1)[1].strip() if names else ""


def write_result(result: dict, path: Path | None) -> str:
    """The result as indented JSON, printed and, with ``path``, written atomically there."""
    import json

    text = json.dumps(result, indent=2, default=str)
    print(text)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text + "\n")
        temporary.replace(path)
    return text
