"""A geopy geocoder that resolves Indonesian addresses against the Kemendagri gazetteer, offline.

Being a real :class:`geopy.geocoders.base.Geocoder` lets the dispatcher swap it for, or chain it with, an online
geocoder behind the same interface (``RateLimiter`` included). Results are unit centroids, so ``raw`` states the
level and a confidence that the dispatcher uses to send doubtful addresses to a human instead of a courier.

Resolution order, strongest first:

1. a known Kemendagri code (FHIR administrativeCode ``village``/``district``): a desa code is final, a coarser code
   narrows the name search and is the answer when the names do not resolve to something finer;
2. desa names, marked ("Ds.", "Desa", "Kel.", "Kelurahan") before unmarked comma-separated parts, confirmed by a
   kecamatan named elsewhere in the address, or else by the postal code;
3. a desa name that is unique where it was searched, even if the kecamatan disagrees: records still carry the
   kecamatan a desa belonged to before a split (the ten desa of the new Kec. Blimbingsari), so a former kecamatan
   still confirms it; a kecamatan it never belonged to leaves it below the dispatch threshold (often a typo);
4. the kecamatan alone;
5. the postal code alone, which narrows to about a kecamatan and stays below the dispatch threshold.

Names are compared exactly (case, punctuation, spacing and pre-1972 spelling folded) and, inside a known area
only, by rapidfuzz similarity, with the confidence scaled down by the similarity.

A name that fits several places is never guessed: ``exactly_one`` then gives None, and the list form returns every
candidate with its confidence divided among them. :meth:`GazetteerGeocoder.resolve` says which of found,
ambiguous, not found or out of area a query ended in.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, NamedTuple, NotRequired, TypedDict, overload

from geopy.adapters import BaseSyncAdapter
from geopy.exc import GeocoderServiceError
from geopy.geocoders.base import Geocoder
from geopy.location import Location
from geopy.point import Point

from dispatch.geocoding.address import PlaceName, is_role, parse_address
from dispatch.geocoding.boundaries import Boundaries, load_boundaries
from dispatch.geocoding.gazetteer import (
    DESA_LEVELS,
    KABUPATEN_LEVELS,
    KECAMATAN_LEVELS,
    PROVINSI_LEVELS,
    Gazetteer,
    Unit,
    haversine_km,
    load_gazetteer,
)

CONFIDENCE_CODE_DESA: Final = 1.0
CONFIDENCE_DESA_IN_KECAMATAN: Final = 0.9
CONFIDENCE_DESA_UNIQUE: Final = 0.8
# A desa named with a kecamatan it is not (and never was) in: a typo of a namesake ("Desa Bagorejo, Kec. Bangorejo"
# is Bangorejo misspelt, not the Bagorejo of Srono) as often as a wrong kecamatan. Kept as a guess for staff.
CONFIDENCE_DESA_KECAMATAN_DISAGREES: Final = 0.4
CONFIDENCE_CODE_KECAMATAN: Final = 0.6
CONFIDENCE_KECAMATAN: Final = 0.5
CONFIDENCE_POSTAL_CODE: Final = 0.4
CONFIDENCE_CODE_KABUPATEN: Final = 0.3
# A pin inside a desa polygon: the polygons are simplified, so a pin metres from a border may sit across it.
CONFIDENCE_REVERSE_POLYGON: Final = 0.95
# Nearest centroid is not point-in-polygon: of 3,000 random points in Banyuwangi's desa polygons, 68 % lay in the
# desa whose centroid was nearest. Used where no polygons are shipped.
CONFIDENCE_REVERSE: Final = 0.7
# A pin just outside every polygon of a kabupaten that has them: a coastline or border cut by the simplification.
CONFIDENCE_REVERSE_EDGE: Final = 0.6

# Similarity (rapidfuzz ratio, 0-100) a misspelt name needs. Marked names ("Ds. Kalibaru Wetn") are names for
# sure; unmarked words may be anything, so they need to be closer. Short keys are left out: one letter off in
# "Bomo" is another word.
MIN_SIMILARITY_MARKED: Final = 85.0
MIN_SIMILARITY_UNMARKED: Final = 90.0
MIN_FUZZY_KEY_CHARS: Final = 6

# An address is at most a few hundred characters; far longer input is not one, and the cap bounds parsing work.
MAX_QUERY_CHARS: Final = 1000
DEFAULT_REVERSE_MAX_KM: Final = 30.0
REVERSE_EDGE_KM: Final = 0.5

# Kecamatan split off since many records were written, and the kecamatan their desa came from: Kec.
# Blimbingsari (35.10.25) took its ten desa from Rogojampi and Kabat (data README). "Desa Watukebo, Kec.
# Rogojampi" is then the Watukebo of Blimbingsari, not the one in Wongsorejo.
FORMER_KECAMATAN: Final[Mapping[str, frozenset[str]]] = {"35.10.25": frozenset({"35.10.13", "35.10.14"})}

ResultLevel = Literal["desa", "kecamatan", "kabupaten"]
Status = Literal["found", "ambiguous", "not_found", "out_of_area"]
GeocodeQuery = str | Mapping[str, str | None]


class GeocodeRaw(TypedDict):
    """``Location.raw``: what was matched and how far to trust it.

    ``alternatives`` holds the codes a human should consider instead: for an ambiguous name every other
    candidate, for a confirmed desa the same-named desa elsewhere in its kabupaten (Karangrejo in Kec. Banyuwangi
    vs Kec. Blimbingsari). ``in_area`` says whether the unit lies in the ``scope`` asked for (None: no scope).
    ``distance_km`` (from the point to the centroid) is set by ``reverse`` only.
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
    in_area: bool | None
    distance_km: NotRequired[float]


