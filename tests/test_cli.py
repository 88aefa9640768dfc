"""The `marsad` command end to end: schema, synthetic file, ingest, workflow, audit — exit codes included."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from services.cli import EXIT_DENIED, EXIT_PROBLEMS, main


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


def test_help_everywhere(cli):
    for group in ("", "db", "ingest", "submissions", "audit", "synth", "policies", "catalog", "demo"):
        assert "Usage" in cli(*([group] if group else []), "--help")


def test_synth_ingest_approve_accept_and_audit(cli, tmp_path):
    clean = tmp_path / "bc.csv"
    cli("synth", "--dataset", "border_crossings", "--rows", 300, "--year", 2024, "--seed", 7, "-o", clean)
    out = json.loads(cli("ingest", clean, "--dataset", "border_crossings", "--institution", "MI-PAF", "--json"))
    assert out["status"] == "validated" and out["loaded"] == 300 and out["errors"] == 0
    sub = out["submission"]
    assert "approved" in cli("submissions", "approve", sub)
    assert "accepted" in cli("submissions", "accept", sub)
    listing = cli("submissions", "list", "--json")
    assert json.loads(listing)[0]["status"] == "accepted"
    shown = cli("submissions", "show", sub)
    assert "validated -> approved" in shown and "approved -> accepted" in shown
    assert "intact" in cli("audit", "verify")


def test_rejected_file_exit_code_and_report(cli, tmp_path):
    bad = tmp_path / "bad.csv"
    cli("synth", "--dataset", "border_crossings", "--rows", 200, "--year", 2024, "--seed", 3, "--error-rate", 0.1,
        "-o", bad)
    report = tmp_path / "report.csv"
    out = cli("ingest", bad, "-d", "border_crossings", "-i", "MI-PAF", "--report", report, "--lang", "ar",
              code=EXIT_PROBLEMS)
    assert "rejected" in out
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("السطر") and len(lines) > 5
    # the same bytes again: recognised, not loaded twice
    again = cli("ingest", bad, "-d", "border_crossings", "-i", "MI-PAF", code=EXIT_PROBLEMS)
    assert "already" in again.lower() or "déjà" in again


def test_policies_refuse_a_dataset_outside_the_agreement(cli, tmp_path):
    path = tmp_path / "bc.csv"
    cli("synth", "--dataset", "border_crossings", "--rows", 10, "--year", 2024, "-o", path)
    out = cli("ingest", path, "-d", "border_crossings", "-i", "CNSS", code=EXIT_DENIED)
    assert "refused" in out
