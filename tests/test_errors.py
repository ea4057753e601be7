from geosoil.errors import ConfigError, GeoSoilError, InputFileNotFoundError


def test_message_names_file_field_and_fix():
    err = ConfigError("bad value", path="a/b.yaml", field="model.x", fix="set it to 3")
    text = str(err)
    assert "bad value" in text and "a/b.yaml" in text and "model.x" in text
    assert "fix: set it to 3" in text
    assert isinstance(err, GeoSoilError)


def test_missing_file_is_also_a_filenotfounderror():
    assert isinstance(InputFileNotFoundError("gone", path="x"), FileNotFoundError)
