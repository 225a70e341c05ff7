"""The `gancang` command: administration, the service processes, the courier sandbox and the demo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from sqlmodel import SQLModel

from couriers.sandbox.config import DEMO_EVENT_SECRET, DEMO_PARTNER_SECRET
from dispatch.auth.models import Role, StaffUserCreate
from dispatch.core.db import new_session
from dispatch.core.settings import settings

if TYPE_CHECKING:
    from dispatch.geocoding import GazetteerGeocoder

app = typer.Typer(help="Gancang: medicine delivery for Indonesian public hospitals.", no_args_is_help=True)
hospitals_app = typer.Typer(help="Hospitals (tenants).", no_args_is_help=True)
apikeys_app = typer.Typer(help="Per-hospital API keys for hospital systems.", no_args_is_help=True)
users_app = typer.Typer(help="Staff users.", no_args_is_help=True)
couriers_app = typer.Typer(help="Courier accounts per hospital.", no_args_is_help=True)
sources_app = typer.Typer(help="Sources a hospital is polled from (khanza, fhir_pull).", no_args_is_help=True)
sinks_app = typer.Typer(
    help="Where outcomes are written back (fhir_dispense, khanza_handover, event_webhook).",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
for sub, name in (
    (hospitals_app, "hospitals"),
    (apikeys_app, "apikeys"),
    (users_app, "users"),
    (couriers_app, "couriers"),
    (sources_app, "sources"),
    (sinks_app, "sinks"),
    (db_app, "db"),
):
    app.add_typer(sub, name=name)

console = Console()


def _hospital_or_exit(code: str):  # type: ignore[no-untyped-def]
    from dispatch.hospitals.repository import get_by_code

    with new_session() as session:
        hospital = get_by_code(session, code)
    if hospital is None:
        console.print(f"[red]No hospital with code {code}[/red]")
        raise typer.Exit(1)
    return hospital


def _checked_settings(settings_json: str, validate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Settings are checked by their own model before anything is stored; a refusal exits 1."""
    data: dict[str, Any] = json.loads(settings_json)
    try:
        validate(data)
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from exc
    return data


