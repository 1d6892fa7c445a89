"""Random phantoms of each modality, drawn from a `torch.Generator` (never the global RNG).

- CT: `shepp_logan` (modified, water-like body); `lpd_ellipses`, the random-ellipse set of the
  learned primal-dual paper, alone or inside a water body (`body_ellipses`), μ in 1/mm;
- PET: `pet_body` (a water body's μ-map at 511 keV) and `pet_activity` (warm background with
  hot and cold lesions, zero outside the body);
- MRI: `mri_phantom`, a complex image with tissue-like magnitude and a smooth phase.

Images are ``(y, x)`` on the grid of `ellipses` (ellipse coordinates relative to
the half-width, ``[-1, 1]²``).

Example::

    g = torch.Generator().manual_seed(0)
    mu = lpd_ellipses((128, 128), g)                # 1/mm
    x = mri_phantom((64, 64), g)                    # complex64, max |x| = 1
"""
from __future__ import annotations

import math

import torch

__all__ = ["MU_WATER", "MU_WATER_511KEV", "ellipses", "shepp_logan", "body_ellipses", "body_ellipse_table",
           "body_image", "small_features", "lpd_ellipse_table",
           "lpd_ellipses", "lpd_signed_ellipses", "pet_body", "pet_activity", "pet_mu_map", "mri_phantom"]

MU_WATER = 0.0192  # 1/mm at about 70 keV

# Modified Shepp-Logan (Toft 1996): value, semi-axes (a, b), centre (x, y), rotation in degrees;
# coordinates relative to the half-width of the image.
MODIFIED_SHEPP_LOGAN = [
    (1.0, 0.69, 0.92, 0.0, 0.0, 0), (-0.8, 0.6624, 0.874, 0.0, -0.0184, 0),
    (-0.2, 0.11, 0.31, 0.22, 0.0, -18), (-0.2, 0.16, 0.41, -0.22, 0.0, 18),
    (0.1, 0.21, 0.25, 0.0, 0.35, 0), (0.1, 0.046, 0.046, 0.0, 0.1, 0), (0.1, 0.046, 0.046, 0.0, -0.1, 0),
    (0.1, 0.046, 0.023, -0.08, -0.605, 0), (0.1, 0.023, 0.023, 0.0, -0.606, 0),
    (0.1, 0.023, 0.046, 0.06, -0.605, 0),
]


def ellipses(image_shape, table, dtype=torch.float32) -> torch.Tensor:
    """Sum of filled ellipses on a (y, x) grid spanning [-1, 1]² (y increasing with the row)."""
    shape = tuple(image_shape)
    ny, nx = shape
    y = (torch.arange(ny, dtype=torch.float64) + 0.5) * 2 / ny - 1
    x = (torch.arange(nx, dtype=torch.float64) + 0.5) * 2 / nx - 1
    yy, xx = torch.meshgrid(y, x, indexing="ij")
    image = torch.zeros(shape, dtype=torch.float64)
    for value, a, b, cx, cy, angle in table:
        t = math.radians(angle)
        u = (xx - cx) * math.cos(t) + (yy - cy) * math.sin(t)
        v = -(xx - cx) * math.sin(t) + (yy - cy) * math.cos(t)
        image += value * ((u / a) ** 2 + (v / b) ** 2 <= 1)
    return image.to(dtype)


def shepp_logan(image_shape, mu=MU_WATER) -> torch.Tensor:
    """The modified Shepp-Logan phantom scaled so that its body is water-like (1/mm)."""
    return ellipses(image_shape, MODIFIED_SHEPP_LOGAN) * mu


# Linear attenuation of water at 511 keV (NIST XCOM: μ/ρ = 0.0960 cm²/g, ρ = 1 g/cm³), in 1/mm.
MU_WATER_511KEV = 0.0096
MU_LUNG_511KEV = 0.0029  # inflated lung, about 0.3 g/cm³: 0.3 of water's

# The PET body: an elliptic torso section, wider (x) than deep (y), semi-axes relative to the half-width.
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
    return list(zip(values.tolist(), (0.2 * exp[1]).tolist(), (0.2 * exp[2]).tolist(),
                    centres[0].tolist(), centres[1].tolist(), angles.tolist()))


def lpd_ellipses(image_shape, generator: torch.Generator, mean_count: float = 50.0, mu: float = MU_WATER,
                 interior: bool = False) -> torch.Tensor:
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


CT_BODY = (1.0, 0.85, 0.65, 0.0, 0.0, 0.0)  # water, semi-axes (x, y) of the image's half-width


