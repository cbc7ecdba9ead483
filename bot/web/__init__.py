"""The web layer: everything Shipmate answers over HTTP.

- `bot.web.app`: the Flask app factory - webhook intake, health, readiness and metrics.
- `bot.web.auth`: GitHub sign-in, sessions, tokens, permissions and CSRF for the dashboard.
- `bot.web.pages`: the dashboard's pages under `/ui` (templates and static files beside it).

`register_dashboard(app, parts)` adds the dashboard to the app (`bot.wiring.build_server`
calls it): the sign-in routes and the blueprints over the read model. Without the dashboard's
settings (`DashboardOff`) every path under `/ui`, `/api/v1`, `/login` and `/logout` answers
404 with the reason, as JSON `{"error": "not found", "reason": ...}`.

`create_app`, `signature` and `verify_signature` are re-exported here, where the entry points
and tests have always imported them from.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, Response, jsonify, request

from bot.adapters.github.oauth import GitHubSignIn
from bot.app.dashboard import Dashboard
from bot.settings import DashboardSettings
from bot.web import api, auth, pages
from bot.web.app import create_app, signature, verify_signature

DASHBOARD_PREFIXES = ("/ui", "/api/v1", "/login", "/logout")


@dataclass(frozen=True)
class DashboardParts:
    """What the dashboard is made of: its settings, the GitHub sign-in and the read model."""

    settings: DashboardSettings
    sign_in: GitHubSignIn
    dashboard: Dashboard


@dataclass(frozen=True)
class DashboardOff:
    """The dashboard is not served, and why (the answer under its paths says so)."""

    reason: str


def register_dashboard(app: Flask, parts: DashboardParts | DashboardOff) -> None:
    """The dashboard's routes on `app`, or its paths answering 404 with the reason it is off."""
    if isinstance(parts, DashboardOff):
        reason = parts.reason

        @app.before_request
        def dashboard_off() -> tuple[Response, int] | None:
            path = request.path
            if any(path == p or path.startswith(p + "/") for p in DASHBOARD_PREFIXES):
                return jsonify({"error": "not found", "reason": reason}), 404
            return None

        return
    auth.install(app, parts.settings, parts.sign_in)
    app.register_blueprint(api.blueprint(parts.dashboard))
    app.register_blueprint(pages.blueprint(parts.dashboard))


__all__ = ["DashboardOff", "DashboardParts", "create_app", "register_dashboard", "signature", "verify_signature"]
