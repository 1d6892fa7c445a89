"""The private dictionary of DICOM-CT-PD, the projection-data format of TCIA's LDCT-and-Projection-data collection
(Chen et al., Med. Phys. 42(8):4438, 2015; McCollough et al., Med. Phys. 44(10):e339, 2017; Moen et al.,
Med. Phys. 48(2):902, 2021), as `experiments.data.dicom_ct_pd` reads it and `dicom_ct_pd_write` writes it.

Each tag lives in private block 0x10 of its group: (gggg,10xx), with its private creator in (gggg,0010).

Where the numbers come from (checked in this environment, 2026-12-03):

- Moen et al. 2021, Table IV ("Private tags in the header of DICOM-CT-PD format", PMC7985836): the tag numbers,
  names and meanings of every tag below except (7039,1009) LogFlag, (7033,1067) Timestamp and
  (7041,1001) WaterAttenuationCoefficient, whose rows were cut from the excerpt reachable here.
- Public readers whose tag numbers agree with that table: ODL's Mayo reader (``odl/contrib/datasets/mayo.py``,
  names through a pydicom dictionary), FreeCT_wFBP's DICOM-CT-PD reader (DCMTK ``DcmTagKey(0x7031,0x1001)`` ...),
  Gadgetron's CT reader (GDCM ``Attribute<0x7031,1003>`` ...), and several MATLAB/Python helical rebinning scripts
  (``struct.unpack('f', ds[0x7031, 0x1001].value)``, which shows that files read without the dictionary give
  the raw little-endian bytes of each value).
- A digest of the "DICOM-CTPD User Manual, Version 3, February 2020" in a public repository gave the coordinate
  system (below), the row/column numbering and the LogFlag/Timestamp/WaterAttenuationCoefficient tags.

Not verified here (recalled or inferred; no copy of the manual or of a TCIA file was reachable):
- the VRs. FL for the geometry (the readers above unpack 4-byte floats: ``'<f'``), US for the counts, CS for
  the strings, FD for PhotonStatistics (Chen et al. 2015 store the photon numbers as doubles; recalled).
- the private creator string: the readers address the tags by number and never check it; we write
  ``PRIVATE_CREATOR`` and read files with any creator.
- the stored PixelData layout: ODL's reader reshapes PixelData to (NumberofDetectorColumns,
  NumberofDetectorRows), and a rebinning script reads the detector rows from the standard Columns (0028,0011);
  so TCIA files hold each projection transposed, DICOM Rows = detector columns. The manual's digest describes
  row-major (Rows = detector rows). The reader takes whichever of the two the standard Rows/Columns match.

Coordinates (the manual, through the digest): a left-handed cylindrical system (ρ, φ, z) fixed to the patient;
z perpendicular to the gantry plane, from the table base towards the gantry; φ = 0 at 12 o'clock, increasing
counter-clockwise as seen from the table; x = -ρ sin φ, y = ρ cos φ. With the detector at 6 o'clock, seen from
the table, column 1 is the leftmost column (so columns run along (cos φ, sin φ)) and row 1 the farthest
row (rows run towards -z). DetectorCentralElement is 1-based (the TCIA files' (369.625, 32.5) for 736 x 64
elements puts row 32.5 at the centre of 64 rows only when counting from 1).
"""

from __future__ import annotations

from dataclasses import dataclass

PRIVATE_CREATOR = "DICOM-CT-PD"  # not verified (see above)


@dataclass(frozen=True)
class PrivateTag:
    """One entry of the dictionary: (group, element), VR, value multiplicity, unit, meaning."""

    group: int
    element: int
    vr: str
    keyword: str
    vm: str  # "1", "2", or "n" (one per detector column)
    unit: str
    meaning: str

    @property
    def tag(self) -> tuple:
        return (self.group, self.element)

    @property
    def offset(self) -> int:
        """The element within private block 0x10, as pydicom's ``private_block`` numbers it."""
        return self.element & 0xFF

    def __str__(self) -> str:
        return f"({self.group:04X},{self.element:04X}) {self.keyword}"


