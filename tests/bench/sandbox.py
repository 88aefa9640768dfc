"""Sandbox benchmark: create and reset times, and how many sandbox portals one machine serves.

    python -m tests.bench.sandbox                    # make bench-sandbox
    python -m tests.bench.sandbox --max-sandboxes 16 --step-seconds 10

1. Creates a 20-trainee sandbox (PDF sheet included when WeasyPrint is installed) in a
   throwaway folder and prints the time of each step; resets it three times.
2. Serves N sandbox portals at once, each its own process on its own loopback port (gunicorn,
   one gthread worker with 4 threads, when installed; else Flask's threaded server through
   `marsad sandbox serve`), N = 1, 2, 4, 8, 10, 12, 14, 16, 20, 24, 32... The extra sandboxes are
   copies of the created one under their own names (creating each would only repeat step 1).
3. Loads every portal like a workshop of 20 signed-in trainees, each asking for a page every
   5 s on average: an open-loop Poisson arrival of RATE (4) requests/s per sandbox, pages
   drawn from home, exercises, submissions list, upload form, catalog and the indicator table
   under disclosure control (which also writes an audit entry). Latency is counted from the
   planned send time, so a late client counts against the server (no coordinated omission).
4. Stops at the first N where some portal's p95 exceeds 500 ms, when available memory falls
   under 2 GiB, at --max-sandboxes, or when the time budget is spent; prints the table.

The load generator runs on the same machine and takes some of its CPU: the figures are a
lower bound of what a machine with a separate client would serve.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import psutil

REPO = Path(__file__).resolve().parents[2]
TARGET_P95_MS = 500
MIN_AVAILABLE = 2 * 1024 ** 3
LEVELS = (1, 2, 4, 8, 10, 12, 14, 16, 20, 24, 32, 40, 48, 64, 96, 128)
PAGES = (("/", 25), ("/exercises", 25), ("/submissions", 20), ("/submissions/new", 10), ("/catalog", 10),
         ("/exercises/indicators/border_movements", 10))


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


# --- HTTP -------------------------------------------------------------------------------------

def request(port: int, method: str, path: str, *, cookie: str | None = None, body: dict | None = None,
            timeout: float = 30) -> tuple[int, dict, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Cookie": cookie} if cookie else {}
        data = None
        if body is not None:
            data = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def session_cookie(headers: dict, name: str) -> str | None:
    found = re.search(rf"{re.escape(name)}=([^;]+)", headers.get("Set-Cookie", ""))
    return f"{name}={found.group(1)}" if found else None


def sign_in(port: int, cookie_name: str, username: str, password: str) -> str:
    _status, headers, page = request(port, "GET", "/login")
    cookie = session_cookie(headers, cookie_name)
    token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
    status, headers, _ = request(port, "POST", "/login", cookie=cookie,
                                 body={"username": username, "password": password, "csrf_token": token})
    if status != 302:
        raise RuntimeError(f"sign-in of {username} on port {port}: HTTP {status}")
    return session_cookie(headers, cookie_name) or cookie


# --- portals ------------------------------------------------------------------------------------

class Portal:
    def __init__(self, sb, server: str, log: Path):
        from services import sandbox

        self.sb = sb
        env = sandbox.environ(sb)
        if server == "gunicorn":
            command = [sys.executable, "-m", "gunicorn", "-k", "gthread", "-w", "1", "--threads", "4",
                       "-b", f"127.0.0.1:{sb.port}", "--timeout", "120", "services.sandbox.wsgi:app"]
        else:
            command = [sys.executable, "-c", "from services.cli import main; main()", "sandbox", "serve", sb.name]
        self.started = time.perf_counter()
        self.log = open(log, "wb")
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.ready_seconds: float | None = None
        self.sessions: list[str] = []

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _h, _b = request(self.sb.port, "GET", "/healthz", timeout=2)
                if status == 200:
                    self.ready_seconds = time.perf_counter() - self.started
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                self.log.flush()
                tail = Path(self.log.name).read_text(errors="replace").splitlines()[-15:]
                raise RuntimeError(f"portal of {self.sb.name} exited; the end of {self.log.name}:\n" + "\n".join(tail))
            if time.monotonic() > deadline:
                raise RuntimeError(f"portal of {self.sb.name} not ready within {timeout} s")
            time.sleep(0.25)

    def memory(self) -> tuple[int, int]:
        """(RSS, USS) of the portal's processes (gunicorn: master and worker)."""
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
            rss = sum(p.memory_info().rss for p in procs)
            uss = sum(p.memory_full_info().uss for p in procs)
            return rss, uss
        except psutil.Error:
            return 0, 0

    def cpu_seconds(self) -> float:
        try:
            root = psutil.Process(self.process.pid)
            return sum(sum(p.cpu_times()[:2]) for p in [root, *root.children(recursive=True)])
        except psutil.Error:
            return 0.0

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def clone(source, name: str, port: int):
    """A copy of sandbox `source` under another name and port (its own files, secret key)."""
    import secrets

    from services.sandbox.layout import Sandbox

    folder = source.folder.parent / name
    shutil.copytree(source.folder, folder)
    sb = Sandbox.load(folder)
    sb.name, sb.port, sb.secret_key = name, port, secrets.token_urlsafe(48)
    sb.history = [{"event": "cloned for the benchmark", "from": source.name}]
    sb.save()
    return sb


