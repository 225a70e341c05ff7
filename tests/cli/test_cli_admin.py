"""The `gancang` administration commands, run against the test PostgreSQL database."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from dispatch.auth.models import Role, StaffUser
from dispatch.auth.service import login
from dispatch.cli import app
from dispatch.hospitals.models import CourierAccount, Hospital
from dispatch.hospitals.service import authenticate_api_key

runner = CliRunner()

HOSPITAL_ARGS = [
    "hospitals", "create", "--code", "RSUDGTG", "--name", "RSUD Genteng", "--lat", "-8.3477", "--lon", "114.1484",
    "--phone", "0811-3000-4949", "--kabupaten", "35.10",
]  # fmt: skip


def test_create_hospital_api_key_and_pharmacist(session: Session) -> None:
    assert runner.invoke(app, HOSPITAL_ARGS).exit_code == 0
    hospital = session.exec(select(Hospital).where(Hospital.code == "RSUDGTG")).one()
    assert (hospital.name, hospital.kabupaten_code) == ("RSUD Genteng", "35.10")

    result = runner.invoke(app, ["apikeys", "create", "--hospital", "RSUDGTG"])
    assert result.exit_code == 0
    printed_key = result.stdout.strip()
    assert printed_key.startswith("gk_")
    authenticated = authenticate_api_key(session, printed_key)
    assert authenticated is not None
    assert authenticated.id == hospital.id

    user_args = ["users", "create", "--hospital", "RSUDGTG", "--username", "apoteker.genteng", "--role", "pharmacist",
                 "--full-name", "Apoteker Genteng", "--password", "kata-sandi-yang-panjang"]  # fmt: skip
    assert runner.invoke(app, user_args).exit_code == 0
    user = session.exec(select(StaffUser).where(StaffUser.username == "apoteker.genteng")).one()
    assert user.role == Role.PHARMACIST
    assert user.hospital_id == hospital.id
    assert "kata-sandi" not in user.password_hash
    assert login(session, "apoteker.genteng", "kata-sandi-yang-panjang")[0].id == user.id


def test_refuses_duplicates_and_unknown_hospitals(session: Session) -> None:
    assert runner.invoke(app, HOSPITAL_ARGS).exit_code == 0
    again = runner.invoke(app, HOSPITAL_ARGS)
    assert again.exit_code == 1
    assert "already exists" in again.stdout
    missing = runner.invoke(app, ["apikeys", "create", "--hospital", "NOPE"])
    assert missing.exit_code == 1
    assert "No hospital with code NOPE" in missing.stdout
    assert len(session.exec(select(Hospital)).all()) == 1


def test_refuses_a_hospital_phone_couriers_cannot_call(session: Session) -> None:
    args = [*HOSPITAL_ARGS[:-4], "--phone", "12345", "--kabupaten", "35.10"]
    assert runner.invoke(app, args).exit_code != 0
    assert session.exec(select(Hospital)).all() == []


def test_short_password_is_refused(session: Session) -> None:
    runner.invoke(app, HOSPITAL_ARGS)
    args = [
        "users",
        "create",
        "--hospital",
        "RSUDGTG",
        "--username",
        "u1",
        "--role",
        "viewer",
        "--password",
        "short",
    ]
    assert runner.invoke(app, args).exit_code != 0
    assert session.exec(select(StaffUser)).all() == []


@pytest.mark.parametrize(
    ("settings", "accepted"),
    [
        ({"client_id": "c", "pass_key": "p", "webhook_token": "t"}, True),
        ({"client_id": "", "pass_key": "p"}, False),
    ],
)
def test_courier_account_settings_are_validated_by_the_plugin(
    session: Session, settings: dict[str, str], accepted: bool
) -> None:
    runner.invoke(app, HOSPITAL_ARGS)
    result = runner.invoke(
        app,
        [
            "couriers",
            "add",
            "--hospital",
            "RSUDGTG",
            "--courier",
            "gosend",
            "--settings",
            json.dumps(settings),
        ],
    )
    assert (result.exit_code == 0) is accepted
    assert len(session.exec(select(CourierAccount)).all()) == (1 if accepted else 0)


def test_ingest_takes_files_by_content_and_exits_1_when_one_is_refused(session: Session, tmp_path) -> None:
    from dispatch.demo_data import PATIENTS, demo_bundle
    from dispatch.inbox.models import InboxMessage
    from dispatch.orders.models import Order

    runner.invoke(app, HOSPITAL_ARGS)
    good = tmp_path / "resep.txt"  # misnamed on purpose: the content decides
    good.write_text(json.dumps(demo_bundle(PATIENTS[0], "RX-CLI-1")))
    bad = tmp_path / "broken.json"
    bad.write_text('{"resourceType": "Bundle", "type": "collection", "entry": []}')

    result = runner.invoke(app, ["ingest", "--hospital", "RSUDGTG", str(good), str(bad)])

    assert result.exit_code == 1
    assert f"✓ {good} (fhir): 1 prescription(s), 1 new order(s)" in result.stdout
    assert f"✗ {bad} (fhir)" in result.stdout
    assert "1 file(s) taken, 1 refused." in result.stdout
    assert len(session.exec(select(Order)).all()) == 1
    archived = session.exec(select(InboxMessage)).all()
    assert sorted(m.status.value for m in archived) == ["processed", "rejected"]
    assert {m.headers.get("x-file-name") for m in archived} == {"resep.txt", "broken.json"}

    again = runner.invoke(app, ["ingest", "--hospital", "RSUDGTG", str(good)])
    assert again.exit_code == 0
    assert "0 new order(s)" in again.stdout


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b'{"resourceType": "Bundle"}', "fhir"),
        (b"\xef\xbb\xbf  {}", "fhir"),
        (b"MSH|^~\\&|SIMRS|RSUD|GANCANG|X|20261129||RDE^O11|1|P|2.5\r", "hl7v2"),
        (b"\x0bMSH|^~\\&|A\r\x1c\r", "hl7v2"),
        (b"no_resep,no_rm,nama_pasien\n1,2,3\n", "csv"),
        (b"", "csv"),
    ],
)
def test_files_are_told_apart_by_content(content: bytes, kind: str) -> None:
    from hospital_adapter.detect import detect_source

    assert detect_source(content) == kind


def test_sources_sinks_and_policies_are_checked_before_they_are_stored(session: Session, tmp_path) -> None:
    from dispatch.hospitals.models import HospitalSink, HospitalSource

    runner.invoke(app, HOSPITAL_ARGS)
    khanza = {"dsn": "mysql+pymysql://gancang_ro:rahasia@10.0.0.5/sik"}
    ok = runner.invoke(
        app,
        ["sources", "add", "--hospital", "RSUDGTG", "--source", "khanza", "--settings", json.dumps(khanza)],
    )
    assert ok.exit_code == 0, ok.stdout
    bad = runner.invoke(
        app, ["sources", "add", "--hospital", "RSUDGTG", "--source", "khanza", "--settings", "{}"]
    )
    assert bad.exit_code == 1
    unknown = runner.invoke(
        app, ["sources", "add", "--hospital", "RSUDGTG", "--source", "simrs-x", "--settings", "{}"]
    )
    assert unknown.exit_code == 1
    assert [s.source for s in session.exec(select(HospitalSource)).all()] == ["khanza"]

    hook = {"url": "https://simrs.rsud.example/events", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    assert (
        runner.invoke(
            app,
            [
                "sinks",
                "add",
                "--hospital",
                "RSUDGTG",
                "--kind",
                "event_webhook",
                "--settings",
                json.dumps(hook),
            ],
        ).exit_code
        == 0
    )
    no_org = {"fhir": {"base_url": "https://fhir.example/fhir"}}
    refused = runner.invoke(
        app,
        [
            "sinks",
            "add",
            "--hospital",
            "RSUDGTG",
            "--kind",
            "fhir_dispense",
            "--settings",
            json.dumps(no_org),
        ],
    )
    assert refused.exit_code == 1
    assert "organization_id" in refused.stdout
    assert [s.kind for s in session.exec(select(HospitalSink)).all()] == ["event_webhook"]

    ids = tmp_path / "spm.txt"
    ids.write_text("RM-0001\nRM-0002\n\n")
    result = runner.invoke(
        app, ["hospitals", "set-policy", "--hospital", "RSUDGTG", "--eligible-ids-file", str(ids)]
    )
    assert result.exit_code == 0
    hospital = session.exec(select(Hospital).where(Hospital.code == "RSUDGTG")).one()
    session.refresh(hospital)
    assert hospital.eligibility_policy == {"eligible_patient_ids": ["RM-0001", "RM-0002"]}
    bad_policy = runner.invoke(
        app, ["hospitals", "set-policy", "--hospital", "RSUDGTG", "--eligibility", '{"accept_all": "maybe"}']
    )
    assert bad_policy.exit_code != 0

    dispatch = '{"choose_by": "preference", "price_cap_idr": 30000}'
    result = runner.invoke(app, ["hospitals", "set-policy", "--hospital", "RSUDGTG", "--dispatch", dispatch])
    assert result.exit_code == 0
    session.refresh(hospital)
    assert hospital.dispatch_policy == {"choose_by": "preference", "price_cap_idr": 30000}
    bad_dispatch = runner.invoke(
        app, ["hospitals", "set-policy", "--hospital", "RSUDGTG", "--dispatch", '{"choose_by": "random"}']
    )
    assert bad_dispatch.exit_code != 0
    session.refresh(hospital)
    assert hospital.dispatch_policy == {"choose_by": "preference", "price_cap_idr": 30000}

    geocoding = '{"min_confidence": 0.6, "service_radius_km": 40}'
    result = runner.invoke(
        app, ["hospitals", "set-policy", "--hospital", "RSUDGTG", "--geocoding", geocoding]
    )
    assert result.exit_code == 0
    session.refresh(hospital)
    assert hospital.geocoding_policy == {"min_confidence": 0.6, "service_radius_km": 40.0}
    bad_geocoding = runner.invoke(
        app, ["hospitals", "set-policy", "--hospital", "RSUDGTG", "--geocoding", '{"min_confidence": 2}']
    )
    assert bad_geocoding.exit_code != 0
