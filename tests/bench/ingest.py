"""Ingestion benchmark: Marsad's validated load against PostgreSQL's own COPY of the same rows.

    make bench            # 1,000,000 border crossings
    make bench ROWS=200000

Both sides load the same clean file into the same throwaway PostgreSQL in the same run:
Marsad with full validation (encoding detection, every field parsed and checked against
the catalog, cross-field rules, the exit-after-entry check in SQL, archiving) and COPY with
none. A second Marsad run loads a messy file (Arabic-Indic digits, dd/mm/yyyy, country
names in three languages), which COPY cannot read at all. A third loads an upload of the
largest size the portal takes (200 MB) in which every row is wrong: its peak memory must stay
bounded (target under 300 MiB), since past MARSAD_MAX_STORED_ERRORS problems are only counted.
Each load runs in a child process so that its peak memory (max RSS) is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.servers import PostgresServer

CHILD = r"""
import json, sys, time
from pathlib import Path
from services import db
from services.catalog import default_catalog
from services.ingest import ingest
from services.policy import Principal, load_policies
from services.storage import LocalStore
from services.demo import submitter_of
url, path, objects = sys.argv[1:4]
policies = load_policies()
institution = submitter_of(policies, "border_crossings")
who = Principal(username="bench", institution=institution, roles=frozenset({"submitter"}))
engine = db.make_engine(url)
started = time.perf_counter()
result = ingest(Path(path), dataset="border_crossings", institution=institution, principal=who, engine=engine,
                store=LocalStore(Path(objects)), policies=policies)
elapsed = time.perf_counter() - started
print(json.dumps({"seconds": elapsed, "status": result.submission.status, "loaded": result.submission.rows_loaded,
                  "errors": result.submission.errors_count}))
"""

COPY_CHILD = r"""
import json, sys, time
import psycopg
dsn, path, columns = sys.argv[1], sys.argv[2], sys.argv[3]
with psycopg.connect(dsn) as conn:
    started = time.perf_counter()
    with conn.cursor() as cur, cur.copy(f"COPY bench_copy ({columns}) FROM STDIN WITH (FORMAT csv, HEADER true)") as cp:
        with open(path, "rb") as fh:
            while block := fh.read(1 << 20):
                cp.write(block)
    conn.commit()
    elapsed = time.perf_counter() - started
    loaded = conn.execute("SELECT count(*) FROM bench_copy").fetchone()[0]
print(json.dumps({"seconds": elapsed, "loaded": loaded}))
"""


def run_child(code: str, *args: str) -> dict:
    """Run a Python child; return its JSON line plus its own peak RSS in MiB."""
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {out}")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_mib"] = usage.ru_maxrss / 1024
    return result


def write_all_invalid(path: Path, mib: int) -> int:
    """A border-crossings CSV of `mib` MiB whose every row has two wrong cells; returns its rows."""
    header = "event_id,event_date,direction,border_post,person_id,family_name,given_name,nationality,sex,birth_date,age\n"
    rows = 0
    with open(path, "w", encoding="utf-8") as out:
        out.write(header)
        while out.tell() < mib * 2**20:
            out.write("".join(f"E{rows + i:09d},2024-07-14,ENTRY,AIR_TUN,P{rows + i:010d},Ben Salah,Amira,"
                              f"Narnia,?,1990-03-02,34\n" for i in range(10_000)))
            rows += 10_000
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--invalid-mib", type=int, default=200, help="size of the all-invalid upload")
    args = parser.parse_args()

    from services import db
    from services.catalog import default_catalog
    from services.synth import write_file

    work = Path(tempfile.mkdtemp(prefix="marsad-bench-"))
    catalog = default_catalog()
    fields = catalog.dataset("border_crossings").field_names
    clean, messy = work / "clean.csv", work / "messy.csv"
    started = time.perf_counter()
    write_file(clean, "border_crossings", rows=args.rows, year=2024, seed=args.seed, messiness=0.0)
    write_file(messy, "border_crossings", rows=args.rows, year=2024, seed=args.seed + 1, messiness=0.3)
    print(f"generated 2 x {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
          f"({clean.stat().st_size / 2**20:.0f} MiB clean, {messy.stat().st_size / 2**20:.0f} MiB messy)")
    with open(clean, encoding="utf-8") as fh:
        header = fh.readline().strip().split(",")
    invalid = work / "invalid.csv"
    invalid_rows = write_all_invalid(invalid, args.invalid_mib)
    invalid_mib = invalid.stat().st_size / 2**20

    server = PostgresServer().start()
    try:
        url = server.url
        engine = db.make_engine(url)
        db.upgrade(engine)
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        import psycopg
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE bench_copy (LIKE ds_border_crossings INCLUDING ALL)")
            conn.execute("ALTER TABLE bench_copy ALTER COLUMN submission_id DROP NOT NULL, "
                         "ALTER COLUMN institution DROP NOT NULL, ALTER COLUMN source_row DROP NOT NULL")
        assert [h for h in header if h not in fields] == [], header
        copy = run_child(COPY_CHILD, dsn, str(clean), ", ".join(f'"{h}"' for h in header))
        ours = run_child(CHILD, url, str(clean), str(work / "objects"))
        ours_messy = run_child(CHILD, url, str(messy), str(work / "objects"))
        ours_invalid = run_child(CHILD, url, str(invalid), str(work / "objects"))
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)  # about 450 MB of generated files

    for name, r in (("ours (clean)", ours), ("ours (messy)", ours_messy)):
        if r["status"] != "validated" or r["loaded"] != args.rows:
            raise SystemExit(f"{name}: expected {args.rows:,} rows validated, got {r}")
    rate = lambda r: r["loaded"] / r["seconds"]  # noqa: E731
    print(f"{'load':<34}{'rows':>11}{'seconds':>9}{'rows/s':>11}{'peak MiB':>10}")
    for name, r in (("PostgreSQL COPY (no validation)", copy), ("Marsad ingest, clean file", ours),
                    ("Marsad ingest, messy file", ours_messy)):
        print(f"{name:<34}{r['loaded']:>11,}{r['seconds']:>9.2f}{rate(r):>11,.0f}{r['peak_mib']:>10.0f}")
    print(f"ratio Marsad/COPY, clean file: {rate(ours) / rate(copy):.2f} (target >= 0.50)")
    print(f"ratio Marsad/COPY, messy file: {rate(ours_messy) / rate(copy):.2f}")
    if ours_invalid["status"] != "rejected" or ours_invalid["errors"] != 2 * invalid_rows:
        raise SystemExit(f"all-invalid upload: expected {2 * invalid_rows:,} errors, rejected; got {ours_invalid}")
    print(f"{'Marsad ingest, all-invalid upload':<34}{invalid_rows:>11,}{ours_invalid['seconds']:>9.2f}"
          f"{invalid_rows / ours_invalid['seconds']:>11,.0f}{ours_invalid['peak_mib']:>10.0f}"
          f"   ({invalid_mib:.0f} MiB, {ours_invalid['errors']:,} errors)")
    print(f"peak memory of the {invalid_mib:.0f} MiB all-invalid upload: "
          f"{ours_invalid['peak_mib']:.0f} MiB (target < 300), clean million-row file: {ours['peak_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
