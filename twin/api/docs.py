"""The interactive API documentation, offline: Swagger UI at ``/docs`` and ReDoc at ``/redoc``.

FastAPI's own pages load their JavaScript and CSS from a CDN (and ReDoc its fonts from Google),
so they are blank on a site network without internet.  These pages load the same assets from
the app itself, at :data:`ASSETS_URL`: the files shipped in the ``fastapi-offline`` package
(Swagger UI 5 and ReDoc 2 bundles, MIT-licensed, see its ``LICENSE``), served as static files.
Nothing is fetched from outside the twin: ReDoc uses the browser's own fonts, its bundle is
served with the one outside address it would load (the Redocly logo under its sidebar,
:data:`REDOC_OUTSIDE_LOGO`) replaced by an empty image, and Swagger UI's online validator
badge is off (``validatorUrl: null``).

:func:`add_offline_docs` adds the routes to an app created with ``docs_url=None`` and
``redoc_url=None``.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
"""Swagger UI page."""
REDOC_URL = "/redoc"
"""ReDoc page."""
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
"""Swagger UI's OAuth2 redirect page (FastAPI's default path)."""
ASSETS_URL = "/docs/assets"
"""Where the documentation's JavaScript, CSS and icon are served from."""
REDOC_OUTSIDE_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"
"""The image ReDoc's sidebar loads from Redocly's CDN (hidden by ReDoc when it fails)."""
EMPTY_IMAGE = b"data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
"""A transparent 1×1 GIF, in place of :data:`REDOC_OUTSIDE_LOGO`."""
ASSET_FILES = ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
"""The files the two pages load from :data:`ASSETS_URL`."""


def assets_folder() -> Path:
    """The folder of the documentation assets (``fastapi_offline/static`` of the installed
    ``fastapi-offline`` package).

    Raises
    ------
    FileNotFoundError
        The package is installed without one of :data:`ASSET_FILES`.
    """
    folder = Path(str(files("fastapi_offline") / "static"))
    missing = [name for name in ASSET_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"fastapi-offline installed without {', '.join(missing)} in {folder}; "
            "reinstall it (pip install --force-reinstall fastapi-offline)"
        )
    return folder


@cache
def redoc_bundle() -> bytes:
    """ReDoc's script with :data:`REDOC_OUTSIDE_LOGO` replaced by :data:`EMPTY_IMAGE` (read
    once, ~1 MB)."""
    return (
        (assets_folder() / "redoc.standalone.js")
        .read_bytes()
        .replace(REDOC_OUTSIDE_LOGO, EMPTY_IMAGE)
    )


def add_offline_docs(app: FastAPI) -> None:
    """Serve Swagger UI (:data:`DOCS_URL`) and ReDoc (:data:`REDOC_URL`) from local assets.

    Parameters
    ----------
    app
        The API app, created with ``docs_url=None, redoc_url=None`` (FastAPI's CDN pages off).
    """
    openapi_url = app.openapi_url or "/openapi.json"
    swagger_parameters = {**(app.swagger_ui_parameters or {}), "validatorUrl": None}

    @app.get(f"{ASSETS_URL}/redoc.standalone.js", include_in_schema=False)
    async def redoc_script() -> Response:  # before the mount below, so it is matched first
        return Response(
            redoc_bundle(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount(ASSETS_URL, StaticFiles(directory=assets_folder()), name="docs-assets")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_URL}",
            swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            swagger_ui_parameters=swagger_parameters,
        )

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get(REDOC_URL, include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(
            openapi_url=f"{root}{openapi_url}",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )
