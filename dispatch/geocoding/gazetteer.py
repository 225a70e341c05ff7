"""The Kemendagri region gazetteer: every provinsi, kabupaten/kota, kecamatan and desa/kelurahan of Indonesia.

Addresses from hospital systems name places, not coordinates, so geocoding here means looking names and codes up
in this table. The whole country (91,599 units) is loaded once per process because patients from a neighbouring
kabupaten still need a position, and units are plain tuples so that the load stays well under a second.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import math
import operator
import re
from collections.abc import Collection, Iterable, Iterator, Sequence
from importlib import resources
from typing import Final, Literal, NamedTuple, cast, get_args

from geopy.distance import EARTH_RADIUS
from rapidfuzz import fuzz, process

Level = Literal["provinsi", "kabupaten", "kota", "kecamatan", "desa", "kelurahan"]

LEVELS: Final = frozenset(get_args(Level))
DESA_LEVELS: Final = frozenset({"desa", "kelurahan"})
KECAMATAN_LEVELS: Final = frozenset({"kecamatan"})
KABUPATEN_LEVELS: Final = frozenset({"kabupaten", "kota"})
PROVINSI_LEVELS: Final = frozenset({"provinsi"})

NATIONAL_FILE: Final = "indonesia_wilayah_centroids.csv.gz"

# Written before a name in addresses and in the source data ("Kabupaten Banyuwangi"); dropping one of them lets
# "Ds. Kemiren" and "Kemiren" meet.
NAME_PREFIXES: Final = frozenset(
    {"desa", "ds", "kel", "kelurahan", "kec", "kecamatan", "kab", "kabupaten", "kota"}
)

_COLUMNS: Final = ("code", "level", "name", "parent_code", "lat", "lon", "postal_code")
# Digit spans of provinsi.kabupaten.kecamatan.desa, e.g. 35.10.16.2003; a code may stop after any span.
_CODE_SPANS: Final = ((0, 2), (2, 4), (4, 6), (6, 10))
_CODE_LENGTHS: Final = frozenset(end for _, end in _CODE_SPANS)
_NON_WORD: Final = re.compile(r"[\W_]+")
# Spelling before the 1972 reform survives in records ("Soekorejo", "Djati"); both sides are folded to the new
# spelling. oe, tj and dj never occur in current names; nj and j are left alone because they do ("Banjarsari").
_OLD_SPELLING: Final = re.compile("oe|tj|dj")
_NEW_SPELLING: Final = {"oe": "u", "tj": "c", "dj": "j"}
# Near-equal fuzzy scores are a tie: "Kalibaru" scores about the same against Kalibaru Wetan, Kulon and Manis.
_SIMILAR_TIE: Final = 3.0
_GRID_DEGREES: Final = 0.1
_KM_PER_DEGREE: Final = math.pi * EARTH_RADIUS / 180


class Unit(NamedTuple):
    """One Kemendagri region; a tuple because 91,599 of them are built at start-up."""

    code: str
    level: Level
    name: str
    parent_code: str | None
    lat: float | None
    lon: float | None
    postal_code: str | None


class Centroid(NamedTuple):
    """A position together with the unit it belongs to, which differs from the asked-for unit on fallback."""

    lat: float
    lon: float
    source_code: str


def normalize_code(code: str) -> str | None:
    """Return the dotted Kemendagri form, or None if ``code`` cannot be a region code.

    SATUSEHAT's administrativeCode extension sends codes without dots ("3510162003") while Kemendagri lists and
    our data use dots ("35.10.16.2003"). A dotted code must have its dots in the right places, so that a
    mistyped "351.01.6" is rejected rather than silently re-split.
    """
    text = code.strip()
    digits = text.replace(".", "")
    if not (digits.isascii() and digits.isdigit()) or len(digits) not in _CODE_LENGTHS:
        return None
    dotted = ".".join(digits[start:end] for start, end in _CODE_SPANS if start < len(digits))
    if "." in text and text != dotted:
        return None
    return dotted


def normalize_name(name: str) -> str:
    """Fold case and punctuation and drop one leading administrative prefix ("Ds.", "Kecamatan", "Kota", ...).

    Only one prefix goes, and never the last word, so that real names that start with such a word ("Kota Baru",
    a desa in many provinces) keep the rest of their name.
    """
    words = _NON_WORD.sub(" ", name.casefold()).split()
    if len(words) > 1 and words[0] in NAME_PREFIXES:
        del words[0]
    return " ".join(words)


def name_key(name: str) -> str:
    """The normalized name without spaces and in current spelling: the same desa is written "Kalibaru Wetan" and
    "Kalibaruwetan", and old records write "Soekorejo" for Sukorejo."""
    key = normalize_name(name).replace(" ", "")
    return (
        _OLD_SPELLING.sub(lambda match: _NEW_SPELLING[match.group()], key)
        if "j" in key or "oe" in key
        else key
    )


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km; written out because geopy's distance classes cost a Point per call."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_chord = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(half_chord))


class Gazetteer:
    """Units by code and by name key.

    Name lookups return every unit with that key: the same desa name occurs in many kecamatan (over 60 desa are
    called Sukorejo), so callers narrow by level and by the codes the address must lie ``within``.
    """

    def __init__(self, units: Iterable[Unit]) -> None:
        self._units: dict[str, Unit] = {}
        self._by_key: dict[str, list[Unit]] = {}
        longest = 1
        for unit in units:
            self._units[unit.code] = unit
            self._by_key.setdefault(name_key(unit.name), []).append(unit)
            longest = max(longest, len(normalize_name(unit.name).split()))
        self.max_name_words = longest

    @classmethod
    def from_csv(cls, lines: Iterable[str]) -> Gazetteer:
        """Read the shared wilayah CSV layout; columns are found by header so extra columns are ignored."""
        reader = csv.reader(lines)
        header = next(reader)
        pick = operator.itemgetter(*(header.index(column) for column in _COLUMNS))
        return cls(_unit_from_row(pick(row)) for row in reader)

    def __len__(self) -> int:
        return len(self._units)

    def __iter__(self) -> Iterator[Unit]:
        return iter(self._units.values())

    def get(self, code: str) -> Unit | None:
        """Look a unit up by any accepted spelling of its code."""
        dotted = normalize_code(code)
        return None if dotted is None else self._units.get(dotted)

    def parent(self, unit: Unit) -> Unit | None:
        return None if unit.parent_code is None else self._units.get(unit.parent_code)

    def lineage(self, unit: Unit) -> list[Unit]:
        """The unit followed by its ancestors up to the provinsi, the order in which addresses are written."""
        chain = [unit]
        parent = self.parent(unit)
        while parent is not None:
            chain.append(parent)
            parent = self.parent(parent)
        return chain

    def centroid(self, unit: Unit) -> Centroid | None:
        """The unit's centroid or, where the source has no polygon for it, the nearest ancestor's."""
        for candidate in self.lineage(unit):
            if candidate.lat is not None and candidate.lon is not None:
                return Centroid(candidate.lat, candidate.lon, candidate.code)
        return None

    def find(self, name: str, *, levels: Collection[str], within: Sequence[str] | None = None) -> list[Unit]:
        """Units at one of ``levels`` whose normalized name equals ``name``'s.

        ``within`` lists dotted codes; a unit matches if it is one of them or lies inside one. None searches
        the whole country.
        """
        units = self._by_key.get(name_key(name), ())
        if within is None:
            return [unit for unit in units if unit.level in levels]
        prefixes = tuple(f"{code}." for code in within)
        return [unit for unit in units if unit.level in levels and f"{unit.code}.".startswith(prefixes)]

    def find_similar(
        self, name: str, *, levels: Collection[str], within: Sequence[str], min_score: float
    ) -> list[tuple[Unit, float]]:
        """Units inside ``within`` whose names are spelled like ``name`` (rapidfuzz ratio of the keys, 0-100).

        An area is required: a kabupaten holds a few hundred names, while across the whole country every
        misspelling is close to some desa and would become a confident wrong answer. Returns every unit scoring
        within a tie of the best, best first, so that a near-tie stays visible as an ambiguity.
        """
        prefixes = tuple(f"{code}." for code in within)
        choices = {
            unit.code: key
            for code in within
            for key, unit in self._named_below(code)
            if unit.level in levels and f"{unit.code}.".startswith(prefixes)
        }
        found = process.extract(
            name_key(name), choices, scorer=fuzz.ratio, score_cutoff=min_score, limit=None
        )
        if not found:
            return []
        best = found[0][1]
        return [(self._units[code], score) for _, score, code in found if score >= best - _SIMILAR_TIE]

    def with_postal_code(self, postal_code: str, *, within: Sequence[str] | None = None) -> list[Unit]:
        """Desa and kelurahan using ``postal_code``; one code usually covers a kecamatan outside the towns."""
        units = self._by_postal_code.get(postal_code, ())
        if within is None:
            return list(units)
        prefixes = tuple(f"{code}." for code in within)
        return [unit for unit in units if f"{unit.code}.".startswith(prefixes)]

    def find_desa(self, name: str, kecamatan_code: str) -> list[Unit]:
        """Desa and kelurahan called ``name`` in one kecamatan."""
        return self.find(name, levels=DESA_LEVELS, within=[self._require_code(kecamatan_code)])

    def find_kecamatan(self, name: str, kabupaten_code: str) -> list[Unit]:
        """Kecamatan called ``name`` in one kabupaten or kota."""
        return self.find(name, levels=KECAMATAN_LEVELS, within=[self._require_code(kabupaten_code)])

    def nearest_desa(self, lat: float, lon: float, *, max_km: float) -> tuple[Unit, float] | None:
        """The desa/kelurahan whose own centroid is nearest, with its distance, if one lies within ``max_km``.

        Searches square rings of grid cells outwards and stops once no unsearched cell can be nearer.
        """
        widest_lat = min(abs(lat) + max_km / _KM_PER_DEGREE, 89.9)
        cell_km = _GRID_DEGREES * _KM_PER_DEGREE * math.cos(math.radians(widest_lat))
        row, col = _cell(lat, lon)
        best: Unit | None = None
        best_km = max_km
        for ring in range(math.ceil(max_km / cell_km) + 2):
            if best is not None and best_km <= (ring - 1) * cell_km:
                break
            for cell in _ring(row, col, ring):
                for unit in self._desa_grid.get(cell, ()):
                    distance = haversine_km(lat, lon, cast(float, unit.lat), cast(float, unit.lon))
                    if distance <= best_km:
                        best, best_km = unit, distance
        return None if best is None else (best, best_km)

    @functools.cached_property
    def _desa_grid(self) -> dict[tuple[int, int], list[Unit]]:
        """Built on the first reverse lookup only, since most processes never do one."""
        grid: dict[tuple[int, int], list[Unit]] = {}
        for unit in self._units.values():
            if unit.level in DESA_LEVELS and unit.lat is not None and unit.lon is not None:
                grid.setdefault(_cell(unit.lat, unit.lon), []).append(unit)
        return grid

    @functools.cached_property
    def _by_postal_code(self) -> dict[str, list[Unit]]:
        index: dict[str, list[Unit]] = {}
        for unit in self._units.values():
            if unit.postal_code is not None:
                index.setdefault(unit.postal_code, []).append(unit)
        return index

    @functools.cached_property
    def _by_kabupaten(self) -> dict[str, list[tuple[str, Unit]]]:
        """Name keys of the units below each kabupaten/kota, the pool fuzzy matching draws from."""
        index: dict[str, list[tuple[str, Unit]]] = {}
        for unit in self._units.values():
            if len(unit.code) > len("pp.kk"):
                index.setdefault(unit.code[:5], []).append((name_key(unit.name), unit))
        return index

    def _named_below(self, code: str) -> Iterable[tuple[str, Unit]]:
        """Keyed units inside ``code``: its kabupaten's pool, or every pool of a provinsi."""
        if len(code) >= len("pp.kk"):
            return self._by_kabupaten.get(code[:5], ())
        return (
            entry for kabupaten, pool in self._by_kabupaten.items() if kabupaten[:2] == code for entry in pool
        )

    def _require_code(self, code: str) -> str:
        unit = self.get(code)
        if unit is None:
            raise ValueError(f"unknown region code {code!r}")
        return unit.code