def _store(row: SQLModel) -> None:
    with new_session() as session:
        session.add(row)
        session.commit()


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (SQLite file by default, or DATABASE_URL)."""
    from dispatch.core.migrate import upgrade_database

    upgrade_database(revision)
    console.print("Database is at the latest schema.")


@hospitals_app.command("create")
def hospitals_create(
    code: Annotated[str, typer.Option(help="Short code, e.g. RSUDBLB")],
    name: Annotated[str, typer.Option()],
    lat: Annotated[float, typer.Option(help="Pharmacy pick-up point latitude")],
    lon: Annotated[float, typer.Option(help="Pharmacy pick-up point longitude")],
    phone: Annotated[str, typer.Option(help="The pharmacy's phone, given to couriers")],
    address: str = "",
    kabupaten: Annotated[str, typer.Option(help="Service area kabupaten code, e.g. 35.10")] = "",
) -> None:
    from dispatch.hospitals.models import HospitalCreate
    from dispatch.hospitals.service import HospitalExists, create_hospital

    data = HospitalCreate(
        code=code, name=name, lat=lat, lon=lon, address=address, phone=phone, kabupaten_code=kabupaten
    )
    with new_session() as session:
        try:
            hospital = create_hospital(session, data)
        except HospitalExists as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        session.commit()
        console.print(f"Hospital {hospital.code} created (id {hospital.id}).")


@apikeys_app.command("create")
def apikeys_create(hospital: Annotated[str, typer.Option(help="Hospital code")], name: str = "simrs") -> None:
    """Prints the key once; only its hash is stored."""
    from dispatch.hospitals.service import create_api_key

    record = _hospital_or_exit(hospital)
    with new_session() as session:
        _key, plaintext = create_api_key(session, record, name)
        session.commit()
    console.print(plaintext, soft_wrap=True, highlight=False)


@users_app.command("create")
def users_create(
    hospital: Annotated[str, typer.Option(help="Hospital code")],
    username: Annotated[str, typer.Option()],
    role: Annotated[Role, typer.Option()],
    full_name: Annotated[str, typer.Option()] = "",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    from dispatch.auth.service import UserExists, create_user

    record = _hospital_or_exit(hospital)
    data = StaffUserCreate(username=username, full_name=full_name or username, role=role, password=password)
    with new_session() as session:
        try:
            user = create_user(session, record, data)
        except UserExists as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from exc
        session.commit()
        console.print(f"User {user.username} ({user.role.value}) created for {hospital}.")


@couriers_app.command("add")
def couriers_add(
    hospital: Annotated[str, typer.Option(help="Hospital code")],
    courier: Annotated[str, typer.Option(help="Courier plugin name, e.g. gosend")],
    settings_json: Annotated[str, typer.Option("--settings", help="JSON settings for the courier plugin")],
    priority: Annotated[int, typer.Option(help="Lower is asked first")] = 100,
    label: Annotated[str, typer.Option(help="Tells two accounts with the same courier apart")] = "default",
) -> None:
    from dispatch.hospitals.service import add_courier_account

    record = _hospital_or_exit(hospital)
    with new_session() as session:
        account = add_courier_account(
            session, record, courier, json.loads(settings_json), priority=priority, label=label
        )
        session.commit()
        console.print(f"Courier account {account.id} ({courier}) added to {hospital}.")


@hospitals_app.command("set-policy")
def hospitals_set_policy(
    hospital: Annotated[str, typer.Option(help="Hospital code")],
    eligibility: Annotated[str | None, typer.Option(help="JSON: who may receive deliveries")] = None,
    restrictions: Annotated[str | None, typer.Option(help="JSON: what may not travel by courier")] = None,
    eligible_ids_file: Annotated[
        Path | None, typer.Option(help="A list of eligible patient numbers (MRN), one per line")
    ] = None,
    dispatch: Annotated[
        str | None,
        typer.Option(help='JSON: courier choice, e.g. {"choose_by": "cost", "price_cap_idr": 30000}'),
    ] = None,
    geocoding: Annotated[
        str | None,
        typer.Option(help='JSON: address finding, e.g. {"min_confidence": 0.6, "service_radius_km": 40}'),
    ] = None,
    messaging: Annotated[
        str | None,
        typer.Option(
            help='JSON: patient messages, e.g. {"language": "id", "sms": {"gateway": "twilio", "options": {…}}, '
            '"whatsapp": {…}}; credentials are checked, never printed'
        ),
    ] = None,
) -> None:
    """Set the hospital's rules; each is checked by its model before it is stored."""
    from pydantic import ValidationError

    from dispatch.dispatching.policy import DispatchPolicy
    from dispatch.geocoding.policy import GeocodingPolicy
    from dispatch.hospitals.models import Hospital
    from dispatch.notify.settings import MessagingSettings

    if messaging is not None:
        try:
            MessagingSettings.model_validate_json(messaging)
        except ValidationError as exc:
            # Where and what only: the settings hold provider credentials.
            for error in exc.errors(include_input=False, include_url=False):
                console.print(f"[red]messaging {'.'.join(map(str, error['loc']))}: {error['msg']}[/red]")
            raise typer.Exit(1) from None
    from hospital_adapter.eligibility import EligibilityPolicy
    from hospital_adapter.restrictions import RestrictionPolicy

    record = _hospital_or_exit(hospital)
    with new_session() as session:
        stored = session.get(Hospital, record.id)
        assert stored is not None
        policy = dict(stored.eligibility_policy)
        if eligibility is not None:
            policy = json.loads(eligibility)
        if eligible_ids_file is not None:
            ids = [line.strip() for line in eligible_ids_file.read_text().splitlines() if line.strip()]
            policy["eligible_patient_ids"] = ids
        EligibilityPolicy.model_validate(policy)
        stored.eligibility_policy = policy
        if restrictions is not None:
            RestrictionPolicy.model_validate(json.loads(restrictions))
            stored.restriction_policy = json.loads(restrictions)
        if dispatch is not None:
            stored.dispatch_policy = DispatchPolicy.model_validate_json(dispatch).model_dump(
                exclude_unset=True
            )
        if geocoding is not None:
            stored.geocoding_policy = GeocodingPolicy.model_validate_json(geocoding).model_dump(
                mode="json", exclude_unset=True
            )
        if messaging is not None:
            # Stored as given: the gateway options' secrets would dump masked from the validated model.
            stored.messaging_settings = json.loads(messaging)
        session.commit()
    console.print(f"Policies of {hospital} updated.")