def body_ellipses(image_shape, generator: torch.Generator, mean_count: float = 50.0, contrast: float = 0.5,
                  mu: float = MU_WATER) -> torch.Tensor:
    """The LPD paper's ellipses as soft-tissue structure inside an elliptic water body, in 1/mm.

    ``μ = mu · max(1_body + contrast · Σ ellipses, 0)``, the ellipses of `lpd_ellipse_table` (interior)
    at half their size and centred within the body (`body_ellipse_table`). Through a clinical fan-beam
    geometry this gives clinical transmission (line integrals up to about 6 through a 300 mm field, a few
    photons per ray at low dose), where the paper's phantoms, mostly air once made non-negative, attenuate
    little and leave the data nearly noiseless.

    Shapes: image_shape (y, x) -> (y, x) float32, 1/mm.
    """
    return body_image(check_image_shape(image_shape), body_ellipse_table(generator, mean_count, contrast), mu)


def body_ellipse_table(generator: torch.Generator, mean_count: float = 50.0, contrast: float = 0.5) -> list:
    """`body_ellipses`'s rows for `ellipses`: the water body (value 1), then the structure inside it."""
    return [CT_BODY, *[(v * contrast, a * 0.5, b * 0.5, cx * 0.6, cy * 0.45, t)
                       for v, a, b, cx, cy, t in lpd_ellipse_table(generator, mean_count, interior=True)]]


def body_image(image_shape, table, mu: float = MU_WATER) -> torch.Tensor:
    """The image of a `body_ellipse_table`: ``mu · max(Σ ellipses, 0)``, float32 in 1/mm."""
    return (ellipses(image_shape, table).clamp_min(0) * mu).to(torch.float32)


def small_features(image_shape, table, max_area: float = 0.01, min_contrast: float = 0.1) -> torch.Tensor:
    """Where a table's small high-contrast ellipses lie: their pixels and a one-pixel rim, where blur shows.

    Small: an area under ``max_area`` of the image's; high-contrast: ``|value| ≥ min_contrast`` (for
    `body_ellipse_table`, a fraction of water's attenuation: 0.1 is 100 HU). These are what a reconstruction
    that smooths loses first; `experiments.evaluation` scores PSNR over them.

    Shapes: image_shape (y, x) -> (y, x) bool.
    """
    shape = check_image_shape(image_shape)
    small = [(1.0, a, b, cx, cy, t) for v, a, b, cx, cy, t in table
             if math.pi * a * b / 4 < max_area and abs(v) >= min_contrast]
    inside = ellipses(shape, small) > 0
    return torch.nn.functional.max_pool2d(inside[None, None].float(), 3, stride=1, padding=1)[0, 0] > 0


def pet_body(image_shape) -> torch.Tensor:
    """The fixed PET body: an elliptic water section, μ = `MU_WATER_511KEV` inside, 0 (air) outside.

    Shapes: image_shape (y, x) -> μ-map (y, x) float32, 1/mm at 511 keV; the body is ``mu > 0``.
    """
    shape = check_image_shape(image_shape)
    a, b = BODY_SEMI_AXES
    return ellipses(shape, [(MU_WATER_511KEV, a, b, 0.0, 0.0, 0.0)], dtype=torch.float32)


def _paint(image, shape, rows):
    """Painter's algorithm: each ellipse sets (not adds) its value, so levels stay as drawn."""
    for value, a, b, cx, cy, angle in rows:
        inside = ellipses(shape, [(1.0, a, b, cx, cy, angle)]) > 0.5
        image = torch.where(inside, torch.tensor(value, dtype=image.dtype), image)
    return image


def _centres_in_ellipse(generator, n, a, b, fill=0.85):
    """n points uniform in the ellipse of semi-axes (fill·a, fill·b): r = √U keeps the density uniform."""
    r = [fill * math.sqrt(u) for u in _uniform(generator, n)]
    t = _uniform(generator, n, 0.0, 2 * math.pi)
    return [(a * ri * math.cos(ti), b * ri * math.sin(ti)) for ri, ti in zip(r, t)]


