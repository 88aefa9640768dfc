"""Who may do what: institutions, roles and data-sharing agreements, read from policies/*.yaml.

The YAML is the source of truth; this module reads it, checks it (`check_policies`, behind
`marsad policies check`) and answers every permission question the system asks through one
pure function, `decide`. The portal, the API, the CLI and the Keycloak reconciler all ask
`decide`; none of them re-implements a rule.

Decisions, in the order `decide` applies them (deny by default, first failing rule gives the reason):

1. The action must be in ACTIONS and apply to the resource's kind (ACTION_KINDS).
2. The principal's institution must be known; a unit user is `Principal(institution="MI",
   unit="MI-PAF")`, and `Principal(institution="MI-PAF")` means the same. The unit's own
   agreement applies, not the parent's.
3. Sandboxes are sealed: a principal inside sandbox S reaches only resources of S, one outside
   reaches only resources outside every sandbox. `sandbox` resources themselves are managed
   from outside. Roles marked `sandbox_only` (trainee) grant nothing outside a sandbox.
4. Only the roles the institution's agreement allows count; others the user holds are ignored.
5. One of those roles must list the action among its permissions.
6. Then per action:
   - indicator.read: the agreement's read level for the dataset ("*" when none named), given
     as `published` or `aggregates` (microdata levels read indicators as `aggregates`).
   - microdata.read: `own_microdata` when the rows belong to the reader's institution (or a
     unit of it, see below) and the agreement grants at least own_microdata on the dataset;
     `pseudonymised_microdata` when the agreement grants it, for anyone's rows; denied otherwise.
   - submission.create: only in the name of the principal's own institution (a parent does not
     submit for its units), and only datasets its agreement `submits`.
   - submission.accept, indicator.publish, institutions.manage, sandbox.manage: acts of the
     observatory; they need a role of scope `all`.
   - everything else (submission.read/approve/reject, users.*, audit.read): a role of scope
     `all` reaches every institution; a role of scope `own` reaches resources whose
     `institution` is the principal's own or, when settings.parent_covers_units, one of its
     units. Never the reverse: a unit does not reach its parent or sibling units.
   - users.manage with `resource.role` set (granting or revoking that role): the role must be
     allowed by the agreement of the account's institution, must not be sandbox_only (trainee
     accounts come with sandbox.manage), and a manager of scope `own` may not grant a role of
     scope `all`.

`load_policies` checks everything except that agreements name datasets the catalog has (the
catalog changes on its own schedule and an unknown dataset grants nothing); `check_policies`
and the CLI check that too.
"""
from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import jsonschema
import yaml

from services.datafiles import Problem, display as _display, join as _join, parse, validate
from services.languages import LANGUAGES

REPO_ROOT = Path(__file__).resolve().parents[1]
POLICIES_DIR = REPO_ROOT / "policies"
SCHEMA_PATH = Path(__file__).with_name("policy_schema.yaml")
FILES = ("institutions", "roles", "agreements", "settings")

