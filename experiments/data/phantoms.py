"""Random phantoms of each modality, drawn from a `torch.Generator` (never the global RNG).

- CT: `shepp_logan` (modified, water-like body); `lpd_ellipse_table`, the random-ellipse set of the
  learned primal-dual paper, alone (`lpd_ellipses`) or inside a water body (`body_ellipse_table`), μ in 1/mm;
- PET: `pet_phantom` (warm background with organs, hot and cold lesions, and its μ-map at 511 keV);
- MRI: `mri_object`, a complex image with tissue-like magnitude and a smooth phase.

The bodies of the body, PET and MRI phantoms vary per item in size, aspect, position and rotation
(`random_outline`), so that no outline is common to all items. Tables are rows of `experiments.data.ellipse_tables`
(coordinates relative to the half-width, ``[-1, 1]²``); the objects of `experiments.data.objects` render them
on any grid, as pixel averages or at the pixel centres.

Example::

    g = torch.Generator().manual_seed(0)
    mu = lpd_ellipses((128, 128), g)                # 1/mm
    x = mri_object(g).render((64, 64))              # complex64, pixel averages, peak |x| at most 1
"""

from __future__ import annotations

import math

import torch

from experiments.data.ellipse_tables import ellipses
from experiments.data.objects import EllipseSum, MRIPhantom, PETPhantom

__all__ = [
    "MU_WATER",
    "MU_WATER_511KEV",
    "ellipses",
    "shepp_logan",
    "random_outline",
    "body_ellipses",
    "body_ellipse_table",
    "small_features",
    "lpd_ellipse_table",
    "lpd_ellipses",
    "lpd_signed_ellipses",
    "pet_body",
    "pet_phantom",
    "pet_activity",
    "mri_object",
    "mri_phantom",
]

MU_WATER = 0.0192  # 1/mm at about 70 keV

# Modified Shepp-Logan (Toft 1996): value, semi-axes (a, b), centre (x, y), rotation in degrees;
# coordinates relative to the half-width of the image.
MODIFIED_SHEPP_LOGAN = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0),
    (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18),
    (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0),
    (0.1, 0.046, 0.046, 0.0, 0.1, 0),
    (0.1, 0.046, 0.046, 0.0, -0.1, 0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0),
    (0.1, 0.023, 0.023, 0.0, -0.606, 0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0),
]


def shepp_logan(image_shape, mu=MU_WATER) -> torch.Tensor:
    """The modified Shepp-Logan phantom scaled so that its body is water-like (1/mm)."""
    return ellipses(image_shape, MODIFIED_SHEPP_LOGAN) * mu


# Linear attenuation of water at 511 keV (NIST XCOM: μ/ρ = 0.0960 cm²/g, ρ = 1 g/cm³), in 1/mm.
MU_WATER_511KEV = 0.0096
MU_LUNG_511KEV = 0.0029  # inflated lung, about 0.3 g/cm³: 0.3 of water's

# `pet_body`: an elliptic torso section, wider (x) than deep (y), semi-axes relative to the half-width.
BODY_SEMI_AXES = (0.8, 0.55)  # (x, y)


def check_image_shape(shape) -> tuple:
    """``shape`` as a tuple (y, x) of positive ints, else a ValueError naming what came."""
    shape = tuple(shape)
    if len(shape) != 2 or not all(isinstance(n, int) and n > 0 for n in shape):
        raise ValueError(f"expected a 2D image shape (y, x) of positive integers, got {shape!r}")
    return shape


def _check_generator(generator):
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"expected a torch.Generator, got {type(generator).__name__}")


def _uniform(generator, n, low=0.0, high=1.0) -> list:
    """n draws of U(low, high) as Python floats (the tables of `ellipses` are plain numbers)."""
    return (low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)).tolist()


