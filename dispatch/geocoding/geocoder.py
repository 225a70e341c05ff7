"""A geopy geocoder that resolves Indonesian addresses against the Kemendagri gazetteer, offline.

Being a real :class:`geopy.geocoders.base.Geocoder` lets the dispatcher swap it for, or chain it with, an online
geocoder behind the same interface (``RateLimiter`` included). Results are unit centroids, so ``raw`` states the
level and a confidence that the dispatcher uses to send doubtful addresses to a human instead of a courier.

Resolution order, strongest first:

1. a known Kemendagri code (FHIR administrativeCode ``village``/``district``): a desa code is final, a coarser code
   narrows the name search and is the answer when the names do not resolve to something finer;
2. desa names, marked ("Ds.", "Desa", "Kel.", "Kelurahan") before unmarked comma-separated parts, confirmed by a
   kecamatan named elsewhere in the address;
3. a desa name that is unique where it was searched, even if the kecamatan disagrees: records still carry the
   kecamatan a desa belonged to before a split (the ten desa of the new Kec. Blimbingsari), so the kecamatan is
   only a hint;
4. the kecamatan alone.

A name that fits several places is never guessed: ``exactly_one`` then gives None, and the list form returns every
candidate with its confidence divided among them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NotRequired, TypedDict, overload

from geopy.adapters import BaseSyncAdapter
from geopy.exc import GeocoderServiceError
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from geopy.point import Point

from dispatch.geocoding.gazetteer import (
    DESA_LEVELS,
    KABUPATEN_LEVELS,
    KECAMATAN_LEVELS,
    PROVINSI_LEVELS,
    Gazetteer,
    Unit,
    load_gazetteer,
)

CONFIDENCE_CODE_DESA: Final = 1.0
CONFIDENCE_DESA_IN_KECAMATAN: Final = 0.9
CONFIDENCE_DESA_UNIQUE: Final = 0.8
CONFIDENCE_CODE_KECAMATAN: Final = 0.6
CONFIDENCE_KECAMATAN: Final = 0.5
CONFIDENCE_CODE_KABUPATEN: Final = 0.3
# Nearest centroid is not point-in-polygon: of 3,000 random points in Banyuwangi's desa polygons, 68 % lay in the
# desa whose centroid was nearest.
CONFIDENCE_REVERSE: Final = 0.7

# An address is at most a few hundred characters; far longer input is not one, and the cap bounds parsing work.
MAX_QUERY_CHARS: Final = 1000
DEFAULT_REVERSE_MAX_KM: Final = 30.0

ResultLevel = Literal["desa", "kecamatan", "kabupaten"]
GeocodeQuery = str | Mapping[str, str | None]


class GeocodeRaw(TypedDict):
    """``Location.raw``: what was matched and how far to trust it.

    ``alternatives`` holds the codes a human should consider instead: for an ambiguous name every other
    candidate, for a confirmed desa the same-named desa elsewhere in its kabupaten (Karangrejo in Kec. Banyuwangi
    vs Kec. Blimbingsari). ``distance_km`` (to the centroid) is set by ``reverse`` only.
    """

    code: str
    name: str
    level: ResultLevel
    confidence: float
    alternatives: list[str]
    kecamatan_code: str | None
    kecamatan_name: str | None
    postal_code: str | None
    centroid_fallback: bool
    distance_km: NotRequired[float]


_RESULT_LEVEL: Final[Mapping[str, ResultLevel]] = {
    "desa": "desa",
    "kelurahan": "desa",
    "kecamatan": "kecamatan",
    "kabupaten": "kabupaten",
    "kota": "kabupaten",
}
_PRECISION: Final[Mapping[ResultLevel, int]] = {"kabupaten": 1, "kecamatan": 2, "desa": 3}

# What a marker word says about the words after it. "skip" marks parts that name no region we hold: a dusun
# never identifies its desa ("Krajan" is a hamlet in dozens of desa) and street names often reuse desa names.
_Role = Literal["desa", "kecamatan", "kabupaten", "kota", "skip"]
_NAME_ROLES: Final = frozenset({"desa", "kecamatan", "kabupaten", "kota"})
_MARKERS: Final[Mapping[str, _Role]] = {
    "ds": "desa",
    "desa": "desa",
    "kel": "desa",
    "kelurahan": "desa",
    "kec": "kecamatan",
    "kecamatan": "kecamatan",
    "kab": "kabupaten",
    "kabupaten": "kabupaten",
    "kota": "kota",
    "dsn": "skip",
    "dusun": "skip",
    "lingk": "skip",
    "lingkungan": "skip",
    "prov": "skip",
    "provinsi": "skip",
    "propinsi": "skip",
    "jl": "skip",
    "jln": "skip",
    "jalan": "skip",
    "gg": "skip",
    "gang": "skip",
    "komp": "skip",
    "kompleks": "skip",
    "perum": "skip",
    "perumahan": "skip",
    "blok": "skip",
}
# Words that end a name: "RT 02 RW 03", "No. 49", a postal code. Whatever follows is read as unmarked.
_BREAKERS: Final = frozenset({"rt", "rw", "no", "nomor", "km"})
_FIELD_ROLES: Final[Sequence[tuple[str, _Role]]] = (
    ("desa", "desa"),
    ("kecamatan", "kecamatan"),
    ("kabupaten", "kabupaten"),
)
_QUERY_FIELDS: Final = ("code", "desa", "kecamatan", "kabupaten", "text")
_PART_SEPARATOR: Final = re.compile(r"[,;|\r\n]+|\s[-\u2013\u2014]\s")
_NON_WORD: Final = re.compile(r"[\W_]+")


class _OfflineAdapter(BaseSyncAdapter):
    """geopy's Geocoder requires an HTTP adapter; this one turns any request into an error instead of traffic."""

    def get_json(self, url: str, *, timeout: float, headers: Mapping[str, str]) -> Any:
        raise GeocoderServiceError(f"GazetteerGeocoder is offline and made no request to {url}")

    def get_text(self, url: str, *, timeout: float, headers: Mapping[str, str]) -> str:
        raise GeocoderServiceError(f"GazetteerGeocoder is offline and made no request to {url}")


