"""Sandbox knobs: the journeys it can play, the faults it can inject, and each dialect's credentials."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from couriers.gosend.mapper import normalize_phone

ScenarioName = Literal["happy", "wrong_pin_first", "no_driver", "failed_delivery", "driver_cancels"]
DialectName = Literal["gosend", "grabexpress", "lalamove", "webhook"]
FaultKind = Literal["server_error", "timeout", "rate_limit"]

# A simulator's public demo credentials, not secrets.
DEMO_PARTNER_SECRET = "whsec_c2FuZGJveC1wYXJ0bmVyLWpvYi1zZWNyZXQ="  # noqa: S105
DEMO_EVENT_SECRET = "whsec_c2FuZGJveC1wYXJ0bmVyLWV2ZW50LXNlY3JldA=="  # noqa: S105


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Fault(_Frozen):
    """The next ``calls`` API calls (to ``dialect`` and ``operation`` when given) misbehave.

    ``server_error`` answers ``status_code`` (5xx) without doing anything. ``timeout`` answers only after
    ``delay_seconds`` but still does the work, as a courier that commits a booking and then stalls does: the
    client times out and must reconcile by its own reference. ``rate_limit`` answers 429 with ``Retry-After:
    retry_after_seconds``. ``operation`` is the route's name, the same in every dialect where it exists:
    ``token``, ``quote``, ``book``, ``status``, ``find_by_reference``, ``cancel``, ``driver``, ``offer``.
    """

    kind: FaultKind
    calls: int = Field(default=1, ge=1)
    dialect: DialectName | None = None
    operation: str | None = None
    status_code: int = Field(default=503, ge=500, le=599)
    delay_seconds: float = Field(default=2.0, gt=0)
    retry_after_seconds: int = Field(default=1, ge=0)


class Rule(_Frozen):
    """Per-booking knobs: the newest rule matching a new booking's recipient phone or our reference wins.

    Unset knobs fall back to the sandbox-wide values in :class:`SandboxConfig`. ``handover_pin`` is the PIN
    the sandbox's "patient" tells the local partner's driver (reported on ``job.delivered``); it is read at
    the handover, so a rule naming it still counts for a booking made before the rule was added.
    """

    match_phone: str | None = None
    match_reference: str | None = None
    scenario: ScenarioName | None = None
    step_delay_seconds: float | None = Field(default=None, ge=0)
    duplicate_events: bool | None = None
    shuffle: bool | None = None
    handover_pin: str | None = Field(default=None, pattern=r"^\d{4,8}$")

    @field_validator("match_phone")
    @classmethod
    def _normalize(cls, value: str | None) -> str | None:
        return None if value is None else normalize_phone(value)

    @model_validator(mode="after")
    def _matches_something(self) -> Rule:
        if self.match_phone is None and self.match_reference is None:
            raise ValueError("a rule needs match_phone or match_reference")
        return self


class GoSendDialectConfig(_Frozen):
    """``webhook_url`` unset means this dialect only advances statuses (visible through its lookup API)."""

    client_id: str = Field(default="sandbox-client-id", min_length=1)
    pass_key: str = Field(default="sandbox-pass-key", min_length=1)
    webhook_url: str | None = None
    webhook_header: str = Field(default="Authorization", min_length=1)
    webhook_token: str | None = "sandbox-webhook-token"  # noqa: S105
    max_distance_km: float = Field(default=40.0, gt=0)
    tracking_base_url: str = "https://gosend-sandbox.invalid/tracking"


class GrabExpressDialectConfig(_Frozen):
    """Grab sends ``webhook_token`` as ``Authorization`` and ``webhook_auth_id`` as ``Authorization-Id``."""

    client_id: str = Field(default="sandbox-grab-client", min_length=1)
    client_secret: str = Field(default="sandbox-grab-secret", min_length=1)
    token_ttl_seconds: int = Field(default=604_799, ge=1)
    webhook_url: str | None = None
    webhook_token: str | None = "sandbox-grab-webhook-token"  # noqa: S105
    webhook_auth_id: str | None = None
    max_distance_km: float = Field(default=35.0, gt=0)


class LalamoveDialectConfig(_Frozen):
    """``webhook_url`` may also be set at run time through ``PATCH /v3/webhook``, as with Lalamove."""

    api_key: str = Field(default="pk_test_sandbox", min_length=1)
    api_secret: str = Field(default="sk_test_sandbox", min_length=1)
    webhook_url: str | None = None
    quotation_ttl_seconds: float = Field(default=300.0, gt=0)
    clock_skew_seconds: float = Field(default=300.0, gt=0)
    cancel_window_seconds: float = Field(default=300.0, ge=0)


class PartnerDialectConfig(_Frozen):
    """The sandbox as a local partner: ``job_secret`` verifies the jobs we offer it, ``event_secret`` signs
    the status events it posts to ``webhook_url``."""

    job_secret: str = Field(default=DEMO_PARTNER_SECRET, min_length=1)
    event_secret: str = Field(default=DEMO_EVENT_SECRET, min_length=1)
    webhook_url: str | None = None
    proof_base_url: str = "https://partner-sandbox.invalid/pod"


class SandboxConfig(_Frozen):
    """How one sandbox instance behaves; every knob can also be set per booking through a :class:`Rule`.

    Journeys:

    - ``default_scenario``: ``happy`` (delivered), ``wrong_pin_first`` (delivered, but a local partner's
      driver first reports a misheard handover PIN and, a step later, the right one; couriers that take no
      PIN play it as ``happy``), ``no_driver``, ``failed_delivery`` (the driver cannot hand over and brings
      the parcel back) or ``driver_cancels`` (the driver gives the job back after accepting).
    - ``step_delay_seconds``: time between two statuses of a journey.
    - ``duplicate_events``: every webhook is sent twice (same event id where the protocol has one).
    - ``shuffle``: the second-to-last webhook of a journey is held back and sent after the last one, carrying
      its true time so the receiver can tell it is stale.
    - ``handover_pin``: what the "patient" tells a local partner's driver; unset means a random PIN per
      booking (a rule's PIN counts even when added after the booking, see :class:`Rule`).
    - ``rules``: per-booking overrides of the above, matched on recipient phone or our reference.

    API faults (``faults``; more can be queued at run time with ``POST /_sandbox/faults``): 5xx answers for N
    calls, slow answers longer than the client's timeout, and 429 with ``Retry-After``; see :class:`Fault`.

    Webhook delivery: ``webhook_attempts`` tries per event, ``webhook_retry_delay_seconds`` apart (longer when
    the receiver answers 429/503 with ``Retry-After``), each waiting ``webhook_timeout_seconds``.

    Each dialect's credentials and webhook URL are in its own section; a dialect without ``webhook_url`` sends
    no webhooks and is followed by polling.
    """

    step_delay_seconds: float = Field(default=1.0, ge=0)
    default_scenario: ScenarioName = "happy"
    duplicate_events: bool = False
    shuffle: bool = False
    handover_pin: str | None = Field(default=None, pattern=r"^\d{4,8}$")
    rules: tuple[Rule, ...] = ()
    faults: tuple[Fault, ...] = ()
    price_per_km_idr: int = Field(default=2_500, ge=0)
    minimum_price_idr: int = Field(default=10_000, ge=0)
    webhook_attempts: int = Field(default=3, ge=1)
    webhook_retry_delay_seconds: float = Field(default=0.5, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)
    gosend: GoSendDialectConfig = GoSendDialectConfig()
    grabexpress: GrabExpressDialectConfig = GrabExpressDialectConfig()
    lalamove: LalamoveDialectConfig = LalamoveDialectConfig()
    webhook: PartnerDialectConfig = PartnerDialectConfig()
