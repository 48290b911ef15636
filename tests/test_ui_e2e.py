"""The dashboard in a real browser: headless Chromium (Debian's ``chromium`` and
``chromium-driver``, driven by Selenium) opens ``/ui`` on the real gateway and the test checks
what a person sees.

The scene is real: Fair's survey data (shipped with statsmodels), a logistic-regression champion
and a decision-tree fallback registered in an MLflow registry in a temporary directory, a SQLite
store, the gateway over HTTP on loopback, and two controllers on a manual clock. Model ``fair``
gets healthy traffic through the gateway, then a covariate shift: critical and novel, so the
controller escalates (a pending escalation). Model ``fair-retrain`` sees its labels flip: the
controller retrains it through a canary, which is promoted and validated (a posterior). A third
"model" exists only in the store, with markup in its name and reasons: it must show as text.

Without the browser the test is skipped locally with the reason, and fails in CI (``CI=true``):
``scripts/chromium.sh`` installs it, and ``make test`` runs that first.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.config import SafehealConfig, parse_config
from safeheal.control import Controller, ManualClock, register_profile
from safeheal.core import State
from safeheal.datasets import load_fair
from safeheal.heal import InMemoryRouter, MlflowRegistry, default_executors
from safeheal.policy import HybridPolicy
from safeheal.serve import (
    Dashboard,
    FeedbackRecord,
    InferenceRecord,
    RegistryModelSource,
    ServerThread,
    choose_arm,
    create_app,
)
from safeheal.store import SqlInferenceSink, SqlStore, open_store
from tests.test_control import RETRAIN_RULES

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
WINDOWS = 8
XSS_NAME = '<img src=x onerror="window.__xss=1">'
XSS_REASON = "<script>window.__xss=2</script> & <b>not bold</b>"


# --- the browser --------------------------------------------------------------------------------
def _browser_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver), or why they cannot be used."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (it is a dev dependency: pip install -e '.[dev]')"
    chromium = os.environ.get("SAFEHEAL_CHROMIUM") or shutil.which("chromium")
    driver = os.environ.get("SAFEHEAL_CHROMEDRIVER") or shutil.which("chromedriver")
    if not chromium or not driver:
        return (
            "headless Chromium is not installed: run scripts/chromium.sh (Debian's chromium and "
            "chromium-driver packages)"
        )
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    found = _browser_paths()
    if isinstance(found, str):
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must run the dashboard's browser test, but {found}")
        pytest.skip(found)
    chromium, driver_path = found
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,2600",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


# --- the scene ----------------------------------------------------------------------------------
@dataclass
class Scene:
    url: str
    store: SqlStore
    escalation_id: str
    reason: str
    canary_candidate: int
    canary_id: str


def _config(**extra: Any) -> SafehealConfig:
    return parse_config(
        {"canary": {"traffic_fraction": 0.5, "validation_minutes": 2.0}, **extra},
    )


def _log_window(
    sink: SqlInferenceSink,
    registry: MlflowRegistry,
    router: InMemoryRouter,
    model: str,
    names: list[str],
    X: np.ndarray,
    y: np.ndarray,
    start: datetime,
) -> None:
    """One window of ``model``'s traffic written to the log as the gateway writes it."""
    arms = router.arms(model)
    assert arms
    ids = [f"{model}-{start:%H%M}-{i}" for i in range(len(y))]
    versions = np.array([choose_arm(arms, model, rid).version for rid in ids])
    preds = np.empty(len(y), dtype=np.int64)
    for v in np.unique(versions):
        preds[versions == v] = registry.load(model, int(v)).predict(X[versions == v])
    step = timedelta(minutes=1) / (len(y) + 1)
    inferences, feedback = [], []
    for i, rid in enumerate(ids):
        at = start + step * i
        inferences.append(
            InferenceRecord(
                rid,
                model,
                int(versions[i]),
                tuple(names),
                X[i : i + 1],
                [int(preds[i])],
                8.0,
                None,
                at,
            )
        )
        feedback.append(FeedbackRecord(rid, model, 0, int(y[i]), at))
    sink.write(inferences, feedback)


