"""How values within one row depend on each other, per dataset: what the catalog cannot say.

Each entry of HOOKS is a factory: given the compiled DatasetSynth it prepares its samplers
once and returns a function (record, person) that adjusts a freshly filled record. A hook
only touches fields the dataset has and codes the codelist has (`synth.code_of` returns
None otherwise), so catalog changes degrade realism, never validity: the engine repairs
bounds and rules after the hook.
"""
from __future__ import annotations

from . import names as N
from . import profiles as P

SUB_SAHARAN_GROUPS = {"west_africa", "central_africa", "anglo_africa", "horn"}


def _sampler(synth, field: str, hints: dict):
    return synth.hinted_sampler(field, hints) if field in synth.by_name else None


def _validity(synth, type_field: str, days_by_type: dict[str, tuple[int, int]]):
    """Expiry = issue + the validity of the permit's type (a receipt lasts months, a card years)."""
    if not {"issue_date", "expiry_date", type_field} <= set(synth.by_name):
        return None
    days = {synth.code_of(type_field, k): v for k, v in days_by_type.items()}
    rng = synth.rng

    def set_expiry(rec):
        issued, span = rec.get("issue_date"), days.get(rec.get(type_field))
        if issued is not None and span:
            rec["expiry_date"] = issued + rng.randint(*span)
    return set_expiry


def _no_id_for_minors(synth):
    """Identity cards are issued at 18; minors' rows have no card number and no occupation."""
    fields = [n for n, r in synth.person_roles.items() if r == "national_id"]
    fields += [f.name for f in synth.fields if "occupation" in f.name and not f.required]

    def clear(rec, p):
        if p is not None and fields and synth._age_of(rec, p) < 18:
            for name in fields:
                rec[name] = None
    return clear


def border_crossings(synth):
    field = next((f.name for f in synth.fields if f.type == "code" and f.codelist == "travel_purposes"), None)
    samplers = {g: _sampler(synth, field, hints) for g, hints in P.PURPOSES.items()} if field else {}
    rng = synth.rng

    fallback = samplers.get("OTHER")

    def hook(rec, p):
        sampler = (samplers.get(p.group_key) if p is not None else None) or fallback
        if sampler is not None:
            rec[field] = sampler.draw(rng)
    if fallback is not None:
        hook.sets = (field,)  # every row gets its purpose here: no need to draw it before
    return hook


def residence_permits(synth):
    rng = synth.rng
    set_expiry = _validity(synth, "permit_type", {
        "TEMPORARY": (364, 365), "ORDINARY": (5 * 365, 5 * 365 + 1), "RECEIPT": (90, 91), "OTHER": (180, 365)})
    reasons = {k: synth.code_of("residence_reason", k) for k in ("FAMILY", "RETIREMENT", "EDUCATION")}
    expired = synth.code_of("permit_status", "EXPIRED")
    today = synth.today_ordinal

    def hook(rec, p):
        if p is not None and "residence_reason" in rec:
            age = synth._age_of(rec, p)
            group = N.NATIONALITY_GROUP.get(p.nat)
            if age < 18:
                rec["residence_reason"] = reasons["FAMILY"] or rec["residence_reason"]
            elif age >= 60 and p.group_key == "EUROPE" and rng.random() < 0.7:
                rec["residence_reason"] = reasons["RETIREMENT"] or rec["residence_reason"]
            elif age <= 30 and group in SUB_SAHARAN_GROUPS and rng.random() < 0.65:
                rec["residence_reason"] = reasons["EDUCATION"] or rec["residence_reason"]
        if set_expiry:
            set_expiry(rec)
        if expired and rec.get("expiry_date") is not None and rec["expiry_date"] < today and rng.random() < 0.9:
            rec["permit_status"] = expired
    return hook


def work_permits(synth):
    set_expiry = _validity(synth, "permit_type", {
        "FIXED_TERM": (364, 365), "EXPORT_DECLARATION": (364, 730), "SECONDMENT": (180, 730),
        "SEASONAL": (90, 180), "TRAINEESHIP": (90, 365), "SELF_EMPLOYED": (364, 365), "OTHER": (180, 365)})

    def hook(rec, p):
        if set_expiry:
            set_expiry(rec)
    return hook


