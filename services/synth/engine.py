"""The row generator: compiles one dataset definition into a stream of synthetic rows.

Driven by the catalog: every field gets a producer chosen from its type, codelist, bounds and
the dataset's rules; `profiles.py` and `names.py` add realism where they recognise a dataset,
a field name or a code, and the catalog alone decides everything else. Clean rows satisfy
every field constraint and row rule; messiness and errors are applied on top, each from its
own random stream, so the same seed gives the same underlying records whatever the error
rate or messiness (a file with errors differs from the clean one only in the rows recorded).
"""
from __future__ import annotations

import datetime as dt
import math
import operator
import random
import re
import zlib
from typing import Callable, Iterator

from services.catalog import Catalog, Codelist, Dataset, Field, fold

from . import names as N
from . import profiles as P

TABLE_BITS = 14
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
POOL_PER_GROUP = 2000       # shared persons per (nationality, sex): the cross-dataset pool
SHARED_SHARE = 0.05         # share of persons drawn from the shared pool
PENDING_LIMIT = 512         # second legs of trips waiting to be written: bounds memory
UNKNOWN_CODES = ("Atlantis", "Narnia", "Wakanda", "ZZZ", "Xanadu", "99999")
# Error kinds, named as the ingestion validator names the problem it reports.
FIELD_ERROR_KINDS = ("required", "unknown_code", "bad_date", "above_max", "below_min", "too_long")
RULE_ERROR_KINDS = ("date_order", "age_mismatch", "not_greater", "exit_before_entry")
ERROR_KINDS = FIELD_ERROR_KINDS + RULE_ERROR_KINDS

_END_WORDS = ("expir", "valid", "until", "end", "fin", "echeance", "deadline")
_DATE_FIELD_KEYS = re.compile(r"birth|naissance")


class Sampler:
    """A discrete distribution drawn in O(1): values laid out in a table by their weights.

    A table of 2**14 slots is faster than random.choices with cum_weights (one getrandbits
    and an index instead of a bisect); every value with a positive weight keeps at least
    one slot, so rare codes still occur in large files.
    """

    __slots__ = ("table", "bits")

    def __init__(self, values, weights=None, bits: int = TABLE_BITS):
        values = list(values)
        if not values:
            raise ValueError("nothing to sample from")
        weights = [max(float(w), 0.0) for w in weights] if weights is not None else [1.0] * len(values)
        if sum(weights) <= 0:
            weights = [1.0] * len(values)
        bits = max(bits, (len(values) * 4).bit_length())
        size = 1 << bits
        total = sum(weights)
        raw = [w * size / total for w in weights]
        slots = [max(1, int(r)) if w > 0 else 0 for w, r in zip(weights, raw)]
        missing = size - sum(slots)
        if missing > 0:  # largest remainders first
            order = sorted(range(len(values)), key=lambda i: (-(raw[i] - int(raw[i])), i))
            for k in range(missing):
                slots[order[k % len(order)]] += 1
        while missing < 0:  # rare values were given a slot: take it from the commonest
            i = max(range(len(values)), key=slots.__getitem__)
            slots[i] -= 1
            missing += 1
        table = []
        for v, k in zip(values, slots):
            table.extend([v] * k)
        self.table, self.bits = table, bits

    def draw(self, rng: random.Random):
        return self.table[rng.getrandbits(self.bits)]


def code_weights(codelist: Codelist, hints: dict[str, float] | None, rest: float = 0.02) -> list[float] | None:
    """A weight per codelist item from hints keyed by code, or by keywords in code and labels.

    Items the hints do not name share, together, at most `rest` of the weight: rare but
    possible. None when the hints name nothing in this codelist.
    """
    if not hints:
        return None
    exact = {fold(k): w for k, w in hints.items()}
    # Lower-case hints are keywords looked for in codes and labels; upper-case ones are codes
    # (a code like ITA must not match inside "Mauritania").
    keys = sorted(((fold(k), w) for k, w in hints.items() if k == k.lower() and len(k) >= 3),
                  key=lambda kw: -len(kw[0]))
    weights: list[float | None] = []
    for item in codelist.items:
        code = fold(str(item["code"]))
        w = exact.get(code)
        if w is None and keys:
            text = " ".join([code, *(fold(str(v)) for v in item["labels"].values())]).replace("_", " ")
            w = next((w for k, w in keys if k in text), None)
        weights.append(w)
    named = [w for w in weights if w is not None]
    if not named:
        return None
    unnamed = sum(1 for w in weights if w is None)
    floor = min(min(named), rest * sum(named)) / max(unnamed, 1)
    return [w if w is not None else floor for w in weights]


def age_bands(codelist: Codelist) -> list[tuple[int, int]]:
    """(youngest, oldest) per item of an age-group codelist, from attributes or labels."""
    out = []
    for item in codelist.items:
        attrs = item.get("attributes") or {}
        lo, hi = attrs.get("min"), attrs.get("max")
        if lo is None:
            text = " ".join([str(item["code"]), str(item["labels"].get("en", ""))])
            m = re.search(r"(\d+)\s*(?:-|–|to|_|à)\s*(\d+)", text)
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
            elif (m := re.search(r"(\d+)\s*(?:\+|plus|and over|or more|_plus|ans et plus)", text, re.I)) \
                    or (m := re.search(r"(?:ge|gte|over|>=?)\s*_?(\d+)", text, re.I)):
                lo, hi = int(m.group(1)), 120
            elif (m := re.search(r"(?:<|under|less than|lt_?)\s*(\d+)", text, re.I)):
                lo, hi = 0, int(m.group(1)) - 1
        out.append((int(lo) if lo is not None else 0, int(hi) if hi is not None else 120))
    return out


# -- person identifiers ------------------------------------------------------------------

def _feistel_keys(seed: int) -> tuple[int, ...]:
    return tuple(zlib.crc32(f"marsad-person/{seed}/{i}".encode()) for i in range(3))


def person_number(n: int, keys: tuple[int, ...]) -> str:
    """"P" + 10 digits: a keyed permutation of 0..10**10-1, so distinct n never collide and
    the number reveals neither the order nor the dataset a person was made for."""
    left, right = divmod(n, 100_000)
    for k in keys:
        f = ((right * 2654435761 + k) ^ (right >> 5) ^ (k >> 11)) * 40503 % 100_000
        left, right = right, (left + f) % 100_000
    return f"P{left * 100_000 + right:010d}"


# Fixed slots keep person ids of different datasets apart; unknown datasets hash to one.
_DATASET_SLOTS = ("border_crossings", "residence_permits", "work_permits", "placements_abroad",
                  "consular_registrations", "returnees", "asylum_refugees", "interceptions")


def _dataset_slot(code: str) -> int:
    if code in _DATASET_SLOTS:
        return _DATASET_SLOTS.index(code)
    return len(_DATASET_SLOTS) + zlib.crc32(code.encode()) % (90 - len(_DATASET_SLOTS))


def _nationality_number(code: str) -> int:
    if len(code) == 3 and code.isalpha() and code.isascii():
        a, b, c = (ord(ch) - 65 for ch in code.upper())
        return (a * 26 + b) * 26 + c
    return zlib.crc32(code.encode()) % 17576


