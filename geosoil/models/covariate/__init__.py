"""Covariate models: learners from covariates sampled at points, mapped over rasters."""
