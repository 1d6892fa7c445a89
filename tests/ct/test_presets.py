"""The CT scanner registry: ``ct.scanner(name)`` over ``ct.PRESETS``, in the form the PET and MRI registries share."""

import re

import pytest

from bridges import ct, mri, pet

REGISTRIES = {
    "CT scanner": (ct.scanner, ct.PRESETS),
    "PET scanner": (pet.scanner, pet.PRESETS),
    "MRI protocol": (mri.protocol, mri.PRESETS),
}


@pytest.mark.parametrize("what", REGISTRIES)
def test_every_modality_names_its_presets_alike(what):
    """One form across modalities: lower-case kebab names in ``PRESETS``, each with its source, and a bad name
    refused with the list of good ones."""
    build, presets = REGISTRIES[what]
    assert presets and all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name) for name in presets)
    for preset in presets.values():
        source = preset["source"] if isinstance(preset, dict) else preset.source
        assert "(" in source or "arXiv" in source  # a citation
    with pytest.raises(
        ValueError,
        match=re.escape(
            f"expected a{'n' if what[0] == 'M' else ''} {what} preset, one of {sorted(presets)}, got 'no-such'"
        ),
    ):
        build("no-such")


def test_scanner_builds_its_down_sampled_geometry():
    g = ct.scanner("siemens-definition-as", view_step=8, detector_binning=4, image_shape=(128, 128))
    assert isinstance(g, ct.FanBeam2D) and (g.n_views, g.n_detectors) == (288, 184)
