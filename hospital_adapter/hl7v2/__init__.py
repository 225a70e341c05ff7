"""HL7 v2 pharmacy orders (RDE^O11, ORM^O01), over HTTP or MLLP; entry point ``hl7v2``."""

from hospital_adapter.hl7v2.parser import parse_message
from hospital_adapter.registry import HospitalSource

SOURCE = HospitalSource(
    name="hl7v2",
    label="HL7 v2 (RDE^O11, ORM^O01)",
    media_types=("application/hl7-v2", "x-application/hl7-v2+er7", "text/plain"),
    parse=parse_message,
)

__all__ = ["SOURCE", "parse_message"]