_ENTRIES = [
    PrivateTag(0x7029, 0x1010, "US", "NumberofDetectorRows", "1", "", "number of detector rows"),
    PrivateTag(0x7029, 0x1011, "US", "NumberofDetectorColumns", "1", "", "number of detector columns"),
    PrivateTag(
        0x7029,
        0x1002,
        "FL",
        "DetectorElementTransverseSpacing",
        "1",
        "mm",
        "width of a detector column, measured at the detector (arc length on a cylinder)",
    ),
    PrivateTag(
        0x7029,
        0x1006,
        "FL",
        "DetectorElementAxialSpacing",
        "1",
        "mm",
        "width of a detector row, measured at the detector",
    ),
    PrivateTag(0x7029, 0x100B, "CS", "DetectorShape", "1", "", "CYLINDRICAL, SPHERICAL or FLAT"),
    PrivateTag(
        0x7031,
        0x1001,
        "FL",
        "DetectorFocalCenterAngularPosition",
        "1",
        "rad",
        "φ0, azimuth of the detector's focal centre",
    ),
    PrivateTag(
        0x7031, 0x1002, "FL", "DetectorFocalCenterAxialPosition", "1", "mm", "z0, z of the detector's focal centre"
    ),
    PrivateTag(
        0x7031,
        0x1003,
        "FL",
        "DetectorFocalCenterRadialDistance",
        "1",
        "mm",
        "ρ0, in-plane distance of the detector's focal centre from the isocentre",
    ),
    PrivateTag(
        0x7031,
        0x1031,
        "FL",
        "ConstantRadialDistance",
        "1",
        "mm",
        "d0, distance from the detector's focal centre to the central element (the cylinder's radius)",
    ),
    PrivateTag(
        0x7031,
        0x1033,
        "FL",
        "DetectorCentralElement",
        "2",
        "",
        "(column X, row Y), 1-based, of the element on the line from the focal centre through the isocentre",
    ),
    PrivateTag(
        0x7033,
        0x100B,
        "FL",
        "SourceAngularPositionShift",
        "1",
        "rad",
        "Δφ, focal spot minus detector focal centre (flying focal spot)",
    ),
    PrivateTag(0x7033, 0x100C, "FL", "SourceAxialPositionShift", "1", "mm", "Δz, likewise in z"),
    PrivateTag(0x7033, 0x100D, "FL", "SourceRadialDistanceShift", "1", "mm", "Δρ, likewise in ρ"),
    PrivateTag(0x7033, 0x100E, "CS", "FlyingFocalSpotMode", "1", "", "FFSNONE, FFSZ, FFSXY or FFSXYZ"),
    PrivateTag(0x7033, 0x1013, "US", "NumberofSourceAngularSteps", "1", "", "projections per full rotation"),
    PrivateTag(
        0x7033,
        0x1065,
        "FD",
        "PhotonStatistics",
        "n",
        "photons",
        "incident photons per detector column (noise-equivalent quanta from air scans)",
    ),
    PrivateTag(0x7033, 0x1067, "FD", "Timestamp", "1", "ms", "absolute time of the projection"),
    PrivateTag(0x7037, 0x1009, "CS", "TypeofProjectionData", "1", "", "AXIAL or HELICAL"),
    PrivateTag(0x7037, 0x100A, "CS", "TypeofProjectionGeometry", "1", "", "FANBEAM for third-generation CT"),
    PrivateTag(0x7039, 0x1009, "CS", "LogFlag", "1", "", "YES when the data are line integrals"),
    PrivateTag(
        0x7041, 0x1001, "FL", "WaterAttenuationCoefficient", "1", "1/mm", "μ of water for HU (unit not verified)"
    ),
]

TAGS: dict[str, PrivateTag] = {t.keyword: t for t in _ENTRIES}

# What a projection file must hold to fix its geometry; the rest is optional (shifts default to 0).
REQUIRED = (
    "NumberofDetectorRows",
    "NumberofDetectorColumns",
    "DetectorElementTransverseSpacing",
    "DetectorElementAxialSpacing",
    "DetectorShape",
    "DetectorFocalCenterAngularPosition",
    "DetectorFocalCenterAxialPosition",
    "DetectorFocalCenterRadialDistance",
    "ConstantRadialDistance",
    "DetectorCentralElement",
)
# Equal in every file of a scan (the detector and its mounting).
CONSTANT = (
    "NumberofDetectorRows",
    "NumberofDetectorColumns",
    "DetectorElementTransverseSpacing",
    "DetectorElementAxialSpacing",
    "DetectorShape",
    "ConstantRadialDistance",
    "DetectorCentralElement",
)