def lpd_ellipse_table(generator: torch.Generator, mean_count: float = 50.0, interior: bool = False) -> list:
    """The random ellipses of Adler & Öktem, "Learned primal-dual reconstruction", IEEE TMI 37(6), 2018.

    ``K ~ Poisson(mean_count)`` ellipses, each with value ``(U - 0.5) · Exp(mean 0.4)``, semi-axes
    ``0.2 · Exp(1)``, centre uniform in ``[-1, 1]²`` (``[-0.5, 0.5]²`` if ``interior``) and rotation
    uniform in ``[0, 2π)``, as their ``random_phantom`` draws them.

    Returns rows ``(value, a, b, centre x, centre y, rotation in degrees)`` for `ellipses`.
    """
    _check_generator(generator)
    count = int(torch.poisson(torch.tensor([float(mean_count)], dtype=torch.float64), generator=generator))
    if count == 0:
        return []
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    exp = torch.empty(3, count, dtype=torch.float64).exponential_(generator=generator)
    half = 0.5 if interior else 1.0
    centres = (2 * torch.rand(2, count, generator=generator, dtype=torch.float64) - 1) * half
    angles = torch.rand(count, generator=generator, dtype=torch.float64) * 360.0
    values = (u - 0.5) * 0.4 * exp[0]  # (U - ½) · Exp(mean 0.4)
    return list(
        zip(
            values.tolist(),
            (0.2 * exp[1]).tolist(),
            (0.2 * exp[2]).tolist(),
            centres[0].tolist(),
            centres[1].tolist(),
            angles.tolist(),
        )
    )


def lpd_ellipses(
    image_shape, generator: torch.Generator, mean_count: float = 50.0, mu: float = MU_WATER, interior: bool = False
) -> torch.Tensor:
    """A CT phantom from `lpd_ellipse_table`: μ = mu · max(Σ ellipses, 0) in 1/mm.

    The paper's phantoms are signed sums; attenuation is non-negative, so negative sums are set to 0
    (air). A value of 1 is water (``mu``, 1/mm at about 70 keV).

    Shapes: image_shape (y, x) -> (y, x) float32, 1/mm.

    Example::

        mu = lpd_ellipses((128, 128), torch.Generator().manual_seed(0))
    """
    shape = check_image_shape(image_shape)
    table = lpd_ellipse_table(generator, mean_count, interior)
    return (ellipses(shape, table).clamp_min(0) * mu).to(torch.float32)


def lpd_signed_ellipses(image_shape, generator: torch.Generator, mean_count: float = 50.0) -> torch.Tensor:
    """The paper's phantom itself: the signed sum of `lpd_ellipse_table`'s ellipses, unitless, not clipped.

    Adler & Öktem trained on these (their ``random_phantom``, ODL's ``ellipsoid_phantom`` of the table) and
    tested on the modified Shepp-Logan phantom of value 1 (``shepp_logan(shape, mu=1.0)``).

    Shapes: image_shape (y, x) -> (y, x) float32.
    """
    return ellipses(check_image_shape(image_shape), lpd_ellipse_table(generator, mean_count)).to(torch.float32)


def random_outline(
    generator: torch.Generator,
    semi_axis=(0.6, 0.87),
    aspect=(0.6, 0.95),
    shift: float = 0.05,
    rotation: float = 30.0,
    value: float = 1.0,
) -> tuple:
    """A body's ellipse that varies per item: semi-axis ``a ~ U(semi_axis)``, ``b = a · U(aspect)``, centre
    ``U(-shift, shift)²`` and rotation ``U(-rotation, rotation)`` degrees, so that no outline repeats and a network
    cannot learn one. The defaults keep the body inside the scanned disk (radius 1): ``a + √2 shift < 0.95``."""
    a, ratio, cx, cy, angle = _uniform(generator, 5)
    a = semi_axis[0] + (semi_axis[1] - semi_axis[0]) * a
    ratio = aspect[0] + (aspect[1] - aspect[0]) * ratio
    return (value, a, a * ratio, shift * (2 * cx - 1), shift * (2 * cy - 1), rotation * (2 * angle - 1))