# The fixed vocabulary of actions. Roles list them as permissions.
ACTIONS = frozenset({
    "catalog.read",
    "submission.create",
    "submission.read",
    "submission.approve",
    "submission.reject",
    "submission.accept",
    "indicator.read",
    "indicator.publish",
    "microdata.read",
    "audit.read",
    "users.read",
    "users.manage",
    "institutions.manage",
    "sandbox.manage",
})
RESOURCE_KINDS = frozenset({
    "catalog", "submission", "dataset", "indicator", "microdata", "audit", "users", "institutions", "sandbox",
})
# The resource kinds each action applies to; the first is the usual one.
ACTION_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "catalog.read": ("catalog", "dataset"),
    "submission.create": ("submission", "dataset"),
    "submission.read": ("submission",),
    "submission.approve": ("submission",),
    "submission.reject": ("submission",),
    "submission.accept": ("submission",),
    "indicator.read": ("indicator",),
    "indicator.publish": ("indicator",),
    "microdata.read": ("microdata", "dataset"),
    "audit.read": ("audit",),
    "users.read": ("users",),
    "users.manage": ("users",),
    "institutions.manage": ("institutions",),
    "sandbox.manage": ("sandbox",),
})
# Acts of the observatory on every institution's data: only roles of scope `all` may hold them.
OBSERVATORY_ACTIONS = frozenset({"submission.accept", "indicator.publish", "institutions.manage", "sandbox.manage"})
# Reads whose reach the reader's agreement sets; the role only grants the verb.
AGREEMENT_READS = frozenset({"indicator.read", "microdata.read"})
# Read levels, lowest first; each implies the ones below it for the same dataset.
READ_LEVELS = ("published", "aggregates", "own_microdata", "pseudonymised_microdata")
INDICATOR_LEVELS = ("published", "aggregates")
SCOPES = ("own", "all")
INSTITUTION_KINDS = ("observatory", "ministry", "public_agency", "public_fund", "international_organisation")
ALL_DATASETS = "*"

_ARABIC = re.compile(r"[\u0600-\u06FF]")


class PolicyError(ValueError):
    """The policies are not coherent; `.problems` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the policies:\n{lines}")


@dataclass(frozen=True)
class Institution:
    code: str
    names: Mapping[str, str]
    kind: str                                 # INSTITUTION_KINDS, or "unit"
    parent: str | None = None                 # units: the institution they belong to
    supervised_by: str | None = None          # tutelle; informational, grants nothing
    units: tuple[Institution, ...] = ()

    def name(self, lang: str = "en") -> str:
        return self.names.get(lang) or self.names["en"]


@dataclass(frozen=True)
class Role:
    code: str
    names: Mapping[str, str]
    scope: str                                # "own" | "all"
    permissions: frozenset[str]
    sandbox_only: bool = False

    def name(self, lang: str = "en") -> str:
        return self.names.get(lang) or self.names["en"]


@dataclass(frozen=True)
class Agreement:
    institution: str
    submits: tuple[str, ...]
    reads: Mapping[str, str]                  # dataset code or "*" -> read level
    roles: frozenset[str]

    def read_level(self, dataset: str | None) -> str | None:
        """The level for a dataset: its own entry if named (even if lower than "*"), else "*"."""
        if dataset is not None and dataset in self.reads:
            return self.reads[dataset]
        return self.reads.get(ALL_DATASETS)


@dataclass(frozen=True)
class Settings:
    observatory: str
    min_cell_count: int
    parent_covers_units: bool


@dataclass(frozen=True)
class Policies:
    institutions: Mapping[str, Institution]   # every code, institutions and units alike
    roles: Mapping[str, Role]
    agreements: Mapping[str, Agreement]
    settings: Settings
    directory: Path

    def institution(self, code: str) -> Institution:
        try:
            return self.institutions[code]
        except KeyError:
            raise KeyError(f"unknown institution {code!r}") from None

    def roles_allowed(self, institution: str) -> frozenset[str]:
        agreement = self.agreements.get(institution)
        return agreement.roles if agreement else frozenset()

    def datasets_submitted_by(self, institution: str) -> tuple[str, ...]:
        agreement = self.agreements.get(institution)
        return agreement.submits if agreement else ()

    def submitters_of(self, dataset: str) -> tuple[str, ...]:
        return tuple(code for code, a in self.agreements.items() if dataset in a.submits)

    def read_level(self, institution: str, dataset: str | None) -> str | None:
        agreement = self.agreements.get(institution)
        return agreement.read_level(dataset) if agreement else None

    def covers(self, actor: str, owner: str) -> bool:
        """Whether `actor` acts on `owner`'s data as on its own: itself, or a unit of it."""
        if actor == owner:
            return True
        unit = self.institutions.get(owner)
        return bool(self.settings.parent_covers_units and unit and unit.parent == actor)

    @property
    def top_level(self) -> list[Institution]:
        return [i for i in self.institutions.values() if i.parent is None]