@dataclass(frozen=True, slots=True)
class _Segment:
    """A run of words from the address and the marker that introduced it (None: unmarked)."""

    role: _Role | None
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Request:
    code: str | None
    segments: list[_Segment]


@dataclass(frozen=True, slots=True)
class _Match:
    unit: Unit
    confidence: float
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Outcome:
    matches: tuple[_Match, ...] = ()
    ambiguous: bool = False

    def precision(self) -> int:
        """How fine a single, unambiguous answer is; 0 when there is none."""
        if self.ambiguous or not self.matches:
            return 0
        return _PRECISION[_RESULT_LEVEL[self.matches[0].unit.level]]


@dataclass(slots=True)
class _Evidence:
    """Candidate units tagged with the segment they came from, so a segment cannot confirm itself."""

    desa: list[tuple[int, Unit]] = field(default_factory=list)
    loose_desa: list[tuple[int, Unit]] = field(default_factory=list)
    namesake_desa: list[tuple[int, Unit]] = field(default_factory=list)
    kecamatan: list[tuple[int, Unit]] = field(default_factory=list)
    loose_kecamatan: list[tuple[int, Unit]] = field(default_factory=list)


class GazetteerGeocoder(Geocoder):
    """Offline geocoder for Indonesian addresses and Kemendagri codes; results are region centroids."""

    def __init__(
        self, gazetteer: Gazetteer | None = None, *, reverse_max_km: float = DEFAULT_REVERSE_MAX_KM
    ) -> None:
        super().__init__(adapter_factory=_OfflineAdapter)
        self.gazetteer = load_gazetteer() if gazetteer is None else gazetteer
        self.reverse_max_km = reverse_max_km

    @overload
    def geocode(
        self, query: GeocodeQuery, *, exactly_one: Literal[True] = ..., scope: str | None = None
    ) -> Location | None: ...

    @overload
    def geocode(
        self, query: GeocodeQuery, *, exactly_one: Literal[False], scope: str | None = None
    ) -> list[Location] | None: ...

    @overload
    def geocode(
        self, query: GeocodeQuery, *, exactly_one: bool, scope: str | None = None
    ) -> Location | list[Location] | None: ...

    def geocode(
        self, query: GeocodeQuery, *, exactly_one: bool = True, scope: str | None = None
    ) -> Location | list[Location] | None:
        """Resolve a free-text address or a mapping with "code", "desa", "kecamatan", "kabupaten", "text".

        ``scope`` is the code of the region names must lie in (a hospital serves one kabupaten, e.g. "35.10"),
        because most desa names repeat across the country; an address that names ("Kab. Jember") a kabupaten
        outside it gives None. Codes in the query are exact and are not limited by it. Input that is not an
        address gives None; an unknown ``scope`` raises ValueError, being configuration.
        """
        scope_code = self._scope_code(scope)
        request = _parse_query(query)
        if request is None:
            return None
        outcome = self._resolve(request, scope_code)
        if not outcome.matches or (exactly_one and outcome.ambiguous):
            return None
        locations = [self._location(match) for match in outcome.matches]
        return locations[0] if exactly_one else locations

    @overload
    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: Literal[True] = ...
    ) -> Location | None: ...

    @overload
    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: Literal[False]
    ) -> list[Location] | None: ...

    @overload
    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: bool
    ) -> Location | list[Location] | None: ...

    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: bool = True
    ) -> Location | list[Location] | None:
        """The desa/kelurahan with the nearest centroid, if one lies within ``reverse_max_km``.

        Accepts whatever geopy's Point does ("lat, lon", a pair, a Point) and raises its ValueError otherwise.
        A point far from every centroid (at sea, abroad) gives None rather than a distant desa.
        """
        point = Point(query)
        nearest = self.gazetteer.nearest_desa(point.latitude, point.longitude, max_km=self.reverse_max_km)
        if nearest is None:
            return None
        unit, distance_km = nearest
        location = self._location(_Match(unit, CONFIDENCE_REVERSE), distance_km=round(distance_km, 3))
        return location if exactly_one else [location]

    def _scope_code(self, scope: str | None) -> str | None:
        if scope is None:
            return None
        unit = self.gazetteer.get(scope)
        if unit is None:
            raise ValueError(f"unknown scope region code {scope!r}")
        return unit.code

    def _resolve(self, request: _Request, scope: str | None) -> _Outcome:
        code_unit = None if request.code is None else self.gazetteer.get(request.code)
        if code_unit is not None and code_unit.level in DESA_LEVELS:
            return _Outcome((_Match(code_unit, CONFIDENCE_CODE_DESA),))
        narrowed = self._narrow_to_kabupaten(request.segments, _within(code_unit, scope))
        outcome = _Outcome()
        if narrowed is not None:
            evidence = self._collect(*narrowed)
            if code_unit is not None and code_unit.level in KECAMATAN_LEVELS:
                evidence.kecamatan.append((-1, code_unit))
            outcome = self._decide(evidence)
        if code_unit is None or code_unit.level in PROVINSI_LEVELS:
            return outcome
        code_level = _RESULT_LEVEL[code_unit.level]
        if outcome.precision() > _PRECISION[code_level]:
            return outcome
        confidence = CONFIDENCE_CODE_KECAMATAN if code_level == "kecamatan" else CONFIDENCE_CODE_KABUPATEN
        alternatives = tuple(match.unit.code for match in outcome.matches if outcome.ambiguous)
        return _Outcome((_Match(code_unit, confidence, alternatives),))

    def _narrow_to_kabupaten(
        self, segments: list[_Segment], within: list[str] | None
    ) -> tuple[list[_Segment], list[str] | None] | None:
        """Consume kabupaten/kota names and search only there when neither code nor scope has narrowed it.

        None means the address explicitly names ("Kab.", "Kota") a kabupaten outside the search area: a scoped
        hospital must not deliver to the namesake desa of another kabupaten. A marked name that is no kabupaten
        of that kind stays as unmarked text, since "Kota Baru" is also a desa.
        """
        remaining: list[_Segment] = []
        named: list[Unit] = []
        for segment in segments:
            if segment.role == "kabupaten" or segment.role == "kota":
                units, rest = self._match_prefix(segment.words, KABUPATEN_LEVELS & {segment.role}, None)
                if within is not None and units and not any(_overlaps(unit.code, within) for unit in units):
                    return None
                named.extend(units)
                remaining.append(_Segment(None, rest if units else segment.words))
            else:
                remaining.append(segment)
        if within is None and not named:
            named = [
                unit
                for segment in remaining
                if segment.role is None
                for unit in self.gazetteer.find(" ".join(segment.words), levels=KABUPATEN_LEVELS)
            ]
        if within is None and named:
            within = list(dict.fromkeys(unit.code for unit in named))
        return [segment for segment in remaining if segment.words], within

    def _collect(self, segments: list[_Segment], within: list[str] | None) -> _Evidence:
        evidence = _Evidence()
        ids = itertools.count()
        pending = list(segments)
        while pending:
            segment = pending.pop(0)
            if segment.role == "desa" or segment.role == "kecamatan":
                levels = DESA_LEVELS if segment.role == "desa" else KECAMATAN_LEVELS
                units, rest = self._match_prefix(segment.words, levels, within)
                segment_id = next(ids)
                found = evidence.desa if segment.role == "desa" else evidence.kecamatan
                found.extend((segment_id, unit) for unit in units)
                if units and rest:
                    pending.append(_Segment(None, rest))
            elif segment.role is None:
                self._collect_unmarked(segment.words, within, evidence, ids)
        return evidence

    def _collect_unmarked(
        self, words: tuple[str, ...], within: list[str] | None, evidence: _Evidence, ids: Iterator[int]
    ) -> None:
        """Take names from unmarked words, longest first.

        Without an area only the whole part is tried: across all of Indonesia single words match some desa far
        too easily ("Main Street" is not an address in Kabupaten Main).
        """
        if within is None:
            self._take_unmarked(" ".join(words), within, evidence, ids)
            return
        start = 0
        while start < len(words):
            for end in range(min(len(words), start + self.gazetteer.max_name_words), start, -1):
                if self._take_unmarked(" ".join(words[start:end]), within, evidence, ids):
                    start = end
                    break
            else:
                start += 1

    def _take_unmarked(
        self, name: str, within: list[str] | None, evidence: _Evidence, ids: Iterator[int]
    ) -> bool:
        """Record what an unmarked name could be; True if it named any region.

        A desa that shares its kecamatan's name (19 do in Banyuwangi) is kept apart: unmarked, "Glagah" names the
        kecamatan at least as often as the desa, unless a marked "Kec. Glagah" elsewhere leaves only the desa.
        """
        find = self.gazetteer.find
        if find(name, levels=PROVINSI_LEVELS) or find(name, levels=KABUPATEN_LEVELS, within=within):
            return True
        kecamatan = find(name, levels=KECAMATAN_LEVELS, within=within)
        desa = find(name, levels=DESA_LEVELS, within=within)
        if not (kecamatan or desa):
            return False
        segment_id = next(ids)
        kecamatan_codes = {unit.code for unit in kecamatan}
        evidence.loose_kecamatan.extend((segment_id, unit) for unit in kecamatan)
        for unit in desa:
            found = evidence.namesake_desa if unit.parent_code in kecamatan_codes else evidence.loose_desa
            found.append((segment_id, unit))
        return True

    def _match_prefix(
        self, words: tuple[str, ...], levels: frozenset[str], within: list[str] | None
    ) -> tuple[list[Unit], tuple[str, ...]]:
        """Longest leading run of words that names a unit, and the words after it.

        Marked names often run on without commas ("Ds. Kemiren Glagah"), so the marker's segment can hold more
        than the name.
        """
        for end in range(min(len(words), self.gazetteer.max_name_words), 0, -1):
            units = self.gazetteer.find(" ".join(words[:end]), levels=levels, within=within)
            if units:
                return units, words[end:]
        return [], words

    @staticmethod
    def _decide(evidence: _Evidence) -> _Outcome:
        namesakes = [found for found in evidence.namesake_desa if _confirmed(found, evidence.kecamatan)]
        pool = evidence.desa or evidence.loose_desa + namesakes
        if pool:
            candidates = _distinct(unit for _, unit in pool)
            for support in (evidence.kecamatan, evidence.loose_kecamatan):
                supported = _distinct(found[1] for found in pool if _confirmed(found, support))
                if supported:
                    return _pick(supported, CONFIDENCE_DESA_IN_KECAMATAN, candidates)
            return _pick(candidates, CONFIDENCE_DESA_UNIQUE, candidates)
        kecamatan = _distinct(unit for _, unit in evidence.kecamatan or evidence.loose_kecamatan)
        return _pick(kecamatan, CONFIDENCE_KECAMATAN, kecamatan) if kecamatan else _Outcome()

    def _location(self, match: _Match, *, distance_km: float | None = None) -> Location:
        unit = match.unit
        centroid = self.gazetteer.centroid(unit)
        if centroid is None:
            raise LookupError(f"no centroid for region {unit.code} or any of its parents")
        lineage = self.gazetteer.lineage(unit)
        kecamatan = next((ancestor for ancestor in lineage if ancestor.level == "kecamatan"), None)
        raw: GeocodeRaw = {
            "code": unit.code,
            "name": unit.name,
            "level": _RESULT_LEVEL[unit.level],
            "confidence": match.confidence,
            "alternatives": list(match.alternatives),
            "kecamatan_code": None if kecamatan is None else kecamatan.code,
            "kecamatan_name": None if kecamatan is None else kecamatan.name,
            "postal_code": unit.postal_code,
            "centroid_fallback": centroid.source_code != unit.code,
        }
        if distance_km is not None:
            raw["distance_km"] = distance_km
        address = ", ".join(_label(ancestor) for ancestor in lineage if ancestor.level not in PROVINSI_LEVELS)
        return Location(address, (centroid.lat, centroid.lon), dict(raw))


