"""Decision layers computed from mapped layers in the same pass as the maps (DESIGN 4.6)."""

from geosoil.geo.product import Product, build_product, get_product_class, register_product
from geosoil.products.classes import ThresholdClasses
from geosoil.products.k_fertilizer import KFertilizer
from geosoil.products.pb_risk import PbRisk

__all__ = [
    "KFertilizer",
    "PbRisk",
    "Product",
    "ThresholdClasses",
    "build_product",
    "get_product_class",
    "register_product",
]