@dataclass(frozen=True)
class Principal:
    username: str
    institution: str          # institution code
    roles: frozenset[str]
    unit: str | None = None
    sandbox: str | None = None   # the training sandbox the account lives in, None in the real system


# The sandbox whose database this request or command works on (None: the real system). A resource
# built without naming a sandbox lives there: whoever serves sandbox S (its portal, per request; its
# seeding) sets it, so the many call sites that build resources need not each know about sandboxes,
# and decide() keeps reading only its arguments.
_SERVED_SANDBOX: ContextVar[str | None] = ContextVar("marsad_served_sandbox", default=None)


def served_sandbox() -> str | None:
    return _SERVED_SANDBOX.get()


@contextmanager
def serving_sandbox(name: str | None):
    """Within this block, resources built without a sandbox are those of sandbox `name`."""
    token = _SERVED_SANDBOX.set(name)
    try:
        yield
    finally:
        _SERVED_SANDBOX.reset(token)


@dataclass(frozen=True)
class Resource:
    kind: str                 # RESOURCE_KINDS
    institution: str | None = None   # owning institution (e.g. the submitting institution of a submission)
    dataset: str | None = None
    role: str | None = None          # users.manage: the role being granted or revoked
    # The sandbox the resource lives in (for kind "sandbox", its name); by default the one served.
    sandbox: str | None = field(default_factory=served_sandbox)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str               # human-readable why, in English, for logs and 403 pages
    level: str | None = None  # for reads: the access level that applied

    def __bool__(self) -> bool:
        return self.allowed


# --- reading and checking -------------------------------------------------------------------

def policies_dir(directory: str | Path | None = None) -> Path:
    from services.config import settings

    return Path(directory or settings().policies_dir or POLICIES_DIR)


@lru_cache(maxsize=1)
def _schema() -> dict:
    schema = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    # The vocabularies live in this module; the schema file only has their shape.
    defs["action"]["enum"] = sorted(ACTIONS)
    defs["level"]["enum"] = list(READ_LEVELS)
    defs["scope"]["enum"] = list(SCOPES)
    defs["institution_kind"]["enum"] = list(INSTITUTION_KINDS)
    return schema


def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = _schema()
    return jsonschema.Draft202012Validator({**schema["files"][name], "$defs": schema["$defs"]})


def _read_file(directory: Path, name: str) -> tuple[Any, list[Problem]]:
    """One policies file parsed and checked against its schema: (data or None, problems)."""
    path = directory / f"{name}.yaml"
    file = _display(path)
    if not path.is_file():
        return None, [Problem(file, name, "file is missing")]
    data, problems = parse(path.read_text(encoding="utf-8"), file, where=name)
    if data is not None or not problems:   # not after a YAML syntax error: nothing to validate
        problems += validate(_validator(name), data, file)
    return data, problems


def _dicts(value: Any) -> list[tuple[int, dict]]:
    """The mappings of a list with their indexes; anything else was reported by the schema."""
    return [(i, v) for i, v in enumerate(value) if isinstance(v, dict)] if isinstance(value, list) else []


def _strings(value: Any) -> list[tuple[int, str]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)] if isinstance(value, list) else []


def _section(data: Any, key: str, kind: type) -> Any:
    value = data.get(key) if isinstance(data, dict) else None
    return value if isinstance(value, kind) else kind()


