"""Covariate catalogs: several merged into one for a run that reads them all."""

import pytest

from geosoil.errors import CovariateError
from geosoil.io.catalog import (
    CovariateCatalog,
    CovariateLayer,
    read_catalog,
    write_catalog,
    write_union_catalog,
)


def catalog(folder, name, layers, crs="EPSG:32654"):
    path = folder / f"{name}.yaml"
    entries = [CovariateLayer(name=n, path=folder / f, band=b) for n, f, b in layers]
    write_catalog(CovariateCatalog(crs=crs, layers=entries), path)
    return path


def test_union_keeps_order_and_shared_layers_once(tmp_path):
    first = catalog(tmp_path, "a", [("clay", "soil.tif", 1), ("depth", "rock.tif", 1)])
    second = catalog(tmp_path, "b", [("depth", "rock.tif", 1), ("t_m01", "temp.tif", 1)])
    union = read_catalog(write_union_catalog([first, second], tmp_path / "all.yaml"))
    assert union.names() == ["clay", "depth", "t_m01"]
    assert {layer.path.name for layer in union.layers} == {"soil.tif", "rock.tif", "temp.tif"}


def test_one_name_for_two_data_or_two_crs_is_refused(tmp_path):
    first = catalog(tmp_path, "a", [("depth", "rock.tif", 1)])
    other_band = catalog(tmp_path, "b", [("depth", "rock.tif", 2)])
    with pytest.raises(CovariateError, match="different data") as info:
        write_union_catalog([first, other_band], tmp_path / "all.yaml")
    assert info.value.field == "covariates.depth"
    other_crs = catalog(tmp_path, "c", [("slope", "s.tif", 1)], crs="EPSG:4326")
    with pytest.raises(CovariateError, match="different CRS"):
        write_union_catalog([first, other_crs], tmp_path / "all.yaml")
    assert not (tmp_path / "all.yaml").exists()