@dataclass(frozen=True, slots=True)
class Resolution:
    """A forward geocode with its outcome: several ``locations`` when ambiguous, none when not found or when the
    address names a region outside the scope."""

    status: Status
    locations: list[Location]


_RESULT_LEVEL: Final[Mapping[str, ResultLevel]] = {
    "desa": "desa",
    "kelurahan": "desa",
    "kecamatan": "kecamatan",
    "kabupaten": "kabupaten",
    "kota": "kabupaten",
}
_PRECISION: Final[Mapping[ResultLevel, int]] = {"kabupaten": 1, "kecamatan": 2, "desa": 3}
_FIELD_ROLES: Final = ("desa", "kecamatan", "kabupaten")
_QUERY_FIELDS: Final = ("code", "desa", "kecamatan", "kabupaten", "text")


class _OfflineAdapter(BaseSyncAdapter):
    """geopy's Geocoder requires an HTTP adapter; this one turns any request into an error instead of traffic."""

    def get_json(self, url: str, *, timeout: float, headers: Mapping[str, str]) -> Any:
        raise GeocoderServiceError(f"GazetteerGeocoder is offline and made no request to {url}")

    def get_text(self, url: str, *, timeout: float, headers: Mapping[str, str]) -> str:
        raise GeocoderServiceError(f"GazetteerGeocoder is offline and made no request to {url}")


@dataclass(frozen=True, slots=True)
class _Request:
    code: str | None
    places: list[PlaceName]
    postal_code: str | None


class _Found(NamedTuple):
    """A candidate unit, the address part it came from (so a part cannot confirm itself) and its similarity."""

    part: int
    unit: Unit
    score: float = 100.0


@dataclass(frozen=True, slots=True)
class _Match:
    unit: Unit
    confidence: float
    alternatives: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Outcome:
    matches: tuple[_Match, ...] = ()
    ambiguous: bool = False
    out_of_area: bool = False

    def precision(self) -> int:
        """How fine a single, unambiguous answer is; 0 when there is none."""
        if self.ambiguous or not self.matches:
            return 0
        return _PRECISION[_RESULT_LEVEL[self.matches[0].unit.level]]


