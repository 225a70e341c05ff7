"""/console/reports: the table, the charts and the desa map render, and the SVG they draw parses."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from fastapi.testclient import TestClient
from reports_seed import Seeded
from sqlmodel import Session

from dispatch.hospitals.models import Hospital

SVG = "{http://www.w3.org/2000/svg}"


def page(client: TestClient, token: str, query: str) -> tuple[int, str]:
    response = client.get(f"/console/reports?{query}", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.text


def svgs(html: str) -> dict[str, ET.Element]:
    found = [
        ET.fromstring(match)  # noqa: S314 - our own page
        for match in re.findall(r"<svg\b.*?</svg>", html, flags=re.DOTALL)
    ]
    return {element.attrib["id"]: element for element in found}


def test_page_shows_table_charts_map_and_csv_link(
    client: TestClient,
    seeded_postgres: Seeded,
    hospital: Hospital,
    staff_maker: Callable[[Session, Hospital, str, str], str],
) -> None:
    token = staff_maker(seeded_postgres.session, hospital, "viewer-console", "viewer")
    status, html = page(client, token, "from=2026-01&to=2026-02&group_by=month&group_by=payer")
    assert status == 200
    table = html[html.index('<table id="report">') : html.index("</table>")]
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>.*?</t[dh]>", table)]
    assert cells[8:16] == ["2026-01", "Non-PBI", "2", "1", "50,0 %", "40,0 mnt", "Rp 50.000", "Rp 50.000"]
    assert cells[-7:] == ["Jumlah / Total", "7", "5", "71,4 %", "40,0 mnt", "Rp 134.000", "Rp 26.800"]
    assert (
        'href="/api/v1/reports/deliveries.csv?from=2026-01&amp;to=2026-02&amp;group_by=month%2Cpayer"' in html
    )

    drawn = svgs(html)
    assert set(drawn) == {"chart-month", "chart-kecamatan", "chart-courier", "desa-map"}
    courier_bars = [g.find(f"{SVG}title").text for g in drawn["chart-courier"].iter(f"{SVG}g")]  # type: ignore[union-attr]
    assert courier_bars == [
        "(belum dipesan / never booked): 0/1 · 0,0 % · - · -/antar",
        "gosend: 4/4 · 100,0 % · 40,0 mnt · Rp 21.000/antar",
        "grabexpress: 1/2 · 50,0 % · 40,0 mnt · Rp 50.000/antar",
    ]
    pins = sorted(
        title.text or ""
        for title in drawn["desa-map"].iter(f"{SVG}title")
        if "terantar" in (title.text or "")
    )
    assert pins == ["Sarongan: 2 terantar / delivered", "Sukorejo: 2 terantar / delivered"]
    # Tinted by count: the two desa have the same count, the busiest shade; the kecamatan-only delivery is noted.
    assert '#desa-map path.d[data-code="35.10.01.2001"]{fill:#1b5e20}' in html
    assert '#desa-map path.d[data-code="35.10.02.2001"]{fill:#1b5e20}' in html
    assert "1 terantar tanpa desa yang pasti" in html
    assert "RSUD Genteng" not in html and "99.000" not in html


def test_too_long_a_range_is_explained_on_the_page(
    client: TestClient,
    seeded_postgres: Seeded,
    hospital: Hospital,
    staff_maker: Callable[[Session, Hospital, str, str], str],
) -> None:
    token = staff_maker(seeded_postgres.session, hospital, "viewer-console", "viewer")
    status, html = page(client, token, "from=2020-01&to=2026-02")
    assert status == 422
    assert "Rentang paling panjang 24 bulan, diminta 74" in html


def test_the_default_is_the_last_twelve_months(
    client: TestClient,
    seeded_postgres: Seeded,
    hospital: Hospital,
    staff_maker: Callable[[Session, Hospital, str, str], str],
) -> None:
    token = staff_maker(seeded_postgres.session, hospital, "viewer-console", "viewer")
    status, html = page(client, token, "")
    assert status == 200
    [first, last] = re.findall(r'type="month" name="(?:from|to)" value="(\d{4}-\d{2})"', html)
    first_year, first_month = map(int, first.split("-"))
    last_year, last_month = map(int, last.split("-"))
    assert (last_year * 12 + last_month) - (first_year * 12 + first_month) == 11
    assert 'value="month" checked' in html and 'value="payer" checked' in html


def test_unauthenticated_goes_to_login(client: TestClient, seeded_postgres: Seeded) -> None:
    response = client.get("/console/reports", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login"
