"""Delivery reports as JSON and CSV for any staff role, the viewer included; always the caller's own hospital."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlmodel import Session

from dispatch.auth.api import STAFF_RESPONSES, role_checker
from dispatch.auth.models import Role, StaffUser
from dispatch.core.db import SessionDep
from dispatch.core.problems import Problem
from dispatch.reports import repository, service
from dispatch.reports.repository import Dimension
from dispatch.reports.service import MonthRange, Report, ReportRefused

# Every role may read reports: the viewer exists for exactly this, and admin may do anything anyway.
REPORT_ROLES = (Role.VIEWER, Role.PHARMACIST, Role.DISPATCHER)
ReportReader = Annotated[StaffUser, Depends(role_checker(*REPORT_ROLES))]

router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=STAFF_RESPONSES)


def load_report(
    session: Session, hospital_id: int, months: MonthRange, group_by: tuple[Dimension, ...]
) -> Report:
    """The grouped rows and the ungrouped total: two queries, so the total's median is over all orders."""
    groups, [total] = (
        repository.delivery_figures(
            session, hospital_id=hospital_id, start=months.start, end=months.end, group_by=dimensions
        )
        for dimensions in (group_by, ())
    )
    return service.build_report(months, group_by, groups, total)


def _requested(first: str, last: str, group_by: str) -> tuple[MonthRange, tuple[Dimension, ...]]:
    try:
        return service.month_range(first, last), service.parse_group_by(group_by)
    except ReportRefused as exc:
        raise Problem(422, "Report refused", str(exc)) from exc


class DeliveryReportPublic(BaseModel):
    """``rows`` and ``total`` carry the dimension values asked for (and hospital/kecamatan names), then
    orders, delivered, share_delivered (0-1), median_minutes_to_delivery, cost_idr, cost_per_delivery_idr."""

    from_month: str
    to_month: str
    group_by: list[str]
    rows: list[dict[str, str | int | float | None]]
    total: dict[str, str | int | float | None]


FromMonth = Annotated[str, Query(alias="from", description="First month, YYYY-MM (WIB)")]
ToMonth = Annotated[str, Query(alias="to", description="Last month, YYYY-MM (WIB), at most 24 months on")]
GroupBy = Annotated[
    str, Query(description="Comma-separated: month, hospital, payer, kecamatan, courier (empty: totals only)")
]


@router.get("/deliveries", operation_id="reports-deliveries")
def read_deliveries(
    session: SessionDep, user: ReportReader, first: FromMonth, last: ToMonth, group_by: GroupBy = "month"
) -> DeliveryReportPublic:
    months, dimensions = _requested(first, last, group_by)
    report = load_report(session, user.hospital_id, months, dimensions)
    return DeliveryReportPublic(
        from_month=service.month_text(months.first),
        to_month=service.month_text(months.last),
        group_by=list(dimensions),
        rows=[service.row_fields(row) for row in report.rows],
        total=service.row_fields(report.total),
    )


@router.get(
    "/deliveries.csv",
    operation_id="reports-deliveries-csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def read_deliveries_csv(
    session: SessionDep, user: ReportReader, first: FromMonth, last: ToMonth, group_by: GroupBy = "month"
) -> Response:
    months, dimensions = _requested(first, last, group_by)
    report = load_report(session, user.hospital_id, months, dimensions)
    name = f"gancang-deliveries-{service.month_text(months.first)}-{service.month_text(months.last)}.csv"
    return Response(
        service.csv_text(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