def in_outline(outline, rows) -> list:
    """Rows given in the frame of ``outline`` (centres and semi-axes relative to its semi-axes, angles to its
    rotation) placed in the image: ``c = c_o + R(θ_o) (cx a_o, cy b_o)``, semi-axes scaled by ``a_o``, angle + θ_o."""
    _, ao, bo, ox, oy, to = outline
    c, s = math.cos(math.radians(to)), math.sin(math.radians(to))
    placed = []
    for value, a, b, cx, cy, t in rows:
        u, v = cx * ao, cy * bo
        placed.append((value, a * ao, b * ao, ox + u * c - v * s, oy + u * s + v * c, t + to))
    return placed


def fit_inside(outline, rows, margin: float = 0.97) -> list:
    """Each row's semi-axes shrunk, where needed, so that its ellipse lies inside ``outline`` scaled by ``margin``;
    rows whose centre lies outside are dropped. Checked on 64 points of each boundary (the margin covers what lies
    between them), in the frame where the outline is the unit disk."""
    if not rows:
        return []
    _, ao, bo, ox, oy, to = outline
    co, so = math.cos(math.radians(to)), math.sin(math.radians(to))

    def frame(x, y):  # image -> the outline's unit-disk frame (linear part)
        return (x * co + y * so) / ao, (-x * so + y * co) / bo

    value, a, b, cx, cy, t = (c[:, None] for c in torch.tensor(rows, dtype=torch.float64).T)
    qx, qy = frame(cx - ox, cy - oy)
    c, s = torch.cos(torch.deg2rad(t)), torch.sin(torch.deg2rad(t))
    phi = torch.arange(64, dtype=torch.float64) * (2 * math.pi / 64)
    vx, vy = frame(a * torch.cos(phi) * c - b * torch.sin(phi) * s, a * torch.cos(phi) * s + b * torch.sin(phi) * c)
    # |q + k v| = margin at k = (−q·v + √((q·v)² − |v|² (|q|² − margin²))) / |v|²
    qv, vv, qq = qx * vx + qy * vy, vx * vx + vy * vy, qx * qx + qy * qy
    k = ((-qv + (qv**2 - vv * (qq - margin**2)).clamp_min(0).sqrt()) / vv).amin(dim=1).clamp(max=1.0)
    keep = (qq[:, 0] < margin**2).tolist()
    return [(r[0], r[1] * f, r[2] * f, *r[3:]) for r, f, ok in zip(rows, k.tolist(), keep) if ok]


def body_ellipse_table(generator: torch.Generator, mean_count: float = 50.0, contrast: float = 0.5) -> list:
    """`body_ellipses`'s rows for `ellipses`: the body (value 1, `random_outline`), then the structure inside it.

    The structure is `lpd_ellipse_table`'s (interior) at half size (in a body 0.85 wide; scaled with the body),
    ``contrast`` times its values, centred within
    0.35 of the body's semi-axes, turned with the body, and shrunk where it would cross the body's edge
    (`fit_inside`), so that the image is zero outside the body and no edge but the body's reaches it. Where rows
    would sum below -1 (negative attenuation; rare: overlapping dark ellipses), the darkest is dropped until none
    does, checked at 128² pixel centres, so that the sum needs no floor and has exact line integrals.
    """
    outline = random_outline(generator)
    structure = [
        (v * contrast, a * 0.5 / 0.85, b * 0.5 / 0.85, cx * 0.7, cy * 0.7, t)  # a body 0.85 wide: 0.5
        for v, a, b, cx, cy, t in lpd_ellipse_table(generator, mean_count, interior=True)
    ]
    rows = fit_inside(outline, in_outline(outline, structure))
    # rendering is needed only where the dark rows could outweigh the body's 1 at all
    while sum(min(r[0], 0.0) for r in rows) < -1 and float(ellipses((128, 128), [outline, *rows]).min()) < 0:
        rows.remove(min(rows, key=lambda r: r[0]))
    return [outline, *rows]


