import pytest

from geosoil.errors import ConfigError, GeoSoilError, InputFileNotFoundError, params_at


def test_message_names_file_field_and_fix():
    err = ConfigError("bad value", path="a/b.yaml", field="model.x", fix="set it to 3")
    text = str(err)
    assert "bad value" in text and "a/b.yaml" in text and "model.x" in text
    assert "fix: set it to 3" in text
    assert isinstance(err, GeoSoilError)


def test_missing_file_is_also_a_filenotfounderror():
    assert isinstance(InputFileNotFoundError("gone", path="x"), FileNotFoundError)


def test_params_at_reports_estimator_errors_under_the_commands_path():
    with pytest.raises(ConfigError) as err, params_at("models.cnn.params"):
        raise ConfigError("bad", field="params.max_lr", fix="lower params.max_lr")
    assert err.value.field == "models.cnn.params.max_lr"
    assert err.value.fix == "lower models.cnn.params.max_lr"
    with pytest.raises(ConfigError) as err, params_at("models.cnn.params"):
        raise ConfigError("bad", field="spectra.path")
    assert err.value.field == "spectra.path"
