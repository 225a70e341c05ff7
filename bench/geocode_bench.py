"""Throughput of the offline geocoder on realistic Banyuwangi addresses and pins, single process on one core.

Sizes the intake path: every prescription's address is geocoded once on arrival. Run with
``.venv/bin/python bench/geocode_bench.py [--seconds N]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from dispatch.geocoding import GazetteerGeocoder, load_gazetteer

BANYUWANGI = "35.10"

ADDRESSES: tuple[str, ...] = (
    "Dsn. Krajan RT 02 RW 03, Ds. Kalibaru Wetan, Kec. Kalibaru",
    "Desa Kemiren, Kecamatan Glagah, Banyuwangi",
    "Dsn. Krajan Rt. 05 Rt. 07 Ds. Genteng wetan Kec. Genteng Kab. Banyuwangi",
    "Jl. KH. Ahmad Dahlan / Jl. KH Imam Bahri No.10, Dusun Krajan, Genteng Wetan, Kec. Genteng, "
    "Kabupaten Banyuwangi, Jawa Timur 68465",
    "Jl. Letkol. Istiqlah No. 49, Singonegaran, Kec. Banyuwangi, Kab. Banyuwangi, Jawa Timur 68415",
    "Jl. Mangga Dua No 3 Genteng Wetan,  Kec Genteng",
    "Jl. Hasanudin No. 98 Genteng - Banyuwangi 68465",
    "Ds. Tamansuruh, Glagah",
    "Kel. Karangrejo, Kec. Banyuwangi",
    "Desa Karangrejo, Kec. Blimbingsari, Kab. Banyuwangi",
    "Desa Kaotan, Kec. Rogojampi",
    "Dusun Krajan RT 001/RW 002 Desa Bengkak Kecamatan Wongsorejo",
    "Jl. Raya Jember No. 12, Sempu, Kec. Sempu, Banyuwangi 68468",
    "RT 03/RW 01 Dsn. Kepeg Satu, Ds. Kebaman, Kec. Srono",
    "Perum Griya Giri Mulya Blok C-12, Kel. Penataban, Kec. Giri",
    "Desa Sarongan Kec. Pesanggaran Kab. Banyuwangi",
    "Jl. Brawijaya No. 5 Kel. Kebalenan, Banyuwangi",
    "Ds. Wringin Putih, Kec. Muncar, Kabupaten Banyuwangi, Jawa Timur",
    "Kec. Tegaldlimo",
    "Dsn. Krajan, Ds. Sumber Arum, Kec. Songgon",
)

T = TypeVar("T")

# Names off by a letter or two, which go through rapidfuzz inside the kabupaten.
MISSPELT: tuple[str, ...] = (
    "Ds. Keretan, Kec. Purwoharjo",
    "Ds. Alasbulu, Kec. Wongsorejo",
    "Dsn. Krajan, Ds. Kedungpringin, Kec. Muncar",
    "Desa Kalibaru Wetn, Kec. Kalibaru",
    "Kalibaruwetn, Kec Kalibaru",
    "Desa Kemirenn Kec Glagah",
    "Desa Sumberesri, Kec. Srono",
    "Ds. Lemahbang Kulun, Kec. Singojuruh",
)

# Pins across Kabupaten Banyuwangi and beyond (sea, Bali, Jember), for polygon reverse geocoding.
PINS: tuple[tuple[float, float], ...] = (
    (-8.202007, 114.318686),
    (-8.2105, 114.3660),
    (-8.243579, 113.991949),
    (-8.347734, 114.148433),
    (-8.5, 114.2),
    (-8.0, 114.35),
    (-8.21, 114.40),
    (-8.1, 114.45),
    (-8.17, 113.70),
    (-8.6, 114.0),
)


def rate(geocode: Callable[[T], object], queries: Sequence[T], seconds: float) -> tuple[float, int]:
    """Queries per second over at least ``seconds``, and how many of one pass resolved."""
    resolved = sum(geocode(query) is not None for query in queries)
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for query in queries:
            geocode(query)
        done += len(queries)
    return done / elapsed, resolved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per configuration")
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    started = time.perf_counter()
    gazetteer = load_gazetteer()
    print(f"gazetteer: {len(gazetteer):,} units loaded in {time.perf_counter() - started:.2f} s")

    geocoder = GazetteerGeocoder(gazetteer)
    for label, scope in (("scoped to Kab. Banyuwangi", BANYUWANGI), ("all of Indonesia", None)):
        per_second, resolved = rate(functools.partial(geocoder.geocode, scope=scope), ADDRESSES, args.seconds)
        print(
            f"{label}: {per_second:,.0f} addresses/s ({resolved}/{len(ADDRESSES)} distinct addresses resolved)"
        )
    per_second, resolved = rate(functools.partial(geocoder.geocode, scope=BANYUWANGI), MISSPELT, args.seconds)
    print(f"misspelt, scoped: {per_second:,.0f} addresses/s ({resolved}/{len(MISSPELT)} resolved)")

    started = time.perf_counter()
    geocoder.reverse(PINS[0])
    print(f"polygons loaded in {time.perf_counter() - started:.2f} s")
    per_second, resolved = rate(functools.partial(geocoder.reverse, scope=BANYUWANGI), PINS, args.seconds)
    print(f"reverse: {per_second:,.0f} pins/s ({resolved}/{len(PINS)} placed in a desa)")


if __name__ == "__main__":
    main()
