"""`marsad indicators`: list, refresh, show, and the release commands, exit codes included."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner

from services import accounts, db
from services.cli import EXIT_NOT_FOUND, EXIT_PROBLEMS, main


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("MARSAD_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("MARSAD_STORAGE", "local")
    monkeypatch.setenv("MARSAD_STORAGE_DIR", str(tmp_path / "objects"))
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    run("db", "upgrade")
    return run


@pytest.fixture
def accepted(cli, tmp_path):
    path = tmp_path / "bc.csv"
    cli("synth", "--dataset", "border_crossings", "--rows", 300, "--year", 2024, "--seed", 7, "-o", path)
    sub = json.loads(cli("ingest", path, "-d", "border_crossings", "-i", "MI-PAF", "--json"))["submission"]
    cli("submissions", "approve", sub)
    cli("submissions", "accept", sub)
    return cli


def test_list_refresh_show(accepted):
    cli = accepted
    assert "not computed" in cli("indicators", "list")
    out = cli("indicators", "refresh")
    assert "border_movements" in out and "foreign_residents" in out
    listing = {r["code"]: r for r in json.loads(cli("indicators", "list", "--json"))}
    assert listing["border_movements"]["years"] == [2024] and listing["foreign_residents"]["years"] == []
    table = json.loads(cli("indicators", "show", "border_movements", "--year", 2024, "--by", "direction",
                           "--json"))
    assert sum(c["value"] for c in table["cells"]) == 300
    assert {c["direction"] for c in table["cells"]} == {"ENTRY", "EXIT"}
    arabic = cli("indicators", "show", "border_movements", "--by", "sex", "--filter", "direction=ENTRY",
                 "--lang", "ar")
    assert "أنثى" in arabic and "الجنس" in arabic
    cli("indicators", "show", "no_such_thing", code=EXIT_NOT_FOUND)
    cli("indicators", "show", "border_movements", "--by", "colour", code=2)


def test_release_commands(accepted):
    cli = accepted
    cli("indicators", "refresh", "-i", "border_movements")
    assert "v1: draft" in cli("indicators", "release", "create", "border_movements", "--year", 2024)
    refused = cli("indicators", "release", "approve", "border_movements", 1, code=EXIT_PROBLEMS)
    assert "someone else" in refused  # the operator drafted it: four eyes
    with db.session() as s:
        accounts.create(s, "onm.reviewer", "a-long-password", "ONM", {"onm_analyst"})
    cli("indicators", "release", "approve", "border_movements", 1, "--user", "onm.reviewer")
    later = dt.date.today() + dt.timedelta(days=7)
    assert str(later) in cli("indicators", "release", "publish", "border_movements", 1, "--date", later)
    assert "embargoed" in cli("indicators", "release", "list")
    shown = json.loads(cli("indicators", "release", "show", "border_movements", "--by", "direction", "--json"))
    assert shown["release"]["version"] == 1 and sum(c["value"] for c in shown["cells"]) == 300
    cli("indicators", "release", "approve", "border_movements", 9, "--user", "onm.reviewer", code=EXIT_NOT_FOUND)
