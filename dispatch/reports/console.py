"""The console's report page: the table, bar charts per month, kecamatan and courier, the desa map, and a link
to the same table as CSV."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from dispatch.auth.models import StaffUser
from dispatch.console.forms import ConsoleRoute, page_role
from dispatch.core.clock import as_wib, utcnow
from dispatch.core.db import SessionDep
from dispatch.geocoding import maps
from dispatch.hospitals.models import Hospital
from dispatch.reports import charts, repository, service
from dispatch.reports.api import REPORT_ROLES, load_report
from dispatch.reports.repository import Dimension
from dispatch.reports.service import MonthRange, ReportRefused
from dispatch.web.templating import templates

router = APIRouter(
    prefix="/console/reports", tags=["console"], include_in_schema=False, route_class=ConsoleRoute
)

DEFAULT_MONTHS = 12
DEFAULT_GROUP_BY: tuple[Dimension, ...] = ("month", "payer")
# The charts, each over one dimension: (dimension, title).
CHARTS: tuple[tuple[Dimension, str], ...] = (
    ("month", "Per bulan / Per month"),
    ("kecamatan", "Per kecamatan"),
    ("courier", "Per kurir / Per courier"),
)
ReportPageReader = Annotated[
    StaffUser,
    Depends(
        page_role(*REPORT_ROLES, refusal="Laporan tidak untuk peran ini / reports are not for this role")
    ),
]


@router.get("", response_class=HTMLResponse)
def reports_page(
    request: Request,
    session: SessionDep,
    user: ReportPageReader,
    first: Annotated[str, Query(alias="from")] = "",
    last: Annotated[str, Query(alias="to")] = "",
    group_by: Annotated[list[str] | None, Query()] = None,
) -> Response:
    default = service.months_back(as_wib(utcnow()).date(), DEFAULT_MONTHS)
    asked = {
        "from": first or service.month_text(default.first),
        "to": last or service.month_text(default.last),
        "group_by": ",".join(DEFAULT_GROUP_BY if group_by is None else group_by),
    }
    context: dict[str, object] = {
        "user": user,
        "asked": asked,
        "dimension_labels": service.DIMENSION_LABELS,
        "max_months": service.MAX_MONTHS,
        "rupiah": service.rupiah,
        "percent": service.percent,
        "minutes": service.minutes,
    }
    try:
        months = service.month_range(asked["from"], asked["to"])
        dimensions = service.parse_group_by(asked["group_by"])
    except ReportRefused as exc:
        context |= {"error": str(exc), "chosen": set(asked["group_by"].split(","))}
        return templates.TemplateResponse(request, "reports_deliveries.html", context, status_code=422)
    hospital = session.get(Hospital, user.hospital_id)
    assert hospital is not None
    context |= {
        "hospital": hospital,
        "chosen": set(dimensions),
        "report": load_report(session, user.hospital_id, months, dimensions),
        "charts": [_chart(session, user.hospital_id, months, name, title) for name, title in CHARTS],
        "desa_map": _desa_map(session, hospital, months),
        "csv_url": f"/api/v1/reports/deliveries.csv?{urlencode(asked)}",
    }
    return templates.TemplateResponse(request, "reports_deliveries.html", context)


def _chart(session: SessionDep, hospital_id: int, months: MonthRange, name: Dimension, title: str) -> str:
    groups = repository.delivery_figures(
        session, hospital_id=hospital_id, start=months.start, end=months.end, group_by=(name,)
    )
    rows = [service.report_row((name,), group) for group in groups]
    return charts.bar_chart(f"chart-{name}", title, [(row.labels[name], row) for row in rows])


def _desa_map(session: SessionDep, hospital: Hospital, months: MonthRange) -> charts.DesaMap | None:
    """None when no polygons are shipped for the hospital's service area: the page shows the table only."""
    area = hospital.kabupaten_code
    if not area or not maps.has_map(area):
        return None
    assert hospital.id is not None
    delivered = repository.delivered_per_place(
        session, hospital_id=hospital.id, start=months.start, end=months.end
    )
    return charts.desa_map(area, delivered)
