"""The /docs page's Swagger UI files (version 5, which reads OpenAPI 3.1), served by the app itself
from the static folder of the `swagger-ui-py` package instead of a CDN, so the docs work offline
and the page loads nothing from elsewhere."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, send_from_directory

from api.auth import public

ASSETS = "/docs/assets"


def _static_folder() -> Path:
    """The package's files, found without importing it (its __init__ loads what we do not use)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise LookupError("the swagger-ui-py package is not installed: pip install -e .")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


_FOLDER = _static_folder()
bp = Blueprint("swagger_assets", __name__)


@bp.get(f"{ASSETS}/<path:filename>")
@public
def asset(filename: str) -> Any:
    return send_from_directory(_FOLDER, filename, max_age=86400)


def serve_swagger_ui_locally(app: Flask) -> None:
    app.config.update(
        SWAGGER_UI_CSS=f"{ASSETS}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{ASSETS}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{ASSETS}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{ASSETS}/favicon-32x32.png",
    )
    app.register_blueprint(bp)
