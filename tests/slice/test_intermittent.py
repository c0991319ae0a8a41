"""Intermittent demand of known structure through the study and the contest: recognised before its folds, with
Croston, TSB, ADIDA and IMAPA among its challengers, tuned and chosen on RMSE rather than sMAPE."""

import numpy as np
import pandas as pd
import pytest

from manymodels.candidates import Candidates
from manymodels.forecasters import registry
from manymodels.forecasters.intermittent import Intermittent
from manymodels.metrics import rmse
from manymodels.prepare import prepare_series
from manymodels.series import tune_series
from manymodels.settings import DataSpec, TuningSpec
from manymodels.splits import SeriesSplits
from manymodels.synthetic import make_intermittent, make_retail_sales

INTERMITTENT = [m.name for m in registry.challengers() if isinstance(m, Intermittent)]

SPEC = DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales", horizon=14)


def prepared(sales: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    raw = sales.rename(columns={"date": "ds", "sales": "y"}).assign(series_id="s")
    return prepare_series(raw.assign(row=range(len(raw))), SPEC)


@pytest.fixture(scope="module")
def intermittent():
    return prepared(make_intermittent(1, days=500, seed=2))


def test_intermittent_series_compete_with_the_intermittent_models_scored_by_rmse_on_every_fold(intermittent):
    series, profile = intermittent
    assert profile["intermittent"] and profile["zero_share"] > 0.7
    result = tune_series(series, SPEC, TuningSpec(trials=2, seed=0))
    assert set(INTERMITTENT) <= set(result.fold_errors)
    splits = SeriesSplits.of(series, SPEC)
    candidates = Candidates(splits, SPEC)
    by_fold = []
    for cut, end in splits.folds:
        history, window, actual = splits.fold(cut, end)
        by_fold.append(rmse(actual, candidates.point("croston", history, window)))
    assert result.fold_errors["croston"] == pytest.approx(np.mean(by_fold))
    assert (result.forecast["yhat"] >= 0).all() and result.forecast["yhat"].mean() == pytest.approx(1.0, rel=0.5)


def test_smooth_sales_get_no_intermittent_models():
    series, profile = prepared(make_retail_sales(1, days=500, seed=0))
    assert not profile["intermittent"]
    result = tune_series(series, SPEC, TuningSpec(trials=2, seed=0))
    assert not set(INTERMITTENT) & set(result.fold_errors)
