"""A sandbox served from a deployed sandbox server: its portal a systemd unit behind the server's nginx.

Runs on that server as root, through the `sandbox` role's command:

    marsad-sandbox publish NAME      # start marsad-sandbox@NAME (gunicorn on 127.0.0.1:its port),
                                     # then let nginx forward /sandbox/NAME/ to it
    marsad-sandbox unpublish NAME    # the reverse; safe to repeat, and without the sandbox's folder
    marsad-sandbox hosted NAME       # what of it the server still serves (unit, nginx location)

The sandbox itself (its folder, database, accounts) is made and removed by `marsad sandbox
create|destroy` as the marsad user; this module only adds and removes the two root-owned pieces.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from services.config import SandboxEnv, section
from services.lab import wait_port
from services.sandbox.layout import Sandbox, SandboxError, check_name, load

URL_ROOT = "/sandbox/"


def url_prefix(name: str) -> str:
    return f"{URL_ROOT}{check_name(name)}/"


def unit(name: str) -> str:
    return f"marsad-sandbox@{check_name(name)}.service"


def nginx_location(sb: Sandbox) -> str:
    """nginx's location block for `sb`, included in the portal's TLS server block."""
    prefix = sb.url_prefix
    if prefix != url_prefix(sb.name):
        raise SandboxError(f"sandbox {sb.name} is not made to be served under {url_prefix(sb.name)}")
    # The whole path is passed on: the sandbox's portal takes its prefix off itself (portal/progress.py).
    return (f"# Training sandbox {sb.name}, until {sb.expires} (marsad-sandbox publish; removed by unpublish).\n"
            f"location = {prefix.rstrip('/')} {{ return 301 {prefix}; }}\n"
            f"location {prefix} {{\n"
            f"    proxy_pass http://127.0.0.1:{sb.port};\n"
            "    proxy_http_version 1.1;\n"
            '    proxy_set_header Connection "";\n'
            "    proxy_set_header Host $host;\n"
            "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "    proxy_set_header X-Forwarded-Proto $scheme;\n"
            "    proxy_set_header X-Forwarded-Host $host;\n"
            "}\n")


def _nginx_dir() -> Path:
    return section(SandboxEnv).sandbox_nginx_dir


def _conf(name: str) -> Path:
    return _nginx_dir() / f"{check_name(name)}.conf"


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if check and done.returncode != 0:
        raise SandboxError(f"{' '.join(args)} failed: {(done.stderr or done.stdout).strip()}")
    return done


def _reload_nginx() -> None:
    _run("nginx", "-t", "-q")
    _run("systemctl", "reload", "nginx")


def publish(name: str) -> str:
    sb = load(name)
    if not (sb.folder / "portal.env").is_file():
        raise SandboxError(f"sandbox {name} has no portal.env: create it with `marsad-sandbox create`")
    _run("systemctl", "enable", "--now", unit(name))
    if not wait_port("127.0.0.1", sb.port, 60):
        log = _run("journalctl", "-u", unit(name), "-n", "30", "--no-pager", check=False).stdout
        raise SandboxError(f"{unit(name)} does not answer on 127.0.0.1:{sb.port}:\n{log}")
    conf = _conf(name)
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(nginx_location(sb), encoding="utf-8")
    try:
        _reload_nginx()
    except SandboxError:
        conf.unlink()   # a location nginx refuses must not stop the next reload of the whole site
        raise
    return sb.url


def unpublish(name: str) -> None:
    _run("systemctl", "disable", "--now", unit(name), check=False)   # not there: nothing to stop
    _run("systemctl", "reset-failed", unit(name), check=False)
    conf = _conf(name)
    if conf.exists():
        conf.unlink()
        _reload_nginx()


def hosted(name: str) -> list[str]:
    """What the server still serves of sandbox `name`: empty once unpublished."""
    found = []
    state = _run("systemctl", "is-active", unit(name), check=False).stdout.strip()
    enabled = _run("systemctl", "is-enabled", unit(name), check=False).stdout.strip()
    if state in ("active", "activating", "reloading") or enabled == "enabled":
        found.append(f"{unit(name)} ({state}, {enabled})")
    if _conf(name).exists():
        found.append(str(_conf(name)))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marsad-sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("publish", "unpublish", "hosted"))
    parser.add_argument("name")
    args = parser.parse_args(argv)
    try:
        if args.action == "publish":
            print(f"sandbox {args.name}: served at {publish(args.name)}")
        elif args.action == "unpublish":
            unpublish(args.name)
            print(f"sandbox {args.name}: no longer served")
        else:
            for item in hosted(args.name):
                print(item)
    except SandboxError as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
