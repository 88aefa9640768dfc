"""Portal benchmark: the indicators dashboard and the indicators API under load, behind gunicorn.

    python -m tests.bench.portal                          # SQLite demo data, 3 workers, wrk if installed
    python -m tests.bench.portal --postgres --workers 4   # the same data in a throwaway PostgreSQL
    python -m tests.bench.portal --serve                  # prepare, start, print the address and wait

A demo-like installation is made in a temporary MARSAD_VAR_DIR (services.demo.init: one synthetic
year of every dataset, submitted, approved, accepted), with earlier years of border crossings so
that the dashboard has 36 months to forecast from, and the aggregate table refreshed. gunicorn
serves portal.wsgi:app on 127.0.0.1 only. The reader signs in through the login form (session
cookie) and gets a local API token (services.identity.api_tokens); each target is then loaded
for a bounded time by wrk (Debian package) when it is installed, else by a small threaded client
bounded by a number of requests and a time, and requests/s and p50/p95/p99 latencies are printed.
The first answer of each target (nothing remembered yet) is printed too: with --cold no protected
table is remembered at all, so every request runs disclosure control.
"""
from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

# Small matrices (disclosure audits, forecasts): BLAS threads only contend with the workers.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

INDICATOR = "border_movements"
WRK_SCRIPT = """
-- Only the summary: wrk is bounded by its duration (-d). (A thread stopped at a count of requests
-- leaves wrk's clock running to -d, which would understate the rate.)
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.0f %.0f %.0f %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    tool: str

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


# --- the installation -------------------------------------------------------------------------------

def environment(var_dir: Path, database_url: str | None) -> dict[str, str]:
    env = {"MARSAD_ENV": "demo", "MARSAD_VAR_DIR": str(var_dir), "MARSAD_STORAGE": "local",
           "MARSAD_STORAGE_DIR": str(var_dir / "objects"), "MARSAD_COOKIE_SECURE": "0",
           "MARSAD_LOCAL_ACCOUNTS": "1", "MARSAD_DEFAULT_LANGUAGE": "en",
           # The bench signs in once per run; the throttle is not what is measured.
           "MARSAD_LOGIN_ATTEMPTS_PER_MINUTE": "1000"}
    env["MARSAD_DATABASE_URL"] = database_url or f"sqlite:///{var_dir / 'marsad.db'}"
    return env


def prepare(years: range, rows: int, say) -> None:
    """The demo for the last year, earlier years of border crossings, the aggregate table refreshed."""
    from services import db, demo
    from services.indicators import refresh
    from services.ingest import ingest
    from services.policy import load_policies
    from services.synth import write_file
    from services.workflow import move

    started = time.perf_counter()
    demo.DEMO_ROWS["border_crossings"] = rows
    demo.init(year=years[-1], say=lambda line: None)
    say(f"demo data for {years[-1]} in {time.perf_counter() - started:.0f} s")
    policies = load_policies()
    institution = demo.submitter_of(policies, "border_crossings")
    folder = Path(os.environ["MARSAD_VAR_DIR"]) / "bench-files"
    folder.mkdir(parents=True, exist_ok=True)
    for year in years[:-1]:
        path = folder / f"border_crossings-{year}.csv"
        write_file(path, "border_crossings", rows=rows, year=year, seed=year, messiness=0.0)
        result = ingest(path, dataset="border_crossings", institution=institution,
                        principal=demo._principal(institution, "submitter"))
        with db.session() as s:
            move(s, result.submission.id, "approve", demo._principal(institution, "focal_point"))
            move(s, result.submission.id, "accept", demo._principal("ONM", "onm_analyst"))
    started = time.perf_counter()
    refresh(db.default_engine())
    say(f"{len(years)} years of border crossings accepted; aggregate table refreshed in "
        f"{time.perf_counter() - started:.0f} s")


def api_token(username: str) -> str:
    from services import db
    from services.identity import api_tokens

    with db.session() as s:
        return api_tokens.issue(s, username, label="bench")[0]


# --- the server -------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, workers: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
               "--timeout", "120", "--error-logfile", str(log), "portal.wsgi:app"]
    process = subprocess.Popen(command, env=os.environ.copy(), start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({process.returncode}); see {log}")
        try:
            status, _headers, _body = get(port, "/healthz")
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    stop(process)
    raise RuntimeError(f"gunicorn did not answer within 60 s; see {log}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the master and its workers
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def get(port: int, path: str, headers: dict | None = None, method: str = "GET", body: str | None = None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheaders(), response.read()
    finally:
        conn.close()


def session_cookie(port: int, username: str, password: str) -> str:
    """Sign in through the login form, as a browser does: the CSRF token of the form, then the cookie."""
    status, headers, body = get(port, "/login")
    cookie = _cookie(headers)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', body)
    if status != 200 or token is None or not cookie:
        raise RuntimeError(f"no login form at /login ({status})")
    form = urlencode({"username": username, "password": password, "csrf_token": token.group(1).decode()})
    status, headers, _body = get(port, "/login", {"Cookie": cookie,
                                                  "Content-Type": "application/x-www-form-urlencoded"}, "POST", form)
    signed_in = _cookie(headers)
    if status != 302 or not signed_in:
        raise RuntimeError(f"login as {username} refused ({status})")
    return signed_in


def _cookie(headers) -> str:
    values = [v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie"]
    return "; ".join(values)


# --- load -------------------------------------------------------------------------------------------

def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def load_python(name: str, port: int, path: str, headers: dict, requests: int, seconds: float,
                concurrency: int) -> Result:
    """`concurrency` threads, each on one keep-alive connection, until `requests` or `seconds`."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    sent = [0]
    deadline = time.monotonic() + seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            with lock:
                if sent[0] >= requests or time.monotonic() >= deadline:
                    break
                sent[0] += 1
            started = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                ok = False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)
    return Result(name, len(ordered), wall, *(percentile(ordered, q) * 1000 for q in (50, 95, 99)), errors[0],
                  "python")


