"""HL7 v2 intake over HTTP: POST /hl7v2, answered with an HL7 ACK."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["hl7v2"])