def _parse_query(query: object) -> _Request | None:
    """Split a query into marked and unmarked segments; None for anything that cannot be an address."""
    if isinstance(query, str):
        return None if len(query) > MAX_QUERY_CHARS else _Request(None, _segments(query, None))
    if not isinstance(query, Mapping):
        return None
    values = {key: value for key in _QUERY_FIELDS if isinstance(value := query.get(key), str)}
    if sum(map(len, values.values())) > MAX_QUERY_CHARS:
        return None
    segments = [
        segment for key, role in _FIELD_ROLES if key in values for segment in _segments(values[key], role)
    ]
    segments.extend(_segments(values.get("text", ""), None))
    return _Request(values.get("code"), segments)


def _segments(text: str, role: _Role | None) -> list[_Segment]:
    """Cut text at commas, markers and breakers into runs of words, dropping the ones that name no region.

    A marker directly after a name marker is part of the name ("Ds. Kota Baru", "Desa Dusun Baru"), unless it
    only repeats the same marker, as in a "kecamatan" field holding "Kec. Glagah".
    """
    segments: list[_Segment] = []
    for part in _PART_SEPARATOR.split(text):
        current: _Role | None = role
        words: list[str] = []
        for token in _NON_WORD.sub(" ", part.casefold()).split():
            marker = _MARKERS.get(token)
            if marker is not None and not words and current in _NAME_ROLES:
                if marker != current:
                    words.append(token)
            elif marker is not None or token in _BREAKERS or any(char.isdigit() for char in token):
                _flush(segments, current, words)
                current, words = marker, []
            else:
                words.append(token)
        _flush(segments, current, words)
    return segments


