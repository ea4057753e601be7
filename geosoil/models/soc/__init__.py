"""Soil organic carbon: BINN and ScIReN parameter encoders over the CLM5 process model."""