@sources_app.command("add")
def sources_add(
    hospital: Annotated[str, typer.Option(help="Hospital code")],
    source: Annotated[str, typer.Option(help="khanza or fhir_pull")],
    settings_json: Annotated[str, typer.Option("--settings", help="JSON settings for the source")],
) -> None:
    from dispatch.hospitals.models import HospitalSource
    from dispatch.sources.pullers import PULLERS, validate_settings

    if source not in PULLERS:
        console.print(f"[red]Unknown source {source}; known: {', '.join(sorted(PULLERS))}[/red]")
        raise typer.Exit(1)
    source_settings = _checked_settings(settings_json, lambda data: validate_settings(source, data))
    record = _hospital_or_exit(hospital)
    assert record.id is not None
    _store(HospitalSource(hospital_id=record.id, source=source, settings=source_settings))
    console.print(
        f"{source} source added to {hospital}; beat polls it every {settings.source_poll_seconds:.0f} s."
    )


@sinks_app.command("add")
def sinks_add(
    hospital: Annotated[str, typer.Option(help="Hospital code")],
    kind: Annotated[str, typer.Option(help="fhir_dispense, khanza_handover or event_webhook")],
    settings_json: Annotated[str, typer.Option("--settings", help="JSON settings for the sink")],
) -> None:
    from dispatch.hospitals.models import HospitalSink
    from dispatch.writeback.service import validate_sink_settings

    sink_settings = _checked_settings(settings_json, lambda data: validate_sink_settings(kind, data))
    record = _hospital_or_exit(hospital)
    assert record.id is not None
    _store(HospitalSink(hospital_id=record.id, kind=kind, settings=sink_settings))
    console.print(f"{kind} write-back added to {hospital}.")


@app.command()
def ingest(
    hospital: Annotated[str, typer.Option(help="Hospital code")],
    paths: Annotated[
        list[Path], typer.Argument(help="FHIR JSON, HL7 v2 or CSV files, told apart by content")
    ],
) -> None:
    """Take prescription files as if the hospital had sent them; exits 1 if any file was refused."""
    from rich.progress import Progress

    from dispatch.intake.service import intake_for_hospital
    from hospital_adapter.canonical import SourceInputError
    from hospital_adapter.detect import detect_source
    from hospital_adapter.registry import get_source

    record = _hospital_or_exit(hospital)
    refused = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("Ingesting", total=len(paths))
        for path in paths:
            raw = path.read_bytes()
            kind = detect_source(raw)
            try:
                outcomes = intake_for_hospital(
                    kind, get_source(kind).parse, raw, {"x-file-name": path.name}, record
                )
            except SourceInputError as exc:
                refused += 1
                console.print(f"[red]✗ {path} ({kind}): {exc}[/red]", highlight=False, soft_wrap=True)
            else:
                created = sum(o.created for o in outcomes)
                console.print(
                    f"✓ {path} ({kind}): {len(outcomes)} prescription(s), {created} new order(s)",
                    highlight=False,
                    soft_wrap=True,
                )
            progress.advance(task)
    console.print(f"{len(paths) - refused} file(s) taken, {refused} refused.")
    if refused:
        raise typer.Exit(1)