def body_ellipses(
    image_shape,
    generator: torch.Generator,
    mean_count: float = 50.0,
    contrast: float = 0.5,
    mu: float = MU_WATER,
    average: bool = False,
) -> torch.Tensor:
    """The LPD paper's ellipses as soft-tissue structure inside an elliptic water body that varies per item, in 1/mm.

    ``μ = mu · (1_body + contrast · Σ ellipses)`` from `body_ellipse_table`, at the pixel centres or, with
    ``average``, averaged over each pixel. Through a clinical fan-beam geometry this gives clinical transmission
    (line integrals up to about 6 through a 300 mm field, a few photons per ray at low dose), where the paper's
    phantoms, mostly air once made non-negative, attenuate little and leave the data nearly noiseless.

    Shapes: image_shape (y, x) -> (y, x) float32, 1/mm.
    """
    table = body_ellipse_table(generator, mean_count, contrast)
    return EllipseSum(tuple(table), mu).render(check_image_shape(image_shape), average)


def small_features(image_shape, table, max_area: float = 0.01, min_contrast: float = 0.1) -> torch.Tensor:
    """Where a table's small high-contrast ellipses lie: their pixels and a one-pixel rim, where blur shows.

    Small: an area under ``max_area`` of the image's; high-contrast: ``|value| ≥ min_contrast`` (for
    `body_ellipse_table`, a fraction of water's attenuation: 0.1 is 100 HU). These are what a reconstruction
    that smooths loses first; `experiments.evaluation` scores PSNR over them.

    Shapes: image_shape (y, x) -> (y, x) bool.
    """
    shape = check_image_shape(image_shape)
    small = [
        (1.0, a, b, cx, cy, t)
        for v, a, b, cx, cy, t in table
        if math.pi * a * b / 4 < max_area and abs(v) >= min_contrast
    ]
    inside = ellipses(shape, small) > 0
    return torch.nn.functional.max_pool2d(inside[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0


def pet_body(image_shape) -> torch.Tensor:
    """The PET body of `pet_system_model`'s background: an elliptic water section, μ = `MU_WATER_511KEV` inside,
    0 (air) outside.

    Shapes: image_shape (y, x) -> μ-map (y, x) float32, 1/mm at 511 keV; the body is ``mu > 0``.
    """
    shape = check_image_shape(image_shape)
    a, b = BODY_SEMI_AXES
    return ellipses(shape, [(MU_WATER_511KEV, a, b, 0.0, 0.0, 0.0)])


def _centres_in_disk(generator, n, fill=0.85):
    """n points uniform in the disk of radius ``fill``: r = √U keeps the density uniform."""
    r = [fill * math.sqrt(u) for u in _uniform(generator, n)]
    t = _uniform(generator, n, 0.0, 2 * math.pi)
    return [(ri * math.cos(ti), ri * math.sin(ti)) for ri, ti in zip(r, t)]


def pet_phantom(
    generator: torch.Generator, mean_organs: float = 3.0, mean_lesions: float = 3.0, lungs: bool = True
) -> PETPhantom:
    """A PET activity phantom and its μ-map: warm background, organs, hot and cold lesions in a varying body.

    The body is `random_outline`'s, a torso section wider than deep (semi-axis 0.7-0.85, aspect 0.6-0.8, turned up
    to 20 degrees). Activity ``1`` inside it, painted with ``1 + Poisson(mean_organs)`` organs (semi-axes 0.08-0.3
    of the image, level U(0.3, 2.5)) and ``Poisson(mean_lesions)`` lesions (semi-axes 0.03-0.08), half hot (level
    U(3, 8)) and half cold (U(0, 0.3)), centred within 0.85 of the body's semi-axes and cut at its edge. μ: water at
    511 keV inside the body, and with ``lungs`` lung where the activity is below 0.6 (`PETPhantom`).
    """
    _check_generator(generator)
    outline = random_outline(generator, semi_axis=(0.7, 0.85), aspect=(0.6, 0.8), rotation=20.0)
    rows = []
    n_organs = 1 + int(torch.poisson(torch.tensor([mean_organs]), generator=generator))
    n_lesions = int(torch.poisson(torch.tensor([mean_lesions]), generator=generator))
    for kind, count in (("organ", n_organs), ("lesion", n_lesions)):
        centres = _centres_in_disk(generator, count)
        low, high = (0.08, 0.3) if kind == "organ" else (0.03, 0.08)
        axes = _uniform(generator, 2 * count, low, high)
        angles = _uniform(generator, count, 0.0, 180.0)
        hot = [u < 0.5 for u in _uniform(generator, count)]
        levels = _uniform(generator, count)
        for k, (cx, cy) in enumerate(centres):
            if kind == "organ":
                level = 0.3 + 2.2 * levels[k]
            else:
                level = 3 + 5 * levels[k] if hot[k] else 0.3 * levels[k]
            # semi-axes are the image's (the outline's a scales them back in `in_outline`)
            rows.append((level, axes[2 * k] / outline[1], axes[2 * k + 1] / outline[1], cx, cy, angles[k]))
    return PETPhantom(outline, tuple(in_outline(outline, rows)), MU_WATER_511KEV, MU_LUNG_511KEV, lungs)


def pet_activity(image_shape, generator: torch.Generator, **options) -> torch.Tensor:
    """`pet_phantom`'s activity at the pixel centres.

    Shapes: image_shape (y, x) -> activity (y, x) float32 ≥ 0, relative units.
    """
    return pet_phantom(generator, **options).render(check_image_shape(image_shape), average=False)


def mri_object(generator: torch.Generator, mean_ellipses: float = 8.0, phase_scale: float = math.pi / 2) -> MRIPhantom:
    """A complex MR image: tissue-like magnitude from random ellipses times a smooth random phase.

    ``x = m · exp(iφ)`` with ``m`` a head (`random_outline`: semi-axis U(0.6, 0.9), aspect 0.7-1, centre within
    0.05, any rotation; level U(0.3, 0.6)) painted with ``1 + Poisson(mean_ellipses)`` ellipses of levels
    U(0.05, 1) centred within 0.7 of the head's semi-axes, all divided by the highest level (peak 1);
    ``φ = c₀ + Σ_{1 ≤ i+j ≤ 2} c_ij xⁱ yʲ``, c₀ ~ U(-π, π), c_ij ~ U(-1, 1) · phase_scale: a low-order
    polynomial, smooth as the B0 and coil phase of real scans.
    """
    _check_generator(generator)
    level = 0.3 + 0.3 * _uniform(generator, 1)[0]
    outline = random_outline(generator, semi_axis=(0.6, 0.9), aspect=(0.7, 1.0), rotation=90.0, value=level)
    count = 1 + int(torch.poisson(torch.tensor([mean_ellipses]), generator=generator))
    centres = _centres_in_disk(generator, count, fill=0.7)
    axes = _uniform(generator, 2 * count, 0.05, 0.35)
    angles = _uniform(generator, count, 0.0, 180.0)
    levels = _uniform(generator, count, 0.05, 1.0)
    rows = in_outline(
        outline,
        [
            (levels[k], axes[2 * k] / outline[1], axes[2 * k + 1] / outline[1], cx, cy, angles[k])
            for k, (cx, cy) in enumerate(centres)
        ],
    )
    peak = max(level, *levels)
    c = _uniform(generator, 6, -1.0, 1.0)
    phase = (math.pi * c[0], *(phase_scale * ci for ci in c[1:]))
    return MRIPhantom((level / peak, *outline[1:]), tuple((v / peak, *r) for v, *r in rows), phase)


def mri_phantom(
    image_shape, generator: torch.Generator, mean_ellipses: float = 8.0, phase_scale: float = math.pi / 2
) -> torch.Tensor:
    """`mri_object`'s image at the pixel centres.

    Shapes: image_shape (y, x) -> (y, x) complex64, peak |x| at most 1.

    Example::

        x = mri_phantom((64, 64), torch.Generator().manual_seed(0))
    """
    obj = mri_object(generator, mean_ellipses, phase_scale)
    return obj.render(check_image_shape(image_shape), average=False)
