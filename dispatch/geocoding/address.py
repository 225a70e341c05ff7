"""Parsing of Indonesian free-text addresses into their parts, without the gazetteer.

Hospital records write addresses by hand and in any order: "Dsn. Krajan Rt. 05 Rt. 07 Ds. Genteng wetan Kec.
Genteng", "Jl. Letkol. Istiqlah No. 49, Singonegaran, Kec. Banyuwangi 68415". The parser reads the marker words
(Jl., Gg., Dsn., Ds., Kec., Kab., ...), RT/RW in their many spellings, the house number, the postal code and
landmarks ("dekat masjid ...") and keeps the remaining words as unmarked place names. Which names are real
regions is for the geocoder to decide; this module knows no region and is therefore tested on its own.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard

Role = Literal["desa", "kecamatan", "kabupaten", "kota"]
# A part of an address that is not a region name; "skip" parts (Perum, Blok, Provinsi) are read and dropped.
_Kind = Literal["street", "gang", "dusun", "landmark", "number", "skip"]

REGION_ROLES: Final[frozenset[str]] = frozenset({"desa", "kecamatan", "kabupaten", "kota"})

_MARKERS: Final[dict[str, Role | _Kind]] = {
    "ds": "desa",
    "desa": "desa",
    "kel": "desa",
    "kelurahan": "desa",
    "kec": "kecamatan",
    "kecamatan": "kecamatan",
    "kab": "kabupaten",
    "kabupaten": "kabupaten",
    "kota": "kota",
    "jl": "street",
    "jln": "street",
    "jalan": "street",
    "gg": "gang",
    "gang": "gang",
    "dsn": "dusun",
    "dusun": "dusun",
    "dukuh": "dusun",
    "dkh": "dusun",
    # Lingkungan is the kelurahan's counterpart of the desa's dusun.
    "lingk": "dusun",
    "lingkungan": "dusun",
    "dekat": "landmark",
    "dkt": "landmark",
    "belakang": "landmark",
    "blkg": "landmark",
    "depan": "landmark",
    "dpn": "landmark",
    "samping": "landmark",
    "sebelah": "landmark",
    "seberang": "landmark",
    "sebrang": "landmark",
    "no": "number",
    "nomor": "number",
    "rt": "skip",
    "rw": "skip",
    "km": "skip",
    "komp": "skip",
    "kompleks": "skip",
    "perum": "skip",
    "perumahan": "skip",
    "blok": "skip",
    "prov": "skip",
    "provinsi": "skip",
    "propinsi": "skip",
}

_NUMBER = r"([0-9]{1,3})(?![0-9])"
_RT_SEP = r"[\s.:]*"
# "RT/RW 02/03"; "RT 02 RW 03", "RT.002/RW.003", "RT 01/002", "Rt. 05 Rt. 07" (the second RT is the RW);
# "RW 03" alone. Matched on the raw text before words are read, so that these numbers never end up in names.
_RT_RW: Final = re.compile(
    rf"\bRT\s*/\s*RW{_RT_SEP}{_NUMBER}\s*/\s*{_NUMBER}"
    rf"|\bRT{_RT_SEP}{_NUMBER}(?:\s*[/,.]?\s*R[TW]{_RT_SEP}{_NUMBER}|\s*/\s*{_NUMBER})?"
    rf"|\bRW{_RT_SEP}{_NUMBER}",
    re.IGNORECASE,
)
# "balai desa", "kantor kelurahan": a building named after its desa, which stays inside the landmark.
_INSTITUTIONS: Final = frozenset({"balai", "kantor"})
_PART_SEPARATOR: Final = re.compile(r"[,;|\r\n]+|\s[-\u2013\u2014]\s")
_WORD: Final = re.compile(r"[^\W_]+")
_DIGIT: Final = re.compile(r"\d")
_POSTAL_CODE: Final = re.compile(r"[1-9][0-9]{4}")


@dataclass(frozen=True, slots=True)
class PlaceName:
    """A run of words that may name a region, and the marker before it (None: unmarked).

    A marked name may run on into the next, unmarked one when commas are missing ("Ds. Kemiren Glagah"); only
    the gazetteer can tell where the first name ends.
    """

    role: Role | None
    words: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Address:
    """The parts of one address; text fields keep the spelling of the input, trimmed of markers.

    ``desa``, ``kecamatan`` and ``kabupaten`` are the first names written after their markers ("Kota X" also
    fills ``kabupaten``); ``places`` holds every candidate region name, marked or not, in address order.
    RT and RW are numbers without leading zeros, as "002" and "2" are the same RT.
    """

    street: str | None = None
    number: str | None = None
    gang: str | None = None
    dusun: str | None = None
    rt: str | None = None
    rw: str | None = None
    desa: str | None = None
    kecamatan: str | None = None
    kabupaten: str | None = None
    postal_code: str | None = None
    landmarks: tuple[str, ...] = ()
    places: tuple[PlaceName, ...] = ()


def is_role(word: str) -> TypeGuard[Role]:
    """Whether a marker or field name introduces a region name."""
    return word in REGION_ROLES


class _Reader:
    """Collects fields while the words of one address are read in order."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.landmarks: list[str] = []
        self.places: list[PlaceName] = []

    def keep(self, name: str, value: str) -> None:
        """The first value of a field wins: later ones are usually a second street or a repeated RT."""
        self.fields.setdefault(name, value)

    def flush(self, kind: Role | _Kind | None, part: str, words: list[re.Match[str]]) -> None:
        if not words:
            return
        text = part[words[0].start() : words[-1].end()]
        if kind is None or is_role(kind):
            self.places.append(PlaceName(kind, tuple(word.group().casefold() for word in words)))
            if kind is not None:
                self.keep("kabupaten" if kind == "kota" else kind, text)
        elif kind == "landmark":
            self.landmarks.append(text)
        elif kind != "skip":
            self.keep(kind, text)

    def read_part(self, part: str, field: Role | None) -> None:
        """One comma-separated part: a marker starts a new name, a number ends one."""
        kind: Role | _Kind | None = field
        words: list[re.Match[str]] = []
        for match in _WORD.finditer(part):
            token = match.group().casefold()
            marker = _MARKERS.get(token)
            if marker is not None and kind is not None and is_role(kind) and not words:
                # "Ds. Kota Baru" and "Desa Dusun Baru" are names; "Kec. Kec. Glagah" repeats its marker.
                if marker != kind:
                    words.append(match)
            elif marker is not None and (
                kind != "landmark" or (is_role(marker) and words[-1].group().casefold() not in _INSTITUTIONS)
            ):
                self.flush(kind, part, words)
                kind, words = marker, [match] if marker == "landmark" else []
            elif _DIGIT.search(token) is None:
                if kind == "number":
                    kind = None
                words.append(match)
            elif kind == "landmark" or (kind in ("street", "gang") and not words):
                words.append(match)  # "belakang SDN 1", "Jl. 17 Agustus", "Gg. 3"
            else:
                self.read_number(kind, part, words, match)
                kind, words = None, []
        self.flush(kind, part, words)

    def read_number(
        self, kind: Role | _Kind | None, part: str, words: list[re.Match[str]], match: re.Match[str]
    ) -> None:
        """A number ends the name before it: it is the house number after "No." or a street, or a postal code."""
        self.flush(kind, part, words)
        token = match.group()
        if kind == "number" or (kind in ("street", "gang") and "number" not in self.fields):
            self.keep("number", token)
        elif _POSTAL_CODE.fullmatch(token):
            self.fields["postal_code"] = token  # the last one: the code closes an address


