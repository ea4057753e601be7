"""Peers that benchmarks compare geosoil with; not part of the mapping path."""