def placements_abroad(synth):
    rng = synth.rng
    by_major = {  # ISCO major group -> the education that usually goes with it
        "1": {"MASTER": 50, "BACHELOR": 40, "HIGHER": 10},
        "2": {"BACHELOR": 35, "MASTER": 45, "DOCTORATE": 12, "HIGHER": 8},
        "3": {"VOCATIONAL": 45, "HIGHER": 25, "BACHELOR": 30},
        "5": {"VOCATIONAL": 45, "UPPER_SECONDARY": 35, "LOWER_SECONDARY": 20},
        "6": {"PRIMARY": 35, "LOWER_SECONDARY": 40, "NONE": 10, "VOCATIONAL": 15},
        "7": {"VOCATIONAL": 60, "UPPER_SECONDARY": 25, "LOWER_SECONDARY": 15},
        "8": {"VOCATIONAL": 50, "UPPER_SECONDARY": 30, "LOWER_SECONDARY": 20},
        "9": {"PRIMARY": 35, "LOWER_SECONDARY": 40, "UPPER_SECONDARY": 15, "NONE": 10},
    }
    samplers = {k: _sampler(synth, "education_level", v) for k, v in by_major.items()}
    minors = _no_id_for_minors(synth)

    def hook(rec, p):
        occ = rec.get("_occupation")
        sampler = samplers.get(occ[2][:1]) if occ and occ[2] else None
        if sampler is not None:
            rec["education_level"] = sampler.draw(rng)
        minors(rec, p)
    return hook


def consular_registrations(synth):
    rng = synth.rng
    minors = _no_id_for_minors(synth)
    other = "other_nationality" if "other_nationality" in synth.by_name else None
    residence = "country_of_residence" if "country_of_residence" in synth.by_name else None

    def hook(rec, p):
        if other:  # a minority of Tunisians abroad hold their country of residence's nationality too
            country = rec.get(residence) if residence else None
            rec[other] = country if country and country != "TUN" and rng.random() < 0.15 else None
        minors(rec, p)
    return hook


def returnees(synth):
    rng = synth.rng
    minors = _no_id_for_minors(synth)
    posts = {
        "LBY": _sampler(synth, "border_post", {"LAND_RAS_JEDIR": 70, "LAND_DEHIBA": 15, "AIR_TUN": 15}),
        "DZA": _sampler(synth, "border_post", {"LAND_MELLOULA": 20, "LAND_BOUCHEBKA": 20, "LAND_HAZOUA": 15,
                                              "LAND_SAKIET": 15, "AIR_TUN": 30}),
        "": _sampler(synth, "border_post", {"AIR_TUN": 45, "AIR_NBE": 22, "AIR_TBJ": 15, "AIR_MIR": 5,
                                            "AIR_DJE": 5, "SEA_LA_GOULETTE": 5}),
    }
    types = {
        "LBY": _sampler(synth, "return_type", {"VOLUNTARY": 40, "EVACUATION": 20, "FORCED": 20, "ASSISTED_VOLUNTARY": 20}),
        "ITA": _sampler(synth, "return_type", {"FORCED": 55, "READMISSION": 25, "ASSISTED_VOLUNTARY": 15, "VOLUNTARY": 5}),
    }
    assisted = {synth.code_of("return_type", k) for k in ("ASSISTED_VOLUNTARY", "EVACUATION")} - {None}
    org_field = next((f.name for f in synth.fields if f.type == "string" and "organis" in f.name), None)
    orgs = [o for o in N.ASSISTING_ORGANISATIONS
            if not org_field or len(o) <= (synth.by_name[org_field].max_length or 200)]

    def hook(rec, p):
        country = rec.get("country_of_return_from")
        sampler = types.get(country)
        if sampler is not None:
            rec["return_type"] = sampler.draw(rng)
        if "border_post" in rec:
            sampler = posts.get(country) or posts[""]
            if sampler is not None:
                rec["border_post"] = sampler.draw(rng)
        if org_field:
            rec[org_field] = orgs[int(rng.random() * len(orgs))] if rec.get("return_type") in assisted else None
        minors(rec, p)
    return hook


def asylum_refugees(synth):
    pending = {synth.code_of("protection_status", k) for k in ("ASYLUM_SEEKER",)} - {None}

    def hook(rec, p):
        if rec.get("protection_status") in pending and "decision_date" in rec:
            rec["decision_date"] = None  # no decision yet
    return hook


def interceptions(synth):
    rng = synth.rng
    border = synth.code_of("location_type", "LAND_BORDER")
    border_governorates = _sampler(synth, "governorate", {"TN-82": 40, "TN-83": 20, "TN-42": 15, "TN-32": 10,
                                                          "TN-33": 8, "TN-72": 7})

    def hook(rec, p):
        if border and rec.get("location_type") == border and border_governorates is not None:
            rec["governorate"] = border_governorates.draw(rng)  # land borders are inland
    return hook


HOOKS = {
    "border_crossings": border_crossings,
    "residence_permits": residence_permits,
    "work_permits": work_permits,
    "placements_abroad": placements_abroad,
    "consular_registrations": consular_registrations,
    "returnees": returnees,
    "asylum_refugees": asylum_refugees,
    "interceptions": interceptions,
}