def _cross_check(directory: Path, raw: dict[str, Any], datasets: frozenset[str] | None) -> list[Problem]:
    """What the schema cannot see: references between files, duplicates, vocabulary misuse."""
    files = {name: _display(directory / f"{name}.yaml") for name in FILES}
    problems: list[Problem] = []

    def problem(name: str, path: Iterable[Any], message: str) -> None:
        problems.append(Problem(files[name], _join(path), message))

    # Institutions and units share one code space: a user names either.
    codes: dict[str, str] = {}        # code -> path where first declared
    parents: dict[str, str | None] = {}
    top_codes: set[str] = set()

    def declare(code: Any, path: list, parent: str | None) -> None:
        if not isinstance(code, str):
            return
        if code in codes:
            problem("institutions", [*path, "code"], f"duplicate institution code {code!r} (first at {codes[code]})")
            return
        codes[code] = _join(path)
        parents[code] = parent

    def check_arabic(name: str, path: list, names: Any) -> None:
        ar = names.get("ar") if isinstance(names, dict) else None
        if isinstance(ar, str) and ar and not _ARABIC.search(ar):
            problem(name, [*path, "names", "ar"], f"{ar!r} has no Arabic letters")

    institutions = _dicts(_section(raw["institutions"], "institutions", list))
    for i, inst in institutions:
        path = ["institutions", i]
        declare(inst.get("code"), path, None)
        if isinstance(inst.get("code"), str):
            top_codes.add(inst["code"])
        check_arabic("institutions", path, inst.get("names"))
        for j, unit in _dicts(inst.get("units")):
            declare(unit.get("code"), [*path, "units", j], inst.get("code"))
            check_arabic("institutions", [*path, "units", j], unit.get("names"))
    for i, inst in institutions:
        supervisor = inst.get("supervised_by")
        if isinstance(supervisor, str) and (supervisor not in top_codes or supervisor == inst.get("code")):
            problem("institutions", ["institutions", i, "supervised_by"],
                    f"unknown institution {supervisor!r}" if supervisor not in top_codes
                    else "an institution does not supervise itself")

    roles: dict[str, dict] = {}
    for i, role in _dicts(_section(raw["roles"], "roles", list)):
        code = role.get("code")
        if not isinstance(code, str):
            continue
        if code in roles:
            problem("roles", ["roles", i, "code"], f"duplicate role code {code!r}")
            continue
        roles[code] = role
        check_arabic("roles", ["roles", i], role.get("names"))
        if role.get("scope") == "own":
            for j, action in _strings(role.get("permissions")):
                if action in OBSERVATORY_ACTIONS:
                    problem("roles", ["roles", i, "permissions", j],
                            f"{action!r} acts on every institution's data; a role with it needs scope 'all'")

    settings = _section(raw["settings"], "settings", dict)
    observatory = settings.get("observatory")
    if isinstance(observatory, str) and codes and observatory not in top_codes:
        problem("settings", ["settings", "observatory"], f"unknown institution {observatory!r}")
    covers_units = settings.get("parent_covers_units") is True

    agreements = _section(raw["agreements"], "agreements", dict)
    for code, agreement in agreements.items():
        path = ["agreements", code]
        if codes and code not in codes:
            problem("agreements", path, f"unknown institution {code!r} (not in institutions.yaml)")
        if not isinstance(agreement, dict):
            continue
        submits = {d for _, d in _strings(agreement.get("submits"))}
        if datasets is not None:
            for j, dataset in _strings(agreement.get("submits")):
                if dataset not in datasets:
                    problem("agreements", [*path, "submits", j], f"unknown dataset {dataset!r} (not in the catalog)")
        allowed = [(j, r) for j, r in _strings(agreement.get("roles"))]
        for j, role_code in allowed:
            role = roles.get(role_code)
            if role is None:
                if roles:
                    problem("agreements", [*path, "roles", j], f"unknown role {role_code!r} (not in roles.yaml)")
            elif role.get("scope") == "all" and observatory in top_codes and code != observatory:
                problem("agreements", [*path, "roles", j],
                        f"role {role_code!r} acts on every institution and may only be held at {observatory}")
        if submits and roles and not any(
            "submission.create" in (roles.get(r) or {}).get("permissions", ())
            and not (roles.get(r) or {}).get("sandbox_only") for _, r in allowed
        ):
            problem("agreements", [*path, "roles"], "it submits datasets but none of its roles may create submissions")
        # Datasets whose rows count as its own: its submissions, and its units' when parents cover units.
        own = set(submits)
        if covers_units:
            for unit_code, parent in parents.items():
                unit_agreement = agreements.get(unit_code)
                if parent == code and isinstance(unit_agreement, dict):
                    own |= {d for _, d in _strings(unit_agreement.get("submits"))}
        reads = agreement.get("reads") if isinstance(agreement.get("reads"), dict) else {}
        for dataset, level in reads.items():
            where = [*path, "reads", dataset]
            if datasets is not None and dataset != ALL_DATASETS and dataset not in datasets:
                problem("agreements", where, f"unknown dataset {dataset!r} (not in the catalog)")
            if level == "own_microdata" and dataset == ALL_DATASETS:
                problem("agreements", where, "own_microdata must name the datasets it submits, not '*' "
                                             "(it would grant aggregates of every dataset)")
            elif level == "own_microdata" and dataset not in own:
                problem("agreements", where, f"own_microdata on {dataset!r}, which {code} does not submit")
    for code, where in codes.items():
        if isinstance(raw["agreements"], dict) and code not in agreements:
            problem("agreements", ["agreements", code], f"institution {code!r} ({where}) has no agreement")
    return problems


