"""Geocoding fixtures: the real all-Indonesia gazetteer (loaded once) and the Banyuwangi rows shipped beside it."""

from __future__ import annotations

import csv
import io
from importlib import resources

import pytest

from dispatch.geocoding import Gazetteer, GazetteerGeocoder, load_gazetteer


def read_package_csv(name: str) -> list[dict[str, str]]:
    text = (resources.files("dispatch.geocoding") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="session")
def gazetteer() -> Gazetteer:
    return load_gazetteer()


@pytest.fixture(scope="session")
def geocoder(gazetteer: Gazetteer) -> GazetteerGeocoder:
    return GazetteerGeocoder(gazetteer)


@pytest.fixture(scope="session")
def banyuwangi_rows() -> list[dict[str, str]]:
    return read_package_csv("banyuwangi_wilayah.csv")


@pytest.fixture(scope="session")
def hospital_rows() -> list[dict[str, str]]:
    return read_package_csv("banyuwangi_hospitals.csv")