def _flush(segments: list[_Segment], role: _Role | None, words: list[str]) -> None:
    if words and role != "skip":
        segments.append(_Segment(role, tuple(words)))


def _within(code_unit: Unit | None, scope: str | None) -> list[str] | None:
    """The area names are searched in: the code's unit, or the scope where that is narrower or there is no code."""
    if code_unit is None:
        return None if scope is None else [scope]
    if scope is not None and f"{scope}.".startswith(f"{code_unit.code}."):
        return [scope]
    return [code_unit.code]


def _confirmed(found: tuple[int, Unit], support: list[tuple[int, Unit]]) -> bool:
    """Whether another segment of the address names the desa's kecamatan."""
    segment_id, desa = found
    return any(kecamatan.code == desa.parent_code and other != segment_id for other, kecamatan in support)


def _overlaps(code: str, within: list[str]) -> bool:
    """Whether a unit and one of the area's units contain one another (or are the same)."""
    return any(f"{code}.".startswith(f"{area}.") or f"{area}.".startswith(f"{code}.") for area in within)


def _distinct(units: Iterable[Unit]) -> list[Unit]:
    return list({unit.code: unit for unit in units}.values())


def _pick(units: list[Unit], confidence: float, considered: list[Unit]) -> _Outcome:
    """One unit is an answer; several are an ambiguity that shares the confidence and lists the others.

    A single answer lists only rivals from its own kabupaten: once a kecamatan has confirmed it, a namesake in
    another province is no plausible misreading.
    """
    if len(units) == 1:
        chosen = units[0]
        rivals = [unit for unit in considered if _kabupaten_code(unit) == _kabupaten_code(chosen)]
        return _Outcome((_Match(chosen, confidence, _codes_except(rivals, chosen)),))
    shared = confidence / len(units)
    return _Outcome(tuple(_Match(unit, shared, _codes_except(units, unit)) for unit in units), ambiguous=True)


def _codes_except(units: list[Unit], excluded: Unit) -> tuple[str, ...]:
    return tuple(unit.code for unit in units if unit.code != excluded.code)


def _kabupaten_code(unit: Unit) -> str:
    """Dotted codes below provinsi level start with the kabupaten's "pp.kk"."""
    return unit.code[:5]


def _label(unit: Unit) -> str:
    """Unit names as addresses write them: "Desa Kemiren", "Kel. Singonegaran", "Kec. Glagah", "Kab. Banyuwangi"."""
    if unit.level == "desa":
        return f"Desa {unit.name}"
    if unit.level == "kelurahan":
        return f"Kel. {unit.name}"
    if unit.level == "kecamatan":
        return f"Kec. {unit.name}"
    if unit.level == "kabupaten":
        return f"Kab. {unit.name.removeprefix('Kabupaten ')}"
    return unit.name
