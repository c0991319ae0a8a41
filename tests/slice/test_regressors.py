"""A regressor from the input to the forecast, on the core without Prefect or Ray: ingest on a real Dask cluster,
then each accepted series tuned, its champion chosen and its future forecast with the regressor's given values."""

import numpy as np
import pandas as pd
import pytest

from manymodels import storage
from manymodels.candidates import DEFAULT, TUNED
from manymodels.columns import FUTURE
from manymodels.forecasters.pooled import POOLED, PooledSeasonal
from manymodels.ingest import Ingested, ingest
from manymodels.layout import RunLayout
from manymodels.series import tune_series
from manymodels.settings import DataSpec, TuningSpec
from tests.helpers import GOOD_SERIES, HORIZON, messy_sales

LIFT = 30.0  # sales a promotion adds: enough for Prophet, the one model that reads the promotion, to be champion
ON = np.arange(HORIZON) % 2 == 0  # the promotion over the horizon: every other day
WITHOUT_FUTURE = "1-4"  # the series whose future promotions are not given
TUNING = TuningSpec(trials=3)


def sales_with_promotions() -> tuple[pd.DataFrame, pd.DatetimeIndex]:
    """The good series of messy_sales with a promotion on every fourth day of the month, which lifts their sales,
    and rows with an empty target that give the promotion over the horizon after the last sale, but for one
    series; also the dates of that horizon."""
    sales = messy_sales()
    sales = sales[sales["store"] != 9].assign(promo=lambda f: (f["date"].dt.day % 4 == 0).astype(float))
    sales["sales"] += LIFT * sales["promo"]
    future_days = pd.date_range(sales["date"].max(), periods=HORIZON + 1, freq="D")[1:]
    ids = sales[["store", "item"]].drop_duplicates()
    promotions = pd.DataFrame({"date": future_days, "promo": ON.astype(float)})
    future = ids.merge(promotions, how="cross").assign(sales=np.nan)
    future = future[future["store"].astype(str) + "-" + future["item"].astype(str) != WITHOUT_FUTURE]
    return pd.concat([sales, future], ignore_index=True), future_days


@pytest.fixture(scope="module")
def promoted(dask, tmp_path_factory) -> tuple[DataSpec, Ingested, pd.DatetimeIndex]:
    work = tmp_path_factory.mktemp("regressors")
    sales, future_days = sales_with_promotions()
    sales.to_parquet(work / "sales.parquet")
    spec = DataSpec(
        url=str(work / "sales.parquet"),
        id_cols=["store", "item"],
        time_col="date",
        target_col="sales",
        horizon=HORIZON,
        regressors=["promo"],
    )
    return spec, ingest(spec, RunLayout(str(work), run="run-1")), future_days


def test_a_series_without_the_regressors_future_values_is_rejected(promoted):
    _, ingested, _ = promoted
    assert ingested.rejected["series_id"].tolist() == [WITHOUT_FUTURE]
    assert ingested.rejected["reason"].tolist() == [
        f"regressors need values for the {HORIZON} periods after the last target (0 given)"
    ]
    assert len(ingested.accepted) == len(ingested.series_urls()) == GOOD_SERIES - 1


def test_the_forecast_is_for_the_given_dates_and_lifted_where_the_promotion_is_on(promoted):
    spec, ingested, future_days = promoted
    factors = PooledSeasonal().learn(ingested.run_inputs(spec, TUNING, ""))
    for series_id, url in ingested.series_urls().items():
        frame = storage.read_parquet(url)
        result = tune_series(frame, spec, TUNING, learned={POOLED: factors})
        assert result.forecast["ds"].tolist() == future_days.tolist(), series_id
        assert result.champion in (TUNED, DEFAULT), (series_id, result.fold_errors)
        # the same series with no promotion over the horizon: the same study and champion, another future
        no_promotion = frame.assign(promo=frame["promo"].where(frame["split"] != FUTURE, 0.0))
        unpromoted = tune_series(no_promotion, spec, TUNING, learned={POOLED: factors})
        assert (unpromoted.best_params, unpromoted.champion) == (result.best_params, result.champion), series_id
        with_promotion, without = result.forecast["yhat"].to_numpy(), unpromoted.forecast["yhat"].to_numpy()
        np.testing.assert_allclose(with_promotion[~ON], without[~ON], err_msg=series_id)
        assert (with_promotion[ON] > without[ON] + LIFT / 2).all(), (series_id, with_promotion, without)
