"""The gateway in front of a real MLflow registry (a temporary directory) and a real SQLite log."""

from __future__ import annotations

from pathlib import Path

import httpx
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from safeheal.heal import MlflowRegistry
from safeheal.serve import GatewaySettings, ServerThread, app_from_registry
from safeheal.store import SqlInferenceSink

TOKEN = "registry-test-admin-token"


def test_the_champion_is_served_and_a_promotion_loads_the_new_version(tmp_path: Path) -> None:
    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    champion = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    champion.fit(data.data, data.target)
    stump = DecisionTreeClassifier(max_depth=1, random_state=0).fit(data.data, data.target)
    registry = MlflowRegistry.local(tmp_path / "mlflow")
    registry.register("cancer", champion, role="champion", reason="first")
    registry.register("cancer", stump, reason="candidate")

    sink = SqlInferenceSink.open(tmp_path / "log.db")
    app = app_from_registry(
        registry=registry,
        models=["cancer"],
        sink=sink,
        settings=GatewaySettings(admin_token=TOKEN),
        feature_names={"cancer": names},
    )
    rows = data.data[:40]
    body = {"rows": rows.tolist()}
    with ServerThread(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
        first = client.post("/v1/models/cancer/predict", json=body).json()
        promoted = client.post(
            "/v1/admin/models/cancer/promote",
            json={"version": 2},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert promoted.status_code == 200, promoted.text
        second = client.post("/v1/models/cancer/predict", json=body).json()
    assert (first["version"], first["predictions"]) == (1, champion.predict(rows).tolist())
    assert (second["version"], second["predictions"]) == (2, stump.predict(rows).tolist())
    assert [r.version for r in sink.inferences("cancer")] == [1, 2]
    sink.close()
