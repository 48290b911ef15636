"""The admin API over real HTTP: a bearer token guards it; its actions change what is served."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier

from safeheal.serve import (
    GatewaySettings,
    InMemoryTrafficTable,
    MemorySink,
    ServerThread,
    StaticModelSource,
    create_app,
)

TOKEN = "s3cret-admin-token-0123456789"
DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]
ROW = DATA.data[0].tolist()


@dataclass
class Live:
    client: httpx.Client
    table: InMemoryTrafficTable

    def served_version(self, request_id: str = "r") -> int:
        body = {"rows": [ROW], "request_id": request_id}
        version: int = self.client.post("/v1/models/m/predict", json=body).json()["version"]
        return version

    def arms(self) -> list[tuple[int, float]]:
        return [(a.version, a.weight) for a in self.table.arms("m") or ()]

    def admin(
        self, method: str, path: str, token: str | None = TOKEN, **kw: object
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}".strip()} if token is not None else {}
        return self.client.request(method, f"/v1/admin{path}", headers=headers, **kw)  # type: ignore[arg-type]


def start(token: str | None) -> Iterator[Live]:
    source = StaticModelSource()
    for version in (1, 2, 3):  # version v always predicts v, so answers show who served them
        source.add(
            "m",
            version,
            DummyClassifier(strategy="constant", constant=version).fit(DATA.data[:3], [1, 2, 3]),
            NAMES,
        )
    table = InMemoryTrafficTable({"m": [(1, 100)]})
    app = create_app(
        models=source, traffic=table, sink=MemorySink(), settings=GatewaySettings(admin_token=token)
    )
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield Live(client, table)


@pytest.fixture
def live() -> Iterator[Live]:
    yield from start(TOKEN)


@pytest.fixture
def no_admin() -> Iterator[Live]:
    yield from start(None)


CALLS = [
    ("GET", "/status", None),
    ("GET", "/models/m", None),
    ("POST", "/models/m/promote", {"version": 2}),
    ("POST", "/models/m/rollback", {}),
    ("POST", "/escalations/e1/approve", {}),
]
WRONG = [None, "", "wrong-token-of-the-same-size-xx", TOKEN + "x", TOKEN[:-1], TOKEN.upper()]


@pytest.mark.parametrize(("method", "path", "body"), CALLS)
def test_without_the_right_token_401_and_nothing_changes(
    live: Live, method: str, path: str, body: dict[str, int] | None
) -> None:
    before = live.table.arms("m")
    for token in WRONG:
        response = live.admin(method, path, token=token, json=body)
        assert response.status_code == 401, (token, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
    basic = live.client.request(
        method, f"/v1/admin{path}", headers={"Authorization": f"Basic {TOKEN}"}, json=body
    )
    assert basic.status_code == 401
    assert live.table.arms("m") == before
    assert live.served_version() == 1


def test_a_bad_body_with_a_wrong_token_is_still_401(live: Live) -> None:
    response = live.admin("POST", "/models/m/promote", token="nope", content=b"{not json")
    assert response.status_code == 401


def test_admin_disabled_without_a_configured_token(no_admin: Live) -> None:
    response = no_admin.admin(
        "POST", "/models/m/promote", token="anything-at-all-0000", json={"version": 2}
    )
    assert response.status_code == 401
    assert "disabled" in response.json()["error"]["message"]
    assert no_admin.served_version() == 1


def test_status_promote_rollback(live: Live) -> None:
    status = live.admin("GET", "/status").json()
    assert status == {
        "models": [
            {
                "model": "m",
                "arms": [{"version": 1, "weight": 100.0}],
                "roles": {},
                "rollback_available": False,
                "canaries": [],
                "escalations": [],
            }
        ]
    }
    promoted = live.admin("POST", "/models/m/promote", json={"version": 3, "reason": "test"})
    assert promoted.status_code == 200
    assert promoted.json()["arms"] == [{"version": 3, "weight": 100.0}]
    assert promoted.json()["rollback_available"] is True
    assert {live.served_version(f"r{i}") for i in range(20)} == {3}

    rolled = live.admin("POST", "/models/m/rollback", json={})
    assert rolled.json()["arms"] == [{"version": 1, "weight": 100.0}]
    assert {live.served_version(f"r{i}") for i in range(20)} == {1}

    again = live.admin("POST", "/models/m/rollback")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"


def test_rollback_restores_a_canary_split(live: Live) -> None:
    live.table.set_arms("m", [(2, 10), (1, 90)])
    live.admin("POST", "/models/m/promote", json={"version": 2})
    assert live.arms() == [(2, 100.0)]
    live.admin("POST", "/models/m/rollback", json={"reason": "canary regressed"})
    assert live.arms() == [(2, 10.0), (1, 90.0)]


def test_admin_refusals(live: Live) -> None:
    unknown_version = live.admin("POST", "/models/m/promote", json={"version": 9})
    assert unknown_version.status_code == 404
    assert unknown_version.json()["error"]["code"] == "unknown_model"
    assert live.admin("POST", "/models/zz/promote", json={"version": 1}).status_code == 404
    assert live.admin("GET", "/models/zz").status_code == 404
    bad = live.admin("POST", "/models/m/promote", json={"version": 0})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "version"
    missing = live.admin("POST", "/models/m/promote", json={})
    assert (missing.status_code, missing.json()["error"]["field"]) == (422, "version")
    approve = live.admin("POST", "/escalations/e1/approve", json={"note": "ok"})
    assert approve.status_code == 501
    assert approve.json()["error"]["code"] == "not_supported"
    assert live.arms() == [(1, 100.0)]
    assert live.served_version() == 1