def pattern_sampler(pattern: str, limit: int, attempts: int = 50):
    """A function rng -> a string matching `pattern` (at most `limit` long), for the simple
    regular expressions catalogs use (classes, ranges, repeats, groups, alternatives);
    None when the pattern is beyond it."""
    from re import _parser

    try:
        parsed = _parser.parse(pattern)
    except re.error:
        return None
    compiled = re.compile(pattern)
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"

    def from_class(rng, items) -> str:
        choices: list[str] = []
        negate = False
        for op, av in items:
            op = str(op)
            if op == "NEGATE":
                negate = True
            elif op == "LITERAL":
                choices.append(chr(av))
            elif op == "RANGE":
                lo, hi = av
                choices.extend(chr(c) for c in range(lo, min(hi, lo + 200) + 1))
            elif op == "CATEGORY":
                name = str(av)
                choices.extend("0123456789" if "DIGIT" in name else " " if "SPACE" in name else letters + "0123456789")
        if negate:
            choices = [c for c in letters if c not in choices]
        return choices[int(rng.random() * len(choices))] if choices else "X"

    def emit(rng, items, out: list[str]) -> None:
        for op, av in items:
            op = str(op)
            if op == "LITERAL":
                out.append(chr(av))
            elif op == "NOT_LITERAL":
                out.append(next(c for c in letters if ord(c) != av))
            elif op == "ANY":
                out.append(letters[int(rng.random() * len(letters))])
            elif op == "IN":
                out.append(from_class(rng, av))
            elif op in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                lo, hi, sub = av
                hi = min(hi, lo + 6)
                for _ in range(lo + int(rng.random() * (hi - lo + 1))):
                    emit(rng, sub, out)
            elif op in ("SUBPATTERN", "ATOMIC_GROUP"):
                emit(rng, av[-1], out)
            elif op == "BRANCH":
                branches = av[1]
                emit(rng, branches[int(rng.random() * len(branches))], out)
            elif op == "AT":
                pass
            else:
                raise ValueError(op)

    def draw(rng) -> str:
        for _ in range(attempts):
            out: list[str] = []
            emit(rng, parsed, out)
            text = "".join(out)
            if len(text) <= limit and compiled.fullmatch(text):
                return text
        raise ValueError(f"cannot draw a value for {pattern!r}")

    try:
        draw(random.Random(0))
    except ValueError:
        return None
    return draw


class Person:
    """One synthetic person; the *_text attributes are the values written in files."""
    __slots__ = ("pid", "nat", "male", "birth", "family", "given", "arabic", "doc", "group",
                 "residence", "shared", "group_key", "cin", "sex_code", "family_text", "given_text",
                 "full_text")


# -- dates --------------------------------------------------------------------------------

def _islamic_holidays(year: int) -> list[tuple[int, str]]:
    """(ordinal, "fitr" | "adha") of the Eids near `year`, to a day or two."""
    out = []
    for anchor, kind in ((P.EID_AL_FITR_2024, "fitr"), (P.EID_AL_ADHA_2024, "adha")):
        base = dt.date(*anchor).toordinal()
        k0 = round((year - 2024) * 365.2425 / P.LUNAR_YEAR_DAYS)
        for k in range(k0 - 2, k0 + 3):
            day = base + round(k * P.LUNAR_YEAR_DAYS)
            if abs(dt.date.fromordinal(day).year - year) <= 1:
                out.append((day, kind))
    return out


def day_sampler(year: int, lo: dt.date | None, hi: dt.date | None, months, eid: bool) -> Sampler:
    """Days of `year` within [lo, hi], weighted by month (seasonality) and religious holidays."""
    start = max(dt.date(year, 1, 1), lo or dt.date.min)
    end = min(dt.date(year, 12, 31), hi or dt.date.max)
    if start > end:
        raise ValueError(f"year {year} is outside the field's allowed dates ({lo} to {hi})")
    days = list(range(start.toordinal(), end.toordinal() + 1))
    weights = []
    holidays = _islamic_holidays(year) if eid else []
    for o in days:
        d = dt.date.fromordinal(o)
        w = months[d.month - 1] / 30.0
        for h, kind in holidays:  # people travel for the Eid, less during the Ramadan before it
            if -3 <= o - h <= 4:
                w *= 1.6 if kind == "fitr" else 1.5
            elif kind == "fitr" and -29 <= o - h < -3:
                w *= 0.88
        weights.append(w)
    return Sampler(days, weights)


class DateText:
    """Formats day ordinals, remembering what it has formatted (dates repeat a lot)."""

    def __init__(self, style: str):
        if style not in ("iso", "dmy"):
            raise ValueError(f"date style must be iso or dmy, not {style!r}")
        self.style = style
        self.cache: dict[int, str] = {}

    def __call__(self, o: int) -> str:
        s = self.cache.get(o)
        if s is None:
            d = dt.date.fromordinal(o)
            s = d.isoformat() if self.style == "iso" else f"{d.day:02d}/{d.month:02d}/{d.year:04d}"
            if len(self.cache) < 100_000:
                self.cache[o] = s
        return s


_YMD: dict[int, tuple[int, int, int]] = {}


def _ymd(o: int) -> tuple[int, int, int]:
    t = _YMD.get(o)
    if t is None:
        d = dt.date.fromordinal(o)
        t = (d.year, d.month, d.day)
        if len(_YMD) < 200_000:
            _YMD[o] = t
    return t


def age_at(birth: int, when: int) -> int:
    """Completed years on day `when` (ordinals), as the validator computes them."""
    b = _YMD.get(birth) or _ymd(birth)
    w = _YMD.get(when) or _ymd(when)
    return w[0] - b[0] - ((w[1], w[2]) < (b[1], b[2]))


def birth_for_age(rng: random.Random, age: int, when: int) -> int:
    """A birth day about `age` years before `when` (never after it). Ages written in files
    are always computed from the birth date, so day arithmetic is precise enough."""
    return when - int((age + rng.random()) * 365.2425)


# -- the compiled dataset -----------------------------------------------------------------

_NAME_GROUP = {nat: N.GROUPS[g] for nat, g in N.NATIONALITY_GROUP.items()}
_ARAB, _EUROPE = P.ARAB, P.EUROPE


def _geometric_table(p: float, bits: int = 14) -> list[int]:
    """Quantiles of the geometric distribution (cells skipped before the next hit)."""
    size = 1 << bits
    log_keep = math.log(1.0 - p)
    return [int(math.log(1.0 - (j + 0.5) / size) / log_keep) for j in range(size)]


def _has(name: str, *words: str) -> bool:
    return any(w in name for w in words)


def person_role(f: Field) -> str | None:
    """What a field holds about the person, judged from its name and type; None if nothing."""
    n = f.name.lower()
    if f.type == "string":
        if "person" in n and _has(n, "id", "ident", "key"):
            return "pid"
        if _has(n, "national_id", "id_card", "identity_card") or n == "cin" or n.startswith("cin_") or "_cin" in n:
            return "national_id"
        if _has(n, "family_name", "surname", "last_name", "nom_famille") or n == "nom":
            return "family"
        if _has(n, "given_name", "first_name", "prenom", "forename"):
            return "given"
        if n in ("name", "full_name", "person_name") or n.endswith("full_name"):
            return "full"
        if "father" in n:
            return "father"
        if "mother" in n:
            return "mother"
        if _has(n, "document", "passport", "travel_doc"):
            return "doc"
    elif f.type == "code":
        if f.codelist == "sex" or _has(n, "sex", "gender"):
            return "sex"
        if f.codelist == "countries":
            if _has(n, "other", "second", "dual"):
                return None
            if _has(n, "nationality", "citizenship", "nationalite", "origin"):
                return "nat"
            if "residence" in n:
                return "residence"
            if "birth" in n:
                return "birth_country"
    elif f.type == "date" and _DATE_FIELD_KEYS.search(n):
        return "birth"
    elif f.type == "integer" and (n == "age" or n.endswith("_age") or n.startswith("age_")) and "group" not in n:
        return "age"
    return None


