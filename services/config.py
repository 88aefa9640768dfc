"""Every MARSAD_* environment variable, declared once: name, type, default, help and production rule.

Sections (core, storage, identity, portal, sandbox, lab) are pydantic-settings classes; each module
asks for its own with `section(Cls)` (or `section(Cls, env)` for an explicit mapping such as a
sandbox's environment). Nothing is cached: every call reads the environment as it is then, so a
changed variable is seen by the next call. No other module reads MARSAD_* (tests/test_config.py).

Production (MARSAD_ENV=production) refuses the demo defaults; see `Settings.problems` and the
`production` note of each field. `python -m services.config` prints the README's table.
"""
from __future__ import annotations

import contextvars
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, ClassVar, Optional, get_args

from pydantic import BeforeValidator, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

PREFIX = "MARSAD_"
DEMO_SECRET = "demo-secret-key-not-for-production"
ENVIRONMENTS = ("demo", "sandbox", "test", "production")
FALSE_WORDS = ("0", "false", "no", "off")

# The mapping `section` reads: os.environ unless a caller hands its own (a sandbox's environment).
_ENVIRON: contextvars.ContextVar[Optional[Mapping[str, str]]] = contextvars.ContextVar("marsad_environ", default=None)


class _Environ(EnvSettingsSource):
    def _load_env_vars(self):
        env = _ENVIRON.get()
        return parse_env_vars(os.environ if env is None else env, self.case_sensitive, self.env_ignore_empty,
                              self.env_parse_none_str)


def _var(default, help: str, production: str = "", **kw):
    """A declared variable; `production` is the rule MARSAD_ENV=production applies to it."""
    extra = {"production": production} if production else None
    return Field(default, description=help, json_schema_extra=extra, **kw)


def _on(value) -> bool:
    """A flag as the portal always read it: unset or empty is the default, any word but 0/false/no/off is on."""
    return str(value).strip().lower() not in FALSE_WORDS


Flag = Annotated[bool, BeforeValidator(_on)]  # an on/off variable read as `_on` reads it


class Section(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, frozen=True, extra="ignore")
    TITLE: ClassVar[str] = ""

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_unset(cls, value, info):
        # An empty variable leaves an optional setting unset, as the `os.environ.get(...) or default` reads did.
        if value == "" and cls.model_fields[info.field_name].default is None:
            return None
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings):
        return init_settings, _Environ(settings_cls)


def section(cls: type[Section], env: Optional[Mapping[str, str]] = None):
    """`cls` read from `env` (default: the process environment, as it is now)."""
    token = _ENVIRON.set(env)
    try:
        return cls()
    except ValidationError as exc:  # one plain line naming the variable, as the commands print it
        raise ValueError("; ".join(_problem(e) for e in exc.errors())) from None
    finally:
        _ENVIRON.reset(token)


def _problem(error) -> str:
    if error["type"] == "value_error":  # our own validators' words already name the variable
        return str(error["ctx"]["error"])
    name = PREFIX + "_".join(str(part) for part in error["loc"]).upper()
    return f"{name}: {error['msg'].lower()}, not {error['input']!r}"


def _positive(name: str, value) -> int:
    raw = str(value).strip()
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{PREFIX}{name} must be a whole number of at least 1, not {raw!r}")
    return int(raw)


