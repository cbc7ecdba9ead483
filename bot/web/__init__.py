"""The web layer: everything Shipmate answers over HTTP.

- `bot.web.app`: the Flask app factory - webhook intake, health, readiness and metrics.

`create_app`, `signature` and `verify_signature` are re-exported here, where the entry points
and tests have always imported them from.
"""

from bot.web.app import create_app, signature, verify_signature

__all__ = ["create_app", "signature", "verify_signature"]
