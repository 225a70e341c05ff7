"""Issue 5's figure as a guard: on the labelled addresses, under 1 % may be sent confidently to a wrong desa."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

from dispatch.geocoding import GazetteerGeocoder

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


bench = _load("geocode_accuracy_bench", ROOT / "bench" / "geocode_accuracy_bench.py")
maker = _load("make_labelled_addresses", Path(__file__).parent / "make_labelled_addresses.py")


def test_labelled_set_is_large_covers_every_style_and_is_up_to_date() -> None:
    rows = bench.load_rows()
    assert len(rows) >= 200
    assert set(maker.ALL_STYLES) <= {row["style"] for row in rows}
    assert [(r["address"], r["true_desa_code"], r["style"]) for r in rows] == maker.build()


def test_wrong_desa_under_one_percent(geocoder: GazetteerGeocoder) -> None:
    verdicts = bench.evaluate(geocoder)
    counts = Counter(v.outcome for v in verdicts)
    wrong = [f"{v.address!r} -> {v.got}" for v in verdicts if v.outcome == "wrong"]
    assert counts["wrong"] / len(verdicts) < 0.01, wrong
    assert counts["right"] / len(verdicts) >= 0.85


def test_ambiguous_names_without_kecamatan_are_asked(geocoder: GazetteerGeocoder) -> None:
    verdicts = [v for v in bench.evaluate(geocoder) if v.style == "ambiguous_no_kec"]
    assert verdicts and all(v.outcome == "asked" for v in verdicts)
