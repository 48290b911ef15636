"""The fleet's tables: the shared traffic split and the controllers' leases on models.

They join the store's one :data:`~safeheal.store._schema.metadata` and are created by the
migration ``0005_fleet``. Several processes on one store (a gateway, one or more controllers)
share a model's split through ``traffic_splits`` and divide the models among themselves through
``control_leases`` (each controller renewing its row in ``control_owners`` every window, so the
others know how many share the fleet).
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, String, Table

from safeheal.store._schema import Document, UTCDateTime, metadata

#: One row per model: its arms as ``[[version, weight], …]`` (the canary's candidate first) and a
#: revision that every write increments, so a reader knows whether its copy is current.
traffic_splits = Table(
    "traffic_splits",
    metadata,
    Column("model", String, primary_key=True),
    Column("arms", Document, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: Which controller runs which model, until when. A lease whose ``expires_at`` has passed is free
#: for any controller to take over; its owner renews it every window while alive.
control_leases = Table(
    "control_leases",
    metadata,
    Column("model", String, primary_key=True),
    # "" for a lease nobody holds
    Column("owner", String, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("acquired_at", UTCDateTime, nullable=False),
    Index("ix_control_leases_owner", "owner"),
)

#: The controllers alive on this store (a heartbeat per controller, renewed with its leases):
#: how many share the fleet, so each claims only its share of the models.
control_owners = Table(
    "control_owners",
    metadata,
    Column("owner", String, primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
)
