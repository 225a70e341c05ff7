"""The dispatch rules, pure: who may take a trip, and who is chosen from the quotes."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from couriers.base import Capabilities, Quote, ServiceArea
from dispatch.dispatching.policy import (
    Candidate,
    DispatchPolicy,
    Offer,
    Trip,
    choose,
    eligible,
    exclusion,
)

RSUD_BLAMBANGAN = (-8.2192, 114.3691)
KALIBARU = (-8.2926, 114.0006)
SURABAYA = ServiceArea("Surabaya", -7.2575, 112.7521, 30)

GOSEND = Candidate(1, "gosend", 10, Capabilities(instant=True, same_day=True, max_distance_km=40))
GRAB = Candidate(2, "grabexpress", 20, Capabilities(instant=True, max_distance_km=35))
LALAMOVE = Candidate(3, "lalamove", 30, Capabilities(instant=True, service_areas=(SURABAYA,)))
SHELTER = Candidate(
    4, "webhook", 40, Capabilities(instant=False, same_day=True, cold_chain=True, max_distance_km=60)
)

TOWN_TRIP = Trip(RSUD_BLAMBANGAN, (-8.2000, 114.3500), distance_km=3.1, cold_chain=False)


def quote(courier: str, price: int, *, eta: int | None = None, serviceable: bool = True) -> Quote:
    return Quote(courier, "instant", price, None, serviceable, eta_minutes=eta)


def test_every_capable_account_is_eligible_in_the_hospitals_order():
    assert eligible([SHELTER, GRAB, GOSEND], TOWN_TRIP, DispatchPolicy()) == [GOSEND, GRAB]


def test_accounts_already_tried_are_skipped():
    assert eligible([GOSEND, GRAB], TOWN_TRIP, DispatchPolicy(), tried=frozenset({1})) == [GRAB]


@pytest.mark.parametrize(
    ("candidate", "trip", "reason"),
    [
        (GRAB, Trip(RSUD_BLAMBANGAN, KALIBARU, 38.0, False), "38.0 km is beyond its 35 km"),
        (LALAMOVE, TOWN_TRIP, "pharmacy outside its service area"),
        (SHELTER, TOWN_TRIP, "no instant service"),
        (GRAB, Trip(RSUD_BLAMBANGAN, KALIBARU, 12.0, False, service="same_day"), "no same-day service"),
        # Cold chain: even an instant courier only within the hospital's fridge-free distance.
        (GOSEND, Trip(RSUD_BLAMBANGAN, KALIBARU, 31.0, True), "31.0 km is beyond its 30 km"),
    ],
)
def test_why_an_account_cannot_take_a_trip(candidate, trip, reason):
    assert exclusion(candidate, trip, DispatchPolicy()) == reason


def test_the_patient_must_be_inside_the_area_too():
    in_surabaya = (-7.26, 112.75)
    trip = Trip(in_surabaya, RSUD_BLAMBANGAN, None, False)
    assert exclusion(LALAMOVE, trip, DispatchPolicy()) == "patient outside its service area"
    assert exclusion(LALAMOVE, Trip(in_surabaya, (-7.30, 112.73), 4.6, False), DispatchPolicy()) is None


def test_an_insulated_same_day_partner_may_carry_cold_chain_same_day():
    trip = Trip(RSUD_BLAMBANGAN, KALIBARU, 25.0, True, service="same_day")
    assert exclusion(SHELTER, trip, DispatchPolicy()) is None


def test_the_cheapest_serviceable_quote_wins_then_the_shorter_eta():
    offers = [
        Offer(GOSEND, quote("gosend", 18_000, eta=40)),
        Offer(GRAB, quote("grabexpress", 15_000, eta=50)),
        Offer(SHELTER, quote("webhook", 15_000, eta=30)),
        Offer(LALAMOVE, quote("lalamove", 9_000, serviceable=False)),
    ]
    choice = choose(offers, DispatchPolicy())
    assert choice.candidate == SHELTER
    assert choice.quote == offers[2].quote
    assert choice.reason == "cheapest of 3 quotes: webhook Rp15,000"


def test_equal_price_and_eta_goes_to_the_hospitals_preference():
    offers = [Offer(GRAB, quote("grabexpress", 15_000)), Offer(GOSEND, quote("gosend", 15_000))]
    assert choose(offers, DispatchPolicy()).candidate == GOSEND


def test_preference_mode_takes_the_first_account_that_quotes_within_the_cap():
    offers = [
        Offer(GOSEND, quote("gosend", 40_000)),
        Offer(GRAB, quote("grabexpress", 25_000)),
        Offer(SHELTER, quote("webhook", 10_000)),
    ]
    choice = choose(offers, DispatchPolicy(choose_by="preference", price_cap_idr=30_000))
    assert choice.candidate == GRAB
    assert choice.reason == "the hospital's preferred grabexpress at grabexpress Rp25,000"


def test_quotes_above_the_cap_leave_the_order_to_staff():
    offers = [Offer(GOSEND, quote("gosend", 42_000)), Offer(GRAB, quote("grabexpress", 35_000))]
    choice = choose(offers, DispatchPolicy(price_cap_idr=30_000))
    assert choice.candidate is None
    assert choice.reason == "cheapest quote Rp35,000 is above the cap of Rp30,000"


def test_a_courier_that_did_not_answer_is_not_chosen_over_one_that_did():
    offers = [Offer(GOSEND, problem="no answer within 4 s"), Offer(GRAB, quote("grabexpress", 30_000))]
    assert choose(offers, DispatchPolicy()).candidate == GRAB


def test_when_nobody_quotes_the_preferred_account_is_booked_unpriced():
    offers = [Offer(GOSEND, problem="no answer within 4 s"), Offer(GRAB, problem="HTTP 503")]
    choice = choose(offers, DispatchPolicy())
    assert (choice.candidate, choice.quote) == (GOSEND, None)
    assert choice.reason == "no usable quote; booking the hospital's preferred gosend unpriced"


def test_when_nobody_quotes_a_capped_hospital_is_not_booked_unpriced():
    choice = choose([Offer(GOSEND, problem="HTTP 503")], DispatchPolicy(price_cap_idr=30_000))
    assert choice.candidate is None
    assert choice.reason == "no usable quote to hold against the price cap"


def test_unserviceable_answers_leave_no_choice():
    choice = choose([Offer(GOSEND, quote("gosend", 10_000, serviceable=False))], DispatchPolicy())
    assert choice.candidate is None
    assert choice.reason == "every courier that quoted said it cannot serve this trip"


def test_no_offers_at_all():
    assert choose([], DispatchPolicy()).reason == "no enabled courier can take this order"


@pytest.mark.parametrize(
    "settings",
    [{"choose_by": "random"}, {"price_cap_idr": 0}, {"quote_deadline_seconds": 60}, {"surprise": 1}],
)
def test_a_policy_that_makes_no_sense_is_refused(settings):
    with pytest.raises(ValidationError):
        DispatchPolicy.model_validate(settings)
