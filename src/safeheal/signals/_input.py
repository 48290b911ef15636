"""Turning user data (NumPy arrays, pandas DataFrames) into columns the detectors can test.

Errors here name the argument, the column and what was expected, so a user never meets a crash
deep inside NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from safeheal.errors import DataError, InsufficientDataError, SchemaError

FloatArray = npt.NDArray[np.float64]


def is_frame(data: object) -> bool:
    """True for a pandas DataFrame (checked without importing pandas)."""
    return hasattr(data, "columns") and hasattr(data, "to_numpy") and hasattr(data, "dtypes")


@dataclass(frozen=True, slots=True)
class Columns:
    """A window split into its numeric block and its categorical columns.

    ``numeric`` is ``(k_numeric, n)``, C-contiguous (one row per feature), ready to sort in place.
    ``present`` marks, per reference feature, whether the window had a usable column for it.
    """

    numeric: FloatArray
    categorical: tuple[npt.NDArray[Any], ...]
    n_rows: int
    present: npt.NDArray[np.bool_]
    missing_columns: tuple[str, ...]
    extra_columns: tuple[str, ...]
    wrong_type_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """The reference's columns: names, and which of them are categorical."""

    names: tuple[str, ...]
    is_categorical: tuple[bool, ...]
    from_frame: bool

    @property
    def numeric_index(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.is_categorical) if not c)

    @property
    def categorical_index(self) -> tuple[int, ...]:
        return tuple(i for i, c in enumerate(self.is_categorical) if c)


def _shape_error(what: str, shape: tuple[int, ...]) -> DataError:
    if len(shape) == 1:
        return DataError(
            f"`{what}` must be 2-D (rows × features); got a 1-D array of shape {shape}. "
            "For a single feature use x.reshape(-1, 1)."
        )
    return DataError(f"`{what}` must be 2-D (rows × features); got an array of shape {shape}")


def layout_of(
    reference: object,
    *,
    categorical: Sequence[int | str] | None,
    feature_names: Sequence[str] | None,
    what: str = "reference",
) -> Layout:
    """Decide the reference's column names and kinds, validating the user's arguments."""
    if is_frame(reference):
        names = tuple(str(c) for c in reference.columns)  # type: ignore[attr-defined]
        if feature_names is not None and tuple(feature_names) != names:
            raise DataError(
                "`feature_names` must match the DataFrame's columns when `reference` is a "
                f"DataFrame; got {list(feature_names)} for columns {list(names)}"
            )
        from_frame = True
    else:
        if reference is None:
            raise DataError(
                f"`{what}` is None; expected a 2-D array or DataFrame (rows × features)"
            )
        arr = np.asarray(reference)
        if arr.ndim != 2:
            raise _shape_error(what, arr.shape)
        k = arr.shape[1]
        if feature_names is None:
            names = tuple(f"x{i}" for i in range(k))
        else:
            names = tuple(str(n) for n in feature_names)
            if len(names) != k:
                raise DataError(
                    f"`feature_names` has {len(names)} names but `{what}` has {k} columns"
                )
        from_frame = False
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataError(f"column names must be unique; repeated: {dup}")
    if not names:
        raise DataError(f"`{what}` has no columns; expected at least one feature")
    is_cat = [False] * len(names)
    for c in categorical or ():
        if isinstance(c, str):
            if c not in names:
                raise DataError(
                    f"`categorical` names column {c!r}, which is not among the columns "
                    f"{list(names)}"
                )
            is_cat[names.index(c)] = True
        elif isinstance(c, int | np.integer) and not isinstance(c, bool):
            if not 0 <= int(c) < len(names):
                raise DataError(
                    f"`categorical` index {int(c)} is out of range for {len(names)} columns"
                )
            is_cat[int(c)] = True
        else:
            raise DataError(f"`categorical` entries must be column indices or names; got {c!r}")
    return Layout(names, tuple(is_cat), from_frame)