class DatasetSynth:
    """One dataset compiled for one (year, seed): yields typed records, then rows of text.

    Typed records are dicts of field name -> value (dates as day ordinals, None for empty);
    keys starting with "_" carry generation state and are never written.
    """

    def __init__(self, dataset: Dataset, catalog: Catalog, *, year: int, seed: int,
                 messiness: float = 0.1, date_style: str = "iso", today: dt.date | None = None,
                 error_kinds=None):
        from .realism import HOOKS

        self.error_kinds = set(error_kinds) if error_kinds else set(ERROR_KINDS)
        if self.error_kinds - set(ERROR_KINDS):
            raise ValueError(f"unknown error kinds {sorted(self.error_kinds - set(ERROR_KINDS))}; "
                             f"known: {', '.join(ERROR_KINDS)}")
        self.dataset, self.catalog = dataset, catalog
        self.year, self.seed = year, seed
        self.messiness = messiness
        self.today = today or dt.date.today()
        self.today_ordinal = self.today.toordinal()
        if year > self.today.year:
            raise ValueError(f"year {year} is in the future")
        self.profile = P.profile_for(dataset.code)
        tag = f"marsad-synth/{seed}/{dataset.code}/{year}"
        self.rng = random.Random(tag)
        self.mess_rng = random.Random(tag + "/messiness")
        self.err_rng = random.Random(tag + "/errors")
        self.date_text = DateText(date_style)
        self.other_date_text = DateText("dmy" if date_style == "iso" else "iso")
        self.keys = _feistel_keys(seed)
        self.slot = _dataset_slot(dataset.code)
        self.fresh_persons = 0
        self.used_shared: set[int] = set()
        self.pool_cache: dict[tuple, tuple] = {}
        self.sequence_templates: dict[str, str] = {}
        self.fields = list(dataset.fields)
        self.by_name = {f.name: f for f in self.fields}
        self.names = [f.name for f in self.fields]
        self.bounds = {f.name: f.bounds(self.today) for f in self.fields}
        self._compile()
        factory = HOOKS.get(dataset.code)
        self.hook = factory(self) if factory else None
        owned = getattr(self.hook, "sets", ())
        self.producers = [(n, f) for n, f in self.producers if n not in owned]  # the hook decides

    # ---- compilation: decide how each field is produced ---------------------------------

    def codelist(self, name: str) -> Codelist:
        return self.catalog.codelists[self.by_name[name].codelist]

    def hinted_sampler(self, name: str, hints: dict | None = None) -> Sampler | None:
        """A sampler for a code field from hints (the profile's by default), None without any."""
        cl = self.codelist(name)
        weights = code_weights(cl, hints if hints is not None else self.profile.codes.get(name))
        return Sampler(cl.codes, weights) if weights else None

    def code_of(self, name: str, spelling: str) -> str | None:
        """The code a spelling stands for in a field's codelist (None if the field or code is absent)."""
        f = self.by_name.get(name)
        if f is None or f.type != "code":
            return None
        return self.catalog.codelists[f.codelist].resolve(spelling)

    def _compile(self) -> None:
        ds, by_name = self.dataset, self.by_name
        self.rules = {kind: [r.params for r in ds.rules if r.kind == kind] for kind in
                      ("date_order", "age_matches_birth_date", "exit_not_before_entry", "not_greater")}
        self.sex_codes = self._sex_codes()

        self.person_roles: dict[str, str] = {}
        for f in self.fields:
            role = person_role(f)
            if role in ("residence", "birth_country") and f.name in self.profile.codes:
                role = None  # the dataset says where these people live: its hint wins
            if role:
                self.person_roles[f.name] = role
        roles = set(self.person_roles.values())
        self.person_based = ds.unit != "count" and bool(roles & {"pid", "family", "given", "full", "birth", "doc"})

        self._compile_dates()
        age_rules = self.rules["age_matches_birth_date"]
        self.age_rule = age_rules[0] if age_rules else None
        ref = self.age_rule.get("reference") if self.age_rule else None
        required_primary = [n for n in self.primary_dates if by_name[n].required]
        if ref in by_name and by_name[ref].type == "date":
            self.anchor = ref
        else:
            self.anchor = (required_primary or self.primary_dates or [None])[0]
        # Age is computed where the validator computes it: at the rule's reference date, at
        # today when the rule names none, at the dataset's main date when there is no rule.
        if self.age_rule:
            self.age_reference = ref if ref in by_name else None
        else:
            self.age_reference = self.anchor

        trips = self.rules["exit_not_before_entry"]
        self.trip = trips[0] if trips and self.person_based else None
        if self.trip:
            directions = self.catalog.codelists[by_name[self.trip["direction"]].codelist]
            self.entry_code = directions.resolve("ENTRY") or directions.codes[0]
            self.exit_code = directions.resolve("EXIT") or directions.codes[-1]

        self._compile_persons()
        self.post_samplers = self._border_post_samplers()

        producers, counts, parts = [], [], []
        for f in self.fields:
            if f.name in self.person_roles and self.person_based:
                continue
            if f.type == "date":
                continue
            if self.trip and f.name == self.trip["direction"]:
                continue  # set by the trip
            if self.trip and f.name in self.post_samplers.get("_fields", ()):
                continue  # chosen with the trip
            produce = self._producer(f)
            if produce is None:
                continue  # numbered in file order
            kind = getattr(produce, "kind", None)
            (parts if kind == "part" else counts if kind == "count" else producers).append((f.name, produce))
        self.producers = producers + counts + parts  # wholes before their parts
        self.not_greater = [(r["part"], r["whole"]) for r in self.rules["not_greater"]
                            if by_name[r["part"]].type in ("integer", "decimal")
                            and by_name[r["whole"]].type in ("integer", "decimal")]
        self.blanks = [(f.name, self.profile.blank.get(f.name, 0.02)) for f in self.fields
                       if not f.required and f.name not in self.sequence_templates
                       and self.person_roles.get(f.name) not in ("pid",)]
        self.blanks = [(n, s) for n, s in self.blanks if s > 0]
        self.blank_any = min(1.0, sum(s for _, s in self.blanks))
        if self.blanks:
            chooser = Sampler([n for n, _ in self.blanks], [s for _, s in self.blanks])
            self.blank_table, self.blank_bits = chooser.table, chooser.bits
        self._compile_text()

    def _compile_dates(self) -> None:
        """Primary dates are drawn in the year; the others follow from them by a rule."""
        by_name = self.by_name
        self.derived: dict[str, tuple[str, int, int, int]] = {}  # field -> (source, sign, lo, hi)
        for r in self.rules["date_order"]:
            before, after = r["before"], r["after"]
            if "birth" in (self.person_roles.get(before), self.person_roles.get(after)):
                continue  # birth dates come from the person's age, always before the event
            if by_name[before].type != "date" or by_name[after].type != "date":
                continue
            ends = _has(after.lower(), *_END_WORDS)
            if (ends or (by_name[before].required and not by_name[after].required)) and after not in self.derived:
                self.derived[after] = (before, +1, *((300, 730) if ends else self._after_gap(after)))
            elif before not in self.derived:
                self.derived[before] = (after, -1, *self._before_gap(before))
        for name in list(self.derived):  # a cycle of rules: its fields become primary
            seen, cur = set(), name
            while cur in self.derived and cur not in seen:
                seen.add(cur)
                cur = self.derived[cur][0]
            if cur in seen:
                del self.derived[name]
        self.primary_dates = [f.name for f in self.fields if f.type == "date" and f.name not in self.derived
                              and self.person_roles.get(f.name) != "birth"]
        self.derived_order = []
        pending = dict(self.derived)
        while pending:
            for k in [k for k, v in pending.items() if v[0] not in pending]:
                self.derived_order.append((k, *pending.pop(k)))
        months = self.profile.months
        self.day_samplers = {}
        for name in self.primary_dates:
            lo, hi = self.bounds[name]
            try:
                if self.dataset.unit == "count" or _has(name.lower(), "month", "period", "mois"):
                    self.day_samplers[name] = self._month_sampler(lo, hi)
                else:
                    self.day_samplers[name] = day_sampler(self.year, lo, hi, months, months is P.BORDER_MONTHS)
            except ValueError as err:
                raise ValueError(f"{name}: {err}") from None

    @staticmethod
    def _before_gap(name: str) -> tuple[int, int]:
        n = name.lower()
        if _has(n, "arriv", "entry", "entree"):
            return (5, 600)
        if _has(n, "applic", "demande", "request", "submi", "depot"):
            return (10, 120)
        if _has(n, "regist", "enregist"):
            return (3, 200)
        return (1, 180)

    @staticmethod
    def _after_gap(name: str) -> tuple[int, int]:
        n = name.lower()
        if _has(n, "decision"):
            return (20, 300)
        if _has(n, "exit", "depart", "return", "sortie"):
            return (1, 60)
        return (1, 180)

    def _month_sampler(self, lo, hi) -> Sampler:
        days, weights = [], []
        for m in range(1, 13):
            d = dt.date(self.year, m, 1)
            if (lo is None or d >= lo) and (hi is None or d <= hi):
                days.append(d.toordinal())
                weights.append(self.profile.months[m - 1])
        if not days:
            raise ValueError(f"year {self.year} is outside the allowed dates ({lo} to {hi})")
        return Sampler(days, weights)

    def _compile_persons(self) -> None:
        self.day_tables = [(n, s.table, s.bits) for n, s in self.day_samplers.items()]
        by_name = self.by_name
        nat_field = next((by_name[n] for n, r in self.person_roles.items() if r == "nat"), None)
        countries = self.catalog.codelists.get(nat_field.codelist if nat_field else "countries")
        hints = self.profile.nationalities or P.DEFAULT.nationalities
        if countries:
            # the world's other 200 countries together: one person in two hundred
            self.nat_sampler = Sampler(countries.codes, code_weights(countries, hints, rest=0.005))
            self.country_codes = set(countries.codes)
        else:
            self.nat_sampler = Sampler(sorted(hints), [hints[k] for k in sorted(hints)])
            self.country_codes = set(hints)
        ages = [0.0] * 121
        for lo_age, hi_age, w in self.profile.ages:
            for a in range(lo_age, hi_age + 1):
                ages[a] += w / (hi_age - lo_age + 1)
        for name, role in self.person_roles.items():
            if role == "age":
                amin, amax = self.bounds[name]
                for a in range(121):
                    if (amin is not None and a < amin) or (amax is not None and a > amax):
                        ages[a] = 0.0
        self.age_sampler = Sampler(range(121), ages)
        self.abroad_sampler = self._country_sampler(P.TUNISIANS_ABROAD)
        # hot path: tables and constants bound once
        self.nat_table, self.nat_bits = self.nat_sampler.table, self.nat_sampler.bits
        self.age_table, self.age_bits = self.age_sampler.table, self.age_sampler.bits
        self.male_share = self.profile.male_share
        self.arabic_share = self.profile.arabic_script
        self.mid_year = dt.date(self.year, 7, 1).toordinal()
        self.fresh_base = 1_000_000_000 + self.slot * 100_000_000
        roles = set(self.person_roles.values())
        self.need_doc, self.need_cin, self.need_full = "doc" in roles, "national_id" in roles, "full" in roles
        self.person_attributes = [(n, self._ROLE_ATTRIBUTES[r]) for n, r in self.person_roles.items()
                                  if r in self._ROLE_ATTRIBUTES]
        self.person_attribute_names = [n for n, _ in self.person_attributes]
        attrs = [a for _, a in self.person_attributes]
        self.person_getter = (operator.attrgetter(*attrs) if len(attrs) > 1
                              else (lambda p, a=attrs[0] if attrs else "pid": (getattr(p, a),)))
        self.age_fields = [n for n, r in self.person_roles.items() if r == "age"]
        self.person_computed = [(n, r) for n, r in self.person_roles.items()
                                if r not in self._ROLE_ATTRIBUTES and r != "age"]

    def _country_sampler(self, hints: dict) -> Sampler:
        codes = [c for c in sorted(hints) if c in self.country_codes] or sorted(self.country_codes) or sorted(hints)
        return Sampler(codes, [hints.get(c, 1.0) for c in codes])

    def _sex_codes(self) -> dict[bool, str]:
        cl = self.catalog.codelists.get("sex")
        if not cl:
            return {True: "M", False: "F"}
        male = cl.resolve("M") or cl.resolve("Male") or cl.codes[0]
        female = cl.resolve("F") or cl.resolve("Female") or cl.codes[min(1, len(cl.codes) - 1)]
        return {True: male, False: female}

    def _border_post_samplers(self) -> dict:
        """Per crossing mode ("air", "sea", "land:LBY"...), a sampler of posts weighted by traffic."""
        fields = [f for f in self.fields if f.type == "code" and (f.codelist == "border_posts" or "border_post" in f.name)]
        if not fields:
            return {}
        cl = self.catalog.codelists[fields[0].codelist]
        traffic = code_weights(cl, P.BORDER_POST_TRAFFIC) or [1.0] * len(cl.codes)
        out: dict = {"_fields": tuple(f.name for f in fields), "_all": Sampler(cl.codes, traffic)}
        modes: dict[str, tuple[list, list]] = {}
        for item, w in zip(cl.items, traffic):
            attrs = item.get("attributes") or {}
            kind = str(attrs.get("type", "")).lower()
            if kind == "land":
                key = f"land:{attrs.get('neighbour') or attrs.get('neighbor') or ''}"
            elif kind in ("air", "sea"):
                key = kind
            else:
                continue
            modes.setdefault(key, ([], []))
            modes[key][0].append(item["code"])
            modes[key][1].append(w)
        for key, (codes, weights) in modes.items():
            out[key] = Sampler(codes, weights)
        out["_modes"] = {}  # per traveller group: the crossing modes this codelist has
        for group, shares in P.CROSSING_MODES.items():
            present = [(m, w) for m, w in shares.items() if m in out and w > 0]
            if present:
                out["_modes"][group] = Sampler([m for m, _ in present], [w for _, w in present])
        return out

    # ---- producers for fields no person role covers ----------------------------------------

    def _producer(self, f: Field):
        """A function (record, person) -> typed value; None for identifiers numbered in file order."""
        rng = self.rng
        n = f.name.lower()
        if f.type == "code":
            cl = self.catalog.codelists[f.codelist]
            hinted = self.hinted_sampler(f.name)
            if hinted is not None:
                return lambda rec, p: hinted.draw(rng)
            if f.codelist == "sex":
                male_share, codes = self.profile.male_share, self.sex_codes
                return lambda rec, p: codes[rng.random() < male_share]
            if f.codelist == "countries":
                if _has(n, "other", "second", "dual"):
                    sampler = self.abroad_sampler
                    return lambda rec, p: sampler.draw(rng)
                if self.person_based and _has(n, "destination", "host", "return", "from", "provenance"):
                    sampler = self.abroad_sampler
                    return lambda rec, p: sampler.draw(rng)
                sampler = self.nat_sampler
                return lambda rec, p: sampler.draw(rng)
            if f.name in self.post_samplers.get("_fields", ()):
                sampler = self.post_samplers["_all"]
                return lambda rec, p: sampler.draw(rng)
            if f.codelist == "governorates":
                sampler = Sampler(cl.codes, code_weights(cl, P.GOVERNORATE_POPULATION))
                return lambda rec, p: sampler.draw(rng)
            if (f.codelist or "").startswith("age") or "age_group" in n:
                return self._age_group_producer(f)
            sampler = Sampler(cl.codes)
            return lambda rec, p: sampler.draw(rng)
        if f.type == "string":
            return self._string_producer(f)
        if f.type in ("integer", "decimal"):
            return self._number_producer(f)
        if f.type == "boolean":
            if "minor" in n:
                return lambda rec, p: self._age_of(rec, p) < 18 if p is not None else rng.random() < 0.1
            share = 0.05 if _has(n, "unaccompanied", "deceased", "dead") else 0.2
            return lambda rec, p: rng.random() < share
        raise ValueError(f"no producer for type {f.type}")

    def _age_of(self, rec, p) -> int:
        when = rec.get(self.anchor) if self.anchor else None
        return age_at(p.birth, when or self.today_ordinal)

    def _age_group_producer(self, f: Field):
        cl = self.catalog.codelists[f.codelist]
        bands = age_bands(cl)
        by_age = []
        for a in range(121):
            by_age.append(next((c for c, (lo, hi) in zip(cl.codes, bands) if lo <= a <= hi), cl.codes[-1]))
        rng, ages = self.rng, self.age_sampler

        def produce(rec, p):
            return by_age[min(self._age_of(rec, p), 120)] if p is not None else by_age[ages.draw(rng)]

        return produce

    def _string_producer(self, f: Field):
        rng = self.rng
        n = f.name.lower()
        limit = f.max_length or 200
        pattern = re.compile(f.pattern) if f.pattern else None

        def fits(s: str) -> bool:
            return len(s) <= limit and (pattern is None or pattern.fullmatch(s) is not None)

        def pick(pool):
            pool = [s for s in pool if fits(s)] or [pool[0][:limit]]
            return lambda rec, p: pool[int(rng.random() * len(pool))]

        if _has(n, "occupation", "profession", "job", "metier") and _has(n, "code", "isco", "citp"):
            def isco(rec, p):
                occ = rec.get("_occupation") or N.OCCUPATIONS[int(rng.random() * len(N.OCCUPATIONS))]
                return occ[2] if occ[2] and fits(occ[2]) else None
            return isco
        if _has(n, "occupation", "profession", "job", "metier", "poste"):
            return self._occupation_producer(fits)
        if "consul" in n:
            return self._consulate_producer(pick)
        if _has(n, "assist", "organis", "partner", "partenaire"):
            return pick(list(N.ASSISTING_ORGANISATIONS))
        identifier = _has(n, "_id", "number", "_no", "reference", "_ref") or n in ("id", "ref", "no")
        if identifier:  # numbered in file order, in the first shape the field accepts
            initials = "".join(w[0] for w in self.dataset.code.split("_")).upper()
            two = self.dataset.code.replace("_", "")[:2].upper()
            candidates = [self.profile.id_templates.get(f.name)]
            for prefix in dict.fromkeys((initials, two, initials.lower())):
                candidates += [prefix + "-{year}-{n:07d}", prefix + "/{year}/{n:06d}", prefix + "{year}{n:07d}",
                               prefix + "{n:06d}", prefix + "-{n:06d}"]
            candidates += ["{year}{n:06d}"] + ["{n:0%dd}" % w for w in range(min(limit, 12), 4, -1)]
            for template in filter(None, candidates):
                sample = [template.format(n=k, year=self.year, yy=self.year % 100) for k in (1, 999_999)]
                if all(fits(s) for s in sample):
                    self.sequence_templates[f.name] = template
                    return None
        if pattern:  # a shape no template fits: values drawn from the pattern itself
            draw = pattern_sampler(f.pattern, limit)
            if draw is not None:
                return lambda rec, p: draw(rng)
        if _has(n, "employer", "company", "enterprise", "entreprise", "firm"):
            return pick([lat for lat, _ in N.EMPLOYERS])
        if _has(n, "city", "place", "town", "lieu", "ville", "address", "adresse", "locality"):
            return pick([lat for lat, _ in N.CITIES] + [ar for _, ar in N.CITIES if ar])
        if _has(n, "remark", "comment", "note", "observation"):
            return pick(["RAS", "néant", "-"])
        return pick(["nord", "sud", "centre", "est", "ouest", "alpha", "beta"])

    def _occupation_producer(self, fits):
        """Occupations plausible for the row's economic sector, in the person's script; the
        chosen entry is kept on the record so an occupation code can agree with it."""
        rng = self.rng
        sector_field = next((f.name for f in self.fields if f.type == "code" and _has(f.name.lower(), "sector", "secteur")), None)
        by_sector: dict[str, list] = {}
        for occ in N.OCCUPATIONS:
            for letter in occ[3]:
                by_sector.setdefault(letter, []).append(occ)
        workers = [o for o in N.OCCUPATIONS if o[2]]

        def occupation(rec, p):
            pool = by_sector.get(rec.get(sector_field) or "") or workers
            occ = pool[int(rng.random() * len(pool))]
            rec["_occupation"] = occ
            text = occ[1] if p is not None and p.arabic else occ[0]
            return text if fits(text) else None

        return occupation

    def _consulate_producer(self, pick):
        """The consular post in the person's country of residence, as the register names it."""
        rng = self.rng
        country_field = next((f.name for f in self.fields if f.type == "code" and f.codelist == "countries"
                              and "residence" in f.name), None)
        fallback = pick([c for cities in N.CONSULATES.values() for c in cities])

        def consulate(rec, p):
            cities = N.CONSULATES.get(rec.get(country_field) or "")
            return cities[int(rng.random() * len(cities))] if cities else fallback(rec, p)

        return consulate

    def _number_producer(self, f: Field):
        rng = self.rng
        n = f.name.lower()
        integer = f.type == "integer"
        lo, hi = self.bounds[f.name]
        as_type = (lambda v: v) if integer else float

        def within(v):
            if lo is not None and v < lo:
                v = lo
            if hi is not None and v > hi:
                v = hi
            return v

        values = self.profile.numbers.get(f.name)
        if values:
            ok = [(v, w) for v, w in sorted(values.items()) if within(v) == v]
            sampler = Sampler([as_type(v) for v, _ in ok], [w for _, w in ok])
            return lambda rec, p: sampler.draw(rng)
        if n == "year" or n.endswith("_year"):
            year = within(self.year)
            return lambda rec, p: year
        if n == "month" or n.endswith("_month"):
            sampler = Sampler(range(1, 13), self.profile.months)
            return lambda rec, p: sampler.draw(rng)
        whole = next((r["whole"] for r in self.rules["not_greater"] if r["part"] == f.name), None)
        share = self.profile.part_shares.get(f.name)
        if whole is None and share is not None:  # a part the rules do not name (operations, deaths)
            whole = next((x.name for x in self.fields if x.type == f.type and x.required and x.name != f.name), None)
        if whole is not None:
            share = share if share is not None else 0.15

            at_least_one = _has(n, "operation", "boat", "event", "incident")

            def part(rec, p):
                w = rec.get(whole) or 0
                v = round(w * share * (0.3 + 1.4 * rng.random()))
                if w and v == 0 and (at_least_one or (share < 0.1 and rng.random() < share * 20)):
                    v = 1  # people were intercepted: in one operation at least; deaths happen in small groups too
                return as_type(within(min(v, int(w))))
            part.kind = "part"
            return part
        if self.dataset.unit == "count" or _has(n, "count", "persons", "total", "number_of", "nb_"):
            return self._count_producer(f, within, as_type)
        low = lo if lo is not None else 0
        high = hi if hi is not None else low + (100 if integer else 10_000)
        if integer:
            if _has(n, "duration", "days", "jours"):
                high = min(high, max(low, 365))
            low, high = int(math.ceil(low)), int(math.floor(high))
            return lambda rec, p: rng.randint(low, high)
        return lambda rec, p: round(low + (high - low) * rng.random() ** 2, 2)

    def _count_producer(self, f: Field, within, as_type):
        """Counts grow with the season and with how common the row's codes are (Sfax more than
        Tozeur), with log-normal noise: aggregate tables look like this."""
        rng = self.rng
        scale = self.profile.count_scale
        months = self.profile.months
        month_mean = sum(months) / 12.0
        date_field = self.primary_dates[0] if self.primary_dates else None
        relative = []  # (code field, {code: weight relative to the commonest})
        for x in self.fields:
            hints = self.profile.codes.get(x.name) or (self.profile.nationalities if person_role(x) == "nat" else None)
            if x.type == "code" and hints:
                cl = self.catalog.codelists[x.codelist]
                weights = code_weights(cl, hints)
                if weights:
                    top = max(weights)
                    relative.append((x.name, {c: w / top for c, w in zip(cl.codes, weights)}))

        def count(rec, p):
            factor = 1.0
            if date_field and rec.get(date_field):
                factor = months[_ymd(rec[date_field])[1] - 1] / month_mean
            for name, rel in relative:
                factor *= 0.15 + rel.get(rec.get(name), 0.0) ** 0.5
            return as_type(within(round(scale * factor * math.exp(rng.gauss(0, 0.6)))))

        count.kind = "count"
        return count

    # ---- persons -----------------------------------------------------------------------

    @staticmethod
    def _name_parts(rng: random.Random, nat: str, male: bool):
        group = _NAME_GROUP.get(nat) or N.GROUPS[N.DEFAULT_GROUP]
        families = group["family"]
        given_list = group["male"] if male else group["female"]
        random_ = rng.random
        return group, families[int(random_() * len(families))], given_list[int(random_() * len(given_list))]

    @staticmethod
    def _doc_number(rng: random.Random, nat: str) -> str:
        letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
        r = rng.getrandbits(48)
        if nat == "TUN":
            return f"{letters[r % 23]}{(r >> 5) % 1_000_000:06d}"
        if nat == "FRA":
            return f"{(r >> 30) % 100:02d}{letters[r % 23]}{letters[(r >> 5) % 23]}{(r >> 10) % 100_000:05d}"
        return f"{letters[r % 23]}{letters[(r >> 5) % 23]}{(r >> 10) % 10_000_000:07d}"

    @staticmethod
    def _cin(rng: random.Random) -> str:
        # Tunisian identity card numbers: 8 digits, the older ones starting with 0
        return f"{rng.choice('00011')}{rng.getrandbits(24) % 10_000_000:07d}"

    def new_person(self, anchor: int | None) -> Person:
        rng = self.rng
        random_ = rng.random
        p = Person()
        nat = self.nat_table[rng.getrandbits(self.nat_bits)]
        male = random_() < self.male_share
        when = anchor or self.mid_year
        age = self.age_table[rng.getrandbits(self.age_bits)]
        p.nat, p.male, p.shared = nat, male, False
        if 18 <= age <= 64 and random_() < SHARED_SHARE:
            shared = self._shared_person(nat, male, when)
            if shared is not None:
                p.pid, p.birth, p.family, p.given, p.doc, p.cin, p.group = shared
                p.shared = True
        if not p.shared:
            p.pid = person_number(self.fresh_base + self.fresh_persons, self.keys)
            self.fresh_persons += 1
            p.birth = birth_for_age(rng, age, when)
            p.group, p.family, p.given = self._name_parts(rng, nat, male)
            p.doc = self._doc_number(rng, nat) if self.need_doc else None
            p.cin = self._cin(rng) if self.need_cin else None
        p.arabic = arabic = nat in _ARAB and random_() < self.arabic_share
        if nat == "TUN":
            p.residence = "TUN" if random_() < 0.55 else self.abroad_sampler.draw(rng)
        elif nat == "LBY" or random_() < 0.92:
            p.residence = nat
        else:  # Africans and Maghrebis living in Europe
            p.residence = ("FRA", "ITA", "DEU", "BEL")[rng.getrandbits(2)]
        if p.residence not in self.country_codes and self.country_codes:
            p.residence = nat if nat in self.country_codes else self.nat_sampler.draw(rng)
        p.group_key = (("TUN" if p.residence == "TUN" else "TUN_ABROAD") if nat == "TUN"
                       else nat if nat in ("LBY", "DZA") else "EUROPE" if nat in _EUROPE else "OTHER")
        p.sex_code = self.sex_codes[male]
        fam = p.family[1] if arabic and p.family[1] else p.family[0]
        if not arabic and not male and "feminine_suffix" in p.group:
            fam = N.feminine(p.group, fam)
        given = p.given[1] if arabic and p.given[1] else p.given[0]
        p.family_text, p.given_text = fam, given
        p.full_text = f"{given} {fam}" if self.need_full else None
        return p

    def _shared_person(self, nat: str, male: bool, when: int):
        """A person from the pool every dataset of this seed draws from: same id, names, birth
        date and documents wherever they appear, so record linkage has true matches to find."""
        k = self.rng.randrange(POOL_PER_GROUP)
        n = (_nationality_number(nat) * 2 + male) * POOL_PER_GROUP + k
        if n in self.used_shared:  # once per file: a second trip could interleave with the first
            return None
        key = (nat, male, k)
        hit = self.pool_cache.get(key)
        if hit is None:
            prng = random.Random(f"marsad-person/{self.seed}/{nat}/{int(male)}/{k}")
            birth = dt.date(1955, 1, 1).toordinal() + prng.randrange(365 * 50)
            group, fam, given = self._name_parts(prng, nat, male)
            hit = (person_number(n, self.keys), birth, fam, given, self._doc_number(prng, nat),
                   self._cin(prng), group)
            if len(self.pool_cache) > 20_000:
                self.pool_cache.clear()
            self.pool_cache[key] = hit
        if not 18 <= age_at(hit[1], when) <= 70:
            return None
        self.used_shared.add(n)
        return hit

    _ROLE_ATTRIBUTES = {"pid": "pid", "family": "family_text", "given": "given_text", "full": "full_text",
                        "doc": "doc", "national_id": "cin", "sex": "sex_code", "birth": "birth",
                        "nat": "nat", "residence": "residence"}

    def person_value(self, role: str, p: Person, rec: dict):
        attr = self._ROLE_ATTRIBUTES.get(role)
        if attr:
            return getattr(p, attr)
        if role in ("father", "mother"):
            names = p.group["male" if role == "father" else "female"]
            lat, ar = names[int(self.rng.random() * len(names))]
            return ar if p.arabic and ar else lat
        if role == "age":
            ref = rec.get(self.age_reference) if self.age_reference else None
            return age_at(p.birth, ref or self.today_ordinal)
        if role == "birth_country":
            return p.nat if p.nat == "TUN" or self.rng.random() < 0.93 else p.residence
        raise KeyError(role)

    # ---- records -------------------------------------------------------------------------

    def _dates(self, rec: dict) -> None:
        rng = self.rng
        getrandbits = rng.getrandbits
        for name, table, bits in self.day_tables:
            rec[name] = table[getrandbits(bits)]
        for name, source, sign, lo, hi in self.derived_order:
            base = rec.get(source)
            rec[name] = None if base is None else base + sign * rng.randint(lo, hi)

    def _fill(self, rec: dict, p: Person | None) -> dict:
        if p is not None:
            if self.person_attributes:
                rec.update(zip(self.person_attribute_names, self.person_getter(p)))
            if self.age_fields:
                ref = rec.get(self.age_reference) if self.age_reference else None
                age = age_at(p.birth, ref or self.today_ordinal)
                for name in self.age_fields:
                    rec[name] = age
            for name, role in self.person_computed:
                rec[name] = self.person_value(role, p, rec)
        for name, produce in self.producers:
            rec[name] = produce(rec, p)
        if self.hook:
            self.hook(rec, p)
        return rec

    def _blank(self, rec: dict) -> None:
        """Optional values the source left empty: at most one per row, chosen with a
        probability of blank_any (callers on the hot path draw that themselves)."""
        rec[self.blank_table[self.rng.getrandbits(self.blank_bits)]] = None

    def _repair(self, rec: dict) -> None:
        """Make derived values obey bounds and rules: a clean record must be valid."""
        for name, *_ in self.derived_order:
            v = rec.get(name)
            if v is not None:
                lo, hi = self.bounds[name]
                if hi is not None and v > hi.toordinal():
                    rec[name] = hi.toordinal()
                if lo is not None and v < lo.toordinal():
                    rec[name] = lo.toordinal()
        for r in self.rules["date_order"]:
            b, a = rec.get(r["before"]), rec.get(r["after"])
            if b is not None and a is not None and a < b:
                if r["before"] in self.derived:
                    rec[r["before"]] = a
                else:
                    rec[r["after"]] = b
        for part, whole in self.not_greater:
            if rec.get(part) is not None and rec.get(whole) is not None and rec[part] > rec[whole]:
                rec[part] = rec[whole]

    def records(self, rows: int) -> Iterator[dict]:
        """Typed records in file order; constant memory."""
        return self._trip_records(rows) if self.trip else self._single_records(rows)

    def _single_records(self, rows: int) -> Iterator[dict]:
        for _ in range(rows):
            rec: dict = {}
            self._dates(rec)
            p = self.new_person(rec.get(self.anchor) if self.anchor else None) if self.person_based else None
            self._fill(rec, p)
            if self.blank_any and self.rng.random() < self.blank_any:
                self._blank(rec)
            self._repair(rec)
            yield rec

    def _trip_records(self, rows: int) -> Iterator[dict]:
        """Entries and exits of the same person. A trip's second leg waits in a bounded buffer
        and comes out further down the file, as in an export of the border system; residents
        leave first and come back, visitors come first and leave, so every person's crossings
        alternate and the exit-not-before-entry check holds on clean data."""
        rng = self.rng
        date_field, dir_field = self.trip["date"], self.trip["direction"]
        hi = self.bounds[date_field][1]
        last = min(dt.date(self.year, 12, 31), hi or dt.date.max).toordinal()
        posts = self.post_samplers
        post_fields = posts.get("_fields", ())
        age_fields = self.age_fields
        purpose_field = next((f.name for f in self.fields if f.type == "code" and f.codelist == "travel_purposes"), None)
        residence = self.code_of(purpose_field, "RESIDENCE") if purpose_field else None
        mid_year = self.mid_year
        random_ = rng.random
        getrandbits = rng.getrandbits
        blank_any, blank = self.blank_any, self._blank
        only_date = not self.derived_order and [t[0] for t in self.day_tables] == [date_field]
        date_table, date_bits = (self.day_tables[0][1], self.day_tables[0][2]) if only_date else (None, 0)
        # per traveller group: the modes' table, and per mode the posts' table
        mode_tables = {g: (m.table, m.bits) for g, m in posts.get("_modes", {}).items()}
        post_tables = {m: (posts[m].table, posts[m].bits) for m in posts if not m.startswith("_")}
        if posts:
            post_tables[None] = (posts["_all"].table, posts["_all"].bits)
        pending: list[dict] = []
        emitted = 0
        while emitted < rows:
            remaining = rows - emitted
            if pending and (remaining <= len(pending) or len(pending) >= PENDING_LIMIT or random_() < 0.45):
                i = int(random_() * len(pending))
                pending[i], pending[-1] = pending[-1], pending[i]
                yield pending.pop()
                emitted += 1
                continue
            if only_date:  # the usual case: the crossing date is the only date drawn
                rec = {date_field: date_table[getrandbits(date_bits)]}
            else:
                rec = {}
                self._dates(rec)
            day = rec.get(date_field) or mid_year
            p = self.new_person(day)
            self._fill(rec, p)
            group = p.group_key
            mode = None
            if posts:
                modes = mode_tables.get(group) or mode_tables.get("OTHER")
                mode = modes[0][getrandbits(modes[1])] if modes else None
                table, bits = post_tables.get(mode) or post_tables[None]
                for name in post_fields:
                    rec[name] = table[getrandbits(bits)]
            first, second = (self.exit_code, self.entry_code) if group == "TUN" else (self.entry_code, self.exit_code)
            rec[dir_field] = rec["_first_leg"] = first
            stay = self._stay(group)
            if stay is not None and day + stay <= last and remaining - 1 > len(pending):
                leg = dict(rec)
                leg[date_field] = day + stay
                leg[dir_field] = second
                leg["_second_leg"] = True
                if not (mode or "").startswith("land") and random_() < 0.3:
                    for name in post_fields:  # flying back from another airport
                        leg[name] = table[getrandbits(bits)]
                if age_fields:
                    ref = leg.get(self.age_reference) if self.age_reference else None
                    age = age_at(p.birth, ref or self.today_ordinal)
                    for name in age_fields:
                        leg[name] = age
                if residence and purpose_field and group in ("TUN", "TUN_ABROAD") and rng.random() < 0.6:
                    leg[purpose_field] = residence  # going home
                if blank_any and random_() < blank_any:
                    blank(leg)
                rec["_leg"] = leg
                pending.append(leg)
            if blank_any and random_() < blank_any:
                blank(rec)
            yield rec
            emitted += 1

    def _stay(self, group: str) -> int | None:
        """Days between the two legs of a trip, or None for a crossing whose other leg falls
        outside the file (before or after the year)."""
        rng = self.rng
        if rng.random() < 0.12:
            return None
        if group == "TUN":
            return 2 + int(rng.expovariate(1 / 9))
        if group == "TUN_ABROAD":
            return 10 + int(rng.random() * 35)
        if group in ("LBY", "DZA"):
            return 1 + int(rng.expovariate(1 / 7))
        if group == "EUROPE":
            return 4 + int(rng.random() * 11)
        return 3 + int(rng.expovariate(1 / 20))

    # ---- text ------------------------------------------------------------------------------

    def _compile_text(self) -> None:
        """Per field: typed value -> text, the messy-but-valid variants, the applicable errors."""
        self.formatters = [self._formatter(f) for f in self.fields]
        self.messy = [self._messy(f) for f in self.fields]
        self.field_errors: list[tuple[str, int]] = []  # (kind, field index)
        for i, f in enumerate(self.fields):
            if f.required:
                self.field_errors.append(("required", i))
            if f.type == "code":
                cl = self.catalog.codelists[f.codelist]
                if any(cl.resolve(c) is None for c in UNKNOWN_CODES):
                    self.field_errors.append(("unknown_code", i))
            if f.type == "date":
                self.field_errors.append(("bad_date", i))
            if f.type in ("integer", "decimal"):
                lo, hi = self.bounds[f.name]
                if hi is not None:
                    self.field_errors.append(("above_max", i))
                if lo is not None:
                    self.field_errors.append(("below_min", i))
            if f.type == "string" and f.max_length:
                self.field_errors.append(("too_long", i))

    def _formatter(self, f: Field):
        if f.type == "date":
            text = self.date_text
            return lambda v: "" if v is None else text(v)
        if f.type == "decimal":
            return lambda v: "" if v is None else f"{v:.2f}"
        if f.type == "integer":
            return lambda v: "" if v is None else str(v)
        if f.type == "boolean":
            return lambda v: "" if v is None else ("true" if v else "false")
        return lambda v: "" if v is None else v

    def _messy(self, f: Field):
        """A function (text, value, u) -> another valid spelling of the value, as partners write
        it. Every choice derives from the one uniform draw u, so the messiness stream moves
        the same way whatever the cell holds (an injected error does not shift later rows)."""
        if f.type == "code":
            cl = self.catalog.codelists[f.codelist]
            spellings: dict[str, list[str]] = {}
            for item in cl.items:
                code = str(item["code"])
                alts = [str(v) for v in item["labels"].values()] + [str(a) for a in item.get("aliases", ())]
                alts += [code.lower(), f" {code} ", f"{code} "]
                spellings[code] = [a for a in alts if a.strip() and cl.resolve(a) == code
                                   and cl.resolve(a.translate(ARABIC_DIGITS)) == code]

            def code_variant(text, v, u):
                alts = spellings.get(text)
                return alts[int(u * len(alts))] if alts else text
            return code_variant
        if f.type == "date":
            other = self.other_date_text

            def date_variant(text, v, u):
                if u < 0.4:
                    return text.translate(ARABIC_DIGITS)
                if u < 0.7:
                    return other(v)
                y, m, d = _ymd(v)
                return (f"{d:02d}-{m:02d}-{y:04d}", f"{d}/{m}/{y:04d}", f"{d:02d}.{m:02d}.{y:04d}",
                        f"{y:04d}/{m:02d}/{d:02d}")[min(int((u - 0.7) / 0.075), 3)]
            return date_variant
        if f.type == "integer":
            return lambda text, v, u: text.translate(ARABIC_DIGITS) if u < 0.6 else f" {text} "
        if f.type == "decimal":
            return lambda text, v, u: text.replace(".", ",") if u < 0.5 else text.translate(ARABIC_DIGITS)
        if f.type == "boolean":
            return lambda text, v, u: (("oui", "1", "yes", "نعم", "TRUE") if v else ("non", "0", "no", "لا", "FALSE"))[
                int(u * 5)]
        if f.pattern or self.person_roles.get(f.name) in ("pid", "doc", "national_id"):
            return None  # identifiers are copied from documents, not retyped
        limit = f.max_length or 10_000

        def string_variant(text, v, u):
            if u < 0.5 and text.upper() != text:
                return text.upper()  # names in capitals, as on passports
            if len(text) + 2 <= limit:
                return f" {text} " if u < 0.8 else text.replace(" ", "  ", 1) + " "
            return text
        return string_variant

    def _numbering(self, template: str) -> Callable[[int], str]:
        """n -> identifier; templates of the usual shape (one zero-padded {n}) skip str.format."""
        fixed = template.replace("{year}", str(self.year)).replace("{yy}", f"{self.year % 100:02d}")
        m = re.fullmatch(r"([^{}]*)\{n:0(\d+)d\}([^{}]*)", fixed)
        if m:
            head, width, tail = m.group(1), int(m.group(2)), m.group(3)
            return lambda n: head + str(n).zfill(width) + tail
        return lambda n: template.format(n=n, year=self.year, yy=self.year % 100)

    def rows(self, rows: int, error_rate: float = 0.0, errors: list | None = None) -> Iterator[list[str]]:
        """Rows of text in field order. Injected errors are appended to `errors` as
        (row, field, kind), row being the spreadsheet row number (header = row 1)."""
        names, messy = self.names, self.messy
        nfields = len(names)
        getter = operator.itemgetter(*names) if nfields > 1 else (lambda rec: (rec[names[0]],))
        date_idx = [i for i, f in enumerate(self.fields) if f.type == "date"]
        int_idx = [i for i, f in enumerate(self.fields) if f.type == "integer"]
        other_idx = [(i, self.formatters[i]) for i, f in enumerate(self.fields) if f.type in ("decimal", "boolean")]
        date_text = self.date_text
        date_cached = date_text.cache.get
        messiness = self.messiness
        mess_random = self.mess_rng.random
        # Which cells get a messy spelling: the gaps between them are geometric, so one
        # random draw per messy cell replaces one per cell.
        gaps = _geometric_table(messiness) if 0.0 < messiness < 1.0 else [0]
        gap_bits = (len(gaps) - 1).bit_length()
        mess_bits = self.mess_rng.getrandbits

        def gap() -> int:
            return gaps[mess_bits(gap_bits)] if gap_bits else 0

        next_messy = gap() if messiness else 0
        err_random = self.err_rng.random
        seq = [(name, self._numbering(template)) for name, template in self.sequence_templates.items()]
        for index, rec in enumerate(self.records(rows)):
            for name, number in seq:
                rec[name] = number(index + 1)
            error = None
            if error_rate and err_random() < error_rate:
                error = self._inject_typed(rec)
                if "_leg" in rec:  # the exit check of the other leg needs this row loaded
                    rec["_leg"]["_first_leg_errored"] = True
            try:
                values = getter(rec)
            except KeyError:
                values = [rec.get(n) for n in names]
            out = ["" if v is None else v for v in values]
            for i in date_idx:
                v = values[i]
                if v is not None:
                    out[i] = date_cached(v) or date_text(v)
            for i in int_idx:
                v = values[i]
                if v is not None:
                    out[i] = str(v)
            for i, fmt in other_idx:
                v = values[i]
                if v is not None:
                    out[i] = fmt(v)
            if messiness:
                while next_messy < nfields:
                    i = next_messy
                    u = mess_random()
                    if out[i] and messy[i] is not None:
                        out[i] = messy[i](out[i], values[i], u)
                    next_messy += 1 + gap()
                next_messy -= nfields
            if "_error_pending" in rec:
                error = self._inject_text(rec, out)
            if error is not None and errors is not None:
                errors.append((index + 2, error[0], error[1]))
            yield out

    # ---- errors ------------------------------------------------------------------------------

    def _inject_typed(self, rec: dict):
        """Choose one error for this row. Rule errors change typed values here, and are kept
        only if the row then breaks exactly that rule; field errors are marked for
        _inject_text to apply on the text. Returns (field, kind) or None."""
        rng = self.err_rng
        options: list[tuple[str, object]] = []
        for kind, i in self.field_errors:
            value = rec.get(self.names[i])
            if kind == "required" and value in (None, ""):
                continue
            if kind in ("above_max", "below_min") and value is None:
                continue
            options.append((kind, i))
        for r in self.rules["date_order"]:
            if rec.get(r["before"]) is not None and rec.get(r["after"]) is not None:
                options.append(("date_order", r))
        if self.age_rule:
            if rec.get(self.age_rule["age"]) is not None and rec.get(self.age_rule["birth_date"]) is not None:
                options.append(("age_mismatch", self.age_rule))
        for part, whole in self.not_greater:
            if rec.get(whole) is not None:
                options.append(("not_greater", (part, whole)))
        if self.trip and rec.get("_second_leg") and rec.get("_first_leg") == self.exit_code \
                and not rec.get("_first_leg_errored"):
            options.append(("exit_before_entry", self.trip))
        # every kind equally likely, whatever the number of fields it can hit
        by_kind: dict[str, list] = {}
        wanted = self.error_kinds
        for kind, target in options:
            if kind not in wanted:
                continue
            by_kind.setdefault(kind, []).append(target)
        kinds = list(by_kind)
        rng.shuffle(kinds)
        ordered = []
        for kind in kinds:
            targets = by_kind[kind]
            rng.shuffle(targets)
            ordered.extend((kind, t) for t in targets)
        for kind, target in ordered:
            if kind in FIELD_ERROR_KINDS:
                rec["_error_pending"] = (kind, target)
                return None
            if kind == "exit_before_entry":
                rec[target["direction"]] = self.exit_code
                return target["date"], kind  # the validator blames the second exit's date
            saved = dict(rec)
            blamed = self._break_rule(kind, target, rec)
            if blamed is not None and self.row_problems(rec) == [(blamed, kind)]:
                return blamed, kind
            rec.clear()
            rec.update(saved)
        return None

    def _break_rule(self, kind: str, target, rec: dict) -> str | None:
        """Change typed values so the row breaks one rule; the field the validator will blame."""
        rng = self.err_rng
        if kind == "date_order":
            before, after = target["before"], target["after"]
            if self.person_roles.get(before) == "birth":
                # born after the event: move the birth date, drop the age that would go negative
                hi = self.bounds[before][1]
                room = (hi.toordinal() if hi else rec[after] + 30) - rec[after]
                if room < 1:
                    return None
                rec[before] = rec[after] + rng.randint(1, min(30, room))
                for name, role in self.person_roles.items():
                    if role == "age":
                        if self.by_name[name].required:
                            return None
                        rec[name] = None
            else:
                rec[after] = rec[before] - rng.randint(1, 30)
                self._keep_age_consistent(rec)
            return after
        if kind == "age_mismatch":
            age = target["age"]
            lo, hi = self.bounds[age]
            delta = int(target.get("tolerance", 1)) + 2 + int(rng.random() * 15)
            up, down = rec[age] + delta, rec[age] - delta
            up_ok, down_ok = hi is None or up <= hi, lo is None or down >= lo
            if not (up_ok or down_ok):
                return None
            rec[age] = up if up_ok and (not down_ok or rng.random() < 0.5) else down
            return age
        if kind == "not_greater":
            part, whole = target
            rec[part] = rec[whole] + 1 + int(rng.random() * 3)
            return part
        return None

    def row_problems(self, rec: dict) -> list[tuple[str, str]]:
        """(field, kind) for every bound and row rule the typed record breaks, as the validator
        would see them (rules only when every value is within bounds)."""
        out = []
        for f in self.fields:
            v = rec.get(f.name)
            if v is None or f.type not in ("integer", "decimal", "date"):
                continue
            lo, hi = self.bounds[f.name]
            if f.type == "date":
                lo, hi = (b.toordinal() if b is not None else None for b in (lo, hi))
            if lo is not None and v < lo:
                out.append((f.name, "below_min"))
            if hi is not None and v > hi:
                out.append((f.name, "above_max"))
        if out:
            return out
        for r in self.rules["date_order"]:
            b, a = rec.get(r["before"]), rec.get(r["after"])
            if b is not None and a is not None and a < b:
                out.append((r["after"], "date_order"))
        if self.age_rule:
            a, b = rec.get(self.age_rule["age"]), rec.get(self.age_rule["birth_date"])
            ref = rec.get(self.age_rule.get("reference")) if self.age_rule.get("reference") else None
            if a is not None and b is not None and abs(age_at(b, ref or self.today_ordinal) - a) > \
                    int(self.age_rule.get("tolerance", 1)):
                out.append((self.age_rule["age"], "age_mismatch"))
        for part, whole in self.not_greater:
            p, w = rec.get(part), rec.get(whole)
            if p is not None and w is not None and p > w:
                out.append((part, "not_greater"))
        return out

    def _keep_age_consistent(self, rec: dict) -> None:
        """After moving a date, keep the age rule satisfied: one error per row, not two."""
        if self.age_rule and self.age_reference:
            a, b = self.age_rule["age"], self.age_rule["birth_date"]
            ref = rec.get(self.age_reference)
            if rec.get(a) is not None and rec.get(b) is not None and ref is not None:
                rec[a] = age_at(rec[b], ref)

    def _inject_text(self, rec: dict, out: list[str]):
        kind, i = rec.pop("_error_pending")
        rng = self.err_rng
        f = self.fields[i]
        if kind == "required":
            out[i] = ""
        elif kind == "unknown_code":
            cl = self.catalog.codelists[f.codelist]
            unknown = [c for c in UNKNOWN_CODES if cl.resolve(c) is None]
            out[i] = unknown[int(rng.random() * len(unknown))]
        elif kind == "bad_date":
            y = self.year
            bad = (f"31/02/{y}", f"{y}-13-40", f"30/02/{y}", f"{y}-02-30", f"32/01/{y}", f"{y}-00-10")
            out[i] = bad[int(rng.random() * len(bad))]
        elif kind in ("above_max", "below_min"):
            lo, hi = self.bounds[f.name]
            if kind == "above_max":
                value = hi + (30 if self.person_roles.get(f.name) == "age" else 1 + int(rng.random() * 50))
            else:
                value = lo - 1 - int(rng.random() * 10)
            out[i] = str(int(value)) if f.type == "integer" else f"{value:.2f}"
        elif kind == "too_long":
            limit = f.max_length
            base = out[i].strip() or "X"
            joiner = "" if f.pattern else " "
            value = joiner.join([base] * (limit // max(len(base), 1) + 2))
            if f.pattern and not re.match(f.pattern, value):
                value = "A" * (limit + 5)
            if len(value) <= limit:
                value += "X" * (limit - len(value) + 3)
            out[i] = value
        return f.name, kind
