"""The UI mounted on the API app, over HTTP (FastAPI TestClient, real twin and store)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Clock
from tests.ui.conftest import APPROVER, READER, tokens
from twin.api.app import create_app
from twin.live.live_twin import LiveTwin
from ui.app import PAGES, mount
from ui.bundle import plotlyjs

pytestmark = pytest.mark.xdist_group("ui-http")  # the module's twin built once


@pytest.fixture(scope="module")
def client(live: tuple[LiveTwin, Clock]) -> Iterator[TestClient]:
    """The UI on the API app of the module's twin, signed in as a reader (read-only tests)."""
    yield from _signed_in(live[0])


@pytest.fixture
def fresh_client(fresh: tuple[LiveTwin, Clock]) -> Iterator[TestClient]:
    """The same on a twin of the test's own (for a test that changes plans)."""
    yield from _signed_in(fresh[0])


def _signed_in(twin: LiveTwin) -> Iterator[TestClient]:
    registry = tokens()
    api = create_app(twin, registry, start_background=False, root_redirect=False)
    mount(api, twin, registry)
    with TestClient(api, base_url="http://127.0.0.1") as client:
        login = client.post("/login", data={"token": READER}, follow_redirects=False)
        assert login.status_code == 303, login.text
        yield client


def _update(
    client: TestClient,
    outputs: list[tuple[str, str]],
    inputs: list[dict[str, Any]],
    state: list[dict[str, Any]] | None = None,
    changed: str | None = None,
) -> dict[str, Any]:
    # the callback's key is its output string as the app lists it in /_dash-dependencies
    wanted = {f"{i}.{p}" for i, p in outputs}
    key = next(
        d["output"]
        for d in client.get("/_dash-dependencies").json()
        if {part for part in d["output"].strip(".").split("...") if part} == wanted
        or d["output"] == next(iter(wanted))
    )
    body = {
        "output": key,
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": inputs,
        "state": state or [],
        "changedPropIds": [changed or f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.text
    return response.json()["response"]


def _components(tree: Any, prefix: str) -> list[dict[str, Any]]:
    """Every component in a layout JSON whose id starts with ``prefix``."""
    found: list[dict[str, Any]] = []
    if isinstance(tree, list):
        for item in tree:
            found += _components(item, prefix)
    elif isinstance(tree, dict):
        props = tree.get("props")
        if isinstance(props, dict):
            if str(props.get("id", "")).startswith(prefix):
                found.append(tree)
            found += _components(props.get("children"), prefix)
    return found


def test_root_serves_the_dash_index_and_the_api_still_answers(client: TestClient) -> None:
    index = client.get("/")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert "_dash-renderer" in index.text or "dash_renderer" in index.text
    assert "<title>dctwin</title>" in index.text
    for path, _ in PAGES[1:]:  # deep links serve the same index (client-side routing)
        assert client.get(path).status_code == 200
    assert client.get("/api/v1/health").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    assert client.get("/api/v1/state").status_code == 401  # the API keeps its auth


def test_layout_and_dependencies(client: TestClient) -> None:
    layout = client.get("/_dash-layout").json()
    text = str(layout)
    assert "navbar" in text
    for _, title in PAGES:
        assert title in text
    dependencies = client.get("/_dash-dependencies").json()
    outputs = " ".join(d["output"] for d in dependencies)
    for component in ("overview-sankey", "floor-map", "plan-grid", "wi-compare", "live-residuals"):
        assert component in outputs


def test_routing_callback_renders_each_page(client: TestClient) -> None:
    nav = [(f"nav-{t.lower().replace('-', '')}", "className") for _, t in PAGES]
    for path, title in PAGES:
        response = _update(
            client,
            [("page", "children"), *nav],
            [{"id": "url", "property": "pathname", "value": path}],
        )
        assert title in str(response["page"]["children"])
        active = [k for k, v in response.items() if k.startswith("nav-") and v["className"]]
        assert active == [f"nav-{title.lower().replace('-', '')}"]


def test_overview_callback_over_http(client: TestClient) -> None:
    response = _update(
        client,
        [
            ("overview-kpis", "children"),
            ("overview-sankey", "figure"),
            ("overview-status", "children"),
        ],
        [{"id": "overview-refresh", "property": "n_intervals", "value": 1}],
    )
    assert len(response["overview-kpis"]["children"]) == 8
    assert response["overview-sankey"]["figure"]["data"][0]["type"] == "sankey"


def test_approve_over_http_is_audited(
    fresh_client: TestClient, fresh: tuple[LiveTwin, Clock]
) -> None:
    client, (twin, _) = fresh_client, fresh
    plan_id = twin.replan(actor="test")["id"]
    outputs = [
        ("plan-message", "children"),
        ("plan-version", "data"),
        ("plan-job", "data"),
        ("plan-poll", "disabled"),
        ("plan-confirm", "style"),
        ("plan-preview", "children"),
        ("plan-seen-alarms", "data"),
    ]

    def inputs(clicked: str) -> list[dict[str, Any]]:
        buttons = ("plan-approve", "plan-reject", "plan-propose")
        return [
            *({"id": b, "property": "n_clicks", "value": int(b == clicked)} for b in buttons),
            {"id": "plan-poll", "property": "n_intervals", "value": None},
            *(
                {"id": b, "property": "n_clicks", "value": int(b == clicked)}
                for b in ("plan-confirm-approve", "plan-confirm-cancel")
            ),
        ]

    def state(seen: list[int] | None = None) -> list[dict[str, Any]]:
        return [
            {"id": "plan-select", "property": "value", "value": plan_id},
            {"id": "plan-reason", "property": "value", "value": "over http"},
            {"id": "plan-version", "property": "data", "value": 0},
            {"id": "plan-job", "property": "data", "value": None},
            {"id": "plan-seen-alarms", "property": "data", "value": seen},
        ]

    # signed in as a reader: the buttons are disabled and the callback refuses anyway
    plan_page = client.get("/_dash-layout", headers={"Referer": "http://testserver/plan"})
    assert "Read-only session" in str(plan_page.json())
    refused = _update(client, outputs, inputs("plan-approve"), state())
    assert "lacks the 'approve' scope" in refused["plan-message"]["children"]
    assert twin.store.get_plan(plan_id)["status"] == "proposed"  # type: ignore[index]
    login = client.post("/login", data={"token": APPROVER}, follow_redirects=False)
    assert login.status_code == 303
    step = _update(client, outputs, inputs("plan-approve"), state())
    assert step["plan-confirm"]["style"] == {"display": "block"}  # preview first
    assert "confirm" in step["plan-message"]["children"]
    assert twin.store.get_plan(plan_id)["status"] == "proposed"  # type: ignore[index]
    confirm = "plan-confirm-approve"
    assert step["plan-seen-alarms"]["data"] == []  # no critical alarm shown
    seen = step["plan-seen-alarms"]["data"]
    done = _update(client, outputs, inputs(confirm), state(seen), f"{confirm}.n_clicks")
    assert f"Plan {plan_id} applied" in done["plan-message"]["children"]
    audit = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {READER}"}).json()
    approval = next(e for e in audit if e["action"] == "approve" and e["target"] == plan_id)
    assert approval["actor"] == "token:" + tokens().fingerprint(APPROVER)  # the session's


def test_the_first_page_comes_with_the_layout(client: TestClient) -> None:
    """The layout renders the page the browser is on (its Referer), so the first paint needs
    no routing round trip; the navigation bar marks that page."""
    layout = client.get("/_dash-layout", headers={"Referer": "http://testserver/floor"}).json()
    text = str(layout)
    assert "floor-map" in text and "overview-sankey" not in text
    nav = {n["props"]["id"]: n["props"].get("className") for n in _components(layout, "nav-")}
    assert nav["nav-floor"] == "active"
    assert [k for k, v in nav.items() if v] == ["nav-floor"]
    home = str(client.get("/_dash-layout").json())
    assert "overview-sankey" in home and "floor-map" not in home


def test_without_a_ui_the_root_still_redirects_to_the_docs(fresh: tuple[LiveTwin, Clock]) -> None:
    api = create_app(fresh[0], tokens(), start_background=False)
    with TestClient(api) as client:
        response = client.get("/", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/docs"


def test_graphs_get_the_partial_plotly_bundle(client: TestClient) -> None:
    """The URL ``dcc.Graph`` loads plotly.js from serves ``ui/bundle/vendor``'s partial bundle (of
    the plotly.js version the Python ``plotly`` package was made for), gzip-compressed when
    asked, revalidated by its ETag; the page preloads it."""
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    url = f"/_dash-component-suites/{plotlyjs.DASH_PATH}"
    assert f'href="{url}"' in client.get("/").text  # preloaded with the page
    full = client.get(url, headers={"Accept-Encoding": "identity"})
    assert full.status_code == 200
    assert full.headers["content-type"].startswith("application/javascript")
    assert "content-encoding" not in full.headers
    assert full.content == plotlyjs.BUNDLE.read_bytes()
    header = full.text[:400]
    assert "Licensed under the MIT license" in header
    assert f"{', '.join(plotlyjs.TRACES)} - minified) v{get_plotlyjs_version()}" in header
    assert plotlyjs.version() == get_plotlyjs_version()
    assert len(full.content) < 0.5 * len(get_plotlyjs().encode())  # not Dash's full bundle
    packed = client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
    assert packed.headers["content-encoding"] == "gzip"
    assert int(packed.headers["content-length"]) < 0.4 * len(full.content)
    assert packed.content == full.content  # the client decoded it
    assert packed.headers["etag"] != full.headers["etag"]  # two encodings, two ETags
    again = client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": packed.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""
    # Dash's other files are still its own
    assert client.get("/_dash-component-suites/dash/dcc/async-graph.js").status_code == 200


def test_dash_scripts_are_sent_gzip_compressed(client: TestClient) -> None:
    """Every script the page loads from the component suites comes gzip-compressed to a
    browser that accepts it (the same bytes once decoded), as it is to one that does not."""
    import re

    index = client.get("/").text
    scripts = re.findall(r'<script src="(/_dash-component-suites/[^"]+)"', index)
    assert len(scripts) >= 5  # react, react-dom, dash-renderer, dcc, html …
    packed_total = plain_total = 0
    for url in scripts:
        plain = client.get(url, headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and "content-encoding" not in plain.headers
        packed = client.get(url, headers={"Accept-Encoding": "gzip"})
        if len(plain.content) >= 1024:
            assert packed.headers["content-encoding"] == "gzip", url
            assert "Accept-Encoding" in packed.headers["vary"]
            packed_total += int(packed.headers["content-length"])
        assert packed.content == plain.content  # decoded by the client
        plain_total += len(plain.content)
    assert packed_total < 0.4 * plain_total
    # a file without a fingerprint keeps an ETag of its own per encoding
    graph = "/_dash-component-suites/dash/dcc/async-graph.js"
    plain = client.get(graph, headers={"Accept-Encoding": "identity"})
    packed = client.get(graph, headers={"Accept-Encoding": "gzip"})
    assert packed.headers["etag"] == plain.headers["etag"][:-1] + '-gz"'
    assert packed.content == plain.content
