"""FHIR intake over HTTP: POST /fhir/r4/Bundle and /fhir/r4/MedicationRequest against the real database."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.operationoutcome import OperationOutcome

from dispatch.demo_data import PATIENTS, demo_bundle
from dispatch.hospitals.models import ApiKey
from dispatch.inbox.models import InboxMessage
from dispatch.notify.models import TrackingToken
from dispatch.orders.models import Order, OrderEvent, Patient, Prescription, PrescriptionItem
from dispatch.outbox.models import OutboxMessage

NIK = "3171022809990001"
RX_SYSTEM = "http://sys-ids.kemkes.go.id/prescription/10000004"


def example(name: str) -> dict[str, Any]:
    from tests_api_paths import EXAMPLES  # noqa: F401  (placeholder replaced below)

    raise NotImplementedError