@app.command()
def mllp(
    hospital: Annotated[str, typer.Option(help="Hospital code: the port belongs to this hospital's SIMRS")],
    host: str = "0.0.0.0",
    port: int = 2575,
) -> None:
    """Listen for HL7 v2 orders over MLLP (one port per hospital; keep it on the hospital LAN or a VPN)."""
    import asyncio

    from dispatch.intake.mllp_listener import serve as serve_mllp

    _hospital_or_exit(hospital)
    console.print(f"MLLP listener for {hospital} on {host}:{port}")
    asyncio.run(serve_mllp(host, port, hospital))


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the API (uvicorn)."""
    import uvicorn

    uvicorn.run("dispatch.main:app", host=host, port=port, workers=workers, log_level="warning")


@app.command()
def worker(
    concurrency: int = 2, beat: Annotated[bool, typer.Option(help="Embed the beat scheduler")] = False
) -> None:
    """Run a Celery worker (add --beat on exactly one worker when there is no separate beat)."""
    from dispatch.core.celery_app import WORKER_QUEUES, celery_app

    argv = [
        "worker",
        "--loglevel=INFO",
        f"--concurrency={concurrency}",
        f"--queues={','.join(WORKER_QUEUES)}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv.append("--beat")
    celery_app.worker_main(argv)


@app.command("beat")
def beat_command() -> None:
    """Run the single Celery beat scheduler (the outbox relay tick)."""
    from dispatch.core.celery_app import celery_app

    celery_app.start(["beat", "--loglevel=INFO"])


@app.command()
def sandbox(
    host: str = "127.0.0.1",
    port: int = 8100,
    webhook_url: Annotated[str, typer.Option(help="Where to send GoSend status webhooks")] = (
        "http://127.0.0.1:8000/webhooks/couriers/gosend"
    ),
    webhook_token: Annotated[
        str, typer.Option(envvar="GANCANG_SANDBOX_WEBHOOK_TOKEN")
    ] = "sandbox-webhook-token",  # noqa: S107
    client_id: Annotated[str, typer.Option(envvar="GANCANG_SANDBOX_CLIENT_ID")] = "sandbox-client",
    pass_key: Annotated[str, typer.Option(envvar="GANCANG_SANDBOX_PASS_KEY")] = "sandbox-pass-key",  # noqa: S107
    webhook_header: Annotated[
        str, typer.Option(help="Header that carries the webhook token")
    ] = "Authorization",
    grabexpress_webhook_url: Annotated[
        str, typer.Option(help="Where to send GrabExpress tracking webhooks")
    ] = "http://127.0.0.1:8000/webhooks/couriers/grabexpress",
    lalamove_webhook_url: Annotated[
        str, typer.Option(help="Where to send Lalamove webhooks")
    ] = "http://127.0.0.1:8000/webhooks/couriers/lalamove",
    partner_webhook_url: Annotated[
        str, typer.Option(help="Where the local partner sends its status messages")
    ] = "http://127.0.0.1:8000/webhooks/couriers/webhook",
    partner_job_secret: Annotated[
        str,
        typer.Option(
            envvar="GANCANG_SANDBOX_PARTNER_JOB_SECRET",
            help="whsec_ secret the jobs we offer are signed with (the account's signing_secret)",
        ),
    ] = DEMO_PARTNER_SECRET,
    partner_event_secret: Annotated[
        str,
        typer.Option(
            envvar="GANCANG_SANDBOX_PARTNER_EVENT_SECRET",
            help="whsec_ secret the partner signs its status messages with (the account's webhook_secret)",
        ),
    ] = DEMO_EVENT_SECRET,
    step_delay: float = 2.0,
    scenario: Annotated[
        str, typer.Option(help="happy, wrong_pin_first, no_driver, failed_delivery or driver_cancels")
    ] = "happy",
    duplicate_events: Annotated[bool, typer.Option(help="Send every webhook twice")] = False,
    shuffle: Annotated[bool, typer.Option(help="Send the last two webhooks out of order")] = False,
) -> None:
    """Run the courier sandbox: GoSend, GrabExpress, Lalamove and local-partner dialects that send webhooks back.

    Per-booking scenarios and API faults are set at run time through ``/_sandbox/rules`` and ``/_sandbox/faults``.
    """
    from couriers.sandbox import SandboxConfig
    from couriers.sandbox import serve as serve_sandbox

    config = SandboxConfig.model_validate(
        {
            "step_delay_seconds": step_delay,
            "default_scenario": scenario,
            "duplicate_events": duplicate_events,
            "shuffle": shuffle,
            "gosend": {
                "client_id": client_id,
                "pass_key": pass_key,
                "webhook_url": webhook_url,
                "webhook_token": webhook_token,
                "webhook_header": webhook_header,
            },
            "grabexpress": {"webhook_url": grabexpress_webhook_url},
            "lalamove": {"webhook_url": lalamove_webhook_url},
            "webhook": {
                "webhook_url": partner_webhook_url,
                "job_secret": partner_job_secret,
                "event_secret": partner_event_secret,
            },
        }
    )
    serve_sandbox(host, port, config)


@app.command()
def demo(
    until_done: Annotated[bool, typer.Option("--until-done", help="Exit once every order has ended")] = False,
    port: int = 8000,
    sandbox_port: int = 8100,
    step_delay: Annotated[
        float, typer.Option(help="Seconds between the sandbox courier's status updates")
    ] = 1.5,
) -> None:
    """Run the whole loop on the embedded defaults: API, worker, courier sandbox, six prescriptions."""
    from dispatch.demo import run_demo

    raise typer.Exit(
        run_demo(until_done=until_done, port=port, sandbox_port=sandbox_port, step_delay=step_delay)
    )


GEOCODE_COLUMNS = ("status", "code", "name", "level", "lat", "lon", "confidence", "alternatives")


@app.command()
def geocode(
    address: Annotated[
        str | None, typer.Argument(help='One address, e.g. "Ds. Kemiren, Kec. Glagah"')
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            exists=True,
            dir_okay=False,
            help="A CSV file whose address column is geocoded row by row",
        ),
    ] = None,
    column: Annotated[str, typer.Option(help="The CSV column holding the addresses")] = "address",
    output: Annotated[
        Path | None, typer.Option(help="Where --csv writes its result (default: FILE.geocoded.csv beside it)")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="Region code addresses must lie in: the hospital's kabupaten, e.g. 35.10"),
    ] = None,
) -> None:
    """Geocode offline against the Kemendagri gazetteer.

    One address is printed as JSON and exits 1 unless it was found in the area. With --csv every row keeps its
    columns and gains geocode_* columns (status, code, name, level, lat, lon, confidence, alternatives).
    """
    if (address is None) == (csv_file is None):
        raise typer.BadParameter("give either an ADDRESS or --csv FILE")
    from dispatch.geocoding import GazetteerGeocoder

    geocoder = GazetteerGeocoder()
    if scope is not None and geocoder.gazetteer.get(scope) is None:
        raise typer.BadParameter(f"unknown region code {scope!r}", param_hint="--scope")
    if address is not None:
        result = geocoder.describe(geocoder.resolve(address, scope=scope))
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        raise typer.Exit(0 if result["status"] == "found" else 1)
    assert csv_file is not None
    _geocode_csv(geocoder, csv_file, column, output or csv_file.with_suffix(".geocoded.csv"), scope)


def _geocode_csv(
    geocoder: GazetteerGeocoder, source: Path, column: str, target: Path, scope: str | None
) -> None:
    """Rows are read whole first, so the progress bar knows its length and a bad column fails before any work.

    A row with more cells than the header keeps only those under a header name.
    """
    import collections
    import csv
    from typing import get_args

    from rich.progress import Progress

    from dispatch.geocoding.geocoder import Status

    with source.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        fields = list(reader.fieldnames or [])
    if column not in fields:
        console.print(
            f"[red]{source} has no column {column!r}; columns: {', '.join(fields) or 'none'}[/red]",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    counts: collections.Counter[str] = collections.Counter()
    with target.open("w", newline="", encoding="utf-8") as handle, Progress(console=console) as progress:
        writer = csv.DictWriter(
            handle, [*fields, *(f"geocode_{name}" for name in GEOCODE_COLUMNS)], extrasaction="ignore"
        )
        writer.writeheader()
        task = progress.add_task("Geocoding", total=len(rows))
        for row in rows:
            result = geocoder.describe(geocoder.resolve(row[column] or "", scope=scope))
            result["alternatives"] = "; ".join(
                f"{alt['code']} {alt['name']} (Kec. {alt['kecamatan']})" for alt in result["alternatives"]
            )
            writer.writerow({**row, **{f"geocode_{name}": result[name] for name in GEOCODE_COLUMNS}})
            counts[result["status"]] += 1
            progress.advance(task)
    summary = ", ".join(f"{status} {counts[status]}" for status in get_args(Status))
    console.print(f"{len(rows)} address(es): {summary}. Written to {target}", highlight=False, soft_wrap=True)


@app.callback()
def main() -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