def load_wrk(name: str, port: int, path: str, headers: dict, seconds: float, concurrency: int,
             script: Path) -> Result:
    """wrk for `seconds` (its only bound: see WRK_SCRIPT)."""
    threads = max(1, min(4, concurrency))
    command = ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{int(seconds)}s", "--timeout", "60s",
               "-s", str(script)]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    command.append(f"http://127.0.0.1:{port}{path}")
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
    match = re.search(r"RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)", out.stdout)
    if match is None:
        raise RuntimeError(f"wrk gave no result:\n{out.stdout}\n{out.stderr}")
    count, micros, p50, p95, p99, errors = (int(g) for g in match.groups())
    return Result(name, count, micros / 1e6, p50 / 1000, p95 / 1000, p99 / 1000, errors, "wrk")


def report(results: list[Result]) -> None:
    print(f"{'target':<44} {'tool':<6} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6}")
    for r in results:
        print(f"{r.name:<44} {r.tool:<6} {r.requests:>8} {r.rate:>8.1f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
              f"{r.p99_ms:>8.1f} {r.errors:>6}")


# --- main -------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=3, choices=range(2, 5), help="gunicorn workers (2-4)")
    parser.add_argument("--requests", type=int, default=2000, help="at most this many requests per target")
    parser.add_argument("--seconds", type=float, default=20.0, help="at most this long per target")
    parser.add_argument("--concurrency", type=int, default=8, help="connections kept busy at once")
    parser.add_argument("--years", default="2023-2025", help="years of border crossings (three give a forecast)")
    parser.add_argument("--rows", type=int, default=20_000, help="border crossings per year")
    parser.add_argument("--user", default="ins.analyst",
                        help="the reader (ins.analyst: aggregates, so disclosure control runs on every request)")
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto",
                        help="auto: wrk when installed (bounded by --seconds only), else the threaded client "
                             "(bounded by --requests and --seconds)")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--cold", action="store_true",
                        help="no memory of protected tables (MARSAD_DISCLOSURE_CACHE=0): every request runs "
                             "disclosure control")
    parser.add_argument("--serve", action="store_true", help="prepare and serve until interrupted; no load")
    args = parser.parse_args(argv)
    first, last = (int(y) for y in args.years.split("-"))
    years = range(first, last + 1)
    tool = ("wrk" if shutil.which("wrk") else "python") if args.tool == "auto" else args.tool
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731

    var_dir = Path(tempfile.mkdtemp(prefix="marsad-bench-portal-"))
    postgres = None
    if args.postgres:
        from tests.servers import PostgresServer

        postgres = PostgresServer().start()
    os.environ.update(environment(var_dir, postgres.url if postgres else None))
    if args.cold:
        os.environ["MARSAD_DISCLOSURE_CACHE"] = "0"
    server = None
    try:
        prepare(years, args.rows, say)
        from services.accounts import DEMO_PASSWORD

        token = api_token(args.user)
        port = free_port()
        server = start_gunicorn(port, args.workers, var_dir / "gunicorn.log")
        cookie = session_cookie(port, args.user, DEMO_PASSWORD)
        year = years[-1]
        targets = [
            (f"GET /dashboard/{INDICATOR} (by nationality)", f"/dashboard/{INDICATOR}?by=nationality&year={year}",
             {"Cookie": cookie}),
            (f"GET /dashboard/{INDICATOR} (by month, forecast)", f"/dashboard/{INDICATOR}?by=month&year={year}",
             {"Cookie": cookie}),
            (f"GET /api/v1/indicators/{INDICATOR} (nationality)",
             f"/api/v1/indicators/{INDICATOR}?by=nationality&year={year}", {"Authorization": f"Bearer {token}"}),
        ]
        if args.serve:
            print(f"serving http://127.0.0.1:{port}/ ({args.workers} workers, data in {var_dir}); "
                  f"sign in as {args.user} / {DEMO_PASSWORD}; Ctrl-C stops", flush=True)
            for name, path, _headers in targets:
                print(f"  {name}: http://127.0.0.1:{port}{path}", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # stopped by pid: clean up all the same
            try:
                server.wait()
            except KeyboardInterrupt:
                pass
            return 0
        first = {}
        for name, path, headers in targets:  # every answer checked once, then each worker warmed up
            started = time.perf_counter()
            status, _h, _body = get(port, path, headers)
            first[name] = (time.perf_counter() - started) * 1000
            if status != 200:
                raise RuntimeError(f"{path}: {status}")
            load_python(name, port, path, headers, 4 * args.workers, 60, args.workers)
        say(f"gunicorn {args.workers} workers on 127.0.0.1:{port}; {args.user}; load by {tool}; "
            f"protected tables {'not remembered' if args.cold else 'remembered'}; "
            + (f"{args.seconds:g} s" if tool == "wrk" else f"at most {args.requests} requests or {args.seconds:g} s")
            + f" per target, {args.concurrency} connections")
        script = var_dir / "bench.lua"
        script.write_text(WRK_SCRIPT)
        results = []
        for name, path, headers in targets:
            if tool == "wrk":
                results.append(load_wrk(name, port, path, headers, args.seconds, args.concurrency, script))
            else:
                results.append(load_python(name, port, path, headers, args.requests, args.seconds,
                                           args.concurrency))
        report(results)
        print("first answer (nothing cached in the worker yet): "
              + "; ".join(f"{name.split(' (')[0].split('/')[-1]} {name.split('(')[-1].rstrip(')')} {ms:.0f} ms"
                          for name, ms in first.items()))
        return 0 if all(r.errors == 0 for r in results) else 1
    finally:
        if server is not None:
            stop(server)
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
