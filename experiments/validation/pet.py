"""PET rows: the `SystemModel` against factors computed independently, exact chords of a disk, EM against ODL.

``ȳ = n · a · P(h * x) + s`` is rebuilt outside the library in the arc-corrected mode: P is ODL's own
``RayTransform`` on a parallel geometry made here from the scanner's parameters, ``a = exp(−P μ)``
through the same transform, ``h`` SciPy's ``gaussian_filter`` (zero padding, cut at ±ceil(3σ) taps as
the model's), ``n`` and ``s`` random positive sinograms. The "exact" mode's lines (one ASTRA ray per
crystal pair) have no ODL counterpart; there, and in the arc mode as well, the projector and the
attenuation line integrals are checked against the exact chords of a disk, with the lines built
from the crystal positions (`analytic.pet_disk_sinogram`). MLEM and OSEM of `bridges.solvers` run
against ODL's ``mlem`` / ``osmlem`` on simulated prompts with a randoms-plus-scatter background.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from . import FLOAT32, FLOAT32_NOTE, ODL_NOTE, ODL_TOL, Row, analytic, rel
from .solvers import em_rows

M = "PET"
MU_WATER = 0.0096  # 1/mm at 511 keV


def scanners(quick: bool) -> dict:
    from bridges.pet import scanner

    # one even and one odd number of radial bins (86 and 55 quick; 114 and 110 full): an even count puts
    # the centre between two bins' edges, a detector shift of half a bin
    mmr, d690 = (4, 6) if quick else (3, 3)
    return {
        f"{name} /{factor}": scanner(name, downsample=factor)
        for name, factor in (("biograph-mmr", mmr), ("discovery-690", d690))
    }


def checks(quick: bool):
    from bridges.pet import SystemModel

    # the disk checks run on a grid 4 (6) times finer: small enough a pixelisation bound to tell the exact
    # mode's lines from lines without the odd pairs' π/N turn (measured 3.6 % apart on the mMR /6)
    fine, n_iter = (4, 10) if quick else (6, 30)
    for name, scanner in scanners(quick).items():
        yield from factor_rows(f"{name}, arc", scanner)
        yield from closed_form_rows(f"{name}, arc", scanner, "arc", fine)
        yield from em_checks(f"{name}, arc", scanner, n_iter)
        # the exact mode has no ODL counterpart: its full model's adjoint, and its lines against closed forms
        model = SystemModel(scanner, **factors(scanner), mode="exact")
        yield Row(M, f"{name}, exact", "adjoint test (with a, n, h)", model.adjoint_error(), FLOAT32, FLOAT32_NOTE)
        yield from closed_form_rows(f"{name}, exact", scanner, "exact", fine)


# ------------------------------------------------------------------ independent factors (arc mode)
def odl_parallel(scanner):
    """ODL's RayTransform on the arc-corrected sinogram: views at πv/V (mid-cell, as ODL places them) and
    bins at (k − K//2) · bin_size, images (x, y) in ODL. ODL's astra_cpu backend ignores a parallel-beam
    detector shift (it builds ASTRA's centred "parallel" geometry), which an even K needs; so the
    detector here is the centred one of 2 (K//2) + 1 bins, whose first K bins are the sinogram's."""
    import odl
    from odl.applications import tomo

    V, K, b = scanner.n_views, 2 * (scanner.n_radial_bins // 2) + 1, scanner.bin_size
    step = math.pi / V
    apart = odl.uniform_partition(-step / 2, math.pi - step / 2, V)
    dpart = odl.uniform_partition(-K * b / 2, K * b / 2, K)
    (ny, nx), h = scanner.image_shape, scanner.pixel_size
    space = odl.uniform_discr([-nx * h / 2, -ny * h / 2], [nx * h / 2, ny * h / 2], (nx, ny), dtype="float32")
    return tomo.RayTransform(space, tomo.Parallel2dGeometry(apart, dpart), impl="astra_cpu")


class Reference:
    """``n · a · P(h * x) + s`` and its transpose from ODL, SciPy and plain arithmetic (float64 where it can)."""

    def __init__(self, scanner, mu, normalization, background, fwhm):
        self.R, self.bins = odl_parallel(scanner), scanner.n_radial_bins
        self.plain = self.R.domain.weighting.const / self.R.range.weighting.const  # R* = (w_range / w_domain) Pᵀ
        self.sigma = fwhm / (2 * math.sqrt(2 * math.log(2))) / scanner.pixel_size  # in pixels
        self.radius = max(1, math.ceil(3 * self.sigma))  # the model's taps: ±ceil(3σ)
        self.attenuation = torch.exp(-self.P(mu))
        self.n, self.s = normalization.double(), background.double()

    def P(self, image):
        return torch.from_numpy(self.R(image.numpy().T).asarray()[:, : self.bins].astype(np.float64))

    def PT(self, sinogram):
        padded = np.zeros(self.R.range.shape, dtype=np.float32)
        padded[:, : self.bins] = sinogram.numpy()
        return torch.from_numpy(self.R.adjoint(padded).asarray().T * self.plain).double()

    def blur(self, image):
        import scipy.ndimage

        # gaussian_filter keeps int(truncate σ + ½) taps each side: truncate = r/σ keeps exactly r
        out = scipy.ndimage.gaussian_filter(
            image.double().numpy(), self.sigma, mode="constant", cval=0.0, truncate=self.radius / self.sigma
        )
        return torch.from_numpy(out)

    def expected(self, x):
        return self.n * self.attenuation * self.P(self.blur(x).float()) + self.s

    def transpose(self, y):
        return self.blur(self.PT(self.n * self.attenuation * y))


def phantom(scanner, shape=None, pixel=None):
    """A water-filled body (disk) and a hot lesion: (μ-map in 1/mm, activity), on the scanner's grid by default."""
    shape, pixel = shape or scanner.image_shape, pixel or scanner.pixel_size
    R0 = min(shape) * pixel / 2
    body = ((0.1 * R0, -0.05 * R0), 0.8 * R0)
    mu = analytic.disk_image(shape, pixel, *body, MU_WATER)
    activity = analytic.disk_image(shape, pixel, body[0], 0.7 * R0, 1.0) + analytic.disk_image(
        shape, pixel, (0.3 * R0, 0.2 * R0), 0.15 * R0, 3.0
    )
    return mu, activity


def factors(scanner, seed=0) -> dict:
    """Every factor of the model: a water μ-map, random efficiencies n and background s, a Gaussian h."""
    g = torch.Generator().manual_seed(seed)
    return {
        "attenuation": phantom(scanner)[0],
        "normalization": 0.8 + 0.4 * torch.rand(scanner.sinogram_shape, generator=g),
        "background": 0.5 + torch.rand(scanner.sinogram_shape, generator=g),
        "resolution_fwhm": 2.5 * scanner.pixel_size,
    }


def factor_rows(case, scanner):
    from bridges.pet import SystemModel

    f = factors(scanner)
    model = SystemModel(scanner, **f, mode="arc")
    ref = Reference(scanner, f["attenuation"], f["normalization"], f["background"], f["resolution_fwhm"])
    g = torch.Generator().manual_seed(1)
    x = torch.rand(scanner.image_shape, generator=g)
    z = torch.rand(scanner.sinogram_shape, generator=g)
    yield Row(
        M,
        case,
        "expected counts n·a·P(h*x)+s vs ODL RayTransform, exp(−Pμ), SciPy gaussian_filter",
        rel(model.expected(x), ref.expected(x)),
        ODL_TOL,
        ODL_NOTE,
    )
    yield Row(
        M,
        case,
        "adjoint h*Pᵀ(n·a·z) vs ODL adjoint and SciPy",
        rel(model.adjoint(z), ref.transpose(z)),
        ODL_TOL,
        ODL_NOTE,
    )
    yield Row(M, case, "adjoint test (with a, n, h)", model.adjoint_error(), FLOAT32, FLOAT32_NOTE)


# ------------------------------------------------------------------ closed forms (both modes)
def closed_form_rows(case, scanner, mode, fine):
    """P of a disk and −log a of a water disk against exact chords, on a grid ``fine`` times finer than the
    scanner's (the lines under test are the scanner's; a finer grid only shrinks the pixelisation error)."""
    from bridges.pet import SystemModel

    grid = dataclasses.replace(
        scanner, image_shape=tuple(n * fine for n in scanner.image_shape), pixel_size=scanner.pixel_size / fine
    )
    h = grid.pixel_size
    R0 = min(grid.image_shape) * h / 2
    center, radius = (0.2 * R0, -0.3 * R0), 0.4 * R0
    chords = analytic.pet_disk_sinogram(grid, mode, center, radius)
    tol, note = analytic.edge_tol(h, radius), analytic.edge_note(h, radius)
    line = "lines from the crystal pairs" if mode == "exact" else "arc-corrected lines"
    disk = analytic.disk_image(grid.image_shape, h, center, radius)
    yield Row(M, case, f"P(disk) vs exact chords ({line})", rel(SystemModel(grid, mode=mode)(disk), chords), tol, note)
    water = SystemModel(grid, attenuation=disk * MU_WATER, mode=mode)
    yield Row(
        M,
        case,
        "attenuation −log a vs μ·chord of a water disk",
        rel(-torch.log(water.attenuation_factors), MU_WATER * chords),
        tol,
        note,
    )


# ------------------------------------------------------------------ EM
def em_checks(case, scanner, n_iter):
    """Prompts simulated with randoms and scatter; the model reconstructs with that background s."""
    from bridges.pet import SystemModel, simulate

    f = factors(scanner)
    f.pop("background")
    truth = SystemModel(scanner, **f)
    data = simulate(
        truth,
        phantom(scanner)[1],
        total_counts=1e5,
        randoms_fraction=0.2,
        scatter_fraction=0.3,
        generator=torch.Generator().manual_seed(2),
    )
    model = SystemModel(scanner, **f, background=data.background)
    n_subsets = next(k for k in (7, 6, 5, 4, 3, 2) if scanner.n_views % k == 0)  # subsets of equal size
    yield from em_rows(M, case, model, data.prompts, n_iter, n_subsets)
