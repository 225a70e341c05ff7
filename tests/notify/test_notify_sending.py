"""The ``notify.sms`` task with a hospital's own gateways: retries, refusals, opt-outs, the WhatsApp fallback."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from notify_support import (
    TWILIO,
    TWILIO_CREATED,
    TWILIO_INVALID_TO,
    TWILIO_MESSAGES_URL,
    TWILIO_UNSUBSCRIBED,
    WHATSAPP,
    WHATSAPP_ACCEPTED,
    WHATSAPP_URL,
    alerts,
    opt_outs,
    run_outbox,
    sms_messages,
    sms_rows,
)

from dispatch.notify.models import MessageStatus
from dispatch.notify.service import opt_out

pytestmark = pytest.mark.usefixtures("provider_gateways")


@pytest.fixture
def twilio_hospital(configure_messaging) -> None:
    configure_messaging({"sms": {"gateway": "twilio", "options": TWILIO}})


@pytest.mark.usefixtures("twilio_hospital")
def test_a_5xx_then_success_sends_once_and_counts_both_attempts(release_order):
    order_id = release_order()
    [row] = sms_rows(order_id)
    with respx.mock(assert_all_called=True) as api:
        route = api.post(TWILIO_MESSAGES_URL).mock(
            side_effect=[httpx.Response(500, text="oops"), httpx.Response(201, json=TWILIO_CREATED)]
        )
        run_outbox(row.id)  # Task.apply runs the retry at once
        run_outbox(row.id)  # a redelivery of the processed message sends nothing
    assert route.call_count == 2
    first, second = (dict(parse_qsl(call.request.content.decode())) for call in route.calls)
    assert first == second  # the same message, not a second one
    [sms] = sms_messages()
    assert (sms.status, sms.attempts, sms.gateway, sms.channel) == ("queued", 2, "twilio", "sms")
    assert sms.provider_message_id == TWILIO_CREATED["sid"]
    assert sms.error is None
    assert "PIN serah terima" in sms.text
    assert alerts(order_id) == []


@pytest.mark.usefixtures("twilio_hospital")
def test_a_refusal_is_recorded_once_and_shown_to_staff(release_order):
    order_id = release_order()
    [row] = sms_rows(order_id)
    with respx.mock() as api:
        route = api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(400, json=TWILIO_INVALID_TO))
        run_outbox(row.id)
    assert route.call_count == 1
    [sms] = sms_messages()
    assert (sms.status, sms.attempts) == ("failed", 1)
    assert sms.error == "Twilio 21211: The 'To' number +62812 is not a valid phone number."
    [alert] = alerts(order_id)
    assert alert.startswith("SMS 'released' to the patient failed (twilio: Twilio 21211")
    assert alert.endswith("the patient has not been told")


@pytest.mark.usefixtures("twilio_hospital")
def test_no_answer_after_sending_is_not_resent(release_order):
    order_id = release_order()
    [row] = sms_rows(order_id)
    with respx.mock() as api:
        route = api.post(TWILIO_MESSAGES_URL).mock(side_effect=httpx.ReadTimeout("timed out"))
        run_outbox(row.id)
    assert route.call_count == 1
    [sms] = sms_messages()
    assert (sms.status, sms.attempts) == ("unknown", 1)
    [alert] = alerts(order_id)
    assert "twilio did not answer" in alert and "not resent" in alert


@pytest.mark.usefixtures("twilio_hospital")
def test_a_patient_who_opted_out_is_not_messaged_and_staff_see_why(release_order, session, hospital):
    opt_out(session, hospital.id, "+6281234560101", "sms", source="staff", data={"by": "apoteker1"})
    session.commit()
    order_id = release_order()
    with respx.mock(assert_all_called=False) as api:
        route = api.post(TWILIO_MESSAGES_URL)
        run_outbox(sms_rows(order_id)[0].id)
    assert not route.called
    [sms] = sms_messages()
    assert (sms.status, sms.attempts) == (MessageStatus.OPTED_OUT, 0)
    assert sms.error == "Not sent: the patient opted out of sms messages"


@pytest.mark.usefixtures("twilio_hospital")
def test_twilios_unsubscribed_refusal_records_the_opt_out(release_order):
    order_id = release_order()
    with respx.mock() as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(400, json=TWILIO_UNSUBSCRIBED))
        run_outbox(sms_rows(order_id)[0].id)
    [sms] = sms_messages()
    assert sms.status == "opted_out"
    [record] = opt_outs()
    assert (record.phone_e164, record.channel, record.source) == ("+6281234560101", "sms", "provider")
    assert alerts(order_id) == []


def test_a_refused_sms_goes_again_as_the_whatsapp_template(release_order, configure_messaging):
    configure_messaging(
        {
            "language": "en",
            "sms": {"gateway": "twilio", "options": TWILIO},
            "whatsapp": {"gateway": "whatsapp", "options": WHATSAPP},
        }
    )
    order_id = release_order()
    with respx.mock(assert_all_called=True) as api:
        api.post(TWILIO_MESSAGES_URL).mock(return_value=httpx.Response(400, json=TWILIO_INVALID_TO))
        whatsapp = api.post(WHATSAPP_URL).mock(return_value=httpx.Response(200, json=WHATSAPP_ACCEPTED))
        run_outbox(sms_rows(order_id)[0].id)
        fallback = sms_rows(order_id)[1]
        assert fallback.payload["channel"] == "whatsapp"
        run_outbox(fallback.id)
        run_outbox(fallback.id)
    assert whatsapp.call_count == 1
    template = json.loads(whatsapp.calls.last.request.content)["template"]
    assert (template["name"], template["language"]) == ("gancang_obat_disiapkan", {"code": "en"})
    sms, message = sms_messages()
    assert (sms.channel, sms.status) == ("sms", "failed")
    assert "Handover PIN" in sms.text  # the hospital writes to its patients in English
    assert (message.channel, message.gateway, message.status) == ("whatsapp", "whatsapp", "queued")
    assert message.dedupe_key == f"{sms.dedupe_key}:whatsapp"
    assert message.provider_message_id == WHATSAPP_ACCEPTED["messages"][0]["id"]
    [alert] = alerts(order_id)
    assert alert.endswith("sent again by WhatsApp")