# --- load ---------------------------------------------------------------------------------------

def run_load(portals: list[Portal], seconds: float, rate: float, workers: int) -> dict[str, list[float]]:
    """Open-loop load; returns latencies (ms) per sandbox and the count of failed requests."""
    rng = random.Random(7)
    paths, weights = zip(*PAGES)
    plan = []
    for portal in portals:
        t = 0.0
        while True:
            t += rng.expovariate(rate)
            if t >= seconds:
                break
            plan.append((t, portal, rng.choices(paths, weights)[0], rng.choice(portal.sessions)))
    plan.sort(key=lambda item: item[0])
    latencies: dict[str, list[float]] = {p.sb.name: [] for p in portals}
    failures: list[str] = []
    lock = threading.Lock()
    start = time.perf_counter() + 0.5

    def one(when, portal, path, cookie):
        try:
            status, _h, _b = request(portal.sb.port, "GET", path, cookie=cookie)
            ok = status == 200
        except OSError as exc:
            ok, status = False, repr(exc)
        elapsed = (time.perf_counter() - (start + when)) * 1000
        with lock:
            latencies[portal.sb.name].append(elapsed)
            if not ok:
                failures.append(f"{portal.sb.name} {path}: {status}")

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for when, portal, path, cookie in plan:
            delay = start + when - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, when, portal, path, cookie)
    return {"latencies": latencies, "failures": failures, "requests": len(plan)}