def _http_window(
    client: httpx.Client, sink: SqlInferenceSink, model: str, X: np.ndarray, y: np.ndarray, w: int
) -> None:
    """One window of ``model``'s traffic through the gateway: 4 requests, then their labels."""
    before = (sink.count(model), sink.count_feedback(model))
    labels = []
    for r, idx in enumerate(np.array_split(np.arange(len(y)), 4)):
        rid = f"w{w}-r{r}"
        resp = client.post(
            f"/v1/models/{model}/predict", json={"rows": X[idx].tolist(), "request_id": rid}
        )
        assert resp.status_code == 200, resp.text
        labels += [{"request_id": rid, "row": i, "label": int(y[j])} for i, j in enumerate(idx)]
    assert client.post(f"/v1/models/{model}/feedback", json={"labels": labels}).status_code == 202
    want = (before[0] + 4, before[1] + len(labels))
    deadline = time.monotonic() + 30
    while (sink.count(model), sink.count_feedback(model)) < want:
        assert time.monotonic() < deadline, "the gateway's log did not reach the store"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    root = tmp_path_factory.mktemp("ui")
    data = load_fair()
    names = [str(c) for c in data.X.columns]
    X, y = data.X.to_numpy(), np.asarray(data.y)
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    X_ref, y_ref, X_live, y_live = X[:3000], y[:3000], X[3000:], y[3000:]
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_ref, y_ref)
    fallback = DecisionTreeClassifier(max_depth=2, random_state=0).fit(X_ref, y_ref)
    store = open_store(root / "safeheal.db")
    registry = MlflowRegistry.local(root / "mlflow", move_log=store)
    sink = SqlInferenceSink(store)
    router = InMemoryRouter()
    clock = ManualClock(T0)
    for model in ("fair", "fair-retrain", "fair-canary"):
        v = registry.register(model, champion, role="champion", reason="first fit").version
        registry.mark_healthy(model, v, "validated offline")
        register_profile(
            store,
            model,
            v,
            X_ref,
            at=T0,
            estimator=champion,
            X_eval=X_live[:1000],
            y_eval=y_live[:1000],
            feature_names=names,
        )
        router.set_arms(model, [(v, 100.0)])
    fb = registry.register("fair", fallback, role="fallback", reason="simpler").version
    register_profile(
        store,
        "fair",
        fb,
        X_ref,
        at=T0,
        estimator=fallback,
        X_eval=X_live[:1000],
        y_eval=y_live[:1000],
        feature_names=names,
    )

    modes = {m: {"mode": "autonomous"} for m in ("fair", "fair-retrain", "fair-canary")}
    escalating = _config(control={"models": modes})
    retraining = _config(envelope={"rules": RETRAIN_RULES}, control={"escalate_novel": False})
    controllers = [
        Controller(
            store,
            registry,
            router,
            HybridPolicy.from_config(cfg, store=store, seed=1, clock=clock),
            default_executors(cfg),
            clock,
            cfg,
            models=dict.fromkeys(served, "autonomous"),
        )
        for served, cfg in ((["fair"], escalating), (["fair-retrain", "fair-canary"], retraining))
    ]
    dashboard = Dashboard(store=store, traffic=router, registry=registry, config=escalating)
    app = create_app(
        models=RegistryModelSource(registry, feature_names=dict.fromkeys(modes, names)),
        traffic=router,
        sink=sink,
        clock=clock,
        dashboard=dashboard,
    )
    rng = np.random.default_rng(1)
    shift = X_ref.std(axis=0)
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        for w in range(WINDOWS):
            idx = rng.choice(len(y_live), size=300, replace=False)
            Xw, yw = X_live[idx], y_live[idx]
            start = clock.now()
            _http_window(client, sink, "fair", Xw + (1.5 * shift if w >= 3 else 0.0), yw, w)
            # labels flip: fair-retrain from the second window, fair-canary near the end
            for model, first in (("fair-retrain", 1), ("fair-canary", WINDOWS - 2)):
                labels = 1 - yw if w >= first else yw
                _log_window(sink, registry, router, model, names, Xw, labels, start)
            end = clock.advance(minutes=1)
            for ctl in controllers:  # step by step: run_once would let a slow retrain run late
                for model in ctl.models:
                    ctl.step(model, end)
        # A "model" only in the store, whose name and reasons hold markup.
        policy = HybridPolicy(seed=3)
        d = policy.decide(State(drift=0.3, accuracy_drop=0.02, anomaly_rate=0.0))
        store.record_decision(replace(d, reasons=(XSS_REASON,), at=clock.now()), model=XSS_NAME)

        [pending] = store.pending_escalations("fair")
        canaries = store.canaries("fair-retrain")
        assert [c.phase for c in canaries] == ["promoted"]
        assert [c.phase for c in store.canaries("fair-canary")] == ["progressing"]
        assert store.load_posteriors(), "the retrain's outcome should be recorded"
        fair = store.decisions("fair")
        reason = next(r for r in fair[-1].verdict.reasons)
        try:
            yield Scene(
                server.url,
                store,
                pending.id,
                reason,
                canaries[-1].candidate_version,
                canaries[-1].id,
            )
        finally:
            for ctl in controllers:
                ctl.close()
            store.close()


