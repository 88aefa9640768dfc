"""Liveness and readiness for load balancers and monitoring: no login, no details that help an attacker."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text

from portal.runtime import runtime

bp = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@bp.route("/healthz")
def healthz():
    # Public by design (nginx and monitoring probe it), so it says only ok or not.
    try:
        with runtime().engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the log has the cause
        log.exception("health check: database unreachable")
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
