"""The MARSAD_* declaration (services/config.py): read at each call, the README's table made from it,
and no other module reading MARSAD_* variables."""
import re
from pathlib import Path

import pytest

from services.config import IdentityEnv, Settings, StorageEnv, markdown_table, section, settings, variables

ROOT = Path(__file__).resolve().parent.parent


def test_each_call_reads_the_environment_as_it_is(monkeypatch):
    monkeypatch.setenv("MARSAD_SESSION_HOURS", "3")
    assert settings().session_hours == 3
    monkeypatch.setenv("MARSAD_SESSION_HOURS", "5")
    assert settings().session_hours == 5


def test_an_explicit_mapping_ignores_the_process_environment(monkeypatch):
    monkeypatch.setenv("MARSAD_S3_REGION", "from-process")
    assert section(StorageEnv, {}).s3_region == "us-east-1"
    assert section(StorageEnv, {"MARSAD_S3_REGION": "eu"}).s3_region == "eu"
    assert section(StorageEnv).s3_region == "from-process"


def test_refused_values_name_the_variable(monkeypatch):
    monkeypatch.setenv("MARSAD_ENV", "prod")
    with pytest.raises(ValueError, match="MARSAD_ENV must be one of demo, sandbox, test, production"):
        settings()


def test_each_variable_is_declared_once_with_help():
    names = [name for _, name, *_ in variables()]
    assert len(names) == len(set(names)) and len(names) >= 60
    assert all(help for *_, help, _ in variables())
    assert {"core", "storage", "identity", "portal", "sandbox", "lab"} == {t for t, *_ in variables()}


def test_readme_table_is_the_declaration():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, "README.md's Configuration table: regenerate with python -m services.config"


def test_no_module_outside_the_declaration_reads_marsad_variables():
    # A read: os.environ[...]/.get(...)/getenv(...) naming MARSAD_, or an env mapping's .get("MARSAD_...").
    read = re.compile(r"""(environ|getenv|env)\s*(\.get\(|\[|\()\s*f?["']MARSAD_""")
    offenders = []
    for folder in ("services", "portal", "infra"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "services" / "config.py":
                continue
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if read.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
