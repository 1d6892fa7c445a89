"""The PET system model: expected counts from an activity image, with attenuation,
normalisation, resolution and background, on ASTRA's line integrals."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..ct.projector import Projector
from ..devices import gpu_or_cpu
from ..operator import LinearOperator
from .scanner import PETScanner

__all__ = ["SystemModel", "gaussian_kernel"]

_FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


class SystemModel(LinearOperator):
    """PET expected counts ``ȳ = n · a · P(h * x) + s``; the operator itself is the linear part ``A``.

    ``P`` is the line-integral projector of ``scanner`` (mm; ``mode`` "arc" or "exact", see
    `PETScanner`), ``a = exp(-P μ)`` the attenuation factors of a μ-map in 1/mm (or given
    factors in [0, 1]), ``n`` the normalisation (detector efficiencies, ≥ 0), ``h`` an image-space
    Gaussian of FWHM ``resolution_fwhm`` (mm) (zero padding, so ``A^T = h * P^T(n a ·)`` exactly),
    and ``s`` the background (randoms plus scatter, ≥ 0, in counts).

    As a `LinearOperator`, ``model(x)`` and ``model.adjoint(y)`` apply ``A`` and ``A^T`` (autograd both
    ways, ``.T``, ``@``, ``norm()``): a learned model takes a ``SystemModel`` exactly as it takes a CT
    ``Projector``. ``model.background`` holds ``s`` and ``model.expected(x)`` gives ``A x + s``.

    Shapes:
        image x: (*batch, *domain_shape), activity per mm² (any unit); domain_shape = image_shape (y, x)
        counts: (*batch, *range_shape); range_shape = (views, radial bins)
        factors and background given per slice, ``(S, views, bins)`` (a μ-map ``(S, y, x)``), make the
        slices part of the spaces: domain (S, y, x), range (S, views, bins); the S slices then run as
        one batch through the projector. Without per-slice inputs, slices are batch dimensions.
        Per-slice inputs make a per-item operator (``item_axes = 1``): the slices may as well be the B items
        of a training batch, each with its own μ-map (`with_attenuation`).

    ``projector`` shares another model's `Projector` of the same scanner geometry, so that ASTRA is set up once
    (`with_attenuation` passes its own: one per-item model per training batch).

    Example::

        >>> from bridges import pet
        >>> scanner = pet.scanner("biograph-mmr", downsample=12)
        >>> mu_map = torch.full(scanner.image_shape, 0.0096)         # water at 511 keV, 1/mm; (16, 16)
        >>> model = SystemModel(scanner, attenuation=mu_map, background=2.0, resolution_fwhm=15.0)
        >>> model.expected(torch.rand(8, 16, 16)).shape
        torch.Size([8, 21, 28])
    """

    batched_kernels = True
    # buffers (registered in __init__), declared for the type checker
    attenuation_factors: torch.Tensor
    normalization: torch.Tensor
    background: torch.Tensor
    factors: torch.Tensor
    blur_kernel: torch.Tensor

    def __init__(
        self,
        scanner: PETScanner,
        attenuation=None,
        normalization=None,
        background=None,
        resolution_fwhm: float | None = None,
        *,
        mode: str = "arc",
        views=None,
        n_threads: int | None = None,
        projector: Projector | None = None,
    ):
        if not isinstance(scanner, PETScanner):
            raise TypeError(f"expected a PETScanner, got {type(scanner).__name__}")
        views = np.atleast_1d(np.arange(scanner.n_views)[slice(None) if views is None else views])
        image, sino = scanner.image_shape, (views.size, scanner.n_radial_bins)
        geometry = scanner.geometry(mode, views)
        if projector is None:
            projector = Projector(geometry, n_threads)
        elif not (isinstance(projector, Projector) and projector.geometry.isclose(geometry)):
            raise ValueError(
                f"expected a projector of this scanner's {mode!r} geometry (views {views.size}) to share, "
                f"got {type(projector).__name__}"
            )

        given = [
            _tensor(name, value)
            for name, value in (
                ("attenuation", attenuation),
                ("normalization", normalization),
                ("background", background),
            )
        ]
        # The buffers live where the given tensors do (a GPU's, if any is there), so that a model built from
        # CUDA factors, as `subset` builds OSEM's from a model on the GPU, computes there without copies.
        device = gpu_or_cpu(*given)
        att, norm, bg = (None if t is None else t.to(device) for t in given)
        is_mu = att is not None and tuple(att.shape[-2:]) == image
        inputs = {
            "attenuation": (att, image if is_mu else sino),
            "normalization": (norm, sino),
            "background": (bg, sino),
        }
        n_slices = _slices(inputs, image, sino)
        slices = () if n_slices is None else (n_slices,)
        super().__init__((*slices, *image), (*slices, *sino), torch.float32)
        self.item_axes = len(slices)
        self.scanner, self.mode, self.views, self.projector = scanner, mode, views, projector
        self._blur_shape = (-1, *image)

        if is_mu and att is not None:
            if image == sino:
                raise ValueError(
                    f"attenuation of shape {tuple(att.shape)} could be a μ-map or factors (image and "
                    "sinogram shapes coincide); pass factors exp(-P μ) computed with model.projector"
                )
            _nonnegative("attenuation (μ-map, 1/mm)", att)
            with torch.no_grad():
                att = torch.exp(-self._project(att.reshape(-1, *image))).reshape(*att.shape[:-2], *sino)
        elif att is not None:
            _nonnegative("attenuation factors", att)
            if float(att.max()) > 1 + 1e-6:
                raise ValueError(
                    f"attenuation factors must lie in [0, 1] (a = exp(-P μ)), got a maximum of "
                    f"{float(att.max()):.3g}: pass the factors, not their inverse (correction factors)"
                )
        for name, value in (("normalization", norm), ("background", bg)):
            if value is not None:
                _nonnegative(name, value)
        ones = torch.ones(sino, device=device)
        self.register_buffer("attenuation_factors", ones if att is None else att.expand(*slices, *sino).clone())
        self.register_buffer("normalization", ones if norm is None else norm.expand(*slices, *sino).clone())
        self.register_buffer(
            "background", torch.zeros(sino, device=device) if bg is None else bg.expand(*slices, *sino).clone()
        )
        self.register_buffer("factors", self.attenuation_factors * self.normalization)

        self.resolution_fwhm = resolution_fwhm
        self.register_buffer(
            "blur_kernel", gaussian_kernel(resolution_fwhm, scanner.pixel_size, "resolution_fwhm", device=device)
        )

    # ------------------------------------------------------------ kernels
    def _project(self, images, adjoint=False):
        """P or P^T on a stack of 2D items (N, y, x) <-> (N, views, bins)."""
        if adjoint:
            return self.projector.adjoint(images.reshape(-1, *self.projector.range_shape))
        return self.projector(images).reshape(images.shape[0], self.views.size, self.scanner.n_radial_bins)

    def _forward(self, x):
        blurred = self._blur(x.reshape(self._blur_shape))
        return self._project(blurred).reshape(x.shape[0], *self.range_shape) * self.factors

    def _adjoint(self, y):
        back = self._project((y * self.factors).reshape(-1, *self.range_shape[-2:]), adjoint=True)
        return self._blur(back).reshape(y.shape[0], *self.domain_shape)

    def _blur(self, images):
        """Separable Gaussian with zero padding: symmetric, so it is its own adjoint."""
        k = self.blur_kernel
        if k.numel() == 1:
            return images
        r = k.numel() // 2
        out = F.conv2d(images.unsqueeze(1), k.view(1, 1, -1, 1), padding=(r, 0))
        return F.conv2d(out, k.view(1, 1, 1, -1), padding=(0, r)).squeeze(1)

    # ------------------------------------------------------------ PET interface
    def _subset(self, views) -> SystemModel:
        """The same model on a subset of this model's views (an OSEM subset), factors and background sliced.

        The subset carries the combined factors ``n · a`` as its normalisation: given as attenuation, a
        subset whose sinogram happens to have the image's shape would be taken for a μ-map.
        """
        index = np.atleast_1d(np.arange(self.views.size)[views])
        cut = lambda t: t[..., index, :]  # noqa: E731 - the sinogram's view axis is second to last
        return SystemModel(
            self.scanner,
            None,
            cut(self.factors),
            cut(self.background),
            self.resolution_fwhm,
            mode=self.mode,
            views=self.views[index],
            n_threads=self.projector.n_threads,
        )

    def with_attenuation(self, attenuation) -> SystemModel:
        """This model (scanner, views, normalisation, background, resolution, mode) with another attenuation: a
        μ-map (y, x) in 1/mm, or one per item (B, y, x), which makes a per-item model of B items.

        Example::

            >>> from bridges import pet
            >>> model = SystemModel(pet.scanner("biograph-mmr", downsample=12))
            >>> model.with_attenuation(torch.full((8, 16, 16), 0.0096)).domain_shape   # μ-maps (8, 16, 16)
            (8, 16, 16)
        """
        # the same projector: a per-item model per batch would otherwise set ASTRA up anew (0.1 s at 50²)
        return SystemModel(
            self.scanner,
            attenuation,
            self.normalization,
            self.background,
            self.resolution_fwhm,
            mode=self.mode,
            views=self.views,
            projector=self.projector,
        )

    def extra_repr(self) -> str:
        return f"{self.scanner.name}, mode={self.mode!r}, {super().extra_repr()}"


def _tensor(name, value):
    if value is None:
        return None
    if isinstance(value, (int, float)):
        value = torch.tensor(float(value))
    elif isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"expected {name} as a tensor, array or number, got {type(value).__name__}")
    if value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"expected real {name}, got dtype {value.dtype}")
    value = value.detach().to(torch.float32)
    if not torch.isfinite(value).all():
        raise ValueError(f"{name} must be finite, got NaN or Inf")
    return value


def _slices(inputs, image, sino):
    """The slice count S from inputs of shape (*shape) or (S, *shape); None if none is per-slice."""
    counts = {}
    for name, (value, shape) in inputs.items():
        if value is None or value.dim() == 0 and name != "attenuation":  # a number for n or s is uniform
            continue
        if value.dim() not in (len(shape), len(shape) + 1) or tuple(value.shape[-len(shape) :]) != shape:
            what = f"{name} of shape {shape}"
            if name == "attenuation":  # `shape` is the image's for a μ-map, else the sinogram's: name both
                what = f"attenuation as a μ-map of shape {image} or factors of shape {sino}"
            raise ValueError(
                f"expected {what} (optionally with a leading slice or item axis), got {tuple(value.shape)}"
            )
        if value.dim() == len(shape) + 1:
            counts[name] = value.shape[0]
    if len(set(counts.values())) > 1:
        raise ValueError(f"per-slice inputs disagree on the number of slices: {counts}")
    return next(iter(counts.values()), None)


def _nonnegative(name, value):
    if bool((value < 0).any()):
        raise ValueError(f"{name} must be non-negative, got a minimum of {float(value.min()):.3g}")


def gaussian_kernel(
    fwhm: float | None, spacing: float, name: str = "fwhm", dtype=torch.float32, device="cpu"
) -> torch.Tensor:
    """Normalised 1D Gaussian taps over ±3σ for a FWHM in mm on a grid of ``spacing`` mm (one tap 1 for no blur),
    built on ``device``."""
    if fwhm is None or fwhm == 0:
        return torch.ones(1, dtype=dtype, device=device)
    if not (isinstance(fwhm, (int, float)) and math.isfinite(fwhm) and fwhm > 0):
        raise ValueError(f"{name} must be a positive number of mm or None, got {fwhm!r}")
    sigma = fwhm / _FWHM_PER_SIGMA / spacing
    r = max(1, math.ceil(3 * sigma))
    taps = torch.exp(-0.5 * (torch.arange(-r, r + 1, dtype=torch.float64, device=device) / sigma) ** 2)
    return (taps / taps.sum()).to(dtype)
