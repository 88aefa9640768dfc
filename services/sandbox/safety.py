"""A sandbox never touches production data or accounts.

By construction, sandbox code builds its engines and stores only from the sandbox's own
locations (its folder, its `marsad_sbx_*` database, its `sbx-<name>-*` buckets) and its portal
runs with every inherited MARSAD_* setting dropped (see `services.sandbox.environ`).

On a production host (MARSAD_ENV=production) the commands also refuse to run unless the
resources they would use are clearly set apart for sandboxes:

- MARSAD_SANDBOX_ROOT is set explicitly (the default would be under production's
  MARSAD_VAR_DIR) and neither contains nor lies inside production's database file or object folder;
- MARSAD_SANDBOX_DATABASE_URL, if set, is not production's PostgreSQL server;
- MARSAD_SANDBOX_S3_ENDPOINT, if set, is not production's S3 server.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from services.config import SandboxEnv, Settings, StorageEnv, section


class Refused(RuntimeError):
    """Production mode, and the sandbox would use resources not clearly its own."""


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _server(url: str) -> tuple[str, int] | None:
    try:
        u = make_url(url)
    except Exception:  # noqa: BLE001 - not a URL: nothing to compare
        return None
    if u.get_backend_name() != "postgresql":
        return None
    return (u.host or "localhost", u.port or 5432)


def _endpoint(url: str) -> str:
    parts = urlsplit(url if "://" in url else f"//{url}")
    return (parts.netloc or url).lower()


def refusals(environ=None) -> list[str]:
    """Why sandbox commands may not run here (empty outside production, or when all is set apart)."""
    core = section(Settings, environ)
    if not core.production:
        return []
    sandbox, storage = section(SandboxEnv, environ), section(StorageEnv, environ)
    out = []
    var_dir = core.var_dir.resolve()
    production_db = core.database_url
    production_paths = [(storage.storage_dir or var_dir / "objects").resolve()]
    if production_db.startswith("sqlite:///"):
        production_paths.append(Path(production_db.split("///", 1)[1]).resolve())

    root_setting = sandbox.sandbox_root
    if not root_setting:
        out.append("set MARSAD_SANDBOX_ROOT to a folder kept for sandboxes: by default they would go under "
                   f"production's MARSAD_VAR_DIR ({var_dir})")
    else:
        root = Path(root_setting).resolve()
        if _inside(var_dir, root):
            out.append(f"MARSAD_SANDBOX_ROOT ({root}) contains production's MARSAD_VAR_DIR ({var_dir})")
        for path in production_paths:
            if _inside(path, root) or _inside(root, path):
                out.append(f"MARSAD_SANDBOX_ROOT ({root}) overlaps production data at {path}")

    sandbox_db = sandbox.sandbox_database_url
    if sandbox_db:
        ours, theirs = _server(sandbox_db), _server(production_db)
        if ours is None:
            out.append("MARSAD_SANDBOX_DATABASE_URL is not a PostgreSQL URL")
        elif ours == theirs:
            out.append(f"MARSAD_SANDBOX_DATABASE_URL is production's PostgreSQL server ({ours[0]}:{ours[1]}); "
                       "sandboxes need a server of their own")

    sandbox_s3 = sandbox.sandbox_s3_endpoint
    production_s3 = storage.s3_endpoint if storage.storage == "s3" else None
    if sandbox_s3 and production_s3 and _endpoint(sandbox_s3) == _endpoint(production_s3):
        out.append(f"MARSAD_SANDBOX_S3_ENDPOINT is production's S3 server ({_endpoint(sandbox_s3)}); "
                   "sandboxes need a server of their own")
    return out


def ensure_allowed(environ=None) -> None:
    problems = refusals(environ)
    if problems:
        raise Refused("refusing to run sandbox commands in production: " + "; ".join(problems))