def _to_float(col: npt.NDArray[Any], name: str, what: str) -> FloatArray | None:
    """A column as float64, or None when it holds non-numeric values."""
    if col.dtype.kind in "fiub":
        return col.astype(np.float64, copy=False)
    if col.dtype.kind == "O":
        try:
            return col.astype(np.float64)
        except (TypeError, ValueError):
            return None
    return None


def columns_of(data: object, layout: Layout, *, what: str, strict: bool) -> Columns:
    """Split ``data`` into numeric rows and categorical columns in the layout's order.

    ``strict`` (the reference) raises on any problem; otherwise (a window) missing, added and
    wrongly typed columns are reported in the result and their features marked absent.
    """
    names = layout.names
    k = len(names)
    missing: list[str] = []
    extra: list[str] = []
    wrong: list[str] = []
    raw: list[npt.NDArray[Any] | None] = []
    block: FloatArray | None = None
    if is_frame(data):
        frame: Any = data
        cols = [str(c) for c in frame.columns]
        if not layout.from_frame and len(cols) == k and cols != list(names):
            # The reference was an array with generated names; take columns by position.
            cols = list(names)
        colset = set(cols)
        missing = [n for n in names if n not in colset]
        extra = [c for c in cols if c not in set(names)]
        if strict and (missing or extra):
            raise SchemaError(f"`{what}` columns {cols} do not match {list(names)}")
        n_rows = len(frame)
        if cols == list(names) and all(dt.kind in "fiub" for dt in frame.dtypes):
            block = frame.to_numpy(dtype=np.float64, na_value=np.nan)
        position = {c: i for i, c in enumerate(cols)}
        for n in names:
            if n in position:
                raw.append(np.asarray(frame.iloc[:, position[n]].to_numpy()))
            else:
                raw.append(None)
    else:
        if np.ma.isMaskedArray(data):
            # Masked entries are missing values.
            data = np.ma.filled(np.ma.asarray(data).astype(np.float64), np.nan)
        try:
            arr = np.asarray(data)
        except (TypeError, ValueError) as exc:
            raise DataError(f"`{what}` could not be read as an array: {exc}") from None
        if arr.ndim != 2:
            raise _shape_error(what, arr.shape)
        if arr.shape[1] != k:
            raise SchemaError(
                f"`{what}` has {arr.shape[1]} columns; expected {k} ({', '.join(names)}). "
                "Pass a DataFrame to let safeheal match columns by name."
            )
        n_rows = arr.shape[0]
        if arr.dtype.kind in "fiub":
            block = arr.astype(np.float64, copy=False)
        raw = [arr[:, i] for i in range(k)]
    if n_rows == 0:
        raise InsufficientDataError(f"`{what}` has 0 rows; expected at least 1")

    present = np.ones(k, dtype=bool)
    num_idx = layout.numeric_index
    if block is not None and len(num_idx) == k:
        # Fast path: one numeric block, transposed in compiled code.
        from safeheal.signals._ks import transposed

        return Columns(
            numeric=transposed(block),
            categorical=(),
            n_rows=n_rows,
            present=present,
            missing_columns=(),
            extra_columns=(),
            wrong_type_columns=(),
        )
    numeric = np.full((len(num_idx), n_rows), np.nan)
    for row, i in enumerate(num_idx):
        col = raw[i]
        if col is None:
            present[i] = False
            continue
        as_float = _to_float(col, names[i], what)
        if as_float is None:
            if strict:
                raise SchemaError(
                    f"column {names[i]!r} of `{what}` holds non-numeric values "
                    f"(dtype {col.dtype}); list it in `categorical` or convert it to numbers"
                )
            wrong.append(names[i])
            present[i] = False
            continue
        numeric[row] = as_float
    cats: list[npt.NDArray[Any]] = []
    for i in layout.categorical_index:
        col = raw[i]
        if col is None:
            present[i] = False
            cats.append(np.empty(0, dtype=object))
        else:
            cats.append(np.asarray(col, dtype=object))
    return Columns(
        numeric=numeric,
        categorical=tuple(cats),
        n_rows=n_rows,
        present=present,
        missing_columns=tuple(missing),
        extra_columns=tuple(extra),
        wrong_type_columns=tuple(wrong),
    )