class Settings(Section):
    """Core: where the system keeps its data and how it runs."""
    TITLE: ClassVar[str] = "core"
    env: str = _var("demo", "`demo`, `sandbox`, `test` or `production`", "must be `production`")
    var_dir: Path = _var(Path("var"), "where the embedded defaults keep their files (relative: to the working "
                         "folder)")
    database_url: str = _var("", "SQLAlchemy URL; default `sqlite:///<MARSAD_VAR_DIR>/marsad.db`; "
                             "`postgresql+psycopg://…` when deployed", "not SQLite")
    secret_key: str = _var(DEMO_SECRET, "the portal's session key", "not the demo key; at least 32 characters")
    local_accounts: bool = _var(True, "local accounts (demo, sandboxes, offline sites); `0` turns them off",
                                "`0`, unless MARSAD_ALLOW_LOCAL_ACCOUNTS=1")
    allow_local_accounts: bool = _var(False, "`1` lets production keep local accounts (an offline site)")
    max_stored_errors: int = _var(10000, "errors kept row by row for one rejected file; past it each kind of "
                                  "error and column is counted in one line, so memory stays bounded")
    session_idle_minutes: int = _var(30, "a portal session ends after this many minutes without a request")
    session_hours: int = _var(8, "a portal session ends this many hours after sign-in; sessions live "
                           "in the database (the cookie holds only a random id) and also end at logout, deactivation, "
                           "a role change or a password change")
    query_max_dimensions: int = _var(3, "dimensions in one indicator query's `by` (API and dashboard); past "
                                     "it a 400 `too_many_dimensions`")
    query_max_cells: int = _var(5000, "cells of one indicator query, totals included; past it "
                                "`too_many_cells`")
    query_seconds: float = _var(20, "seconds of disclosure control for one query; past it `time_budget`")
    disclosure_cache: int = _var(256, "protected tables remembered per process; 0 turns the memory off")
    debug: bool = _var(False, "`1`: the `marsad` command prints a fault's traceback")
    policies_dir: Optional[Path] = _var(None, "policies folder; default: the repository's `policies/`")
    sdmx_agency: str = _var("TN_ONM", "agency of the SDMX exports")

    @field_validator("local_accounts", "debug", "allow_local_accounts", mode="before")
    @classmethod
    def _flag(cls, value, info):
        if isinstance(value, bool):
            return value
        if info.field_name == "local_accounts":
            return value != "0"           # as before: only "0" turns them off
        if info.field_name == "allow_local_accounts":
            return value == "1"           # only an explicit 1 allows them
        return value not in ("", "0")

    @field_validator("session_idle_minutes", "session_hours", mode="before")
    @classmethod
    def _whole(cls, value, info):
        return _positive(info.field_name.upper(), value)

    @model_validator(mode="after")
    def _derive(self):
        if self.env not in ENVIRONMENTS:
            raise ValueError(f"{PREFIX}ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        if not self.database_url:  # var_dir stays as given (relative: to the working folder); the URL is absolute
            object.__setattr__(self, "database_url", f"sqlite:///{self.var_dir.resolve() / 'marsad.db'}")
        return self

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
        if self.local_accounts and not self.allow_local_accounts:
            out.append("local accounts are on; production logs in through Keycloak (set MARSAD_LOCAL_ACCOUNTS=0)")
        return out


class StorageEnv(Section):
    """Storage: the object store and the tools that set it up."""
    TITLE: ClassVar[str] = "storage"
    storage: str = _var("local", "`local` (a folder) or `s3`", "`s3`")
    storage_dir: Optional[Path] = _var(None, "the local store's folder; default `<MARSAD_VAR_DIR>/objects`")
    s3_endpoint: str = _var("", "S3 server, `host:port` or a URL (needed with `s3`)")
    s3_access_key: str = _var("", "S3 access key (needed with `s3`)")
    s3_secret_key: str = _var("", "S3 secret key (needed with `s3`)")
    s3_secure: str = _var("true", "`false` talks to S3 over plain HTTP", "TLS")
    s3_bucket_prefix: str = _var("marsad", "buckets are named `<prefix>-<institution>`")
    s3_region: str = _var("us-east-1", "S3 region")
    s3_noncurrent_days: Optional[int] = _var(None, "`storage sync`: days an overwritten object version is kept")
    s3_abort_multipart_days: Optional[int] = _var(None, "`storage sync`: days before an unfinished upload is "
                                                  "dropped")
    weed_master: str = _var("127.0.0.1:9333", "`storage sync`: SeaweedFS master, `host:port[.grpcport]`")
    weed: str = _var("", "`storage sync`: the SeaweedFS `weed` command; default: on PATH")


class IdentityEnv(Section):
    """Identity: Keycloak sign-in for the portal, the realm `identity sync` makes, user administration."""
    TITLE: ClassVar[str] = "identity"
    oidc_issuer: str = _var("", "the Keycloak realm, e.g. `https://kc.example/realms/marsad`",
                            "set and https, unless local accounts are on")
    oidc_client_id: str = _var("", "the portal's confidential client", "set with the issuer")
    oidc_client_secret: str = _var("", "that client's secret", "set with the issuer")
    oidc_api_audience: str = _var("", "what API bearer tokens must carry in `aud`; default: the client id")
    keycloak_realm: str = _var("", "`identity sync`: the realm's name; default `marsad`")
    portal_urls: str = _var("", "`identity sync`: the portal's base URLs, comma-separated")
    keycloak_session_idle: Optional[int] = _var(None, "`identity sync`: SSO idle timeout, seconds")
    keycloak_session_max: Optional[int] = _var(None, "`identity sync`: SSO maximum session, seconds")
    keycloak_admin_url: str = _var("", "user administration from the portal: Keycloak's base URL")
    keycloak_admin_realm: str = _var("", "user administration: the realm administered")
    keycloak_admin_client_id: str = _var("", "user administration: a service-account client")
    keycloak_admin_client_secret: str = _var("", "user administration: that client's secret")


class PortalEnv(Section):
    """Portal: the web application's limits and defaults."""
    TITLE: ClassVar[str] = "portal"
    cookie_secure: Flag = _var(True, "`0` only for the plain-HTTP demo", "on")
    max_upload_mb: int = _var(200, "largest upload, MB")
    login_attempts_per_minute: int = _var(10, "a throttled login answers 429 and is audited "
                                         "(`auth.login.throttled`)")
    default_language: str = _var("ar", "language when the reader has not chosen")
    timezone: str = _var("Africa/Tunis", "time zone of dates shown")
    trusted_proxies: int = _var(0, "reverse proxies in front (nginx): 1 so the login limit sees the client")


class SandboxEnv(Section):
    """Sandboxes: training copies of the portal (`marsad sandbox`)."""
    TITLE: ClassVar[str] = "sandbox"
    sandbox: str = _var("", "set by the sandbox commands: the sandbox a process serves")
    sandbox_root: Optional[Path] = _var(None, "where sandboxes live; default `<MARSAD_VAR_DIR>/sandboxes`",
                                        "set, apart from production's data")
    sandbox_port: Optional[int] = _var(None, "set by the sandbox commands: the sandbox's port")
    sandbox_database_url: str = _var("", "a PostgreSQL server set apart for sandboxes; default: SQLite files",
                                     "not production's server")
    sandbox_s3_endpoint: str = _var("", "an S3 server set apart for sandboxes; default: folders",
                                    "not production's server")
    sandbox_s3_access_key: str = _var("", "that server's access key")
    sandbox_s3_secret_key: str = _var("", "that server's secret key")
    sandbox_s3_secure: Flag = _var(True, "`false` talks to that server over plain HTTP")
    sandbox_nginx_dir: Path = _var(Path("/etc/nginx/marsad-sandboxes"), "where the sandboxes' nginx locations go")


class LabEnv(Section):
    """Lab and deployment: the rehearsal servers on this machine and the deployment's files."""
    TITLE: ClassVar[str] = "lab"
    lab_cache: Path = _var(Path("/var/cache/marsad-lab"), "the lab's prepared images")
    lab_dir: Path = _var(Path("/var/lib/marsad-lab"), "the lab's state, one folder per environment")
    lab_mirror: str = _var("", "Debian mirror for the lab; default: this machine's apt sources")
    lab_security_mirror: str = _var("", "Debian security mirror for the lab; default: this machine's")
    hardware_dir: Optional[Path] = _var(None, "hardware descriptions; default: the repository's `hardware/`")
    deploy_dir: Optional[Path] = _var(None, "deployment state; default: the repository's `var/deploy`")
    verify_env: str = _var("", "set by `make verify` for testinfra: the environment checked")
    verify_inventory: str = _var("", "set by `make verify` for testinfra: its inventory")


SECTIONS: tuple[type[Section], ...] = (Settings, StorageEnv, IdentityEnv, PortalEnv, SandboxEnv, LabEnv)


def settings() -> Settings:
    return section(Settings)


def variables():
    """(section, variable, type, default, help, production rule) for every declared variable."""
    for cls in SECTIONS:
        for name, f in cls.model_fields.items():
            kind = next((a for a in get_args(f.annotation) if a is not type(None)), f.annotation)
            kind = "path" if kind is Path else kind.__name__
            default = "" if f.default in (None, "") else str(f.default)
            rule = (f.json_schema_extra or {}).get("production", "")
            yield cls.TITLE, PREFIX + name.upper(), kind, default, f.description or "", rule


def markdown_table() -> str:
    """The README's Configuration table, made from the declaration."""
    rows = ["| section | variable | type | default | meaning | production |", "| --- | --- | --- | --- | --- | --- |"]
    for title, name, kind, default, help, rule in variables():
        default = {"True": "on", "False": "off"}.get(default, f"`{default}`" if default else "")
        if name == "MARSAD_SECRET_KEY":
            default = "a demo key"
        rows.append(f"| {title} | `{name}` | {kind} | {default} | {help} | {rule} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
