"""The ground floor: value objects every layer shares, importing nothing above them.

:class:`~geosoil.geo.grid.Grid` and :class:`~geosoil.geo.grid.Block` (a raster lattice and a
window of it) with the lattice helpers, :class:`~geosoil.geo.outputs.OutputVariable` (one
written layer) and the :class:`~geosoil.geo.product.Product` contract that the mapping
engine runs and ``geosoil.products`` implements.
"""
