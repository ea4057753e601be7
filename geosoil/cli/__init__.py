"""The ``geosoil`` command line: one small module per command over a library function."""
