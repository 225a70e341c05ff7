"""CSV intake: upload through the API and the console, bad rows reported one by one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile as StarletteUploadFile

from dispatch.audit import service as audit
from dispatch.auth import service as auth_service
from dispatch.auth.api import STAFF_RESPONSES, CurrentStaff, optional_staff, role_checker
from dispatch.auth.models import Role, StaffUser
from dispatch.console.forms import csrf_token, refuse_form
from dispatch.core.db import SessionDep
from dispatch.core.problems import Problem, problem_response
from dispatch.hospitals.models import Hospital
from dispatch.intake.csv_service import CsvIngestReport, ingest_csv
from dispatch.web.templating import templates
from hospital_adapter.csv import COLUMNS, TEMPLATE_CSV

MAX_CSV_BYTES = 5 * 1024 * 1024
MULTIPART_OVERHEAD = 64 * 1024
TEMPLATE_FILENAME = "gancang-resep-template.csv"
RAW_CSV_TYPES = frozenset(
    {"text/csv", "application/csv", "text/plain", "application/vnd.ms-excel", "application/octet-stream"}
)
TOO_LARGE = "Berkas lebih dari 5 MB / the file is larger than 5 MB"

router = APIRouter(tags=["csv"])

Uploader = Annotated[StaffUser, Depends(role_checker(Role.PHARMACIST))]
OptionalStaff = Annotated[StaffUser | None, Depends(optional_staff)]


def _hospital(session: SessionDep, user: StaffUser) -> Hospital:
    hospital = session.get(Hospital, user.hospital_id)
    if hospital is None:
        raise Problem(403, "Forbidden", "Akun tidak terhubung ke rumah sakit / the account has no hospital.")
    return hospital


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Problem(413, "Payload too large", TOO_LARGE, limit_bytes=MAX_CSV_BYTES)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "Payload too large", TOO_LARGE, limit_bytes=MAX_CSV_BYTES)
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_file(request: Request, body: bytes) -> tuple[bytes, str]:
    """Parse a multipart body already read (and size-checked) into the ``file`` field's bytes and name."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, receive).form()
    try:
        upload = form.get("file")
        if not isinstance(upload, StarletteUploadFile):
            raise Problem(
                422,
                "Invalid request",
                "Kolom formulir 'file' berisi berkas CSV wajib ada / the form field 'file' with the CSV is required.",
            )
        content = await upload.read()
        return content, upload.filename or "upload.csv"
    finally:
        await form.close()


@router.post(
    "/api/v1/intake/csv",
    operation_id="intake-csv-upload",
    responses={
        200: {"description": "At least one prescription taken; bad rows (if any) listed in `errors`"},
        401: {"description": "Not logged in (problem+json)"},
        403: {"description": "Not a pharmacist or admin (problem+json)"},
        413: {"description": "Larger than 5 MB (problem+json)"},
        415: {"description": "Neither multipart/form-data nor text/csv (problem+json)"},
        422: {"description": "Nothing taken: problem+json whose `errors` lists every bad row"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
)
async def upload_csv(
    request: Request,
    session: SessionDep,
    user: Uploader,
    filename: Annotated[str, Query(max_length=200, pattern=r"^[^\x00]*$")] = "upload.csv",
) -> Response:
    """Upload a prescription CSV (see `GET /api/v1/intake/csv/template`); good prescriptions become orders."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        body = await _read_limited(request, MAX_CSV_BYTES + MULTIPART_OVERHEAD)
        raw, filename = await _multipart_file(request, body)
        if len(raw) > MAX_CSV_BYTES:
            raise Problem(413, "Payload too large", TOO_LARGE, limit_bytes=MAX_CSV_BYTES)
    elif media_type in RAW_CSV_TYPES or not media_type:
        raw = await _read_limited(request, MAX_CSV_BYTES)
    else:
        raise Problem(
            415,
            "Unsupported media type",
            "Kirim multipart/form-data (kolom 'file') atau text/csv / send multipart/form-data or text/csv.",
        )
    hospital = _hospital(session, user)
    report = await run_in_threadpool(ingest_csv, hospital, raw, filename, user.username)
    _audit(session, user, report)
    if not report.taken:
        return problem_response(
            422,
            "CSV tidak diterima / CSV not accepted",
            "Tidak ada resep yang dapat diambil; perbaiki baris berikut / "
            "no prescription could be taken; fix the rows listed.",
            **report.as_dict(),
        )
    return JSONResponse(report.as_dict())


@router.get(
    "/api/v1/intake/csv/template",
    operation_id="intake-csv-template",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The CSV template (UTF-8, `;`)"},
        **STAFF_RESPONSES,
    },
)
def csv_template(_user: CurrentStaff) -> Response:
    return Response(
        TEMPLATE_CSV,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{TEMPLATE_FILENAME}"'},
    )


def _audit(session: SessionDep, user: StaffUser, report: CsvIngestReport) -> None:
    """Every upload is kept, taken or not: ``ingest_csv`` committed its own rows, this entry says who sent
    the file and what came of it."""
    audit.record(
        session,
        user,
        "intake.csv_upload",
        "inbox_message",
        report.inbox_id,
        report.filename,
        {"accepted": len(report.accepted), "errors": len(report.errors)},
    )
    session.commit()


# --- console ----------------------------------------------------------------------------------------------


def _page(
    request: Request,
    user: StaffUser,
    *,
    report: CsvIngestReport | None = None,
    error: str = "",
    status_code: int = 200,
) -> Response:
    context = {
        "user": user,
        "csrf": csrf_token(request),
        "can_upload": auth_service.may(user, Role.PHARMACIST),
        "columns": COLUMNS,
        "report": report,
        "error": error,
        "max_mb": MAX_CSV_BYTES // (1024 * 1024),
    }
    return templates.TemplateResponse(request, "csv_upload.html", context, status_code=status_code)


@router.get("/console/intake/csv", response_class=HTMLResponse, include_in_schema=False)
def upload_page(request: Request, user: OptionalStaff) -> Response:
    if user is None:
        return RedirectResponse("/console/login", status_code=303)
    return _page(request, user)


@router.post("/console/intake/csv", response_class=HTMLResponse, include_in_schema=False)
async def upload_form(
    request: Request,
    session: SessionDep,
    user: OptionalStaff,
    csrf: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    refused = refuse_form(
        request,
        user,
        csrf,
        "Hanya apoteker yang dapat mengunggah resep / only pharmacists may upload prescriptions",
    )
    if refused is not None:
        return refused
    assert user is not None
    if file is None or not file.filename:
        return _page(request, user, error="Pilih berkas CSV / choose a CSV file", status_code=422)
    raw = await file.read(MAX_CSV_BYTES + 1)
    if len(raw) > MAX_CSV_BYTES:
        return _page(request, user, error=TOO_LARGE, status_code=413)
    hospital = _hospital(session, user)
    report = await run_in_threadpool(ingest_csv, hospital, raw, file.filename, user.username)
    _audit(session, user, report)
    return _page(request, user, report=report, status_code=200 if report.taken else 422)
