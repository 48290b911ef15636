"""Real data sets that ship inside installed packages, so nothing is downloaded at run time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Dataset:
    """Features, a binary target and where they came from."""

    name: str
    X: Any  # pandas.DataFrame
    y: Any  # numpy array of 0/1
    description: str


def load_fair() -> Dataset:
    """Fair's 1978 survey on extramarital affairs (6,366 rows, 8 features), from statsmodels.

    The target is whether the respondent reported any affair (about 32 % positive).
    """
    import numpy as np
    from statsmodels.datasets import fair

    frame = fair.load_pandas().data
    X = frame.drop(columns=["affairs"]).astype(np.float64)
    y = (frame["affairs"].to_numpy() > 0).astype(np.int64)
    return Dataset(
        name="fair",
        X=X.reset_index(drop=True),
        y=y,
        description="Fair (1978), Redbook survey of 6,366 women; target: any affair reported",
    )
