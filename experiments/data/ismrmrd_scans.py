"""The scans of an ISMRMRD raw-data file: its XML header, its acquisitions sorted by flag, and noise prewhitening.

`experiments.data.ismrmrd_raw` builds `Acquisition`s from what this module reads. Every problem with the file
(not HDF5, no dataset, no header, no acquisitions, sizes that disagree) is a ValueError naming the file.

Example::

    header, scans = read_scans("meas.h5")                # header: ismrmrd.xsd.ismrmrdHeader
    psi = noise_covariance(scans.noise)                  # (coils, coils) complex128
    W = prewhitening_matrix(psi)                         # W psi W^H = I
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field

import ismrmrd
import ismrmrd.xsd
import numpy as np
import torch

from .files import open_hdf5, require_dataset

# Scans that are neither image data nor noise: skipped, and counted in info["flags"].
IGNORED = (
    "ACQ_IS_NAVIGATION_DATA",
    "ACQ_IS_PHASECORR_DATA",
    "ACQ_IS_DUMMYSCAN_DATA",
    "ACQ_IS_RTFEEDBACK_DATA",
    "ACQ_IS_HPFEEDBACK_DATA",
    "ACQ_IS_SURFACECOILCORRECTIONSCAN_DATA",
    "ACQ_IS_PHASE_STABILIZATION",
    "ACQ_IS_PHASE_STABILIZATION_REFERENCE",
)
REPORTED = (
    "ACQ_IS_NOISE_MEASUREMENT",
    "ACQ_IS_PARALLEL_CALIBRATION",
    "ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING",
    "ACQ_IS_REVERSE",
    *IGNORED,
)


def flag_set(flags, name: str):
    """Whether ISMRMRD flag `name` (e.g. "ACQ_IS_REVERSE") is set in `flags` (ints or a uint64 array);
    ISMRMRD numbers its flags from 1, so flag f is bit f - 1."""
    return (np.asarray(flags, dtype=np.uint64) >> np.uint64(getattr(ismrmrd, name) - 1)) & np.uint64(1) == 1


@dataclass
class Readout:
    """One image-data readout: k-space samples (coils, samples) complex64 and its header facts."""

    data: np.ndarray
    traj: np.ndarray  # (samples, trajectory_dimensions) float32, possibly (samples, 0)
    idx: dict  # kspace_encode_step_1, average, slice, contrast, phase, repetition, set
    center_sample: int
    discard_pre: int
    discard_post: int
    reverse: bool
    imaging: bool  # False: calibration only (feeds the coil maps, not the data)
    dwell_us: float


@dataclass
class Scans:
    """The acquisitions of a file sorted by what they are for."""

    readouts: list = field(default_factory=list)
    noise: list = field(default_factory=list)  # (coils, samples) complex64 each
    noise_dwell_us: list = field(default_factory=list)
    flags: dict = field(default_factory=dict)  # flag name -> number of acquisitions carrying it


class _Doctype(Exception):
    pass


class _RefuseDoctype(ElementTree.TreeBuilder):
    # ISMRMRD headers have no document type declaration; entities (XML bombs, external files) need one.
    def doctype(self, name, pubid, system):
        raise _Doctype()


def parse_header(xml, source) -> ismrmrd.xsd.ismrmrdHeader:
    """The ISMRMRD XML header as ismrmrd's typed schema object (``ismrmrd.xsd.CreateFromDocument``).

    The text is first parsed by ElementTree with document type declarations refused, as
    `experiments.data.fastmri.parse_ismrmrd_header` does, so the guarantee does not depend on which XML backend
    xsdata picks; the schema object then gives every field typed (trajectory, limits, system information).
    """
    if isinstance(xml, bytes):
        xml = xml.decode("utf-8", errors="replace")
    if not isinstance(xml, str) or not xml.strip():
        raise ValueError(f"expected ISMRMRD XML text in the header of {source}, got {type(xml).__name__} {xml!r:.60}")
    parser = ElementTree.XMLParser(target=_RefuseDoctype())
    try:
        parser.feed(xml)
        parser.close()
    except _Doctype:
        raise ValueError(
            f"expected ISMRMRD XML without a document type declaration in {source}, got one (entities are refused)"
        ) from None
    except ElementTree.ParseError as error:
        raise ValueError(f"expected ISMRMRD XML in the header of {source}, got unparsable text ({error})") from None
    try:
        header = ismrmrd.xsd.CreateFromDocument(xml)
    except Exception as error:  # xsdata raises its own ParserError / ConverterWarning types
        raise ValueError(f"expected an ISMRMRD header in {source}, got XML the schema rejects ({error})") from None
    if not header.encoding:
        raise ValueError(f"expected at least one <encoding> in the ISMRMRD header of {source}, found none")
    return header


def read_scans(path, dataset: str = "dataset"):
    """The header and the acquisitions of the ISMRMRD file at `path` (group `dataset`), read with h5py.

    Returns (header, Scans). Raises ValueError naming the file for a corrupt file, a missing group, header or
    acquisition table, an empty table, or an acquisition whose stored sizes disagree with its header.
    """
    with open_hdf5(path) as f:
        if dataset not in f:
            raise ValueError(f"expected ISMRMRD dataset {dataset!r} in {path}, found {sorted(f.keys())}")
        xml_node = require_dataset(f, f"{dataset}/xml")
        if xml_node.size == 0:
            raise ValueError(f"expected an ISMRMRD XML header in {path}/{dataset}/xml, found an empty dataset")
        header = parse_header(xml_node[0], path)
        table = require_dataset(f, f"{dataset}/data")
        names = table.dtype.names or ()
        if not {"head", "traj", "data"} <= set(names):
            raise ValueError(
                f"expected ISMRMRD acquisitions (fields head, traj, data) in {path}/{dataset}/data, got fields {names}"
            )
        records = table[()]
    if len(records) == 0:
        raise ValueError(f"expected acquisitions in {path}/{dataset}/data, found none")
    return header, _sort(records, path)


def _sort(records, path) -> Scans:
    heads = records["head"]
    scans = Scans()
    for name in REPORTED:
        count = int(flag_set(heads["flags"], name).sum())
        if count:
            scans.flags[name] = count
    for i, (head, traj, data) in enumerate(zip(heads, records["traj"], records["data"])):
        flags = int(head["flags"])
        if any(flag_set(flags, name) for name in IGNORED):
            continue
        samples, channels, dims = (
            int(head["number_of_samples"]),
            int(head["active_channels"]),
            int(head["trajectory_dimensions"]),
        )
        data, traj = np.asarray(data, np.float32), np.asarray(traj, np.float32)
        if data.size != 2 * channels * samples or traj.size != dims * samples or samples == 0:
            raise ValueError(
                f"expected acquisition {i} of {path} to hold {channels} channels x {samples} samples "
                f"(and {dims} trajectory dimensions), got {data.size // 2} complex samples and "
                f"{traj.size} trajectory values: inconsistent sizes"
            )
        k = data.view(np.complex64).reshape(channels, samples)
        if flag_set(flags, "ACQ_IS_NOISE_MEASUREMENT"):
            scans.noise.append(k)
            scans.noise_dwell_us.append(float(head["sample_time_us"]))
            continue
        idx = head["idx"]
        calibration_only = flag_set(flags, "ACQ_IS_PARALLEL_CALIBRATION") and not flag_set(
            flags, "ACQ_IS_PARALLEL_CALIBRATION_AND_IMAGING"
        )
        scans.readouts.append(
            Readout(
                k,
                traj.reshape(samples, dims),
                {n: int(idx[n]) for n in idx.dtype.names if n != "user"},
                int(head["center_sample"]),
                int(head["discard_pre"]),
                int(head["discard_post"]),
                bool(flag_set(flags, "ACQ_IS_REVERSE")),
                not calibration_only,
                float(head["sample_time_us"]),
            )
        )
    if not scans.readouts:
        raise ValueError(
            f"expected image acquisitions in {path}, found only noise, navigator or other "
            f"non-image scans ({scans.flags})"
        )
    coils = {r.data.shape[0] for r in scans.readouts} | {n.shape[0] for n in scans.noise}
    if len(coils) > 1:
        raise ValueError(
            f"expected the same number of channels in every acquisition of {path}, got {sorted(coils)}"
            ": inconsistent sizes"
        )
    return scans


def noise_covariance(noise) -> torch.Tensor:
    """Coil noise covariance Ψ = N N^H / n from noise samples N (coils, n), as complex128.

    Shapes: a list of (coils, samples_i) arrays or one (coils, n) array -> (coils, coils).

    Example::

        psi = noise_covariance([scan1, scan2])   # each (8, 256) complex
    """
    samples = (
        torch.cat([torch.as_tensor(np.asarray(n)) for n in noise], dim=-1)
        if isinstance(noise, (list, tuple))
        else torch.as_tensor(np.asarray(noise))
    )
    samples = samples.to(torch.complex128)
    if samples.dim() != 2 or samples.shape[1] == 0:
        raise ValueError(f"expected noise samples of shape (coils, n) with n > 0, got {tuple(samples.shape)}")
    return samples @ samples.conj().T / samples.shape[1]


def prewhitening_matrix(psi: torch.Tensor) -> torch.Tensor:
    """W = L^{-1}, Ψ = L L^H its Cholesky factor: W Ψ W^H = I, so W y has unit, uncorrelated coil noise.

    Shapes: psi (coils, coils) Hermitian positive definite -> W (coils, coils), same dtype.

    Example::

        y_white = torch.einsum("dc,c...->d...", W, y)
    """
    try:
        chol = torch.linalg.cholesky(psi)
    except RuntimeError as error:
        raise ValueError(
            f"expected a positive definite noise covariance, got one Cholesky rejects ({error}); "
            "are some coils' noise scans all zero?"
        ) from None
    eye = torch.eye(psi.shape[0], dtype=psi.dtype)
    return torch.linalg.solve_triangular(chol, eye, upper=False)
