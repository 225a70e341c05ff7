"""FHIR R4 / SATUSEHAT hospital source, registered as entry point ``fhir`` in ``gancang.hospital_sources``."""

from hospital_adapter.fhir.parser import parse_bundle, parse_medication_request, parse_resource
from hospital_adapter.registry import HospitalSource

SOURCE = HospitalSource(
    name="fhir",
    label="FHIR R4 / SATUSEHAT",
    media_types=("application/fhir+json", "application/json"),
    parse=parse_resource,
)

__all__ = ["SOURCE", "parse_bundle", "parse_medication_request", "parse_resource"]