@functools.cache
def load_gazetteer() -> Gazetteer:
    """The all-Indonesia gazetteer from package data, parsed once per process."""
    blob = (resources.files("dispatch.geocoding") / "data" / NATIONAL_FILE).read_bytes()
    return Gazetteer.from_csv(io.StringIO(gzip.decompress(blob).decode("utf-8")))


def _unit_from_row(row: Sequence[str]) -> Unit:
    code, level, name, parent_code, lat, lon, postal_code = row
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r} for region {code}")
    return Unit(
        code,
        cast(Level, level),
        name,
        parent_code or None,
        float(lat) if lat else None,
        float(lon) if lon else None,
        postal_code or None,
    )


def _cell(lat: float, lon: float) -> tuple[int, int]:
    return math.floor(lat / _GRID_DEGREES), math.floor(lon / _GRID_DEGREES)


def _ring(row: int, col: int, ring: int) -> Iterator[tuple[int, int]]:
    """Grid cells at Chebyshev distance ``ring`` from (row, col)."""
    if ring == 0:
        yield row, col
        return
    for offset in range(-ring, ring + 1):
        yield row - ring, col + offset
        yield row + ring, col + offset
    for offset in range(-ring + 1, ring):
        yield row + offset, col - ring
        yield row + offset, col + ring
