"""Pytest plugin of the deployment tests: the `lab` marker.

Registered by tests/testinfra/conftest.py (a plain `pytest` run loads it at start) and by
tests/test_lab.py's ``pytest_plugins`` (so `pytest tests/test_lab.py` alone works too, even
with --strict-markers and no marker in pyproject.toml).
"""
from __future__ import annotations

import pytest

LAB_MARKER = "lab: deploys the standard profile onto the hardware lab (root and systemd-nspawn; slow)"


def pytest_configure(config):
    config.addinivalue_line("markers", LAB_MARKER)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # Marked here, not in the module: the module may be imported before the marker exists.
    for item in items:
        if item.nodeid.split("::")[0].endswith("tests/test_lab.py") and "lab" not in item.keywords:
            item.add_marker(pytest.mark.lab)
