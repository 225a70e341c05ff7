"""`gancang geocode`: one address as JSON, a CSV column with results beside it, and refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dispatch.cli import app

runner = CliRunner()


def test_one_address_prints_json_and_exits_0() -> None:
    result = runner.invoke(app, ["geocode", "Dsn. Krajan RT 02 RW 03, Ds. Kalibaru Wetan, Kec. Kalibaru"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == {
        "status": "found",
        "code": "35.10.11.2003",
        "name": "Kalibaruwetan",
        "level": "desa",
        "lat": -8.243579,
        "lon": 113.991949,
        "confidence": 0.9,
        "address": "Desa Kalibaruwetan, Kec. Kalibaru, Kab. Banyuwangi",
        "alternatives": [],
    }


def test_ambiguous_address_lists_the_candidates_and_exits_1() -> None:
    result = runner.invoke(app, ["geocode", "Desa Karangrejo", "--scope", "35.10"])
    assert result.exit_code == 1
    printed = json.loads(result.stdout)
    assert (printed["status"], printed["code"]) == ("ambiguous", None)
    assert printed["alternatives"] == [
        {"code": "35.10.16.1007", "name": "Karangrejo", "kecamatan": "Banyuwangi"},
        {"code": "35.10.25.2008", "name": "Karangrejo", "kecamatan": "Blimbingsari"},
    ]


@pytest.mark.parametrize(
    ("address", "status"),
    [
        ("", "not_found"),
        ("\U0001f3e5\U0001f691\U0001f48a", "not_found"),
        ("x" * 20_000, "not_found"),
        ("Kuala Lumpur, Malaysia", "not_found"),
        ("Kel. Genteng, Kec. Genteng, Kota Surabaya", "out_of_area"),
    ],
)
def test_bad_addresses_give_a_clear_status_and_exit_1(address: str, status: str) -> None:
    result = runner.invoke(app, ["geocode", address, "--scope", "35.10"])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == status


def test_csv_gets_result_columns_next_to_its_own(tmp_path: Path) -> None:
    source = tmp_path / "pasien.csv"
    source.write_text(
        "\ufeffno_rm,alamat\n"
        '1,"Dsn. Krajan, Ds. Kemiren, Kec. Glagah"\n'
        "2,Desa Karangrejo\n"
        "3,\n"
        '4,"Ds. Kemiren, Kab. Magelang"\n'
        "5,Desa Sumberesri Kec. Srono\n"
        "6,Desa Kemiren Kec. Glagah,an extra cell\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["geocode", "--csv", str(source), "--column", "alamat", "--scope", "35.10"])
    assert result.exit_code == 0, result.output
    assert "6 address(es): found 3, ambiguous 1, not_found 1, out_of_area 1" in result.output
    with (tmp_path / "pasien.geocoded.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["no_rm"], row["geocode_status"], row["geocode_code"]) for row in rows] == [
        ("1", "found", "35.10.15.2004"),
        ("2", "ambiguous", ""),
        ("3", "not_found", ""),
        ("4", "out_of_area", ""),
        ("5", "found", "35.10.08.2005"),
        ("6", "found", "35.10.15.2004"),
    ]
    assert rows[0]["alamat"] == "Dsn. Krajan, Ds. Kemiren, Kec. Glagah"
    assert (rows[0]["geocode_level"], rows[0]["geocode_lat"], rows[0]["geocode_confidence"]) == (
        "desa",
        "-8.202007",
        "0.9",
    )
    assert rows[1]["geocode_alternatives"] == (
        "35.10.16.1007 Karangrejo (Kec. Banyuwangi); 35.10.25.2008 Karangrejo (Kec. Blimbingsari)"
    )


def test_csv_output_path_can_be_chosen(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("address\nDesa Kemiren Kec Glagah\n", encoding="utf-8")
    target = tmp_path / "out.csv"
    assert runner.invoke(app, ["geocode", "--csv", str(source), "--output", str(target)]).exit_code == 0
    assert "35.10.15.2004" in target.read_text(encoding="utf-8")


def test_csv_without_the_column_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("nama,alamat\nBu Sri,Kemiren\n", encoding="utf-8")
    result = runner.invoke(app, ["geocode", "--csv", str(source)])
    assert result.exit_code == 1
    assert "no column 'address'" in result.output
    assert not (tmp_path / "in.geocoded.csv").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["geocode"],
        ["geocode", "Kemiren", "--csv", "whatever.csv"],
        ["geocode", "Kemiren", "--scope", "99.99"],
        ["geocode", "--csv", "/nonexistent/file.csv"],
    ],
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args).exit_code == 2
