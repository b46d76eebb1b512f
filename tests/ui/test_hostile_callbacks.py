"""Issue 14 re-attacked through the UI's callbacks: a crafted callback sends any JSON value
for a form field (the browser's number input is no guard), and each is refused with a
message, never a 500 (they were: OverflowError, TypeError)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import Clock, token_registry
from tests.ui.conftest import APPROVER, READER
from twin.api.app import create_app
from twin.live.live_twin import LiveTwin
from ui import callbacks as cb
from ui import callbacks_alarms as ca
from ui.app import mount
from ui.pages.whatif import FIELD_IDS
from ui.views_whatif import WHATIF_FIELDS

APPROVE = frozenset({"approve", "read"})


@pytest.mark.parametrize(
    ("edits", "horizon"),
    [
        ({"add_racks_type": "gpu-120", "add_racks_count": float("inf")}, 24),
        ({"dr_start_hours": 1e12}, 24),
        ({"dr_start_hours": 1, "dr_duration_hours": float("inf")}, 24),
        ({"battery_energy_kwh": [1]}, 24),
        ({}, "abc"),
        ({}, [1]),
    ],
)
def test_whatif_form_values_beyond_numbers_are_refused(
    context: cb.UIContext, edits: dict[str, Any], horizon: Any
) -> None:
    job, message = cb.whatif_start(context, edits, horizon)
    assert job is None
    assert message.startswith(("Cannot apply the change", "The horizon must be")), message


@pytest.mark.parametrize("alarm_id", [1e30, [1], "inf", -5])
def test_an_alarm_id_that_is_no_alarm_is_unknown(context: cb.UIContext, alarm_id: Any) -> None:
    for action in ("acknowledge", "shelve", "unshelve"):
        done, message = ca.alarm_action(context, action, alarm_id, 1.0, "user:alice", APPROVE)
        assert done is False
        assert message == f"Unknown alarm {alarm_id}."
    assert not context.twin.store.audit_log(limit=5, actions=["acknowledge_alarm"])


@pytest.fixture
def client(fresh: tuple[LiveTwin, Clock]) -> Iterator[TestClient]:
    registry = token_registry({READER: "read", APPROVER: "approve,read"})
    api = create_app(fresh[0], registry, start_background=False, root_redirect=False)
    mount(api, fresh[0], registry)
    with TestClient(api, base_url="http://127.0.0.1") as test_client:
        test_client.post("/login", data={"token": READER})
        yield test_client


def _download(values: dict[str, Any]) -> dict[str, Any]:
    """The What-if page's YAML download callback as the browser sends it."""
    return {
        "output": "wi-download.data",
        "outputs": {"id": "wi-download", "property": "data"},
        "inputs": [{"id": "wi-download-button", "property": "n_clicks", "value": 1}],
        "state": [{"id": "wi-yaml", "property": "data", "value": None}]
        + [
            {"id": field, "property": "value", "value": values.get(name)}
            for field, name in zip(FIELD_IDS, WHATIF_FIELDS, strict=True)
        ],
        "changedPropIds": ["wi-download-button.n_clicks"],
    }


@pytest.mark.parametrize(
    "values",
    [{"add_racks_type": "gpu-120", "add_racks_count": "inf"}, {"dr_start_hours": 1e12}],
)
def test_the_yaml_download_of_an_impossible_edit_is_no_500(
    client: TestClient, values: dict[str, Any]
) -> None:
    answer = client.post("/_dash-update-component", json=_download(values))
    assert answer.status_code == 204, answer.text[:300]  # nothing to download
