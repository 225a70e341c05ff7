"""Which courier takes an order: pure rules over the hospital's accounts, their capabilities and their quotes.

The hospital decides: which accounts it has and in which preference order, whether the cheapest offer or
simply its preference wins, the most it pays per order, and how long it waits for quotes. A courier that
cannot physically take the order (too far, outside its area, no cold chain) is never asked; one whose
quote is missing or late is not chosen over one that answered, and if nobody answers at all the preference
order still books someone, because a patient waiting for a quote service is worse than an unpriced trip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from couriers.base import Capabilities, Quote


class DispatchPolicy(BaseModel):
    """A hospital's dispatch rules (``Hospital.dispatch_policy``); every field has a working default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    choose_by: Literal["cost", "preference"] = Field(
        default="cost",
        description="cost: the cheapest serviceable quote, then the shortest ETA, then preference; "
        "preference: the first account in the hospital's order that quotes within the cap",
    )
    price_cap_idr: int | None = Field(default=None, gt=0, description="The most the hospital pays per order")
    quote_deadline_seconds: float = Field(default=4.0, gt=0, le=30)
    cold_chain_max_km: float = Field(
        default=30.0, gt=0, description="How far an insulin or vaccine parcel may travel without a fridge"
    )
    retry_same_courier_once: bool = Field(
        default=True,
        description="After a courier gives a booking back before pick-up (no driver, driver cancelled, no "
        "driver within the allocation timeout), book the same account once more before the next one",
    )
    allocation_timeout_minutes: float = Field(
        default=15.0, gt=0, description="How long a booking may wait for a driver before it is cancelled"
    )
    partner_pool_last: bool = Field(
        default=True,
        description="In a fallback, the local partner pool (courier 'webhook') is asked only once no "
        "commercial courier is left; the first dispatch weighs every account alike",
    )
    courier_speed_kmh: float = Field(
        default=25.0,
        gt=0,
        le=80,
        description="A motorbike's average speed by road, stops included, for the ETA when the courier gives "
        "none: village roads, market traffic and asking the way on rural East Java roads",
    )
    pickup_allowance_minutes: float = Field(
        default=15.0,
        ge=0,
        le=120,
        description="Minutes from a driver's assignment until the parcel leaves the pharmacy: the ride there "
        "and the hand-over at the counter, for the ETA when the courier gives none",
    )


# The local partner pool's courier name: the hospital's own riders, the last resort of a fallback.
PARTNER_POOL = "webhook"


@dataclass(frozen=True)
class PastAttempt:
    """One earlier booking of the order, as the cascade weighs it: given back (may be retried) or not."""

    account_id: int
    given_back: bool


def cascade(history: Sequence[PastAttempt], policy: DispatchPolicy) -> tuple[frozenset[int], int | None]:
    """Which accounts a fallback skips, and the account it must book again, if any.

    An account is skipped after a refusal (or anything but a give-back) or once it has had its tries: two
    with ``retry_same_courier_once``, else one. When the last booking was given back and its account still
    has a try left, that account alone is asked again.
    """
    tries = 2 if policy.retry_same_courier_once else 1
    counts: dict[int, int] = {}
    refused: set[int] = set()
    for past in history:
        counts[past.account_id] = counts.get(past.account_id, 0) + 1
        if not past.given_back:
            refused.add(past.account_id)
    skipped = frozenset(refused | {account for account, n in counts.items() if n >= tries})
    last = history[-1] if history else None
    again = (
        last.account_id if last is not None and last.given_back and last.account_id not in skipped else None
    )
    return skipped, again


@dataclass(frozen=True)
class Candidate:
    """One of the hospital's enabled courier accounts, as the rules see it."""

    account_id: int
    courier: str
    priority: int
    capabilities: Capabilities


@dataclass(frozen=True)
class Trip:
    origin: tuple[float, float]
    destination: tuple[float, float]
    distance_km: float | None
    cold_chain: bool
    service: Literal["instant", "same_day"] = "instant"


