from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import EntryPoint, EntryPoints

import pytest

from hospital_adapter import registry
from hospital_adapter.fhir import SOURCE, parse_resource
from hospital_adapter.registry import (
    ENTRY_POINT_GROUP,
    HospitalSource,
    HospitalSourceError,
    all_sources,
    get_source,
)

# Module-level objects the fake entry points below point at.
NOT_A_SOURCE = object()
MISNAMED = HospitalSource(name="other", label="Other", media_types=("text/plain",), parse=parse_resource)


def test_fhir_source_is_installed_through_its_entry_point():
    assert get_source("fhir") is SOURCE
    assert SOURCE in all_sources()
    assert SOURCE.parse is parse_resource
    assert SOURCE.media_types == ("application/fhir+json", "application/json")


def test_an_unknown_source_names_what_is_installed():
    with pytest.raises(HospitalSourceError, match=r"no hospital source 'dicom'.*installed: csv, fhir, hl7v2"):
        get_source("dicom")


def test_a_source_needs_a_name_and_a_media_type():
    with pytest.raises(ValueError, match="media type"):
        HospitalSource(name="fhir", label="FHIR", media_types=(), parse=parse_resource)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Replace the installed entry points with the given ``name -> value`` pairs."""

    def install(**values: str) -> None:
        points = EntryPoints(EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in values.items())
        monkeypatch.setattr(registry, "entry_points", lambda **selection: points.select(**selection))

    return install


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("hospital_adapter.nonexistent:SOURCE", "failed to load", id="import-error"),
        pytest.param(
            f"{__name__}:NOT_A_SOURCE", "yields an instance of object, not a HospitalSource", id="wrong-type"
        ),
        pytest.param(f"{__name__}:MISNAMED", "names must match", id="name-mismatch"),
    ],
)
def test_a_broken_entry_point_fails_loudly(installed, value, message):
    installed(broken=value)

    with pytest.raises(HospitalSourceError, match=message):
        get_source("broken")
    with pytest.raises(HospitalSourceError, match=message):
        all_sources()


def test_get_source_does_not_load_unrelated_plugins(installed):
    installed(fhir="hospital_adapter.fhir:SOURCE", broken="hospital_adapter.nonexistent:SOURCE")

    assert get_source("fhir") is SOURCE


def test_two_packages_claiming_one_name_is_an_error(monkeypatch):
    points = EntryPoints(
        [
            EntryPoint("fhir", "hospital_adapter.fhir:SOURCE", ENTRY_POINT_GROUP),
            EntryPoint("fhir", "hospital_adapter.fhir:SOURCE", ENTRY_POINT_GROUP),
        ]
    )
    monkeypatch.setattr(registry, "entry_points", lambda **selection: points.select(**selection))

    with pytest.raises(HospitalSourceError, match="more than one"):
        get_source("fhir")
    with pytest.raises(HospitalSourceError, match="more than one"):
        all_sources()
