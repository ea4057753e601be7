"""Spatially correlated Gaussian random fields and smoothing, with lengths in metres; and
fields of per-class values (:func:`by_class`).

A field is white noise filtered in the Fourier domain by a Gaussian kernel, so its covariance
is ``exp(-r**2 / (2 * L**2))`` with ``L = corr_length_m``. Lengths are physical: the same
``L`` makes features of the same size in metres whatever the pixel size of the world.

Smooth fields (``L`` many pixels long) are drawn on a coarser grid and interpolated
linearly; the error is negligible once a feature spans several coarse pixels, and it keeps the
benchmark-sized world (16 million pixels) fast and small in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage

__all__ = ["by_class", "gaussian_random_field", "gaussian_smooth", "upsample_linear"]


def by_class(
    codes: np.ndarray, table: Mapping[int, float], *, dtype: type = np.float32
) -> np.ndarray:
    """The value ``table`` gives each class code, per pixel; 0 for codes not in it."""
    out = np.zeros(codes.shape, dtype=dtype)
    for code, value in table.items():
        out[codes == code] = value
    return out


# A coarse pixel at most this fraction of the kernel sigma keeps interpolation error tiny.
_PIXELS_PER_SIGMA = 4.0


def gaussian_random_field(
    rng: np.random.Generator,
    shape: tuple[int, int],
    *,
    pixel_m: float,
    corr_length_m: float,
) -> np.ndarray:
    """A stationary zero-mean, unit-variance field with Gaussian covariance.

    Parameters
    ----------
    rng
        Source of the white noise.
    shape
        (rows, cols) of the output.
    pixel_m
        Pixel size in metres.
    corr_length_m
        Correlation length ``L`` in metres of the covariance ``exp(-r**2 / (2 L**2))``.

    Returns
    -------
    numpy.ndarray
        float32 array of ``shape``. The variance is 1 in expectation over realisations, not
        forced on each one, so a field much longer than the region is mostly a regional offset.
    """
    # Convolving unit white noise with a Gaussian of sigma s gives covariance exp(-r²/(4 s²)).
    sigma_px = corr_length_m / pixel_m / math.sqrt(2.0)
    factor = max(1, int(sigma_px // _PIXELS_PER_SIGMA))
    rows, cols = shape
    coarse_shape = (math.ceil(rows / factor) + 2, math.ceil(cols / factor) + 2)
    coarse = _filtered_noise(rng, coarse_shape, sigma_px / factor)
    if factor == 1:
        return coarse[1 : rows + 1, 1 : cols + 1].copy()
    return upsample_linear(coarse, factor, shape, margin=1)


def _filtered_noise(
    rng: np.random.Generator, shape: tuple[int, int], sigma_px: float
) -> np.ndarray:
    # Padding by 3 sigma keeps the periodic wrap of the FFT from tying opposite edges together.
    pad = math.ceil(3.0 * sigma_px)
    padded = (
        sp_fft.next_fast_len(shape[0] + 2 * pad, real=True),
        sp_fft.next_fast_len(shape[1] + 2 * pad, real=True),
    )
    noise = rng.standard_normal(padded, dtype=np.float32)
    gain_rows = np.exp(-2.0 * (math.pi * sigma_px * np.fft.fftfreq(padded[0])) ** 2)
    gain_cols = np.exp(-2.0 * (math.pi * sigma_px * np.fft.rfftfreq(padded[1])) ** 2)
    spectrum = sp_fft.rfft2(noise)
    spectrum *= gain_rows[:, None].astype(np.float32)
    spectrum *= gain_cols[None, :].astype(np.float32)
    field = sp_fft.irfft2(spectrum, s=padded)[: shape[0], : shape[1]]
    # Variance of filtered unit noise = mean of the squared gain over the full spectrum.
    full_cols = np.exp(-2.0 * (math.pi * sigma_px * np.fft.fftfreq(padded[1])) ** 2)
    variance = float(np.mean(gain_rows**2) * np.mean(full_cols**2))
    return (field / math.sqrt(variance)).astype(np.float32)


def upsample_linear(
    coarse: np.ndarray, factor: int, shape: tuple[int, int], *, margin: int = 0
) -> np.ndarray:
    """Bilinear interpolation of a coarse grid onto pixel centres ``factor`` times finer.

    Parameters
    ----------
    coarse
        2D array whose pixel ``(i + margin, j + margin)`` covers fine pixels
        ``[i * factor, (i + 1) * factor)`` along each axis.
    factor
        Ratio of coarse to fine pixel size.
    shape
        (rows, cols) of the fine output.
    margin
        Coarse pixels of border before the first one that covers the output.
    """
    out = coarse.astype(np.float32, copy=False)
    for axis, size in enumerate(shape):
        # Fine pixel centre in coarse pixel units, shifted so coarse centres sit on integers.
        position = (np.arange(size) + 0.5) / factor - 0.5 + margin
        lower = np.clip(np.floor(position).astype(np.int64), 0, out.shape[axis] - 2)
        weight = (position - lower).astype(np.float32)
        below = np.take(out, lower, axis=axis)
        above = np.take(out, lower + 1, axis=axis)
        if axis == 0:
            weight = weight[:, None]
        out = below + weight * (above - below)
    return out


def gaussian_smooth(values: np.ndarray, *, sigma_m: float, pixel_m: float) -> np.ndarray:
    """Gaussian smoothing with a kernel of standard deviation ``sigma_m`` metres.

    Edges are reflected. Wide kernels are applied on a block-averaged copy and interpolated
    back, which costs the same whatever the kernel width.
    """
    sigma_px = sigma_m / pixel_m
    factor = max(1, int(sigma_px // _PIXELS_PER_SIGMA))
    values = values.astype(np.float32, copy=False)
    if factor == 1:
        return ndimage.gaussian_filter(values, sigma_px, mode="reflect").astype(np.float32)
    rows, cols = values.shape
    padded = np.pad(
        values,
        ((0, -rows % factor), (0, -cols % factor)),
        mode="reflect" if min(rows, cols) > factor else "edge",
    )
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    coarse = blocks.mean(axis=(1, 3), dtype=np.float64)
    # A block mean is already a box filter of width `factor`; remove its variance from sigma.
    box_var = (factor**2 - 1) / 12.0
    sigma_coarse = math.sqrt(max(sigma_px**2 - box_var, 0.0)) / factor
    smoothed = ndimage.gaussian_filter(coarse, sigma_coarse, mode="reflect")
    return upsample_linear(np.pad(smoothed, 1, mode="edge"), factor, (rows, cols), margin=1)
