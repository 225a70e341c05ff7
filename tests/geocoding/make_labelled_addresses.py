"""Builds ``data/labelled_addresses.csv``: addresses in every style hospital records use, with the desa each truly
names, generated from the real Banyuwangi gazetteer (seeded, so the file is reproducible) plus a hand-written block
of tricky real-style cases.

Run: ``.venv/bin/python tests/geocoding/make_labelled_addresses.py`` (rewrites the CSV).
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from importlib import resources
from pathlib import Path

SEED = 5
OUT = Path(__file__).parent / "data" / "labelled_addresses.csv"
PER_STYLE = 14

STREETS = ("Raya", "Diponegoro", "Ahmad Yani", "Gajah Mada", "Brawijaya", "Kartini", "Imam Bonjol", "Veteran")
LANDMARKS = (
    "dekat masjid Al Ikhlas",
    "depan SDN 1",
    "belakang pasar",
    "dkt musholla Nurul Huda",
    "samping puskesmas",
)
DUSUN = ("Krajan", "Kidul", "Sumberjo", "Tegalrejo Kulon", "Karangasem", "Sidomulyo")
ALL_STYLES = (
    "street_no",
    "gang",
    "dusun",
    "rt_rw",
    "desa_marker",
    "kecamatan_marker",
    "kabupaten",
    "postal_code",
    "landmark",
    "case_punct",
    "spelling",
    "typo",
    "ambiguous_with_kec",
    "ambiguous_no_kec",
    "dusun_is_desa",
    "blimbingsari_split",
    "no_kecamatan",
    "free_text",
    "hand",
)

# Hand-written: the shapes real records take, including the traps. (address, true desa, its kecamatan)
HAND: tuple[tuple[str, str, str], ...] = (
    ("Dsn. Krajan Rt. 05 Rt. 07 Ds. Genteng wetan Kec. Genteng", "Genteng Wetan", "Genteng"),
    ("Jl. Letkol. Istiqlah No. 49, Singonegaran, Kec. Banyuwangi 68415", "Singonegaran", "Banyuwangi"),
    ("DSN KRAJAN RT 001 RW 002 DS KALIBARU WETAN KEC KALIBARU", "Kalibaruwetan", "Kalibaru"),
    ("Kalibaruwetan, Kalibaru, Banyuwangi", "Kalibaruwetan", "Kalibaru"),
    ("Ds. Kalibaru Wetn Kec. Kalibaru", "Kalibaruwetan", "Kalibaru"),
    ("Desa Watukebo, Kec. Rogojampi", "Watukebo", "Blimbingsari"),
    ("Desa Watukebo Kec. Wongsorejo Kab. Banyuwangi", "Watukebo", "Wongsorejo"),
    ("Karangrejo, Kec. Banyuwangi", "Karangrejo", "Banyuwangi"),
    ("Ds. Karangrejo Kec. Kabat", "Karangrejo", "Blimbingsari"),
    ("Dsn. Rogojampi Ds. Gitik Kec. Rogojampi", "Gitik", "Rogojampi"),
    ("Dusun Kemiren, Desa Olehsari, Kec. Glagah", "Olehsari", "Glagah"),
    ("Jl. Raya Genteng No. 12 Ds. Setail Kec. Genteng", "Setail", "Genteng"),
    ("dekat masjid Baitussalam, Pengatigan, Rogojampi", "Pengatigan", "Rogojampi"),
    ("Kel. Pengantigan Kec. Banyuwangi", "Pengantigan", "Banyuwangi"),
    ("RT/RW 02/03 Lemahbang Kulon Singojuruh", "Lemahbangkulon", "Singojuruh"),
    ("Perum Griya Giri Mulya Blok C-7, Kel. Boyolangu, Kec. Giri", "Boyolangu", "Giri"),
    ("Ds. Tamansari, Kec. Licin", "Tamansari", "Licin"),
    ("Tamansari Tegalsari Banyuwangi", "Tamansari", "Tegalsari"),
    ("Jln Diponegoro no 5 rt.002/rw.003 kel. kepatihan banyuwangi 68411", "Kepatihan", "Banyuwangi"),
    ("Macanputih, Kabat", "Macan Putih", "Kabat"),
    ("Benelan Lor Kec Kabat Kab Bwi", "Benelan Lor", "Kabat"),
    ("Ling. Krajan, Kel. Giri, Kec. Giri", "Giri", "Giri"),
    ("Blimbingsari, Rogojampi", "Blimbingsari", "Blimbingsari"),
    ("sebelah balai desa Kemiren glagah", "Kemiren", "Glagah"),
)


def _units() -> tuple[dict[str, str], list[dict[str, str]]]:
    text = (resources.files("dispatch.geocoding") / "data" / "banyuwangi_wilayah.csv").read_text(
        encoding="utf-8"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    kecamatan = {row["code"]: row["name"] for row in rows if row["level"] == "kecamatan"}
    desa = [row for row in rows if row["level"] in ("desa", "kelurahan")]
    return kecamatan, desa


def _rt_rw(rng: random.Random) -> str:
    rt, rw = rng.randint(1, 9), rng.randint(1, 12)
    return rng.choice(
        (
            f"RT {rt:02d} RW {rw:02d}",
            f"RT.{rt:03d}/RW.{rw:03d}",
            f"RT/RW {rt:02d}/{rw:02d}",
            f"Rt. {rt} Rw. {rw}",
        )
    )


def _marker(rng: random.Random, desa: dict[str, str]) -> str:
    if desa["level"] == "kelurahan":
        return rng.choice(("Kel.", "Kelurahan"))
    return rng.choice(("Ds.", "Desa"))


def _typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(2, len(name) - 1)
    if rng.random() < 0.5:
        return name[:i] + name[i + 1 :]
    return name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]


def build() -> list[tuple[str, str, str]]:
    rng = random.Random(SEED)
    kecamatan, all_desa = _units()
    counts = Counter(d["name"].lower() for d in all_desa)
    unique = [d for d in all_desa if counts[d["name"].lower()] == 1]
    namesakes = [d for d in all_desa if counts[d["name"].lower()] > 1]
    desa_names = sorted({d["name"] for d in all_desa})
    rows: list[tuple[str, str, str]] = []

    def add(style: str, make: object) -> None:
        assert callable(make)
        for _ in range(PER_STYLE):
            desa = rng.choice(unique)
            rows.append((make(desa), desa["code"], style))

    def kec(d: dict[str, str]) -> str:
        return kecamatan[d["parent_code"]]

    add(
        "street_no",
        lambda d: (
            f"{rng.choice(('Jl.', 'Jln.', 'Jalan'))} {rng.choice(STREETS)} No. {rng.randint(1, 150)}, "
            f"{_marker(rng, d)} {d['name']}, Kec. {kec(d)}"
        ),
    )
    add(
        "gang",
        lambda d: (
            f"{rng.choice(('Gg.', 'Gang'))} {rng.choice(('Mawar', 'Melati', 'Masjid', 'II'))} "
            f"{d['name']}, {kec(d)}"
        ),
    )
    add(
        "dusun",
        lambda d: (
            f"{rng.choice(('Dusun', 'Dsn.', 'Dukuh'))} {rng.choice(DUSUN)} {_marker(rng, d)} "
            f"{d['name']} Kec. {kec(d)}"
        ),
    )
    add("rt_rw", lambda d: f"{_rt_rw(rng)} {_marker(rng, d)} {d['name']} Kecamatan {kec(d)}")
    add("desa_marker", lambda d: f"{_marker(rng, d)} {d['name']}, {kec(d)}")
    add("kecamatan_marker", lambda d: f"{d['name']} {rng.choice(('Kec.', 'Kecamatan', 'kec'))} {kec(d)}")
    add(
        "kabupaten",
        lambda d: (
            f"{_marker(rng, d)} {d['name']} Kec. {kec(d)} "
            f"{rng.choice(('Kab. Banyuwangi', 'Kabupaten Banyuwangi', 'Banyuwangi'))}"
        ),
    )
    add("postal_code", lambda d: f"{d['name']}, {kec(d)}, Banyuwangi {d['postal_code']}")
    add("landmark", lambda d: f"{rng.choice(LANDMARKS)}, {_marker(rng, d)} {d['name']}, Kec. {kec(d)}")
    add(
        "case_punct",
        lambda d: rng.choice(
            (
                f"DS. {d['name'].upper()} KEC. {kec(d).upper()}",
                f"ds {d['name'].lower()}   kec {kec(d).lower()}",
                f"{d['name'].lower()},{kec(d).lower()};banyuwangi",
                f"Desa  {d['name']} - Kec.{kec(d)}",
            )
        ),
    )
    add(
        "no_kecamatan",
        lambda d: rng.choice(
            (
                f"{_marker(rng, d)} {d['name']}",
                f"{_rt_rw(rng)} {d['name']} Banyuwangi",
                f"Jl. {rng.choice(STREETS)} {d['name']}, Kab. Banyuwangi",
            )
        ),
    )
    add(
        "free_text",
        lambda d: rng.choice(
            (
                f"rumah pak {rng.choice(('Slamet', 'Hasan', 'Bambang'))} {d['name']} {kec(d)} sebelah toko",
                f"alamat {d['name']} kecamatan {kec(d)} rumah cat hijau",
                f"{d['name']} {kec(d)}",
            )
        ),
    )

    # Spelling: names written with the compass word joined or split ("Kalibaruwetan" / "Kalibaru Wetan").
    compound = [
        d for d in unique if any(w in d["name"].lower() for w in ("wetan", "kulon", "lor", "kidul", "manis"))
    ]
    for d in compound:
        name = d["name"]
        variant = (
            name.replace(" ", "")
            if " " in name
            else next(
                name[: -len(w)] + " " + name[-len(w) :].capitalize()
                for w in ("wetan", "kulon", "lor", "kidul", "manis", "dewo")
                if name.lower().endswith(w)
            )
        )
        rows.append((f"Ds. {variant} Kec. {kec(d)}", d["code"], "spelling"))
    for _ in range(PER_STYLE):
        d = rng.choice([u for u in unique if len(u["name"]) >= 8])
        rows.append((f"{_marker(rng, d)} {_typo(rng, d['name'])}, Kec. {kec(d)}", d["code"], "typo"))
    for d in namesakes:
        rows.append((f"{_marker(rng, d)} {d['name']}, Kec. {kec(d)}", d["code"], "ambiguous_with_kec"))
        rows.append(
            (f"{_rt_rw(rng)} {_marker(rng, d)} {d['name']} Kab. Banyuwangi", d["code"], "ambiguous_no_kec")
        )
        rows.append((f"{d['name']}, Banyuwangi", d["code"], "ambiguous_no_kec"))
    # A dusun named like another desa must not pull the address there.
    for _ in range(PER_STYLE):
        d = rng.choice(unique)
        other = rng.choice([n for n in desa_names if n != d["name"]])
        rows.append((f"Dsn. {other} {_marker(rng, d)} {d['name']} Kec. {kec(d)}", d["code"], "dusun_is_desa"))
    # Kec. Blimbingsari took its desa from Rogojampi and Kabat; records still name either.
    for d in (u for u in all_desa if u["parent_code"] == "35.10.25"):
        for written in ("Blimbingsari", "Rogojampi", "Kabat"):
            rows.append((f"{_marker(rng, d)} {d['name']} Kec. {written}", d["code"], "blimbingsari_split"))
    by_name = {(d["name"].lower(), kec(d).lower()): d["code"] for d in all_desa}
    rows.extend(
        (address, by_name[desa.lower(), kec_name.lower()], "hand") for address, desa, kec_name in HAND
    )
    return rows


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(("address", "true_desa_code", "style"))
        writer.writerows(rows)
    styles = Counter(style for _, _, style in rows)
    missing = set(ALL_STYLES) - set(styles)
    assert not missing, missing
    print(f"{len(rows)} rows -> {OUT}: {dict(styles)}")


if __name__ == "__main__":
    main()
