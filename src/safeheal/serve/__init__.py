"""The serving gateway: a FastAPI service in front of model versions.

It routes each request to a version by the traffic table's weights (sticky per request id),
answers predictions, takes delayed labels as feedback, logs every inference in batches off the
request path, exposes health and Prometheus metrics, and offers an admin API behind a bearer
token. Deciding and acting belong to ``safeheal.control`` and ``safeheal.heal``; they reach the
gateway through the small Protocols defined here. The admin API acts through ``safeheal.heal``
(:class:`HealingAdmin`: the registry's roles, the ROLLBACK executor, canaries, approvals). With a
:class:`Dashboard` it also serves a read-only dashboard at ``/ui`` (and its JSON under
``/ui/api``): the models, their signals and SLA over time, the decisions with their reasons,
canaries, the bandit's posteriors and the escalations waiting for a human.

>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> from sklearn.preprocessing import StandardScaler
>>> import httpx
>>> data = load_breast_cancer()
>>> models = StaticModelSource()
>>> model = make_pipeline(StandardScaler(), LogisticRegression()).fit(data.data, data.target)
>>> models.add("cancer", 1, model, data.feature_names.tolist())
>>> sink = MemorySink()
>>> app = create_app(models=models, traffic=InMemoryTrafficTable({"cancer": [(1, 100)]}),
...                  sink=sink)
>>> with ServerThread(app) as server:
...     answer = httpx.post(f"{server.url}/v1/models/cancer/predict",
...                         json={"rows": data.data[:2].tolist(), "request_id": "r1"}).json()
>>> answer
{'model': 'cancer', 'version': 1, 'request_id': 'r1', 'predictions': [0, 0]}
>>> [(r.request_id, r.version, r.rows) for r in sink.inferences]  # drained on shutdown
[('r1', 1, 2)]
"""

from safeheal.serve._admin import TrafficAdmin
from safeheal.serve._app import create_app
from safeheal.serve._dashboard import Dashboard, DashboardStore
from safeheal.serve._errors import AdminConflictError, ModelNotFoundError, NotSupportedError
from safeheal.serve._healing import (
    HealingAdmin,
    HealingStore,
    TrafficStore,
    shared_traffic,
    traffic_from_registry,
)
from safeheal.serve._logwriter import LogStats
from safeheal.serve._models import RegistryModelSource, StaticModelSource, as_predictor
from safeheal.serve._protocols import (
    AdminActions,
    CanaryStatus,
    EscalationStatus,
    InferenceSink,
    ModelSource,
    ModelStatus,
    Predictor,
    RegisteredVersion,
    RoleRegistry,
    TrafficTable,
)
from safeheal.serve._records import FeedbackRecord, InferenceRecord, MemorySink
from safeheal.serve._server import ServerThread, app_from_registry, run_server, serve
from safeheal.serve._settings import GatewaySettings
from safeheal.serve._traffic import Arm, InMemoryTrafficTable, bucket, choose_arm

__all__ = [
    "AdminActions",
    "AdminConflictError",
    "Arm",
    "CanaryStatus",
    "Dashboard",
    "DashboardStore",
    "EscalationStatus",
    "FeedbackRecord",
    "GatewaySettings",
    "HealingAdmin",
    "HealingStore",
    "InMemoryTrafficTable",
    "InferenceRecord",
    "InferenceSink",
    "LogStats",
    "MemorySink",
    "ModelNotFoundError",
    "ModelSource",
    "ModelStatus",
    "NotSupportedError",
    "Predictor",
    "RegisteredVersion",
    "RegistryModelSource",
    "RoleRegistry",
    "ServerThread",
    "StaticModelSource",
    "TrafficAdmin",
    "TrafficStore",
    "TrafficTable",
    "app_from_registry",
    "as_predictor",
    "bucket",
    "choose_arm",
    "create_app",
    "run_server",
    "serve",
    "shared_traffic",
    "traffic_from_registry",
]
