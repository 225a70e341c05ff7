"""Real SATUSEHAT and HL7 example payloads, read from the shared reference folder next to the repo."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "reference" / "examples"

_cache: dict[str, dict[str, Any]] = {}


def _load(name: str) -> dict[str, Any]:
    if name not in _cache:
        _cache[name] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return copy.deepcopy(_cache[name])


@pytest.fixture
def example() -> Callable[[str], dict[str, Any]]:
    """A fresh, mutable copy of an example file, e.g. ``example("satusehat/Patient-100000030009.json")``."""
    return _load


@pytest.fixture
def anc_resources(example: Callable[[str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The SATUSEHAT ANC prescription pieces, rewired to one patient as a hospital would send them.

    The IG examples come from different scenarios: the MedicationRequest is for Patient/100000030006, is
    already ``completed`` and points at a Medication id the Medication file lacks; the Coverage has no id.
    """
    patient = example("satusehat/Patient-100000030009.json")
    request = example("satusehat/MedicationRequest-ANC-peresepan-obat.json")
    request["subject"] = {"reference": "Patient/100000030009", "display": "Eric Smith"}
    request["status"] = "active"
    medication = example("satusehat/Medication-ANC-KFA-93006500.json")
    medication["id"] = request["medicationReference"]["reference"].removeprefix("Medication/")
    coverage = example("satusehat/Coverage-BPJS-kepesertaan.json")
    coverage["id"] = "bpjs-0001"
    coverage["beneficiary"] = {"reference": "Patient/100000030009"}
    return {"patient": patient, "request": request, "medication": medication, "coverage": coverage}
