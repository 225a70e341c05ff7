"""Accuracy of the gazetteer step on the labelled addresses (issue 5): how many the dispatcher would send a driver
to the right desa, how many it would ask about (needs_address), and how many it would send to a wrong desa.

Each address goes through the same call ``dispatch.dispatching.locating`` makes (``geocode({"code": hint, "text":
text}, scope=<the hospital's kabupaten>)``, no hint here) and the default ``GeocodingPolicy.min_confidence``.
An answer below the threshold, an ambiguous name and a name not found all end in needs_address. A confident answer
at kecamatan level is reported on its own line: the driver would go to the kecamatan centre, which holds the true
desa (right kecamatan) or does not (counted as wrong).

Run: ``.venv/bin/python bench/geocode_accuracy_bench.py``
"""

from __future__ import annotations

import csv
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dispatch.geocoding.geocoder import GazetteerGeocoder  # noqa: E402
from dispatch.geocoding.policy import GeocodingPolicy  # noqa: E402

CSV = ROOT / "tests" / "geocoding" / "data" / "labelled_addresses.csv"
SCOPE = "35.10"  # Kabupaten Banyuwangi: the hospitals' kabupaten_code


@dataclass(frozen=True, slots=True)
class Verdict:
    address: str
    true_code: str
    style: str
    outcome: str  # "right" | "kecamatan" | "asked" | "wrong"
    got: str  # what the geocoder answered, for the report


def load_rows(path: Path = CSV) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def judge(geocoder: GazetteerGeocoder, row: dict[str, str], min_confidence: float) -> Verdict:
    address, true_code, style = row["address"], row["true_desa_code"], row["style"]
    location = geocoder.geocode({"code": "", "text": address}, scope=SCOPE)
    if location is None:
        status = geocoder.resolve({"code": "", "text": address}, scope=SCOPE).status
        return Verdict(address, true_code, style, "asked", status)
    raw = location.raw
    got = f"{raw['level']} {raw['code']} {raw['name']} ({raw['confidence']:.2f})"
    if raw["confidence"] < min_confidence:
        return Verdict(address, true_code, style, "asked", f"below threshold: {got}")
    if raw["level"] == "desa":
        return Verdict(address, true_code, style, "right" if raw["code"] == true_code else "wrong", got)
    if raw["level"] == "kecamatan" and true_code.startswith(raw["code"] + "."):
        return Verdict(address, true_code, style, "kecamatan", got)
    return Verdict(address, true_code, style, "wrong", got)


def evaluate(geocoder: GazetteerGeocoder | None = None) -> list[Verdict]:
    geocoder = geocoder or GazetteerGeocoder()
    min_confidence = GeocodingPolicy().min_confidence
    return [judge(geocoder, row, min_confidence) for row in load_rows()]


LABELS = {
    "right": "right desa",
    "kecamatan": "right kecamatan only (confident, kecamatan centre)",
    "asked": "needs_address (below threshold / ambiguous / not found)",
    "wrong": "wrong (confident, wrong desa or kecamatan)",
}


def main() -> None:
    verdicts = evaluate()
    total = len(verdicts)
    counts = Counter(v.outcome for v in verdicts)
    print(
        f"{total} labelled addresses ({CSV.relative_to(ROOT)}), scope {SCOPE}, "
        f"min_confidence {GeocodingPolicy().min_confidence:g}"
    )
    for key, label in LABELS.items():
        print(f"  {label:60s} {counts[key]:4d}  {100 * counts[key] / total:5.1f} %")
    by_style: dict[str, Counter[str]] = defaultdict(Counter)
    for v in verdicts:
        by_style[v.style][v.outcome] += 1
    print(f"\n{'style':22s} {'n':>4s} {'right':>6s} {'kec':>5s} {'asked':>6s} {'wrong':>6s}")
    for style, c in by_style.items():
        n = sum(c.values())
        print(f"{style:22s} {n:4d} {c['right']:6d} {c['kecamatan']:5d} {c['asked']:6d} {c['wrong']:6d}")
    wrong = [v for v in verdicts if v.outcome == "wrong"]
    print(f"\nwrong ({len(wrong)}):")
    for v in wrong:
        print(f"  [{v.style}] {v.address!r}: true {v.true_code}, got {v.got}")
    if "-v" in sys.argv:
        print("\nasked / kecamatan only:")
        for v in verdicts:
            if v.outcome in ("asked", "kecamatan"):
                print(f"  [{v.style}] {v.outcome}: {v.address!r}: true {v.true_code}, got {v.got}")


if __name__ == "__main__":
    main()
