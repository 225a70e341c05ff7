"""The canonical prescription every hospital source produces, whatever its wire format."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator

PrescriptionStatus = Literal[
    "active", "on-hold", "cancelled", "completed", "stopped", "entered-in-error", "draft", "unknown"
]


class _Canonical(BaseModel):
    """Refuses NUL in any text: PostgreSQL text cannot hold it, so a NUL that got this far would fail the
    insert (a 500 after the raw message was archived) instead of being the sender's error it is."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            raise ValueError("contains a NUL character (0x00), which no text field may hold")
        return value


class AddressIn(_Canonical):
    """An Indonesian home address; the region codes are Kemendagri codes without dots when known."""

    text: str = ""
    lines: list[str] = Field(default_factory=list)
    rt: str | None = Field(default=None, max_length=8)
    rw: str | None = Field(default=None, max_length=8)
    village_code: str | None = Field(default=None, max_length=16)
    district_code: str | None = Field(default=None, max_length=16)
    city_code: str | None = Field(default=None, max_length=16)
    province_code: str | None = Field(default=None, max_length=16)
    village: str | None = None
    district: str | None = None
    city: str | None = None
    postal_code: str | None = Field(default=None, max_length=8)


class PatientIn(_Canonical):
    """Minimum PII: who to hand the medicine to and how to reach them; no NIK, no diagnosis."""

    source_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)
    phone: str = Field(max_length=100)
    address: AddressIn


class ComponentIn(_Canonical):
    """One ingredient of a compounded (racikan) item: restrictions look at every component."""

    code: str | None = Field(default=None, max_length=64)
    code_system: str | None = Field(default=None, max_length=200)
    local_code: str | None = Field(default=None, max_length=64)
    display: str
    drug_class: str | None = Field(default=None, max_length=64)


class ItemIn(_Canonical):
    """Codes are bounded; free text (display, instructions) is kept whole here and shortened on storage.

    ``code``/``code_system`` is the national code when known (KFA, ``http://sys-ids.kemkes.go.id/kfa``);
    ``local_code`` the hospital's own item code (Khanza ``kode_brng``); ``drug_class`` the hospital's class
    of the drug as given (e.g. "Narkotika", "Psikotropika", "OOT"), which the restriction rules read.
    """

    code: str | None = Field(default=None, max_length=64)
    code_system: str | None = Field(default=None, max_length=200)
    local_code: str | None = Field(default=None, max_length=64)
    display: str
    quantity: float | None = None
    unit: str | None = Field(default=None, max_length=32)
    instructions: str | None = None
    dosage_form: str | None = Field(default=None, max_length=64)
    drug_class: str | None = Field(default=None, max_length=64)
    components: list[ComponentIn] = Field(default_factory=list)


class CoverageIn(_Canonical):
    """Who pays: eligibility reads ``participant_type`` (the SEP's jnsPeserta, e.g. "PBI (APBN)") and ``plan``."""

    payer: str | None = None
    plan: str | None = None
    subscriber_id: str | None = None
    participant_type: str | None = Field(default=None, max_length=100)
    sep_number: str | None = Field(default=None, max_length=64)


class PrescriptionIn(_Canonical):
    """One prescription (one paper Rx): the unit the pharmacy releases and a courier carries."""

    source: str
    prescription_id: str = Field(min_length=1, max_length=128)
    identifier_system: str | None = Field(default=None, max_length=200)
    status: PrescriptionStatus = "active"
    authored_on: datetime | None = None
    patient: PatientIn
    items: list[ItemIn] = Field(min_length=1)
    coverage: list[CoverageIn] = Field(default_factory=list)
    poverty_declaration: bool = Field(
        default=False, description="A local SPM (Surat Pernyataan Miskin) is on file"
    )
    encounter_id: str | None = Field(default=None, max_length=64)


class SourceInputError(ValueError):
    """Input a hospital source cannot accept; ``issues`` are (code, diagnostics, location) triples."""

    def __init__(self, issues: list[tuple[str, str, str | None]], *, http_status: int = 422):
        super().__init__("; ".join(d for _, d, _ in issues))
        self.issues = issues
        self.http_status = http_status

    @classmethod
    def from_validation_error(cls, exc: ValidationError) -> SourceInputError:
        """A value a source could read but the canonical model refuses (too long, a NUL) is the sender's
        error; the issues name the field and the rule, never the value (it may be a NIK or a name)."""
        return cls(
            [
                (
                    "too-long" if error["type"] == "string_too_long" else "value",
                    error["msg"],
                    ".".join(str(part) for part in error["loc"]) or None,
                )
                for error in exc.errors()[:20]
            ]
        )
