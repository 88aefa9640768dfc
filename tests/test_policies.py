"""The policies data, its check (`check_policies`, `marsad policies check`) and the CLI."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from services.cli import EXIT_DENIED, EXIT_NOT_FOUND, EXIT_PROBLEMS
from services.cli.policies import policies as policies_cli
from services.policy import (
    ACTIONS, POLICIES_DIR, Problem, PolicyError, check_policies, default_policies, load_policies,
)

# The datasets the catalog is to have; policies are checked against these independently of
# the catalog's own progress, and against the real catalog in a separate test.
DATASETS = frozenset({
    "border_crossings", "residence_permits", "work_permits", "placements_abroad",
    "consular_registrations", "returnees", "asylum_refugees", "interceptions",
})
INSTITUTIONS = {"ONM", "INS", "MI", "MI-PAF", "MI-GN", "MAE", "MAS", "ANETI", "OTE", "MESRS", "CNSS", "UNHCR"}
ROLES = {"submitter", "focal_point", "analyst", "onm_analyst", "admin", "auditor", "trainer", "trainee"}


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A copy of the repository's policies to break."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES_DIR, target)
    return target


def edit(directory: Path, name: str, change) -> None:
    path = directory / f"{name}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def index_of(directory: Path, code: str) -> int:
    data = yaml.safe_load((directory / "institutions.yaml").read_text(encoding="utf-8"))
    return [i["code"] for i in data["institutions"]].index(code)


def institution(data: dict, code: str) -> dict:
    return next(i for i in data["institutions"] if i["code"] == code)


def file_of(directory: Path, name: str) -> str:
    return str(directory / f"{name}.yaml")


# --- the repository's policies -----------------------------------------------------------------

def test_repository_policies_have_no_problem_against_the_expected_datasets():
    assert check_policies(catalog=DATASETS) == []


def test_repository_policies_have_no_problem_against_the_real_catalog():
    from services.catalog import CatalogError, load_catalog

    try:
        missing = DATASETS - set(load_catalog().datasets)
    except CatalogError as err:
        pytest.skip(f"the catalog does not load right now: {err}")
    if missing:
        pytest.skip(f"the catalog does not have {sorted(missing)} yet")
    assert check_policies() == []


def test_required_institutions_are_there_with_names_in_three_languages():
    loaded = load_policies()
    assert INSTITUTIONS <= set(loaded.institutions)
    for inst in loaded.institutions.values():
        assert set(inst.names) == {"ar", "fr", "en"} and all(inst.names.values())
        assert any("\u0600" <= ch <= "\u06ff" for ch in inst.names["ar"])
    assert loaded.institutions["INS"].names["fr"] == "Institut National de la Statistique"
    assert loaded.institutions["ANETI"].names["fr"] == "Agence Nationale pour l'Emploi et le Travail Indépendant"
    assert loaded.institutions["OTE"].names["fr"] == "Office des Tunisiens à l'Étranger"


def test_interior_units_belong_to_the_ministry():
    loaded = load_policies()
    mi = loaded.institutions["MI"]
    assert [u.code for u in mi.units] == ["MI-PAF", "MI-GN"]
    assert loaded.institutions["MI-PAF"].parent == "MI"
    assert loaded.institutions["MI-PAF"].names["fr"] == "Police des frontières"
    assert loaded.institutions["MI-GN"].names["fr"] == "Garde nationale"
    assert mi.parent is None and loaded.institutions["MI-GN"].units == ()


def test_required_roles_with_permissions_from_the_vocabulary():
    loaded = load_policies()
    assert ROLES <= set(loaded.roles)
    for role in loaded.roles.values():
        assert role.permissions <= ACTIONS and set(role.names) == {"ar", "fr", "en"}
    assert {r.code for r in loaded.roles.values() if r.scope == "all"} == {"onm_analyst", "admin", "auditor", "trainer"}
    assert loaded.roles["trainee"].sandbox_only and not loaded.roles["submitter"].sandbox_only
    assert loaded.roles["trainee"].permissions == loaded.roles["submitter"].permissions


def test_every_institution_and_unit_has_one_agreement_and_datasets_go_to_the_right_submitters():
    loaded = load_policies()
    assert set(loaded.agreements) == set(loaded.institutions)
    assert set(loaded.submitters_of("border_crossings")) == {"MI-PAF", "MI-GN"}
    assert loaded.submitters_of("interceptions") == ("MI-GN",)
    assert loaded.submitters_of("residence_permits") == ("MI",)
    assert loaded.submitters_of("placements_abroad") == ("ANETI",)
    assert loaded.submitters_of("consular_registrations") == ("MAE",)
    assert loaded.submitters_of("returnees") == ("OTE",)
    assert loaded.submitters_of("asylum_refugees") == ("UNHCR",)
    assert loaded.submitters_of("work_permits") == ("MEFP",)
    submitted = {d for a in loaded.agreements.values() for d in a.submits}
    assert submitted == DATASETS
    assert loaded.read_level("ONM", "returnees") == "pseudonymised_microdata"
    assert loaded.read_level("INS", "border_crossings") == "aggregates"
    assert loaded.read_level("ANETI", "placements_abroad") == "own_microdata"
    assert loaded.read_level("ANETI", "returnees") == "published"
    assert loaded.roles_allowed("INS") == {"focal_point", "analyst", "trainee"}
    assert loaded.datasets_submitted_by("MI-GN") == ("border_crossings", "interceptions")


def test_settings_carry_the_disclosure_threshold():
    settings = load_policies().settings
    assert settings.min_cell_count == 5
    assert settings.observatory == "ONM"
    assert settings.parent_covers_units is True


def test_the_policies_directory_can_be_moved_with_an_environment_variable(policy_dir, monkeypatch):
    edit(policy_dir, "settings", lambda d: d["settings"].update(min_cell_count=11))
    monkeypatch.setenv("MARSAD_POLICIES_DIR", str(policy_dir))
    assert load_policies().settings.min_cell_count == 11
    assert default_policies().directory == policy_dir


def test_a_problem_in_the_repository_names_the_file_relative_to_the_repository():
    problems = check_policies(catalog=DATASETS - {"returnees"})
    assert problems == [
        Problem("policies/agreements.yaml", "agreements.OTE.submits[0]", "unknown dataset 'returnees' (not in the catalog)"),
        Problem("policies/agreements.yaml", "agreements.OTE.reads.returnees",
                "unknown dataset 'returnees' (not in the catalog)"),
    ]


# --- each way of breaking them is reported where it is -------------------------------------------

def test_an_agreement_naming_an_unknown_dataset(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["ANETI"]["submits"].append("ghost_dataset"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "agreements"), "agreements.ANETI.submits[1]",
                "unknown dataset 'ghost_dataset' (not in the catalog)"),
    ]


def test_an_agreement_reading_an_unknown_dataset(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["INS"]["reads"].update(ghosts="aggregates"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "agreements"), "agreements.INS.reads.ghosts",
                "unknown dataset 'ghosts' (not in the catalog)"),
    ]


def test_the_catalog_can_be_given_as_a_catalog_object(policy_dir):
    from services.catalog import Catalog

    catalog = Catalog(datasets={code: None for code in DATASETS - {"work_permits"}}, codelists={}, messages={})
    problems = check_policies(policy_dir, catalog=catalog)
    assert [(p.path, p.message) for p in problems] == [
        ("agreements.MEFP.submits[0]", "unknown dataset 'work_permits' (not in the catalog)"),
        ("agreements.MEFP.reads.work_permits", "unknown dataset 'work_permits' (not in the catalog)"),
    ]


def test_a_role_with_an_unknown_permission(policy_dir):
    edit(policy_dir, "roles", lambda d: d["roles"][0]["permissions"].append("submission.delete"))
    [problem] = check_policies(policy_dir, catalog=DATASETS)
    assert (problem.file, problem.path) == (file_of(policy_dir, "roles"), "roles[0].permissions[5]")
    assert problem.message.startswith("unknown permission 'submission.delete'; expected one of: audit.read, ")


def test_an_own_scope_role_cannot_hold_an_act_of_the_observatory(policy_dir):
    edit(policy_dir, "roles", lambda d: d["roles"][1]["permissions"].append("submission.accept"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "roles"), "roles[1].permissions[9]",
                "'submission.accept' acts on every institution's data; a role with it needs scope 'all'"),
    ]


def test_a_duplicate_institution_code(policy_dir):
    copy = {"code": "INS", "kind": "public_agency", "names": {"ar": "نسخة", "fr": "Copie", "en": "Copy"}}
    edit(policy_dir, "institutions", lambda d: d["institutions"].append(copy))
    last = len(yaml.safe_load((policy_dir / "institutions.yaml").read_text())["institutions"]) - 1
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "institutions"), f"institutions[{last}].code",
                f"duplicate institution code 'INS' (first at institutions[{index_of(policy_dir, 'INS')}])"),
    ]


def test_a_duplicate_unit_code_even_under_another_institution(policy_dir):
    unit = {"code": "MI-PAF", "names": {"ar": "وحدة", "fr": "Unité", "en": "Unit"}}
    edit(policy_dir, "institutions", lambda d: institution(d, "MAE").setdefault("units", []).append(unit))
    mi, mae = index_of(policy_dir, "MI"), index_of(policy_dir, "MAE")
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "institutions"), f"institutions[{mae}].units[0].code",
                f"duplicate institution code 'MI-PAF' (first at institutions[{mi}].units[0])"),
    ]


def test_a_unit_cannot_reuse_an_institution_code(policy_dir):
    unit = {"code": "OTE", "names": {"ar": "وحدة", "fr": "Unité", "en": "Unit"}}
    edit(policy_dir, "institutions", lambda d: institution(d, "MI")["units"].append(unit))
    # Reported where it is met second in reading order: the ministry and its units come first.
    mi, ote = index_of(policy_dir, "MI"), index_of(policy_dir, "OTE")
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "institutions"), f"institutions[{ote}].code",
                f"duplicate institution code 'OTE' (first at institutions[{mi}].units[2])"),
    ]


def test_a_missing_arabic_name(policy_dir):
    edit(policy_dir, "institutions", lambda d: institution(d, "OTE")["names"].pop("ar"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "institutions"), f"institutions[{index_of(policy_dir, 'OTE')}].names.ar",
                "is required"),
    ]


def test_a_missing_unit_name_in_french(policy_dir):
    edit(policy_dir, "institutions", lambda d: institution(d, "MI")["units"][1]["names"].pop("fr"))
    [problem] = check_policies(policy_dir, catalog=DATASETS)
    assert problem.path == f"institutions[{index_of(policy_dir, 'MI')}].units[1].names.fr"


def test_an_arabic_name_written_in_latin_letters(policy_dir):
    edit(policy_dir, "roles", lambda d: d["roles"][2]["names"].update(ar="Analyste"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "roles"), "roles[2].names.ar", "'Analyste' has no Arabic letters"),
    ]


def test_a_wrong_type(policy_dir):
    edit(policy_dir, "settings", lambda d: d["settings"].update(min_cell_count="five"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "settings"), "settings.min_cell_count", "expected integer, found text"),
    ]


def test_an_unknown_read_level_and_a_misspelt_key(policy_dir):
    def change(d):
        d["agreements"]["CNSS"]["reads"]["*"] = "everything"
        d["agreements"]["CNSS"]["submit"] = d["agreements"]["CNSS"].pop("submits")
    edit(policy_dir, "agreements", change)
    problems = check_policies(policy_dir, catalog=DATASETS)
    assert [(p.path, p.message.split(";")[0]) for p in problems] == [
        ("agreements.CNSS.submits", "is required"),
        ("agreements.CNSS.submit", "unexpected key"),
        ("agreements.CNSS.reads.*", "unknown read level 'everything'"),
    ]


def test_an_agreement_for_an_unknown_institution(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"].update(
        {"MJ": {"submits": [], "roles": ["analyst"], "reads": {"*": "published"}}}))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "agreements"), "agreements.MJ", "unknown institution 'MJ' (not in institutions.yaml)"),
    ]


def test_an_agreement_naming_an_unknown_role(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["OTE"]["roles"].append("director"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "agreements"), "agreements.OTE.roles[4]", "unknown role 'director' (not in roles.yaml)"),
    ]


def test_a_cross_institution_role_outside_the_observatory(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["INS"]["roles"].append("onm_analyst"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "agreements"), "agreements.INS.roles[3]",
                "role 'onm_analyst' acts on every institution and may only be held at ONM"),
    ]


def test_an_institution_without_an_agreement(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"].pop("CNSS"))
    assert check_policies(policy_dir, catalog=DATASETS) == [
        Problem(file_of(policy_dir, "agreements"), "agreements.CNSS",
                f"institution 'CNSS' (institutions[{index_of(policy_dir, 'CNSS')}]) has no agreement"),
    ]


def test_a_unit_without_an_agreement(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"].pop("MI-GN"))
    problems = check_policies(policy_dir, catalog=DATASETS)
    assert ("agreements.MI-GN", "institution 'MI-GN' (institutions[2].units[1]) has no agreement") in \
        [(p.path, p.message) for p in problems]


def test_an_agreement_written_twice_is_seen_although_yaml_keeps_the_last(policy_dir):
    path = policy_dir / "agreements.yaml"
    path.write_text(path.read_text(encoding="utf-8") +
                    '\n  ANETI:\n    submits: []\n    roles: [analyst]\n    reads: {"*": published}\n',
                    encoding="utf-8")
    [problem] = check_policies(policy_dir, catalog=DATASETS)
    assert (problem.file, problem.path) == (file_of(policy_dir, "agreements"), "agreements.ANETI")
    assert problem.message.startswith("duplicate key 'ANETI' (first at line ")


def test_own_microdata_must_name_datasets_the_institution_submits(policy_dir):
    def change(d):
        d["agreements"]["INS"]["reads"]["*"] = "own_microdata"
        d["agreements"]["ANETI"]["reads"]["returnees"] = "own_microdata"
    edit(policy_dir, "agreements", change)
    assert [(p.path, p.message) for p in check_policies(policy_dir, catalog=DATASETS)] == [
        ("agreements.INS.reads.*",
         "own_microdata must name the datasets it submits, not '*' (it would grant aggregates of every dataset)"),
        ("agreements.ANETI.reads.returnees", "own_microdata on 'returnees', which ANETI does not submit"),
    ]


def test_a_submitting_institution_needs_a_role_that_creates_submissions(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["OTE"].update(roles=["analyst", "trainee"]))
    assert [(p.path, p.message) for p in check_policies(policy_dir, catalog=DATASETS)] == [
        ("agreements.OTE.roles", "it submits datasets but none of its roles may create submissions"),
    ]


def test_an_unknown_observatory_in_settings(policy_dir):
    edit(policy_dir, "settings", lambda d: d["settings"].update(observatory="OIM"))
    assert [(p.path, p.message) for p in check_policies(policy_dir, catalog=DATASETS)] == [
        ("settings.observatory", "unknown institution 'OIM'"),
    ]


def test_a_file_that_is_not_yaml_or_missing(policy_dir):
    (policy_dir / "roles.yaml").write_text("roles:\n  - code: [unclosed\n", encoding="utf-8")
    (policy_dir / "settings.yaml").unlink()
    problems = check_policies(policy_dir, catalog=DATASETS)
    assert problems[0].file == file_of(policy_dir, "roles") and problems[0].message.startswith("not valid YAML")
    assert problems[0].path.startswith("line ")
    assert Problem(file_of(policy_dir, "settings"), "settings", "file is missing") in problems


def test_every_problem_is_reported_not_just_the_first(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["ANETI"]["submits"].append("ghost_dataset"))
    edit(policy_dir, "roles", lambda d: d["roles"][0]["permissions"].append("submission.delete"))
    edit(policy_dir, "institutions", lambda d: institution(d, "OTE")["names"].pop("ar"))
    paths = {p.path for p in check_policies(policy_dir, catalog=DATASETS)}
    assert {"agreements.ANETI.submits[1]", "roles[0].permissions[5]",
            f"institutions[{index_of(policy_dir, 'OTE')}].names.ar"} == paths


def test_loading_broken_policies_raises_with_every_problem(policy_dir):
    edit(policy_dir, "roles", lambda d: d["roles"][0]["permissions"].append("submission.delete"))
    edit(policy_dir, "agreements", lambda d: d["agreements"].pop("CNSS"))
    with pytest.raises(PolicyError) as caught:
        load_policies(policy_dir)
    assert {p.path for p in caught.value.problems} == {"roles[0].permissions[5]", "agreements.CNSS"}
    assert "agreements.CNSS" in str(caught.value)


def test_loading_checks_dataset_codes_only_when_given_a_catalog(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"]["ANETI"]["submits"].append("ghost_dataset"))
    assert "ghost_dataset" in load_policies(policy_dir).datasets_submitted_by("ANETI")
    with pytest.raises(PolicyError):
        load_policies(policy_dir, catalog=DATASETS)


# --- marsad policies ---------------------------------------------------------------------------

def stub_catalog(directory: Path, codes) -> Path:
    """A catalog folder with empty dataset definitions: enough for checking codes."""
    (directory / "datasets").mkdir(parents=True)
    (directory / "codelists").mkdir()
    for code in codes:
        (directory / "datasets" / f"{code}.yaml").write_text(
            f"code: {code}\nnames: {{ar: بيانات, fr: Données, en: Data}}\nfields: []\n", encoding="utf-8")
    return directory


def invoke(*args: str):
    return CliRunner().invoke(policies_cli, list(args))


def test_cli_check_passes_on_good_policies(policy_dir, tmp_path):
    catalog = stub_catalog(tmp_path / "catalog", DATASETS)
    result = invoke("check", "--dir", str(policy_dir), "--catalog-dir", str(catalog))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "policies OK: 13 institutions, 8 roles, 13 agreements"


def test_cli_check_lists_problems_and_exits_1(policy_dir, tmp_path):
    catalog = stub_catalog(tmp_path / "catalog", DATASETS)
    edit(policy_dir, "agreements", lambda d: d["agreements"]["ANETI"]["submits"].append("ghost_dataset"))
    edit(policy_dir, "roles", lambda d: d["roles"][0]["permissions"].append("submission.delete"))
    result = invoke("check", "--dir", str(policy_dir), "--catalog-dir", str(catalog))
    assert result.exit_code == EXIT_PROBLEMS
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith(f"{file_of(policy_dir, 'roles')}: roles[0].permissions[5]: unknown permission")
    assert lines[1] == (f"{file_of(policy_dir, 'agreements')}: agreements.ANETI.submits[1]: "
                        "unknown dataset 'ghost_dataset' (not in the catalog)")
    assert lines[2] == f"2 problem(s) in {policy_dir}"


def test_cli_check_against_a_catalog_missing_a_dataset(policy_dir, tmp_path):
    catalog = stub_catalog(tmp_path / "catalog", DATASETS - {"interceptions"})
    result = invoke("check", "--dir", str(policy_dir), "--catalog-dir", str(catalog))
    assert result.exit_code == EXIT_PROBLEMS
    assert "agreements.MI-GN.submits[1]: unknown dataset 'interceptions'" in result.stdout


def test_cli_show_prints_the_agreement(policy_dir):
    result = invoke("show", "ANETI", "--dir", str(policy_dir))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("ANETI: National Agency for Employment and Self-Employment\n")
    assert "الوكالة الوطنية للتشغيل والعمل المستقل" in out
    assert "supervised by: MEFP" in out
    assert "submits: placements_abroad" in out
    assert "placements_abroad  own_microdata" in out and "other datasets     published" in out
    assert "focal_point" in out and "onm_analyst" not in out


def test_cli_show_in_french_and_a_unit(policy_dir):
    result = invoke("show", "MI-GN", "--dir", str(policy_dir), "--lang", "fr")
    assert result.exit_code == 0
    assert result.stdout.startswith("MI-GN: Garde nationale\n")
    assert "unit of: MI (Ministère de l'Intérieur)" in result.stdout
    assert "submits: border_crossings, interceptions" in result.stdout


def test_cli_show_an_unknown_institution(policy_dir):
    result = invoke("show", "NASA", "--dir", str(policy_dir))
    assert result.exit_code == EXIT_NOT_FOUND
    assert "unknown institution 'NASA'" in result.stderr


def test_cli_show_refuses_broken_policies(policy_dir):
    edit(policy_dir, "agreements", lambda d: d["agreements"].pop("CNSS"))
    result = invoke("show", "ONM", "--dir", str(policy_dir))
    assert result.exit_code == EXIT_PROBLEMS
    assert "agreements.CNSS: institution 'CNSS'" in result.stderr


def test_cli_decide_explains_and_exits_by_the_decision(policy_dir):
    allowed = invoke("decide", "--dir", str(policy_dir), "--institution", "MI-PAF", "--role", "submitter",
                     "--owner", "MI-PAF", "--dataset", "border_crossings", "submission.create")
    assert allowed.exit_code == 0 and allowed.stdout.startswith("allowed: ")
    denied = invoke("decide", "--dir", str(policy_dir), "--institution", "INS", "--role", "analyst",
                    "--owner", "MI-PAF", "--dataset", "border_crossings", "microdata.read")
    assert denied.exit_code == EXIT_DENIED and denied.stdout.startswith("denied: ")
    level = invoke("decide", "--dir", str(policy_dir), "--institution", "INS", "--role", "analyst",
                   "--dataset", "returnees", "indicator.read")
    assert level.exit_code == 0 and "[level: aggregates]" in level.stdout


def test_the_group_is_registered_on_marsad():
    from services.cli import main

    assert main.commands["policies"] is policies_cli
