"""`gancang hospitals set-policy --messaging`: checked by the gateways themselves, secrets never printed."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.hospitals.models import Hospital
from dispatch.notify import channels, gateways
from dispatch.notify.gateways import ENTRY_POINT_GROUP, ConsoleGateway
from dispatch.notify.gateways.twilio import TwilioGateway

TOKEN = "twilio-auth-token-0123456789"
TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": TOKEN, "from_number": "RSUDBLAMBAN"}


class _EntryPoint:
    group = ENTRY_POINT_GROUP

    def __init__(self, name: str, target: type) -> None:
        self.name, self.target, self.value = name, target, f"{target.__module__}:{target.__qualname__}"

    def load(self) -> type:
        return self.target


@pytest.fixture(autouse=True)
def _twilio_installed(monkeypatch):
    installed = [_EntryPoint("console", ConsoleGateway), _EntryPoint("twilio", TwilioGateway)]
    monkeypatch.setattr(
        gateways,
        "entry_points",
        lambda *, group, name=None: [ep for ep in installed if ep.group == group and name in (None, ep.name)],
    )
    channels._parsed.cache_clear()


def test_set_policy_stores_messaging_settings_and_refuses_bad_ones_quietly(session, hospital):
    runner = CliRunner()
    good = json.dumps({"language": "en", "sms": {"gateway": "twilio", "options": TWILIO}})
    result = runner.invoke(app, ["hospitals", "set-policy", "--hospital", hospital.code, "--messaging", good])
    assert result.exit_code == 0, result.stdout
    assert TOKEN not in result.stdout
    session.refresh(hospital)
    assert hospital.messaging_settings == json.loads(good)

    for bad, problem in [
        (
            {"sms": {"gateway": "twilio", "options": TWILIO | {"from_number": None}}},
            "exactly one of from_number",
        ),
        ({"sms": {"gateway": "sendgrid"}}, "unknown SMS gateway 'sendgrid'"),
        ({"language": "jv"}, "language: Input should be 'id' or 'en'"),
        ({"whatsapp": {"gateway": "twilio", "options": TWILIO}}, "cannot send WhatsApp templates"),
        ({"sms": {"gateway": "twilio", "options": TWILIO}, "pager": True}, "pager: Extra inputs"),
    ]:
        refused = runner.invoke(
            app, ["hospitals", "set-policy", "--hospital", hospital.code, "--messaging", json.dumps(bad)]
        )
        assert refused.exit_code == 1, (bad, refused.stdout)
        assert problem in " ".join(refused.stdout.split()), refused.stdout
        assert TOKEN not in refused.stdout
    stored = session.exec(select(Hospital).where(Hospital.id == hospital.id)).one()
    session.refresh(stored)
    assert stored.messaging_settings == json.loads(good)
