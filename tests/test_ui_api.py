"""The dashboard's JSON and page over real HTTP: what each endpoint answers from a real SQLite
store (decisions made by the real policy on real States, an outcome, a canary, an escalation),
an empty store, an unknown model, bad query parameters, a dashboard that is off, a store that is
gone. The page itself is driven in a browser by ``test_ui_e2e.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from scipy import stats
from sklearn.datasets import load_breast_cancer
from sklearn.dummy import DummyClassifier

from safeheal.config import ServeConfig, parse_config
from safeheal.core import Action, State
from safeheal.core.records import CanaryRecord, Escalation
from safeheal.heal import CanaryPlan, CanaryState, advance
from safeheal.policy import HybridPolicy, SLAGuard
from safeheal.serve import (
    Dashboard,
    InMemoryTrafficTable,
    MemorySink,
    ServerThread,
    StaticModelSource,
    create_app,
)
from safeheal.store import SqlStore, open_store

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
DATA = load_breast_cancer()
NAMES = [str(n) for n in DATA.feature_names]
#: A healthy start, then drift past the critical line, then accuracy decay.
STATES = [
    State(drift=0.0, accuracy_drop=0.01, anomaly_rate=0.002, latency_ratio=0.4),
    State(drift=0.02, accuracy_drop=0.0, anomaly_rate=0.003, latency_ratio=0.5),
    State(drift=0.31, accuracy_drop=0.02, anomaly_rate=0.01, latency_ratio=0.6),
    State(drift=0.05, accuracy_drop=0.13, anomaly_rate=0.0, latency_ratio=1.4, error_rate=0.02),
]
CONFIG = parse_config({"control": {"models": {"cancer": {"mode": "canary"}}}})


@dataclass
class Site:
    client: httpx.Client
    store: SqlStore
    decisions: list[str]


def _app(store: SqlStore, traffic: InMemoryTrafficTable, **kw: object) -> object:
    source = StaticModelSource()
    model = DummyClassifier().fit(DATA.data, DATA.target)
    for name in traffic.models():
        for arm in traffic.arms(name) or ():
            source.add(name, arm.version, model, NAMES)
    return create_app(models=source, traffic=traffic, sink=MemorySink(), **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("ui-api")
    store = open_store(root / "safeheal.db")
    now = [T0]
    policy = HybridPolicy.from_config(CONFIG, store=store, seed=7, clock=lambda: now[0])
    policy.model = "cancer"
    ids = []
    for i, state in enumerate(STATES):
        now[0] = T0 + timedelta(minutes=i + 1)
        d = policy.decide(state)
        ids.append(d.id)
        if i == 2:
            policy.update(d, success=True, cost=0.3)
    plan = CanaryPlan()
    state = advance(CanaryState.start(plan, now[0]), now[0])
    store.save_canary(
        CanaryRecord(
            "can-1",
            "cancer",
            "RETRAIN",
            2,
            1,
            ids[-1],
            state.phase.value,
            state.to_dict(),
            now[0],
            now[0],
        )
    )
    store.record_escalation(
        Escalation(
            "esc-1",
            "cancer",
            ids[2],
            "pending",
            T0 + timedelta(minutes=3.5),  # after the critical decision, before the last
            payload={"reasons": ["a novel situation"], "meanwhile": {"what": "v1"}},
        )
    )
    traffic = InMemoryTrafficTable({"cancer": [(2, state.weight), (1, 100 - state.weight)]})
    dashboard = Dashboard(store=store, traffic=traffic, config=CONFIG)
    app = _app(store, traffic, dashboard=dashboard)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=30) as client:  # type: ignore[arg-type]
        yield Site(client, store, ids)
    store.close()


def test_the_models_list(site: Site) -> None:
    r = site.client.get("/ui/api/models")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    [m] = r.json()["models"]
    last = site.store.get_decision(site.decisions[-1])
    assert m["name"] == "cancer"
    assert m["served"] is True
    assert m["mode"] == "canary"  # from [control.models]
    assert m["zone"] == last.verdict.zone
    assert m["last_action"] == last.action.name
    assert m["split"] == [{"version": 2, "weight": 1.0}, {"version": 1, "weight": 99.0}]
    assert m["canary"]["canary_id"] == "can-1"
    assert (m["canary"]["phase"], m["canary"]["weight"]) == ("progressing", 1.0)
    assert 0 < m["canary"]["step"] < m["canary"]["steps"] == len(CanaryPlan().steps)
    assert m["pending_escalations"] == 1


def test_one_model_over_time(site: Site) -> None:
    r = site.client.get("/ui/api/models/cancer")
    assert r.status_code == 200
    body = r.json()
    windows = body["windows"]
    assert len(windows) == len(STATES)
    guard = SLAGuard.from_config(CONFIG)
    for w, state, did in zip(windows, STATES, site.decisions, strict=True):  # oldest first
        assert w["decision_id"] == did
        assert (w["drift"], w["accuracy_drop"], w["anomaly_rate"]) == (
            state.drift,
            state.accuracy_drop,
            state.anomaly_rate,
        )
        assert (w["latency_ratio"], w["error_rate"]) == (state.latency_ratio, state.error_rate)
        assert w["sla_score"] == pytest.approx(guard.score(state, Action.NO_OP))
    assert windows[2]["zone"] == "critical"
    assert windows[2]["action"] == "FALLBACK"
    t = CONFIG.envelope.thresholds
    assert body["thresholds"] == {
        "drift": t.fallback_drift,
        "accuracy_drop": t.fallback_accuracy_drop,
        "anomaly_rate": t.fallback_anomaly_rate,
        "latency_ratio": t.slo_latency_ratio,
        "error_rate": t.slo_error_rate,
        "sla": CONFIG.sla.threshold,
    }
    decisions = body["decisions"]
    assert [d["id"] for d in decisions] == site.decisions[::-1]  # newest first
    critical = decisions[1]
    stored = site.store.get_decision(site.decisions[2])
    assert critical["reasons"][0] == stored.verdict.reasons[0]
    assert any("mandatory" in r for r in critical["reasons"])
    assert critical["outcome"] == "succeeded"
    assert critical["explain"] == f"safeheal explain {stored.id}"
    assert {d["outcome"] for d in decisions if d["id"] != stored.id} == {None}
    assert {str(d["carried_out"]) for d in decisions} == {"[]"}  # no controller acted here
    # the escalation (raised after the critical decision) holds back the decision after it
    assert [d["held_by"] for d in decisions] == [
        "escalation esc-1 waits for a human",
        None,
        None,
        None,
    ]
    assert [c["canary_id"] for c in body["canaries"]] == ["can-1"]
    assert body["roles"] == {}  # no registry given


def test_the_window_and_decision_limits(site: Site) -> None:
    body = site.client.get("/ui/api/models/cancer", params={"windows": 2, "decisions": 1}).json()
    assert [w["decision_id"] for w in body["windows"]] == site.decisions[-2:]
    assert [d["id"] for d in body["decisions"]] == site.decisions[-1:]


def test_the_posteriors_with_their_intervals(site: Site) -> None:
    body = site.client.get("/ui/api/posteriors").json()
    stored = site.store.load_posteriors()
    shown = [(c["context"], a) for c in body["contexts"] for a in c["actions"]]
    assert len(shown) == len(stored) > 0
    for (context, a), p in zip(shown, stored, strict=True):
        assert (context, a["action"], a["alpha"], a["beta"]) == (
            p.context,
            p.action,
            p.alpha,
            p.beta,
        )
        dist = stats.beta(p.alpha, p.beta)
        assert a["mean"] == pytest.approx(dist.mean(), rel=1e-12)
        assert a["low"] == pytest.approx(dist.ppf(0.025), rel=1e-9)
        assert a["high"] == pytest.approx(dist.ppf(0.975), rel=1e-9)
        assert 0 <= a["low"] < a["mean"] < a["high"] <= 1


def test_the_pending_escalations(site: Site) -> None:
    [e] = site.client.get("/ui/api/escalations").json()["escalations"]
    assert e["id"] == "esc-1"
    assert (e["model"], e["decision_id"]) == ("cancer", site.decisions[2])
    assert e["reasons"] == ["a novel situation"]
    assert e["meanwhile"] == "v1"
    assert e["approve"] == "safeheal approve esc-1"


def test_an_unknown_model_is_404_naming_the_known_ones(site: Site) -> None:
    for name in ("nope", "<script>alert(1)<\\script>", "a b", "%00", "ünï", "x" * 5000):
        r = site.client.get(f"/ui/api/models/{quote(name, safe='')}")
        assert r.status_code == 404, name
        error = r.json()["error"]
        assert error["code"] == "unknown_model"
        assert "known models: cancer" in error["message"]
    # a slash cannot be in a name: no route, still a JSON 404
    r = site.client.get("/ui/api/models/a/b")
    assert (r.status_code, r.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"windows": 0}, "query.windows"),
        ({"windows": 2001}, "query.windows"),
        ({"windows": "many"}, "query.windows"),
        ({"decisions": -1}, "query.decisions"),
        ({"decisions": 201}, "query.decisions"),
        ({"decisions": "1.5"}, "query.decisions"),
    ],
)
def test_bad_query_parameters_are_422_naming_them(
    site: Site, params: dict[str, object], field: str
) -> None:
    r = site.client.get("/ui/api/models/cancer", params=params)  # type: ignore[arg-type]
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", field)


def test_the_page_and_its_assets_are_self_contained_and_locked_down(site: Site) -> None:
    page = site.client.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "default-src 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    html = page.text
    assert '<script src="/ui/dashboard.js" defer></script>' in html
    for asset, kind in (("dashboard.js", "text/javascript"), ("dashboard.css", "text/css")):
        r = site.client.get(f"/ui/{asset}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith(kind)
        html += r.text
    assert "http://" not in html.replace('"http://www.w3.org/2000/svg"', "")
    assert "https://" not in html
    assert "innerHTML" not in html  # every text is set as text
    assert site.client.get("/ui/nothing.js").status_code == 404


def test_the_openapi_schema_documents_the_dashboard(site: Site) -> None:
    schema = site.client.get("/openapi.json").json()
    paths = schema["paths"]
    for path, model in (
        ("/ui/api/models", "ModelList"),
        ("/ui/api/models/{name}", "ModelDetail"),
        ("/ui/api/posteriors", "PosteriorList"),
        ("/ui/api/escalations", "EscalationList"),
    ):
        ok = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok == {"$ref": f"#/components/schemas/{model}"}
    assert "/ui" in paths
    assert "/ui/dashboard.js" not in paths
    assert "windows" in {p["name"] for p in paths["/ui/api/models/{name}"]["get"]["parameters"]}


def test_an_empty_store_and_no_models(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.db") as store:
        traffic = InMemoryTrafficTable()
        app = _app(store, traffic, dashboard=Dashboard(store=store, traffic=traffic))
        with (
            ServerThread(app) as server,  # type: ignore[arg-type]
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            get = client.get
            assert get("/ui/api/models").json()["models"] == []
            assert get("/ui/api/posteriors").json()["contexts"] == []
            assert get("/ui/api/escalations").json()["escalations"] == []
            r = get("/ui/api/models/anything")
            assert r.status_code == 404
            assert "known models: none yet" in r.json()["error"]["message"]
            assert get("/ui").status_code == 200


def test_a_served_model_without_decisions_yet(tmp_path: Path) -> None:
    with open_store(tmp_path / "new.db") as store:
        traffic = InMemoryTrafficTable({"fresh": [(1, 100)]})
        app = _app(store, traffic, dashboard=Dashboard(store=store, traffic=traffic))
        with (
            ServerThread(app) as server,  # type: ignore[arg-type]
            httpx.Client(base_url=server.url, timeout=30) as client,
        ):
            get = client.get
            [m] = get("/ui/api/models").json()["models"]
            assert (m["name"], m["zone"], m["mode"], m["canary"]) == ("fresh", None, "shadow", None)
            body = get("/ui/api/models/fresh").json()
            assert (body["windows"], body["decisions"], body["canaries"]) == ([], [], [])


def test_without_a_dashboard_ui_is_404_saying_how_to_turn_it_on(tmp_path: Path) -> None:
    traffic = InMemoryTrafficTable({"m": [(1, 100)]})
    with open_store(tmp_path / "s.db") as store:
        app = _app(store, traffic)
        with ServerThread(app) as server:  # type: ignore[arg-type]
            for path in ("/ui", "/ui/api/models", "/ui/api/models/m"):
                r = httpx.get(f"{server.url}{path}", timeout=30)
                assert r.status_code == 404
                assert r.json()["error"]["code"] == "ui_disabled"
                assert "serve.ui = true" in r.json()["error"]["message"]


def test_a_store_that_is_gone_is_503_not_500(tmp_path: Path) -> None:
    store = open_store(tmp_path / "gone.db")
    traffic = InMemoryTrafficTable({"m": [(1, 100)]})
    app = _app(store, traffic, dashboard=Dashboard(store=store, traffic=traffic))
    with ServerThread(app) as server:  # type: ignore[arg-type]
        store.close()
        (tmp_path / "gone.db").unlink()
        for path in ("/ui/api/models", "/ui/api/models/m", "/ui/api/posteriors"):
            r = httpx.get(f"{server.url}{path}", timeout=30)
            assert r.status_code == 503, (path, r.text)
            assert r.json()["error"]["code"] == "unavailable"


def test_serve_ui_is_on_by_default_only_on_loopback() -> None:
    assert ServeConfig().ui is None
    assert ServeConfig().ui_enabled()
    assert ServeConfig(host="localhost").ui_enabled()
    assert ServeConfig(host="::1").ui_enabled()
    assert not ServeConfig(host="0.0.0.0").ui_enabled()
    assert not ServeConfig().ui_enabled("192.168.1.20")  # `safeheal serve --host` beats the file
    assert ServeConfig(host="0.0.0.0", ui=True).ui_enabled()
    assert not ServeConfig(ui=False).ui_enabled()
    with pytest.raises(ValueError, match=r"serve\.ui"):
        parse_config({"serve": {"ui": "sometimes"}})