@dataclass(slots=True)
class _Evidence:
    desa: list[_Found] = field(default_factory=list)
    loose_desa: list[_Found] = field(default_factory=list)
    namesake_desa: list[_Found] = field(default_factory=list)
    kecamatan: list[_Found] = field(default_factory=list)
    loose_kecamatan: list[_Found] = field(default_factory=list)
    postal_desa: list[Unit] = field(default_factory=list)
    postal_kecamatan: list[Unit] = field(default_factory=list)


class GazetteerGeocoder(Geocoder):
    """Offline geocoder for Indonesian addresses and Kemendagri codes; results are region centroids."""

    def __init__(
        self,
        gazetteer: Gazetteer | None = None,
        *,
        boundaries: Boundaries | None = None,
        reverse_max_km: float = DEFAULT_REVERSE_MAX_KM,
    ) -> None:
        super().__init__(adapter_factory=_OfflineAdapter)
        self.gazetteer = load_gazetteer() if gazetteer is None else gazetteer
        self._boundaries = boundaries
        self.reverse_max_km = reverse_max_km

    @property
    def boundaries(self) -> Boundaries:
        """Loaded on the first reverse lookup: forward geocoding, the common case, never needs the polygons."""
        if self._boundaries is None:
            self._boundaries = load_boundaries()
        return self._boundaries

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
        outside it gives None. Codes in the query are exact and are not limited by it, but a unit outside the
        scope says so in ``raw["in_area"]``. Input that is not an address gives None; an unknown ``scope``
        raises ValueError, being configuration.
        """
        resolution = self.resolve(query, scope=scope)
        if not resolution.locations or (exactly_one and resolution.status == "ambiguous"):
            return None
        return resolution.locations[0] if exactly_one else resolution.locations

    def resolve(self, query: GeocodeQuery, *, scope: str | None = None) -> Resolution:
        """``geocode`` with the reason when there is no single answer, for reports and the command line."""
        scope_code = self._scope_code(scope)
        request = _parse_query(query)
        if request is None:
            return Resolution("not_found", [])
        outcome = self._resolve(request, scope_code)
        locations = [self._location(match, scope_code) for match in outcome.matches]
        if outcome.ambiguous:
            return Resolution("ambiguous", locations)
        if outcome.out_of_area or (locations and locations[0].raw["in_area"] is False):
            return Resolution("out_of_area", locations)
        return Resolution("found" if locations else "not_found", locations)

    def describe(self, resolution: Resolution) -> dict[str, Any]:
        """A resolution as flat, JSON-ready fields for people and spreadsheets.

        The answer fields are None unless there is one unit (found, or found outside the area);
        ``alternatives`` names what a human should consider instead, with the kecamatan that tells namesakes
        apart: every candidate when ambiguous, the same-named units of the kabupaten otherwise.
        """
        found = resolution.locations and resolution.status in ("found", "out_of_area")
        answer = resolution.locations[0] if found else None
        if answer is None:
            codes = [location.raw["code"] for location in resolution.locations]
        else:
            codes = answer.raw["alternatives"]
        return {
            "status": resolution.status,
            "code": None if answer is None else answer.raw["code"],
            "name": None if answer is None else answer.raw["name"],
            "level": None if answer is None else answer.raw["level"],
            "lat": None if answer is None else answer.latitude,
            "lon": None if answer is None else answer.longitude,
            "confidence": None if answer is None else answer.raw["confidence"],
            "address": None if answer is None else answer.address,
            "alternatives": [self._alternative(code) for code in codes],
        }

    def _alternative(self, code: str) -> dict[str, str | None]:
        unit = self.gazetteer.get(code)
        if unit is None:
            raise LookupError(f"alternative {code} is not in the gazetteer")
        kecamatan = self._kecamatan_of(unit)
        return {"code": code, "name": unit.name, "kecamatan": None if kecamatan is None else kecamatan.name}

    def _kecamatan_of(self, unit: Unit) -> Unit | None:
        return next((up for up in self.gazetteer.lineage(unit) if up.level == "kecamatan"), None)

    @overload
    def reverse(
        self,
        query: Point | str | Sequence[float],
        *,
        exactly_one: Literal[True] = ...,
        scope: str | None = None,
    ) -> Location | None: ...

    @overload
    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: Literal[False], scope: str | None = None
    ) -> list[Location] | None: ...

    @overload
    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: bool, scope: str | None = None
    ) -> Location | list[Location] | None: ...

    def reverse(
        self, query: Point | str | Sequence[float], *, exactly_one: bool = True, scope: str | None = None
    ) -> Location | list[Location] | None:
        """The desa/kelurahan a point lies in: by polygon where they are shipped, else by nearest centroid.

        Accepts whatever geopy's Point does ("lat, lon", a pair, a Point) and raises its ValueError otherwise
        (NaN included).
        A point in no desa (at sea, abroad, or more than ``reverse_max_km`` from any centroid) gives None rather
        than a distant desa; one outside ``scope`` (a hospital's kabupaten) is returned with ``in_area`` False.
        """
        point = Point(query)
        lat, lon = point.latitude, point.longitude
        match = self._reverse_match(lat, lon)
        if match is None:
            return None
        centroid = self.gazetteer.centroid(match.unit)
        distance_km = (
            None if centroid is None else round(haversine_km(lat, lon, centroid.lat, centroid.lon), 3)
        )
        location = self._location(match, self._scope_code(scope), distance_km=distance_km)
        return location if exactly_one else [location]

    def _reverse_match(self, lat: float, lon: float) -> _Match | None:
        """Polygons first; the nearest centroid only where this kabupaten has no polygons to contradict it."""
        boundaries = self.boundaries
        code = boundaries.desa_at(lat, lon)
        if code is not None:
            return self._match_code(code, CONFIDENCE_REVERSE_POLYGON)
        nearest = self.gazetteer.nearest_desa(lat, lon, max_km=self.reverse_max_km)
        if nearest is None:
            return None
        unit, _ = nearest
        if not boundaries.covers(_kabupaten_code(unit)):
            return _Match(unit, CONFIDENCE_REVERSE)
        edge = boundaries.nearest_desa(lat, lon, max_km=REVERSE_EDGE_KM)
        return None if edge is None else self._match_code(edge[0], CONFIDENCE_REVERSE_EDGE)

    def _match_code(self, code: str, confidence: float) -> _Match:
        unit = self.gazetteer.get(code)
        if unit is None:
            raise LookupError(f"polygon for region {code}, which the gazetteer does not hold")
        return _Match(unit, confidence)

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
        narrowed = self._narrow_to_kabupaten(request.places, _within(code_unit, scope))
        if narrowed is None:
            return _Outcome(out_of_area=True)
        evidence = self._collect(*narrowed)
        if request.postal_code is not None:
            evidence.postal_desa = self.gazetteer.with_postal_code(request.postal_code, within=narrowed[1])
            parents = dict.fromkeys(unit.parent_code for unit in evidence.postal_desa if unit.parent_code)
            evidence.postal_kecamatan = [unit for code in parents if (unit := self.gazetteer.get(code))]
        if code_unit is not None and code_unit.level in KECAMATAN_LEVELS:
            evidence.kecamatan.append(_Found(-1, code_unit))
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
        self, places: list[PlaceName], within: list[str] | None
    ) -> tuple[list[PlaceName], list[str] | None] | None:
        """Consume kabupaten/kota names and search only there when neither code nor scope has narrowed it; failing
        those, search the kabupaten of a marked kecamatan.

        None means the address explicitly names ("Kab.", "Kota") a kabupaten outside the search area: a scoped
        hospital must not deliver to the namesake desa of another kabupaten. A marked name that is no kabupaten
        of that kind stays as unmarked text, since "Kota Baru" is also a desa.
        """
        remaining: list[PlaceName] = []
        named: list[Unit] = []
        for place in places:
            if place.role == "kabupaten" or place.role == "kota":
                units, rest, _ = self._match_prefix(place.words, KABUPATEN_LEVELS & {place.role}, None)
                if within is not None and units and not any(_overlaps(unit.code, within) for unit in units):
                    return None
                named.extend(units)
                remaining.append(PlaceName(None, rest if units else place.words))
            else:
                remaining.append(place)
        if within is None and not named:
            named = [
                unit
                for place in remaining
                if place.role is None
                for unit in self.gazetteer.find(" ".join(place.words), levels=KABUPATEN_LEVELS)
            ]
        if within is None and not named:
            # A marked kecamatan names its kabupaten too (one of few: "Kec. Glagah" is in Banyuwangi and
            # Lamongan), which lets misspelt desa names be matched there.
            named = [
                parent
                for place in remaining
                if place.role == "kecamatan"
                for unit in self._match_prefix(place.words, KECAMATAN_LEVELS, None)[0]
                if (parent := self.gazetteer.parent(unit)) is not None
            ]
        if within is None and named:
            within = list(dict.fromkeys(unit.code for unit in named))
        return [place for place in remaining if place.words], within

    def _collect(self, places: list[PlaceName], within: list[str] | None) -> _Evidence:
        evidence = _Evidence()
        ids = itertools.count()
        pending = list(places)
        while pending:
            place = pending.pop(0)
            if place.role == "desa" or place.role == "kecamatan":
                levels = DESA_LEVELS if place.role == "desa" else KECAMATAN_LEVELS
                units, rest, score = self._match_prefix(place.words, levels, within)
                part = next(ids)
                found = evidence.desa if place.role == "desa" else evidence.kecamatan
                found.extend(_Found(part, unit, score) for unit in units)
                if units and rest:
                    pending.append(PlaceName(None, rest))
            elif place.role is None:
                self._collect_unmarked(place.words, within, evidence, ids)
        return evidence

    def _collect_unmarked(
        self, words: tuple[str, ...], within: list[str] | None, evidence: _Evidence, ids: Iterator[int]
    ) -> None:
        """Take names from unmarked words, longest first; a part that names nothing exactly may be misspelt.

        Without an area only the whole part is tried, and only as a kecamatan: across all of Indonesia single
        words name some desa far too easily ("10 Downing Street, London" is not in Desa London, Maluku Utara,
        nor "Kuala Lumpur, Malaysia" in Desa Kuala Lumpur, Gorontalo).
        """
        if within is None:
            self._take_unmarked(" ".join(words), within, evidence, ids)
            return
        start = 0
        taken = False
        while start < len(words):
            for end in range(min(len(words), start + self.gazetteer.max_name_words), start, -1):
                if self._take_unmarked(" ".join(words[start:end]), within, evidence, ids):
                    start, taken = end, True
                    break
            else:
                start += 1
        if not taken and len(words) <= self.gazetteer.max_name_words:
            self._take_unmarked(
                " ".join(words), within, evidence, ids, min_similarity=MIN_SIMILARITY_UNMARKED
            )

    def _take_unmarked(
        self,
        name: str,
        within: list[str] | None,
        evidence: _Evidence,
        ids: Iterator[int],
        *,
        min_similarity: float | None = None,
    ) -> bool:
        """Record what an unmarked name could be; True if it named any region.

        A desa that shares its kecamatan's name (19 do in Banyuwangi) is kept apart: unmarked, "Glagah" names the
        kecamatan at least as often as the desa, unless a marked "Kec. Glagah" elsewhere leaves only the desa.
        """
        if min_similarity is None and (
            self.gazetteer.find(name, levels=PROVINSI_LEVELS)
            or self.gazetteer.find(name, levels=KABUPATEN_LEVELS, within=within)
        ):
            return True
        kecamatan = self._lookup(name, KECAMATAN_LEVELS, within, min_similarity)
        desa = [] if within is None else self._lookup(name, DESA_LEVELS, within, min_similarity)
        if not (kecamatan or desa):
            return False
        part = next(ids)
        kecamatan_codes = {unit.code for unit, _ in kecamatan}
        evidence.loose_kecamatan.extend(_Found(part, unit, score) for unit, score in kecamatan)
        for unit, score in desa:
            found = evidence.namesake_desa if unit.parent_code in kecamatan_codes else evidence.loose_desa
            found.append(_Found(part, unit, score))
        return True

    def _match_prefix(
        self, words: tuple[str, ...], levels: frozenset[str], within: list[str] | None
    ) -> tuple[list[Unit], tuple[str, ...], float]:
        """Longest leading run of words that names a unit, the words after it, and the similarity.

        Marked names often run on without commas ("Ds. Kemiren Glagah"), so the marker's part can hold more
        than the name. Exact names anywhere in the run win over misspelt ones.
        """
        longest = min(len(words), self.gazetteer.max_name_words)
        for min_similarity in (None, MIN_SIMILARITY_MARKED):
            for end in range(longest, 0, -1):
                found = self._lookup(" ".join(words[:end]), levels, within, min_similarity)
                if found:
                    return [unit for unit, _ in found], words[end:], min(score for _, score in found)
        return [], words, 0.0

    def _lookup(
        self, name: str, levels: frozenset[str], within: list[str] | None, min_similarity: float | None
    ) -> list[tuple[Unit, float]]:
        """Exact matches (score 100) or, given ``min_similarity`` and an area, similar names."""
        if min_similarity is None:
            return [(unit, 100.0) for unit in self.gazetteer.find(name, levels=levels, within=within)]
        if within is None or len(name.replace(" ", "")) < MIN_FUZZY_KEY_CHARS:
            return []
        return self.gazetteer.find_similar(name, levels=levels, within=within, min_score=min_similarity)

    @staticmethod
    def _decide(evidence: _Evidence) -> _Outcome:
        """Desa before kecamatan before postal code; each confirmed by a kecamatan or postal code if possible."""
        postal_kecamatan = {unit.code for unit in evidence.postal_kecamatan}
        postal_codes = {unit.code for unit in evidence.postal_desa}
        namesakes = [found for found in evidence.namesake_desa if _confirmed(found, evidence.kecamatan)]
        pool = evidence.desa or evidence.loose_desa + namesakes
        if pool:
            candidates = _best_per_unit(pool)
            for support in (evidence.kecamatan, None, evidence.loose_kecamatan):
                supported = [
                    found
                    for found in pool
                    if (found.unit.code in postal_codes if support is None else _confirmed(found, support))
                ]
                if supported:
                    return _pick(supported, CONFIDENCE_DESA_IN_KECAMATAN, candidates)
            support = evidence.kecamatan + evidence.loose_kecamatan
            formerly = [found for found in pool if _confirmed(found, support, former=True)]
            if formerly or not evidence.kecamatan:
                return _pick(formerly or candidates, CONFIDENCE_DESA_UNIQUE, candidates)
            return _pick(candidates, CONFIDENCE_DESA_KECAMATAN_DISAGREES, candidates)
        kecamatan = _best_per_unit(evidence.kecamatan or evidence.loose_kecamatan)
        if kecamatan:
            by_postal_code = [found for found in kecamatan if found.unit.code in postal_kecamatan]
            return _pick(by_postal_code or kecamatan, CONFIDENCE_KECAMATAN, kecamatan)
        by_postal_code = [_Found(-1, unit) for unit in evidence.postal_kecamatan]
        if len(evidence.postal_desa) == 1:
            by_postal_code = [_Found(-1, evidence.postal_desa[0])]
        return _pick(by_postal_code, CONFIDENCE_POSTAL_CODE, []) if by_postal_code else _Outcome()

    def _location(self, match: _Match, scope: str | None, *, distance_km: float | None = None) -> Location:
        unit = match.unit
        centroid = self.gazetteer.centroid(unit)
        if centroid is None:
            raise LookupError(f"no centroid for region {unit.code} or any of its parents")
        kecamatan = self._kecamatan_of(unit)
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
            "in_area": None if scope is None else f"{unit.code}.".startswith(f"{scope}."),
        }
        if distance_km is not None:
            raw["distance_km"] = distance_km
        lineage = self.gazetteer.lineage(unit)
        address = ", ".join(_label(ancestor) for ancestor in lineage if ancestor.level not in PROVINSI_LEVELS)
        return Location(address, (centroid.lat, centroid.lon), dict(raw))


def _parse_query(query: object) -> _Request | None:
    """Parse a query's text and fields; None for anything that cannot be an address."""
    if isinstance(query, str):
        if len(query) > MAX_QUERY_CHARS:
            return None
        address = parse_address(query)
        return _Request(None, list(address.places), address.postal_code)
    if not isinstance(query, Mapping):
        return None
    values = {key: value for key in _QUERY_FIELDS if isinstance(value := query.get(key), str)}
    if sum(map(len, values.values())) > MAX_QUERY_CHARS:
        return None
    places: list[PlaceName] = []
    postal_code = None
    for key in (*_FIELD_ROLES, "text"):
        if key in values:
            address = parse_address(values[key], field=key if is_role(key) else None)
            places.extend(address.places)
            postal_code = address.postal_code or postal_code
    return _Request(values.get("code"), places, postal_code)


def _within(code_unit: Unit | None, scope: str | None) -> list[str] | None:
    """The area names are searched in: the code's unit, or the scope where that is narrower or there is no code."""
    if code_unit is None:
        return None if scope is None else [scope]
    if scope is not None and f"{scope}.".startswith(f"{code_unit.code}."):
        return [scope]
    return [code_unit.code]


def _confirmed(found: _Found, support: list[_Found], *, former: bool = False) -> bool:
    """Whether another part of the address names the desa's kecamatan (``former``: the one it was split from)."""
    parent = found.unit.parent_code or ""
    parents = FORMER_KECAMATAN.get(parent, frozenset()) if former else {parent}
    return any(kecamatan.unit.code in parents and kecamatan.part != found.part for kecamatan in support)


def _overlaps(code: str, within: list[str]) -> bool:
    """Whether a unit and one of the area's units contain one another (or are the same)."""
    return any(f"{code}.".startswith(f"{area}.") or f"{area}.".startswith(f"{code}.") for area in within)


def _best_per_unit(found: Iterable[_Found]) -> list[_Found]:
    """One entry per unit, the most similar; order of first appearance kept."""
    best: dict[str, _Found] = {}
    for entry in found:
        if entry.unit.code not in best or entry.score > best[entry.unit.code].score:
            best[entry.unit.code] = entry
    return list(best.values())


def _pick(chosen: list[_Found], confidence: float, considered: list[_Found]) -> _Outcome:
    """One unit is an answer; several are an ambiguity that shares the confidence and lists the others.

    A misspelt name scales the confidence by its similarity. A single answer lists only rivals from its own
    kabupaten: once a kecamatan has confirmed it, a namesake in another province is no plausible misreading.
    """
    units = _best_per_unit(chosen)
    if len(units) == 1:
        (best,) = units
        rivals = [
            found.unit for found in considered if _kabupaten_code(found.unit) == _kabupaten_code(best.unit)
        ]
        return _Outcome(
            (_Match(best.unit, _scaled(confidence, best.score), _codes_except(rivals, best.unit)),)
        )
    shared = confidence / len(units)
    return _Outcome(
        tuple(
            _Match(
                found.unit, _scaled(shared, found.score), _codes_except([u.unit for u in units], found.unit)
            )
            for found in units
        ),
        ambiguous=True,
    )


def _scaled(confidence: float, score: float) -> float:
    return round(confidence * score / 100, 2)


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
