"""Request bodies to values, or an ApiError naming the problem: pure functions, no I/O.

The predict path avoids pandas and per-value Python work where it can: a C-level pass over the
value types (``set(map(type, ...))``) checks that every value is a JSON number, then NumPy builds
the float64 array in one call.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Mapping
from itertools import chain
from typing import Any

import numpy as np
from numpy.typing import NDArray

from safeheal.serve._errors import ApiError
from safeheal.serve._models import LoadedModel
from safeheal.serve._records import Label

_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,128}")
_NUMBER_TYPES = frozenset({int, float})
_LABEL_TYPES = (int, float, str, bool)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def decode_json(body: bytes) -> Any:
    """The decoded body; 400 if it is empty, not UTF-8, or not JSON."""
    if not body.strip():
        raise ApiError(400, "empty_body", "the request body is empty; expected a JSON object")
    try:
        return _DECODER.decode(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "the request body is not UTF-8 text") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the request body nests too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not valid JSON: {exc}") from None


def expect_object(
    obj: object, allowed: frozenset[str], required: tuple[str, ...]
) -> dict[str, Any]:
    """``obj`` as a dict with only ``allowed`` keys and every ``required`` one; else 422."""
    if not isinstance(obj, dict):
        raise ApiError(
            422, "invalid_body", f"the request body must be a JSON object; got {json_type(obj)}"
        )
    if not obj.keys() <= allowed:
        extra = sorted(set(obj) - allowed)
        raise ApiError(
            422,
            "unknown_field",
            f"unknown field(s) {extra}; expected only {sorted(allowed)}",
            field=str(extra[0]),
        )
    for key in required:
        if key not in obj:
            raise ApiError(422, "missing_field", f"the field `{key}` is required", field=key)
    return obj


def request_id_of(obj: Mapping[str, Any], key: str = "request_id", *, generate: bool) -> str:
    """The request id in ``obj[key]``, checked; a fresh UUID4 hex if absent and ``generate``."""
    value = obj.get(key)
    if value is None and generate:
        return uuid.uuid4().hex
    if not isinstance(value, str) or not _REQUEST_ID.fullmatch(value):
        raise ApiError(
            422,
            "invalid_request_id",
            f"`{key}` must be 1 to 128 printable ASCII characters without spaces; "
            f"got {json_type(value)}" + (f" {value!r:.60}" if isinstance(value, str) else ""),
            field=key,
        )
    return value


def _too_many(n: int, limit: int, what: str) -> ApiError:
    return ApiError(
        413,
        "too_many_rows",
        f"`{what}` has {n} entries; at most {limit} are accepted per request",
        field=what,
    )


def rows_to_array(
    rows: object, model: LoadedModel, max_rows: int, *, booleans_possible: bool = True
) -> NDArray[np.float64]:
    """The rows of a predict request as a float64 array in the model's feature order.

    Rows are either objects keyed by feature name or arrays in feature order, all of one form;
    every value is a finite JSON number. Otherwise a 422 (413 past ``max_rows``) naming the row
    and the feature.

    ``booleans_possible=False`` promises that no value is a JSON boolean (the caller saw no
    ``true`` or ``false`` in the body): then NumPy's own type inference tells numbers from
    anything else, and only a body it rejects pays for the value-by-value diagnosis.
    """
    names = model.feature_names
    k = len(names)
    who = f"model {model.name!r} version {model.version}"
    if not isinstance(rows, list):
        raise ApiError(
            422,
            "invalid_rows",
            f"`rows` must be an array of rows (objects keyed by feature name, or arrays in "
            f"feature order); got {json_type(rows)}",
            field="rows",
        )
    n = len(rows)
    if n == 0:
        raise ApiError(422, "empty_rows", "`rows` is empty; expected at least one row", "rows")
    if n > max_rows:
        raise _too_many(n, max_rows, "rows")
    kinds = set(map(type, rows))
    values: list[Any]
    if kinds == {list}:
        if set(map(len, rows)) != {k}:
            i = next(i for i, r in enumerate(rows) if len(r) != k)
            raise ApiError(
                422,
                "wrong_row_length",
                f"rows[{i}] has {len(rows[i])} values; {who} expects {k}, in the order "
                f"{list(names)}",
                field=f"rows[{i}]",
            )
        values = rows
    elif kinds == {dict}:
        try:
            if set(map(len, rows)) != {k}:
                raise KeyError
            values = list(map(model.pick, rows))
        except KeyError:
            i, missing, extra = next(
                (i, sorted(set(names) - r.keys()), sorted(r.keys() - set(names)))
                for i, r in enumerate(rows)
                if r.keys() != set(names)
            )
            parts = []
            if missing:
                parts.append(f"lacks feature(s) {missing}")
            if extra:
                parts.append(f"has unknown feature(s) {extra}")
            raise ApiError(
                422,
                "wrong_columns",
                f"rows[{i}] {' and '.join(parts)}; {who} expects {list(names)}",
                field=f"rows[{i}].{(missing or extra)[0]}",
            ) from None
    else:
        bad = next((i for i, r in enumerate(rows) if not isinstance(r, list | dict)), None)
        if bad is not None:
            raise ApiError(
                422,
                "invalid_rows",
                f"rows[{bad}] is {json_type(rows[bad])}; each row must be an object keyed by "
                "feature name or an array in feature order",
                field=f"rows[{bad}]",
            )
        raise ApiError(
            422,
            "invalid_rows",
            "`rows` mixes objects and arrays; send every row in the same form",
            field="rows",
        )
    if not booleans_possible:
        try:
            inferred = np.array(values)
        except (ValueError, OverflowError):
            pass  # ragged or nested: diagnosed below
        else:
            # Strings, nulls and huge integers give other kinds; bools cannot be here.
            if inferred.dtype.kind in "fiu" and inferred.shape == (n, k):
                X = inferred.astype(np.float64, copy=False)
                if np.isfinite(X).all():
                    return X
    if not set(map(type, chain.from_iterable(values))) <= _NUMBER_TYPES:
        i, j, v = next(
            (i, j, v)
            for i, row in enumerate(values)
            for j, v in enumerate(row)
            if type(v) not in _NUMBER_TYPES
        )
        field = f"rows[{i}][{j}]" if kinds == {list} else f"rows[{i}].{names[j]}"
        raise ApiError(
            422,
            "wrong_type",
            f"{field} (feature {names[j]!r}) is {json_type(v)}; expected a number",
            field=field,
        )
    try:
        X = np.array(values, dtype=np.float64)
    except OverflowError:
        X = np.array([[_float_or_inf(v) for v in row] for row in values], dtype=np.float64)
    if not np.isfinite(X).all():
        i, j = (int(t) for t in np.argwhere(~np.isfinite(X))[0])
        field = f"rows[{i}][{j}]" if kinds == {list} else f"rows[{i}].{names[j]}"
        raise ApiError(
            422,
            "wrong_type",
            f"{field} (feature {names[j]!r}) is out of the range of a 64-bit float",
            field=field,
        )
    return X


def _float_or_inf(v: int | float) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf


def _label(value: object, field: str) -> Label:
    if not isinstance(value, _LABEL_TYPES):
        raise ApiError(
            422,
            "wrong_type",
            f"{field} is {json_type(value)}; a label must be a number, a string or a boolean",
            field=field,
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ApiError(422, "wrong_type", f"{field} is not a finite number", field=field)
    return value


def parse_feedback(obj: object, max_rows: int) -> list[tuple[str, int, Label]]:
    """(request id, row, label) triples from a feedback body, in one of two forms:

    - ``{"request_id": "r1", "labels": [1, 0, 1]}``: the labels of the rows of one request,
      in order;
    - ``{"labels": [{"request_id": "r1", "row": 0, "label": 1}, ...]}``: labels of any rows of
      any requests (``row`` defaults to 0).

    >>> parse_feedback({"request_id": "r1", "labels": [1, 0]}, 10)
    [('r1', 0, 1), ('r1', 1, 0)]
    """
    body = expect_object(obj, frozenset({"request_id", "labels"}), ("labels",))
    labels = body["labels"]
    if not isinstance(labels, list):
        raise ApiError(
            422,
            "invalid_labels",
            f"`labels` must be an array; got {json_type(labels)}",
            field="labels",
        )
    if not labels:
        raise ApiError(422, "empty_labels", "`labels` is empty; expected at least one", "labels")
    if len(labels) > max_rows:
        raise _too_many(len(labels), max_rows, "labels")
    if "request_id" in body:
        rid = request_id_of(body, generate=False)
        return [(rid, i, _label(v, f"labels[{i}]")) for i, v in enumerate(labels)]
    out: list[tuple[str, int, Label]] = []
    allowed = frozenset({"request_id", "row", "label"})
    for i, item in enumerate(labels):
        where = f"labels[{i}]"
        if not isinstance(item, dict):
            raise ApiError(
                422,
                "invalid_labels",
                f"{where} is {json_type(item)}; without a top-level `request_id`, each label is "
                'an object {"request_id": ..., "row": ..., "label": ...}',
                field=where,
            )
        if not item.keys() <= allowed or "request_id" not in item or "label" not in item:
            raise ApiError(
                422,
                "invalid_labels",
                f"{where} must have `request_id` and `label` (and optionally `row`); "
                f"got keys {sorted(item)}",
                field=where,
            )
        try:
            rid = request_id_of(item, generate=False)
        except ApiError as exc:
            exc.field = f"{where}.request_id"
            raise
        row = item.get("row", 0)
        if isinstance(row, bool) or not isinstance(row, int) or not 0 <= row < 2**31:
            raise ApiError(
                422,
                "wrong_type",
                f"{where}.row must be a non-negative integer; got {json_type(row)}",
                field=f"{where}.row",
            )
        out.append((rid, row, _label(item["label"], f"{where}.label")))
    return out