# --- what a person sees -------------------------------------------------------------------------
def _wait(driver: Any, css: str, timeout: float = 15.0) -> Any:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout).until(
            EC.presence_of_element_located((By.CSS_SELECTOR, css))
        )
    except TimeoutException:
        page = driver.find_element(By.TAG_NAME, "body").text
        logs = driver.get_log("browser")
        raise AssertionError(
            f"{css} did not appear; the page reads:\n{page}\nconsole: {logs}"
        ) from None


def _screenshot(driver: Any, path: Path) -> None:
    """Keep a screenshot of the whole page (also in $SAFEHEAL_UI_SCREENSHOTS, to look at)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 140, 8000))
    assert driver.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    shots = os.environ.get("SAFEHEAL_UI_SCREENSHOTS")
    if shots:
        shutil.copy(path, Path(shots) / path.name)


def _hold_still(driver: Any) -> None:
    """Pause the page's updates, as a person reading it would, and wait for a redraw already
    under way to finish (``main[aria-busy]``), so the elements read next are not replaced."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.find_element(By.ID, "pause").click()
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script(
            "return document.getElementById('pause').getAttribute('aria-pressed') === 'true'"
            " && document.querySelector('main').getAttribute('aria-busy') === 'false'"
        )
    )


def _click_model(driver: Any, name: str) -> None:
    """Click the model's name in the table, as a person would (again if the table was redrawn
    under the pointer), until its panel shows."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def clicked(d: Any) -> bool:
        try:
            for b in d.find_elements(By.CSS_SELECTOR, "#models button.link"):
                if b.get_attribute("data-model") == name:
                    b.click()
                    break
            return bool(d.find_element(By.ID, "detail-name").text == name)
        except StaleElementReferenceException:
            return False

    WebDriverWait(driver, 15).until(clicked)


def test_the_dashboard_shows_models_plots_decisions_canaries_posteriors_and_escalations(
    browser: Any, scene: Scene, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{scene.url}/ui#model=fair")
    _wait(browser, '#models button[data-model="fair"]')
    _wait(browser, "#detail svg.chart circle.point")
    _wait(browser, "#posteriors .post-bar")
    _hold_still(browser)

    # the models table: every model by name, with its zone
    rows = {
        r.get_attribute("data-model"): r.text
        for r in browser.find_elements(By.CSS_SELECTOR, "#models tbody tr")
    }
    assert set(rows) == {"fair", "fair-retrain", "fair-canary", XSS_NAME}
    assert "critical" in rows["fair"]
    assert "autonomous" in rows["fair"]
    assert "1 pending" in rows["fair"]

    # the selected model: its name, zone, plots with a point per window, reasons in words
    assert browser.find_element(By.ID, "detail-name").text == "fair"
    charts = browser.find_elements(By.CSS_SELECTOR, "#detail svg.chart")
    assert len(charts) == 4
    windows = len(scene.store.decisions("fair"))
    for chart in charts:
        points = chart.find_elements(By.CSS_SELECTOR, "circle.point")
        assert len(points) % windows == 0
        assert points
        assert chart.find_elements(By.CSS_SELECTOR, "polyline.series")
    drift = browser.find_elements(By.CSS_SELECTOR, '#detail g.points[data-series="drift"] circle')
    values = [float(c.get_attribute("data-value")) for c in drift]
    assert max(values) > 0.2  # the shift is drawn above the critical line...
    assert values[0] < 0.2  # ... and the healthy start below it
    detail = browser.find_element(By.ID, "detail").text
    assert scene.reason in detail
    assert "ESCALATE: done" in detail  # the critical decision was carried out as an escalation
    assert f"nothing: escalation {scene.escalation_id} waits for a human" in detail  # the later

    # the pending escalation: its id and how to approve it
    escalations = browser.find_element(By.ID, "escalations").text
    assert scene.escalation_id in escalations
    assert f"safeheal approve {scene.escalation_id}" in escalations

    # the bandit's posteriors: a bar per (context, action) the store holds
    stored = scene.store.load_posteriors()
    bars = browser.find_elements(By.CSS_SELECTOR, "#posteriors .post-bar")
    assert len(bars) == len(stored) > 0
    labels = " ".join(b.get_attribute("aria-label") for b in bars)
    assert "RETRAIN" in labels
    assert "95% interval" in labels

    _screenshot(browser, tmp_path / "fair.png")

    # the running canary, in the table
    assert "v2 progressing, 50% of traffic" in rows["fair-canary"]

    # the retrained model: its canary and its progress
    browser.find_element(By.ID, "pause").click()  # updates on again
    _click_model(browser, "fair-retrain")
    _wait(browser, "#detail li.canary")
    _hold_still(browser)
    assert browser.find_element(By.ID, "detail-name").text == "fair-retrain"
    canary = browser.find_element(By.CSS_SELECTOR, "#detail li.canary")
    assert f"v{scene.canary_candidate}" in canary.text
    bar = canary.find_element(By.CSS_SELECTOR, "[role=progressbar]")
    assert int(bar.get_attribute("aria-valuenow")) > 0
    # a decision made while the canary ran says why it was not carried out
    decisions = browser.find_element(By.CSS_SELECTOR, "#detail table.decisions").text
    assert f"nothing: canary {scene.canary_id} was running" in decisions
    _screenshot(browser, tmp_path / "fair-retrain.png")

    # nothing went wrong in the page: no console errors (CSP violations included)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_markup_in_a_name_or_a_reason_is_shown_as_text(
    browser: Any, scene: Scene, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{scene.url}/ui")
    _wait(browser, '#models button[data-model="fair"]')
    _click_model(browser, XSS_NAME)
    _wait(browser, "#detail table.decisions")
    _hold_still(browser)
    names = [b.text for b in browser.find_elements(By.CSS_SELECTOR, "#models button.link")]
    assert names.count(XSS_NAME) == 1  # the name, character for character
    assert browser.find_element(By.ID, "detail-name").text == XSS_NAME
    assert XSS_REASON in browser.find_element(By.ID, "detail").text
    assert browser.execute_script("return window.__xss === undefined")
    assert browser.find_elements(By.CSS_SELECTOR, "main img, main script, main b") == []
    _screenshot(browser, tmp_path / "markup.png")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_an_empty_gateway_says_there_are_no_models_yet(browser: Any, tmp_path: Path) -> None:
    from safeheal.serve import InMemoryTrafficTable, MemorySink, StaticModelSource

    with open_store(tmp_path / "empty.db") as store:
        traffic = InMemoryTrafficTable()
        app = create_app(
            models=StaticModelSource(),
            traffic=traffic,
            sink=MemorySink(),
            dashboard=Dashboard(store=store, traffic=traffic),
        )
        with ServerThread(app) as server:
            browser.get(f"{server.url}/ui")
            _wait(browser, "#status")
            from selenium.webdriver.support.ui import WebDriverWait

            WebDriverWait(browser, 15).until(
                lambda d: "No models yet" in d.find_element("id", "models").text
            )
            text = browser.find_element("tag name", "main").text
            assert "None: no escalation is waiting." in text
            assert "No outcomes yet" in text
            _screenshot(browser, tmp_path / "empty.png")
            errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
            assert errors == []