# --- the run ------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainees", type=int, default=20)
    parser.add_argument("--resets", type=int, default=3)
    parser.add_argument("--max-sandboxes", type=int, default=64)
    parser.add_argument("--step-seconds", type=float, default=30)
    parser.add_argument("--rate", type=float, default=4.0, help="Requests per second per sandbox.")
    parser.add_argument("--server", choices=["auto", "gunicorn", "werkzeug"], default="auto")
    parser.add_argument("--budget", type=float, default=600, help="Seconds for the whole run (stops adding portals).")
    parser.add_argument("--json", type=Path, help="Also write the figures to this file.")
    args = parser.parse_args()
    server = args.server
    if server == "auto":
        try:
            import gunicorn  # noqa: F401
            server = "gunicorn"
        except ImportError:
            server = "werkzeug"

    began = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="marsad-bench-sandbox-"))
    for key in [k for k in os.environ if k.startswith("MARSAD_")]:
        del os.environ[key]
    os.environ.update({"MARSAD_ENV": "test", "MARSAD_VAR_DIR": str(work / "var")})

    from services import sandbox

    portals: list[Portal] = []
    figures: dict = {"machine": {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 1024 ** 3, 1)},
                     "server": server, "rate_per_sandbox": args.rate, "levels": []}
    try:
        print(f"machine: {os.cpu_count()} CPUs, {figures['machine']['memory_gib']} GiB, load average "
              f"{os.getloadavg()[0]:.1f} before the run; portals served by {server}")
        sb, sheet = sandbox.create("bench-1", trainees=args.trainees, say=lambda _m: None)
        create = sb.timings["create"]
        figures["create"] = create
        steps = ", ".join(f"{k} {v:.1f}" for k, v in create.items() if k != "total")
        print(f"create, {args.trainees} trainees: {create['total']:.1f} s ({steps}); sheet: "
              f"{', '.join(p.suffix[1:] for p in sheet)}")
        resets = [sandbox.reset("bench-1") for _ in range(args.resets)]
        figures["reset_seconds"] = resets
        print(f"reset: {statistics.median(resets):.2f} s median of {len(resets)} ({', '.join(f'{r:.2f}' for r in resets)})")

        passwords = {}
        import csv
        import io

        text = (sb.folder / "credentials.csv").read_text(encoding="utf-8-sig")
        passwords = {r["username"]: r["password"] for r in csv.DictReader(io.StringIO(text)) if r["kind"] == "trainee"}

        print(f"\nload: {args.trainees} signed-in trainees per sandbox, {args.rate:g} requests/s per sandbox "
              f"(open loop), {args.step_seconds:g} s per step")
        print(f"{'sandboxes':>9} {'requests':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'worst p95':>9} "
              f"{'failed':>6} {'RSS GiB':>8} {'USS MiB/portal':>14} {'avail GiB':>9} {'load':>5} {'portal CPU':>10} "
              f"{'ms CPU/req':>10} {'client CPU':>10}")
        best = 0
        stop_reason = f"--max-sandboxes {args.max_sandboxes} reached"
        next_port = sb.port + 1
        for level in [n for n in LEVELS if n <= args.max_sandboxes]:
            if time.perf_counter() - began > args.budget:
                stop_reason = f"time budget of {args.budget:g} s spent"
                break
            if psutil.virtual_memory().available < MIN_AVAILABLE:
                stop_reason = "memory short (under 2 GiB available)"
                break
            new = []
            while len(portals) + len(new) < level:
                i = len(portals) + len(new) + 1
                target = sb if i == 1 else clone(sb, f"bench-{i}", next_port)
                if i > 1:
                    next_port += 1
                new.append(Portal(target, server, work / f"portal-{i}.log"))
            for portal in new:
                portal.wait_ready()

            def sessions_for(portal):
                cookie_name = f"marsad_sbx_{portal.sb.name}"
                portal.sessions = [sign_in(portal.sb.port, cookie_name, u, p) for u, p in passwords.items()]
                for path, _weight in PAGES:  # warm up: templates compiled, caches filled, as in a running class
                    request(portal.sb.port, "GET", path, cookie=portal.sessions[0])

            with ThreadPoolExecutor(max_workers=4) as pool:
                list(pool.map(sessions_for, new))
            portals += new
            time.sleep(1)
            cpu_before = sum(p.cpu_seconds() for p in portals)
            client_before = sum(psutil.Process().cpu_times()[:2])
            wall = time.perf_counter()
            result = run_load(portals, args.step_seconds, args.rate, workers=min(256, 16 * len(portals)))
            wall = time.perf_counter() - wall
            portal_cores = (sum(p.cpu_seconds() for p in portals) - cpu_before) / wall
            client_cores = (sum(psutil.Process().cpu_times()[:2]) - client_before) / wall
            every = [ms for values in result["latencies"].values() for ms in values]
            worst = max(percentile(values, 0.95) for values in result["latencies"].values())
            memory = [p.memory() for p in portals]
            rss = sum(m[0] for m in memory)
            uss = statistics.mean(m[1] for m in memory)
            available = psutil.virtual_memory().available
            load_average = os.getloadavg()[0]
            row = {"sandboxes": level, "requests": result["requests"], "p50_ms": round(percentile(every, 0.5), 1),
                   "p95_ms": round(percentile(every, 0.95), 1), "p99_ms": round(percentile(every, 0.99), 1),
                   "worst_portal_p95_ms": round(worst, 1), "failed": len(result["failures"]),
                   "rss_gib": round(rss / 1024 ** 3, 2), "uss_mib_per_portal": round(uss / 1024 ** 2),
                   "available_gib": round(available / 1024 ** 3, 1),
                   "startup_s": round(statistics.mean(p.ready_seconds for p in new), 1),
                   "load_average": round(load_average, 1),
                   "portal_cpu_ms_per_request": round(1000 * portal_cores * wall / max(1, result["requests"]), 1),
                   "portal_cores": round(portal_cores, 2), "client_cores": round(client_cores, 2)}
            figures["levels"].append(row)
            print(f"{level:>9} {row['requests']:>8} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['p99_ms']:>7.1f} "
                  f"{row['worst_portal_p95_ms']:>9.1f} {row['failed']:>6} {row['rss_gib']:>8.2f} "
                  f"{row['uss_mib_per_portal']:>14} {row['available_gib']:>9.1f} {row['load_average']:>5.1f} "
                  f"{row['portal_cores']:>10.2f} {row['portal_cpu_ms_per_request']:>10.1f} {row['client_cores']:>10.2f}")
            if result["failures"]:
                print(f"   failures, e.g.: {result['failures'][:3]}")
            if worst > TARGET_P95_MS or result["failures"]:
                stop_reason = f"p95 over {TARGET_P95_MS} ms (or failures) at {level} sandboxes"
                break
            best = level
        uss_each = figures["levels"][-1]["uss_mib_per_portal"] if figures["levels"] else 0
        by_memory = int(24 * 1024 / uss_each) if uss_each else 0
        passing = [r for r in figures["levels"] if r["sandboxes"] <= best] or figures["levels"]
        cpu_per_request = statistics.median(r["portal_cpu_ms_per_request"] for r in passing) if passing else 0
        # CPU a sandbox needs at RATE, and how many fit in one core kept at 60% (headroom for bursts).
        per_core = int(0.6 / (cpu_per_request / 1000 * args.rate)) if cpu_per_request else 0
        figures.update({"served_within_target": best, "stopped": stop_reason, "portals_in_24_gib_by_memory": by_memory,
                        "portal_cpu_ms_per_request": cpu_per_request, "sandboxes_per_core_at_60_percent": per_core})
        print(f"\n{best} concurrent sandboxes served with every portal's p95 under {TARGET_P95_MS} ms "
              f"({stop_reason}); by memory alone ({uss_each} MiB per portal) 24 GiB would hold about {by_memory}.")
        print(f"portal CPU: {cpu_per_request:.1f} ms per request, so a sandbox at {args.rate:g} requests/s needs "
              f"{cpu_per_request * args.rate / 10:.1f}% of a core: about {per_core} sandboxes per core kept at 60%.")
        print(f"bench time: {time.perf_counter() - began:.0f} s")
        if args.json:
            args.json.write_text(json.dumps(figures, indent=1))
    finally:
        for portal in portals:
            portal.stop()
        for made in sandbox.all_sandboxes():
            try:
                sandbox.destroy(made.name)
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                print(f"could not destroy {made.name}: {exc}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
