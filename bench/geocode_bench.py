"""Throughput of the offline geocoder on realistic Banyuwangi addresses, single process on one core.

Sizes the intake path: every prescription's address is geocoded once on arrival. Run with
``.venv/bin/python bench/geocode_bench.py [--seconds N]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import time
from collections.abc import Callable

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


def rate(geocode: Callable[[str], object], seconds: float) -> tuple[float, int]:
    """Addresses per second over at least ``seconds``, and how many of one pass resolved."""
    resolved = sum(geocode(address) is not None for address in ADDRESSES)
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for address in ADDRESSES:
            geocode(address)
        done += len(ADDRESSES)
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
        per_second, resolved = rate(functools.partial(geocoder.geocode, scope=scope), args.seconds)
        print(
            f"{label}: {per_second:,.0f} addresses/s ({resolved}/{len(ADDRESSES)} distinct addresses resolved)"
        )


if __name__ == "__main__":
    main()
