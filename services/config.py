"""Configuration from MARSAD_* environment variables, each with a safe default for the demo.

Production (MARSAD_ENV=production) refuses the demo defaults; see `Settings.problems`.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEMO_SECRET = "demo-secret-key-not-for-production"
ENVIRONMENTS = ("demo", "sandbox", "test", "production")


def _env(name: str, default: str) -> str:
    return os.environ.get(f"MARSAD_{name}", default)


def _positive(name: str, default: int) -> int:
    raw = _env(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"MARSAD_{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Settings:
    env: str = field(default_factory=lambda: _env("ENV", "demo"))
    var_dir: Path = field(default_factory=lambda: Path(_env("VAR_DIR", "var")).resolve())
    database_url: str = ""
    secret_key: str = field(default_factory=lambda: _env("SECRET_KEY", DEMO_SECRET))
    local_accounts: bool = field(default_factory=lambda: _env("LOCAL_ACCOUNTS", "") != "0")
    # Rows of a rejected submission whose errors are kept one by one; the count is always exact.
    max_stored_errors: int = field(default_factory=lambda: int(_env("MAX_STORED_ERRORS", "10000")))
    # A portal session ends after this many minutes without a request, and this many hours after it began.
    session_idle_minutes: int = field(default_factory=lambda: _positive("SESSION_IDLE_MINUTES", 30))
    session_hours: int = field(default_factory=lambda: _positive("SESSION_HOURS", 8))

    # Bounds of one indicator query (API and dashboard): the disclosure pass's linear programs grow
    # steeply with the cells, so a query past them is refused before it runs, or stopped at the budget.
    query_max_dimensions: int = field(default_factory=lambda: int(_env("QUERY_MAX_DIMENSIONS", "3")))
    query_max_cells: int = field(default_factory=lambda: int(_env("QUERY_MAX_CELLS", "5000")))  # margins included
    query_seconds: float = field(default_factory=lambda: float(_env("QUERY_SECONDS", "20")))

    def __post_init__(self) -> None:
        if not self.database_url:
            url = _env("DATABASE_URL", f"sqlite:///{self.var_dir / 'marsad.db'}")
            object.__setattr__(self, "database_url", url)
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"MARSAD_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")

    @property
    def production(self) -> bool:
        return self.env == "production"

    def problems(self) -> list[str]:
        """Why this configuration may not run in production (empty when it may)."""
        if not self.production:
            return []
        out = []
        if self.secret_key == DEMO_SECRET or len(self.secret_key) < 32:
            out.append("MARSAD_SECRET_KEY is the demo default or shorter than 32 characters")
        if self.database_url.startswith("sqlite"):
            out.append("MARSAD_DATABASE_URL points at SQLite; production uses PostgreSQL")
        if self.local_accounts and os.environ.get("MARSAD_ALLOW_LOCAL_ACCOUNTS") != "1":
            out.append("local accounts are on; production logs in through Keycloak (set MARSAD_LOCAL_ACCOUNTS=0)")
        return out


def settings() -> Settings:
    return Settings()
