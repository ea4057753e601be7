import os
import subprocess
import sys

import geosoil


def test_every_public_name_resolves():
    for name in geosoil.__all__:
        assert getattr(geosoil, name) is not None, name


def test_import_is_light_and_sets_a_passive_openmp_policy():
    code = (
        "import sys, os, geosoil; "
        "print('torch' in sys.modules, 'rasterio' in sys.modules, os.environ['OMP_WAIT_POLICY'])"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["False", "False", "PASSIVE"]