def catalog_dataset_codes(catalog: Any) -> tuple[frozenset[str], str | None]:
    """Dataset codes agreements may name, and a note when the catalog itself did not load.

    `catalog`: a Catalog, a catalog directory, an iterable of codes, or None for the repo's catalog.
    A catalog that does not load (being edited) falls back to its dataset file names, which the
    catalog requires to equal the codes: its own check reports what is wrong inside.
    """
    from services.catalog import CATALOG_DIR, CatalogError, load_catalog

    if catalog is not None and not isinstance(catalog, (str, Path)):
        datasets = getattr(catalog, "datasets", catalog)
        return frozenset(datasets), None
    directory = Path(catalog or CATALOG_DIR)
    try:
        return frozenset(load_catalog(directory).datasets), None
    except (CatalogError, OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        stems = frozenset(p.stem for p in (directory / "datasets").glob("*.yaml"))
        return stems, f"the catalog does not load ({exc}); agreements checked against its dataset file names"


def _problems(directory: Path, datasets: frozenset[str] | None) -> tuple[dict[str, Any], list[Problem]]:
    raw: dict[str, Any] = {}
    problems: list[Problem] = []
    for name in FILES:
        raw[name], found = _read_file(directory, name)
        problems += found
    problems += _cross_check(directory, raw, datasets)
    unique = list(dict.fromkeys(problems))    # one error can surface twice through the schema
    return raw, unique


def check_policies(directory: str | Path | None = None, catalog: Any = None) -> list[Problem]:
    """Every problem in the policies, including agreements naming datasets the catalog lacks."""
    datasets, _ = catalog_dataset_codes(catalog)
    return _problems(policies_dir(directory), datasets)[1]


def _names(raw: dict) -> Mapping[str, str]:
    return MappingProxyType({lang: raw[lang] for lang in LANGUAGES})


def _build(directory: Path, raw: dict[str, Any]) -> Policies:
    institutions: dict[str, Institution] = {}
    for inst in raw["institutions"]["institutions"]:
        units = tuple(
            Institution(code=u["code"], names=_names(u["names"]), kind="unit", parent=inst["code"])
            for u in inst.get("units", ())
        )
        institutions[inst["code"]] = Institution(
            code=inst["code"], names=_names(inst["names"]), kind=inst["kind"],
            supervised_by=inst.get("supervised_by"), units=units,
        )
        institutions.update((u.code, u) for u in units)
    roles = {
        r["code"]: Role(code=r["code"], names=_names(r["names"]), scope=r["scope"],
                        permissions=frozenset(r["permissions"]), sandbox_only=bool(r.get("sandbox_only")))
        for r in raw["roles"]["roles"]
    }
    agreements = {
        code: Agreement(institution=code, submits=tuple(a["submits"]), reads=MappingProxyType(dict(a["reads"])),
                        roles=frozenset(a["roles"]))
        for code, a in raw["agreements"]["agreements"].items()
    }
    return Policies(
        institutions=MappingProxyType(institutions), roles=MappingProxyType(roles),
        agreements=MappingProxyType(agreements), settings=Settings(**raw["settings"]["settings"]),
        directory=directory,
    )


def load_policies(directory: str | Path | None = None, catalog: Any = None) -> Policies:
    """The policies from `directory` (default: MARSAD_POLICIES_DIR, else <repo>/policies).

    Raises PolicyError listing every problem. Dataset codes are checked against the catalog only
    when `catalog` is given (see the module docstring).
    """
    directory = policies_dir(directory)
    datasets = catalog_dataset_codes(catalog)[0] if catalog is not None else None
    raw, problems = _problems(directory, datasets)
    if problems:
        raise PolicyError(problems)
    return _build(directory, raw)


@lru_cache(maxsize=4)
def _cached(directory: str) -> Policies:
    return load_policies(directory)


def default_policies() -> Policies:
    """The deployment's policies, read once per directory."""
    return _cached(str(policies_dir().resolve()))


# --- the decision ---------------------------------------------------------------------------

def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def acting_institution(policies: Policies, principal: Principal) -> str | None:
    """The code whose agreement applies to the principal: its unit if it has one, else its institution."""
    institution = policies.institutions.get(principal.institution)
    if institution is None:
        return None
    if principal.unit is None or principal.unit == institution.code:
        return institution.code
    unit = policies.institutions.get(principal.unit)
    return unit.code if unit is not None and unit.parent == institution.code else None


def decide(policies: Policies, principal: Principal, action: str, resource: Resource) -> Decision:
    """Whether `principal` may do `action` on `resource`, and why. Pure: reads only its arguments."""
    who = principal.username
    if action not in ACTIONS:
        return _deny(f"unknown action {action!r}")
    if resource.kind not in ACTION_KINDS[action]:
        return _deny(f"{action} does not apply to a {resource.kind!r} resource")
    actor = acting_institution(policies, principal)
    if actor is None:
        unit = f" unit {principal.unit!r}" if principal.unit else ""
        return _deny(f"{who}: unknown institution {principal.institution!r}{unit}")
    agreement = policies.agreements.get(actor)
    if agreement is None:
        return _deny(f"{actor} has no agreement")

    if resource.kind == "sandbox":
        if principal.sandbox is not None:
            return _deny("sandboxes are managed from outside any sandbox")
    elif principal.sandbox != resource.sandbox:
        inside = f"sandbox {principal.sandbox!r}" if principal.sandbox else "the real system"
        there = f"sandbox {resource.sandbox!r}" if resource.sandbox else "the real system"
        return _deny(f"{who} works in {inside}; the resource is in {there}")

    held = sorted(principal.roles)
    effective = [
        policies.roles[r] for r in held
        if r in policies.roles and r in agreement.roles
        and (principal.sandbox is not None or not policies.roles[r].sandbox_only)
    ]
    if not effective:
        return _deny(f"{who} holds no role that counts at {actor} (holds: {', '.join(held) or 'none'}; "
                     f"the agreement allows: {', '.join(sorted(agreement.roles))}; trainee only in a sandbox)")
    granting = [r for r in effective if action in r.permissions]
    if not granting:
        return _deny(f"none of {who}'s roles ({', '.join(r.code for r in effective)}) grants {action}")
    by = "/".join(r.code for r in granting)

    if resource.institution is not None and resource.institution not in policies.institutions:
        return _deny(f"unknown institution {resource.institution!r} on the resource")

    if action in AGREEMENT_READS:
        return _read(policies, actor, agreement, action, resource, by)

    if action == "catalog.read":
        return Decision(True, f"{by} at {actor} may read the catalog")

    if action in OBSERVATORY_ACTIONS:
        if not any(r.scope == "all" for r in granting):
            return _deny(f"{action} is an act of the observatory and needs a role of scope 'all'")
        return Decision(True, f"{by} at {actor} may {action}")

    if action == "submission.create":
        if resource.institution != actor:
            return _deny(f"{actor} submits only in its own name, not for {resource.institution or 'no institution'}")
        if resource.dataset not in agreement.submits:
            return _deny(f"{actor}'s agreement does not list dataset {resource.dataset!r} among those it submits")
        return Decision(True, f"{by} at {actor} may submit {resource.dataset}")

    # Actions on objects an institution owns: submissions, accounts, audit records.
    owner = resource.institution
    reaching = [r for r in granting if r.scope == "all" or (owner is not None and policies.covers(actor, owner))]
    if not reaching:
        if owner is None:
            return _deny(f"{by} acts on its own institution only; the resource names none")
        return _deny(f"{by} at {actor} acts on its own institution only, not on {owner}")
    if action == "users.manage" and resource.role is not None:
        return _grant(policies, actor, resource, reaching, by)
    return Decision(True, f"{by} at {actor} may {action} for {owner or 'every institution'}")


def _read(policies: Policies, actor: str, agreement: Agreement, action: str, resource: Resource, by: str) -> Decision:
    dataset = resource.dataset
    level = agreement.read_level(dataset)
    what = dataset or "datasets not named in its agreement"
    if level is None:
        return _deny(f"{actor}'s agreement grants no read of {what}")
    rank = READ_LEVELS.index(level)
    if action == "indicator.read":
        shown = INDICATOR_LEVELS[min(rank, len(INDICATOR_LEVELS) - 1)]
        return Decision(True, f"{actor}'s agreement lets {by} read {what} at level {level}", level=shown)
    owner = resource.institution
    if owner is not None and policies.covers(actor, owner) and rank >= READ_LEVELS.index("own_microdata"):
        return Decision(True, f"{by} at {actor} may read its own rows of {what}", level="own_microdata")
    if level == "pseudonymised_microdata":
        return Decision(True, f"{actor}'s agreement grants pseudonymised microdata of {what}",
                        level="pseudonymised_microdata")
    if rank >= READ_LEVELS.index("own_microdata"):
        whose = owner or "every institution"
        return _deny(f"{actor} may read only its own rows of {what}, not those of {whose}")
    return _deny(f"{actor}'s agreement grants {what} at level {level}, which has no microdata")


def _grant(policies: Policies, actor: str, resource: Resource, reaching: list[Role], by: str) -> Decision:
    role, owner = resource.role, resource.institution
    target = policies.roles.get(role)
    if target is None:
        return _deny(f"unknown role {role!r}")
    if owner is None:
        return _deny(f"granting {role} needs the account's institution")
    if target.sandbox_only:
        return _deny(f"{role} accounts are created with their sandbox (sandbox.manage), not by users.manage")
    if role not in policies.roles_allowed(owner):
        return _deny(f"{owner}'s agreement does not allow the role {role}")
    if target.scope == "all" and not any(r.scope == "all" for r in reaching):
        return _deny(f"{by} may not grant {role}, which acts on every institution")
    return Decision(True, f"{by} at {actor} may grant or revoke {role} for {owner}")


def institutions_in_reach(policies: Policies, principal: Principal, action: str, dataset: str | None = None) -> frozenset[str]:
    """The institution codes whose resources `decide` lets the principal `action` on: a list filter."""
    kind = ACTION_KINDS[action][0] if action in ACTION_KINDS else ""
    return frozenset(
        code for code in policies.institutions
        if decide(policies, principal, action,
                  Resource(kind=kind, institution=code, dataset=dataset, sandbox=principal.sandbox))
    )
