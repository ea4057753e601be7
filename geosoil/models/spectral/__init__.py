"""Spectral models: shared base (preprocessing, axis, target transform), networks, PLSR, SVR."""