def exclusion(candidate: Candidate, trip: Trip, policy: DispatchPolicy) -> str | None:
    """Why this account cannot take the trip at all, or None when it can."""
    capabilities = candidate.capabilities
    if trip.service == "instant" and not capabilities.instant:
        return "no instant service"
    if trip.service == "same_day" and not capabilities.same_day:
        return "no same-day service"
    if trip.cold_chain and not (capabilities.instant or capabilities.cold_chain):
        return "cold-chain parcel needs an instant or insulated courier"
    limit = capabilities.max_distance_km
    if trip.cold_chain:
        limit = min(limit or policy.cold_chain_max_km, policy.cold_chain_max_km)
    if limit is not None and trip.distance_km is not None and trip.distance_km > limit:
        return f"{trip.distance_km:.1f} km is beyond its {limit:g} km"
    if not capabilities.serves(*trip.origin):
        return "pharmacy outside its service area"
    if not capabilities.serves(*trip.destination):
        return "patient outside its service area"
    return None


def eligible(
    candidates: Sequence[Candidate],
    trip: Trip,
    policy: DispatchPolicy,
    *,
    tried: frozenset[int] = frozenset(),
) -> list[Candidate]:
    """The accounts that may take the trip, in the hospital's preference order, skipping those tried."""
    ranked = sorted(candidates, key=lambda candidate: (candidate.priority, candidate.account_id))
    return [c for c in ranked if c.account_id not in tried and exclusion(c, trip, policy) is None]


@dataclass(frozen=True)
class Offer:
    """A candidate's answer to the quote request: a quote, or why there is none (error, late)."""

    candidate: Candidate
    quote: Quote | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Choice:
    """The account to book, the quote it gave (None when booked unpriced), and why, for the timeline."""

    candidate: Candidate | None
    quote: Quote | None
    reason: str


def choose(offers: Sequence[Offer], policy: DispatchPolicy) -> Choice:
    """Pick among the offers gathered for the eligible accounts (in preference order)."""
    if not offers:
        return Choice(None, None, "no enabled courier can take this order")
    cap = policy.price_cap_idr
    serviceable = [o for o in offers if o.quote is not None and o.quote.serviceable]
    if not serviceable:
        unanswered = [o for o in offers if o.quote is None]
        if not unanswered:
            return Choice(None, None, "every courier that quoted said it cannot serve this trip")
        if cap is not None:
            return Choice(None, None, "no usable quote to hold against the price cap")
        first = unanswered[0]
        return Choice(first.candidate, None, f"no usable quote; booking {_preferred(first)} unpriced")
    affordable = [o for o in serviceable if o.quote is not None and (cap is None or o.quote.price_idr <= cap)]
    if not affordable:
        cheapest = min(o.quote.price_idr for o in serviceable if o.quote is not None)
        return Choice(None, None, f"cheapest quote Rp{cheapest:,} is above the cap of Rp{cap:,}")
    if policy.choose_by == "preference":
        best = min(affordable, key=lambda o: (o.candidate.priority, o.candidate.account_id))
        return Choice(best.candidate, best.quote, f"{_preferred(best)} at {_price(best)}")
    best = min(affordable, key=_cost_rank)
    return Choice(best.candidate, best.quote, f"cheapest of {len(affordable)} quotes: {_price(best)}")


def _cost_rank(offer: Offer) -> tuple[float, float, int, int]:
    assert offer.quote is not None
    eta = offer.quote.eta_minutes if offer.quote.eta_minutes is not None else math.inf
    return (offer.quote.price_idr, eta, offer.candidate.priority, offer.candidate.account_id)


def _preferred(offer: Offer) -> str:
    return f"the hospital's preferred {offer.candidate.courier}"


def _price(offer: Offer) -> str:
    assert offer.quote is not None
    return f"{offer.candidate.courier} Rp{offer.quote.price_idr:,}"
