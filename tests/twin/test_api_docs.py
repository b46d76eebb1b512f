"""The API documentation works offline: ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc) load
their scripts, styles and icon from the twin itself, and those are served; in Debian's
Chromium, with every request off this machine blocked, both pages render the API.  And the
``LICENSE`` file is the Apache-2.0 text that ``pyproject.toml`` names."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from fastapi.testclient import TestClient

from tests.processes import CHROMIUM, CHROMIUM_ARGS, in_ci, serving
from twin.api.app import create_app
from twin.api.docs import ASSET_FILES, EMPTY_IMAGE, REDOC_OUTSIDE_LOGO
from twin.api.security import TokenRegistry
from twin.live.live_twin import LiveSettings, LiveTwin
from twin.store.store import Store

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "demo-hall.yaml"
ARTIFACTS = ROOT / "test-artifacts"
CONTENT_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


pytestmark = pytest.mark.xdist_group("api-docs")  # module fixtures built once


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder = tmp_path_factory.mktemp("docs")
    store = Store(f"sqlite:///{folder / 'twin.db'}")
    twin = LiveTwin(
        yaml.safe_load(SCENARIO.read_text()),
        SCENARIO.parent,
        store,
        LiveSettings(replan_minutes=0),
        clock=lambda: datetime(2026, 11, 18, 12, tzinfo=UTC),
    )
    app = create_app(twin, TokenRegistry(), start_background=False)
    with TestClient(app) as test_client:
        yield test_client
    store.close()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_doc_pages_reference_only_assets_the_twin_serves(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "http://" not in html and "https://" not in html  # no CDN, no web fonts
    references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    references += re.findall(r"""(?:url|spec-url)\s*[:=]\s*["']([^"']+)["']""", html)
    assert references
    for reference in references:
        assert not urlsplit(reference).netloc, reference
        assert reference.startswith("/"), reference
        asset = client.get(reference)
        assert asset.status_code == 200, reference
        kind = CONTENT_TYPES.get(Path(reference).suffix)
        if kind:
            assert kind in asset.headers["content-type"], (reference, asset.headers)
            assert len(asset.content) > 1000, reference
    served = {Path(r).name for r in references}
    assert "openapi.json" in served
    assert served & set(ASSET_FILES)
    if page == "/redoc":  # its one outside image is replaced
        script = client.get("/docs/assets/redoc.standalone.js").content
        assert REDOC_OUTSIDE_LOGO not in script and EMPTY_IMAGE in script
    else:
        assert '"validatorUrl": null' in html


def test_the_license_is_the_apache_2_text_pyproject_names() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"] == (
        "Apache-2.0"
    )
    assert "Apache License\n                           Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text) > 11_000


# ------------------------------------------------------------------------------ in a browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing on CI (.ci/run installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    state = tmp_path_factory.mktemp("docs-serve")
    args = ("--no-virtual-plant", "--replan-minutes", "0")
    with serving(*args, state_dir=state, tokens="docs-read-token-00000001=read") as (base, _):
        yield base


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    """One Chromium for the module's pages (each test opens its own context)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("page", "rendered"),
    [
        ("/docs", ".swagger-ui .opblock-summary-path[data-path='/api/v1/measurements']"),
        ("/redoc", "redoc h1:has-text('dctwin')"),
    ],
)
def test_doc_pages_render_with_no_outside_network(
    server: str, browser: Any, page: str, rendered: str
) -> None:
    """``dctwin serve`` (web UI mounted at ``/``) in Chromium; any request not to the twin is
    recorded and aborted, as on a site network without internet."""
    outside: list[str] = []
    errors: list[str] = []
    host = urlsplit(server).netloc

    def route(handle: Any) -> None:
        if urlsplit(handle.request.url).netloc == host:
            handle.continue_()
        else:
            outside.append(handle.request.url)
            handle.abort()

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        tab = context.new_page()
        tab.route("**/*", route)
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(server + page)
        tab.wait_for_selector(rendered, timeout=30_000)
        ARTIFACTS.mkdir(exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"api{page.replace('/', '-')}.png"))
    finally:
        context.close()
    assert outside == [] and errors == []