def pet_activity(body: torch.Tensor, generator: torch.Generator, mean_organs: float = 3.0,
                 mean_lesions: float = 3.0) -> torch.Tensor:
    """A PET activity phantom inside ``body``: warm background, organs, hot and cold lesions.

    ``x = 1_body · paint(1, organs, lesions)`` in units of the background's activity: background 1;
    ``1 + Poisson(mean_organs)`` organs (semi-axes 0.08-0.3, level U(0.3, 2.5)); ``Poisson(mean_lesions)``
    lesions (semi-axes 0.03-0.08), half hot (level U(3, 8)) and half cold (U(0, 0.3)). Centres lie inside
    the body outline `pet_body` draws; each ellipse is then cut at the body's edge, so x = 0 outside it.

    Shapes: body (y, x), μ-map or mask (inside where > 0) -> activity (y, x) float32 ≥ 0, relative units.
    """
    _check_generator(generator)
    if not isinstance(body, torch.Tensor) or body.dim() != 2:
        raise ValueError(f"expected body as a 2D (y, x) μ-map or mask tensor, got "
                         f"{tuple(body.shape) if isinstance(body, torch.Tensor) else type(body).__name__}")
    shape = tuple(body.shape)
    a, b = BODY_SEMI_AXES
    rows = []
    n_organs = 1 + int(torch.poisson(torch.tensor([mean_organs]), generator=generator))
    n_lesions = int(torch.poisson(torch.tensor([mean_lesions]), generator=generator))
    for kind, count in (("organ", n_organs), ("lesion", n_lesions)):
        centres = _centres_in_ellipse(generator, count, a, b)
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
            rows.append((level, axes[2 * k], axes[2 * k + 1], cx, cy, angles[k]))
    activity = _paint(torch.ones(shape, dtype=torch.float64), shape, rows)
    return (activity * (body > 0)).to(torch.float32)


def pet_mu_map(body: torch.Tensor, activity: torch.Tensor, lung_below: float = 0.6) -> torch.Tensor:
    """An item's own μ-map, from its activity: the body's water, with lung (`MU_LUNG_511KEV`) where the activity
    is below ``lung_below`` of the background's (FDG's lungs are cold), so that each item attenuates differently.

    Shapes: body (y, x) μ-map in 1/mm, activity (y, x) of `pet_activity` -> μ-map (y, x) float32, 1/mm.
    """
    return torch.where((body > 0) & (activity < lung_below), torch.tensor(MU_LUNG_511KEV), body).to(torch.float32)


def mri_phantom(image_shape, generator: torch.Generator, mean_ellipses: float = 8.0, phase_scale: float = math.pi / 2
                ) -> torch.Tensor:
    """A complex MR image: tissue-like magnitude from random ellipses times a smooth random phase.

    ``x = m · exp(iφ)`` with ``m`` a head-like outline (semi-axes U(0.6, 0.9), level U(0.3, 0.6)) painted
    with ``1 + Poisson(mean_ellipses)`` interior ellipses of levels U(0.05, 1), scaled to max m = 1;
    ``φ = c₀ + Σ_{1 ≤ i+j ≤ 2} c_ij xⁱ yʲ``, c₀ ~ U(-π, π), c_ij ~ U(-1, 1) · phase_scale: a low-order
    polynomial, smooth as the B0 and coil phase of real scans.

    Shapes: image_shape (y, x) -> (y, x) complex64 with max |x| = 1.

    Example::

        x = mri_phantom((64, 64), torch.Generator().manual_seed(0))
    """
    shape = check_image_shape(image_shape)
    _check_generator(generator)
    ax, ay, level = _uniform(generator, 3)
    ax, ay = 0.6 + 0.3 * ax, 0.6 + 0.3 * ay
    outline = [(0.3 + 0.3 * level, ax, ay, 0.0, 0.0, 0.0)]
    count = 1 + int(torch.poisson(torch.tensor([mean_ellipses]), generator=generator))
    centres = _centres_in_ellipse(generator, count, ax, ay, fill=0.7)
    axes = _uniform(generator, 2 * count, 0.05, 0.35)
    angles = _uniform(generator, count, 0.0, 180.0)
    levels = _uniform(generator, count, 0.05, 1.0)
    rows = outline + [(levels[k], axes[2 * k], axes[2 * k + 1], cx, cy, angles[k])
                      for k, (cx, cy) in enumerate(centres)]
    head = ellipses(shape, [(1.0,) + outline[0][1:]]) > 0.5
    magnitude = _paint(torch.zeros(shape, dtype=torch.float64), shape, rows) * head
    magnitude = magnitude / magnitude.max()

    ny, nx = shape
    y = ((torch.arange(ny, dtype=torch.float64) + 0.5) * 2 / ny - 1)[:, None]
    x = ((torch.arange(nx, dtype=torch.float64) + 0.5) * 2 / nx - 1)[None, :]
    c = _uniform(generator, 6, -1.0, 1.0)
    phase = math.pi * c[0] + phase_scale * (c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y)
    return torch.polar(magnitude, phase).to(torch.complex64)