def parse_address(text: str, *, field: Role | None = None) -> Address:
    """Split an address into its parts; ``field`` marks text that came from a structured field (FHIR
    ``address.district`` holding the kecamatan) so that its names count as marked.

    Never fails: text that is no address gives an ``Address`` with nothing in it.
    """
    reader = _Reader()
    text = unicodedata.normalize("NFKC", text)
    for match in _RT_RW.finditer(text):
        rt_of_pair, rw_of_pair, rt, rw_marked, rw_slashed, rw_alone = match.groups()
        for name, number in (
            ("rt", rt_of_pair or rt),
            ("rw", rw_of_pair or rw_marked or rw_slashed or rw_alone),
        ):
            if number is not None:
                reader.keep(name, str(int(number)))
    for part in _PART_SEPARATOR.split(_RT_RW.sub(",", text)):
        reader.read_part(part, field)
    fields = reader.fields
    return Address(
        street=fields.get("street"),
        number=fields.get("number"),
        gang=fields.get("gang"),
        dusun=fields.get("dusun"),
        rt=fields.get("rt"),
        rw=fields.get("rw"),
        desa=fields.get("desa"),
        kecamatan=fields.get("kecamatan"),
        kabupaten=fields.get("kabupaten"),
        postal_code=fields.get("postal_code"),
        landmarks=tuple(reader.landmarks),
        places=tuple(reader.places),
    )
