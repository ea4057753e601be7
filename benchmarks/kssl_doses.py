"""Real data: potassium fertilizer doses for the KSSL Kansas topsoils.

    python benchmarks/kssl_doses.py [--depth-cm 15] [--target 25] [--json OUT.json]

Measured exchangeable K (``Potassium``, cmol(+)/kg) and bulk density (``Bulk.Density_1_3.BAR``,
g/cm3) of the first horizon of every profile go through
:func:`geosoil.products.k_fertilizer.lab_doses`, the same functions as the ``k_fertilizer`` map
product. Reads ``$GEOSOIL_REAL_DATA/kssl_kansas`` (default ``../shared/data/real``).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import pandas as pd

from geosoil.products.k_fertilizer import lab_doses, summarize_doses

REPO = Path(__file__).resolve().parents[1]
KEX_COLUMN = "Potassium"
BULK_DENSITY_COLUMN = "Bulk.Density_1_3.BAR"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--depth-cm", type=float, default=15.0, help="plough depth (cm)")
    parser.add_argument("--target", type=float, default=None, help="mg K2O/100 g (default 25)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    data = Path(os.environ.get("GEOSOIL_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
    lab = pd.read_csv(data / "kssl_kansas" / "kssl_kansas_lab.csv")
    topsoils = lab[lab["top_cm"] == 0]
    doses = lab_doses(
        topsoils,
        kex_column=KEX_COLUMN,
        bulk_density_column=BULK_DENSITY_COLUMN,
        plough_depth_cm=args.depth_cm,
        target_mg_k2o_100g=args.target,
    )
    summary = {
        "topsoil_rows": len(topsoils),
        "plough_depth_cm": args.depth_cm,
        **summarize_doses(doses),
        "median_bulk_density_g_cm3": float(topsoils[BULK_DENSITY_COLUMN].median()),
    }
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
