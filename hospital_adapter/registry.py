"""Hospital sources are plugins found through the ``gancang.hospital_sources`` entry-point group.

A hospital's wire format (FHIR, HL7 v2, a SIMRS export) is installed as a package rather than hard-wired,
so a deployment only carries the parsers it needs. Lookups fail loudly: a missing or broken plugin must
stop the service at startup, not surface later as a mysterious ``KeyError`` on the first prescription.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from hospital_adapter.canonical import PrescriptionIn

ENTRY_POINT_GROUP = "gancang.hospital_sources"


@dataclass(frozen=True)
class HospitalSource:
    """What an entry point in group ``gancang.hospital_sources`` exposes.

    ``parse`` turns one request body into canonical prescriptions and raises ``SourceInputError`` for input
    the hospital must fix; ``media_types`` lets the HTTP layer pick a source from ``Content-Type``.
    """

    name: str
    label: str
    media_types: tuple[str, ...]
    parse: Callable[[bytes], list[PrescriptionIn]]

    def __post_init__(self) -> None:
        if not self.name or not self.media_types:
            raise ValueError("a HospitalSource needs a name and at least one media type")


class HospitalSourceError(RuntimeError):
    """A hospital source is not installed, or its entry point does not yield a usable ``HospitalSource``."""


def all_sources() -> tuple[HospitalSource, ...]:
    """Load every installed source, sorted by name; one broken plugin fails the whole call on purpose."""
    sources: dict[str, HospitalSource] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name in sources:
            raise HospitalSourceError(_duplicate_message(entry_point.name))
        sources[entry_point.name] = _load(entry_point)
    return tuple(sources[name] for name in sorted(sources))


def get_source(name: str) -> HospitalSource:
    """Load only the named source, so an unrelated broken plugin cannot take this one down."""
    matches = list(entry_points(group=ENTRY_POINT_GROUP, name=name))
    if not matches:
        installed = sorted({entry_point.name for entry_point in entry_points(group=ENTRY_POINT_GROUP)})
        raise HospitalSourceError(
            f"no hospital source {name!r} in entry-point group {ENTRY_POINT_GROUP!r} "
            f"(installed: {', '.join(installed) or 'none'}); "
            "install the package that provides it, or `pip install -e .` in a source checkout"
        )
    if len(matches) > 1:
        raise HospitalSourceError(_duplicate_message(name))
    return _load(matches[0])


def _load(entry_point: EntryPoint) -> HospitalSource:
    try:
        loaded = entry_point.load()
    except Exception as exc:
        raise HospitalSourceError(
            f"hospital source {entry_point.name!r} ({entry_point.value}) failed to load: {exc!r}"
        ) from exc
    if not isinstance(loaded, HospitalSource):
        raise HospitalSourceError(
            f"hospital source {entry_point.name!r} ({entry_point.value}) yields an instance of {type(loaded).__qualname__}, "
            "not a HospitalSource"
        )
    if loaded.name != entry_point.name:
        raise HospitalSourceError(
            f"entry point {entry_point.name!r} ({entry_point.value}) yields a source named {loaded.name!r}; "
            "the two names must match"
        )
    return loaded


def _duplicate_message(name: str) -> str:
    return (
        f"more than one installed package registers hospital source {name!r} in {ENTRY_POINT_GROUP!r}; "
        "uninstall all but one"
    )
