"""Coherent totals: the champions' forecasts and AutoETS's of every sum reconciled, each level adding up, and the
test window never used to reconcile."""

import numpy as np
import pandas as pd
import pytest

from manymodels.columns import SERIES_ID, TARGET, TIME
from manymodels.hierarchy import reconciled
from manymodels.settings import DataSpec
from manymodels.synthetic import make_retail_sales

SPEC = DataSpec(
    url="x", id_cols=["store", "item"], time_col="date", target_col="sales", horizon=14, hierarchy=["store", "item"]
)
H = SPEC.horizon


def seasonal_naive(history: pd.DataFrame, dates) -> np.ndarray:
    return np.resize(history[TARGET].to_numpy()[-7:], len(dates))


@pytest.fixture(scope="module")
def inputs():
    """20 series of two stores, with seasonal naive as each one's champion on two folds, the test window and the
    future."""
    sales = make_retail_sales(20, days=200, seed=4).rename(columns={"date": TIME, "sales": TARGET})
    sales[SERIES_ID] = sales["store"].astype(str) + "-" + sales["item"].astype(str)
    sales["split"] = np.where(sales[TIME] > sales[TIME].max() - pd.Timedelta(days=H), "test", "train")
    ids = sales[["store", "item", SERIES_ID]].drop_duplicates()
    test, future, folds = [], [], []
    for sid, rows in sales.groupby(SERIES_ID):
        known = rows[rows["split"] == "train"]
        for k in (2, 1):
            history, window = known.iloc[: -k * H], known.iloc[len(known) - k * H :].iloc[:H]
            folds.append(window[[SERIES_ID, TIME, TARGET]].assign(yhat=seasonal_naive(history, window)))
        window = rows[rows["split"] == "test"]
        test.append(window[[SERIES_ID, TIME]].assign(yhat=seasonal_naive(known, window)))
        dates = pd.date_range(rows[TIME].max(), periods=H + 1, freq="D")[1:]
        future.append(pd.DataFrame({SERIES_ID: sid, TIME: dates, "yhat": seasonal_naive(rows, dates)}))
    return sales, ids, *(pd.concat(f, ignore_index=True) for f in (test, future, folds))


def test_every_level_adds_up_and_is_scored(inputs):
    sales, ids, test, future, folds = inputs
    table, scores = reconciled(sales[[SERIES_ID, TIME, TARGET, "split"]], ids, test, future, folds, SPEC)
    assert ids["store"].nunique() == 2
    sizes = table.groupby(["window", "level"])["unique_id"].nunique()
    assert sizes.to_dict() == {
        (w, lv): n for w in ("future", "test") for lv, n in (("store", 2), ("store/item", 20), ("total", 1))
    }
    items = table[table["level"] == "store/item"]
    for window in ("test", "future"):
        for method in ("bottom_up", "mint_shrink"):
            rows = table[table["window"] == window]
            total = rows[rows["level"] == "total"].set_index(TIME)[method]
            stores = rows[rows["level"] == "store"].groupby(TIME)[method].sum()
            bottom = items[items["window"] == window].groupby(TIME)[method].sum()
            np.testing.assert_allclose(total, stores.loc[total.index], rtol=1e-9)
            np.testing.assert_allclose(total, bottom.loc[total.index], rtol=1e-9)
    # bottom-up keeps the champions' own forecasts of the series
    base = items[items["window"] == "test"]
    np.testing.assert_allclose(base["bottom_up"], base["base"])
    actual = sales[sales["split"] == "test"].groupby(TIME)[TARGET].sum()
    got = table[(table["level"] == "total") & (table["window"] == "test")].set_index(TIME)["y"]
    np.testing.assert_allclose(got, actual.loc[got.index])
    assert set(scores) == {"total", "store", "store/item"}
    assert all(v["smape"] > 0 and v["mase"] > 0 for by in scores.values() for v in by.values())


def test_the_test_window_is_never_used_to_reconcile(inputs):
    sales, ids, test, future, folds = inputs
    first, _ = reconciled(sales[[SERIES_ID, TIME, TARGET, "split"]], ids, test, future, folds, SPEC)
    changed = sales.assign(**{TARGET: sales[TARGET].where(sales["split"] != "test", 1e6)})
    again, _ = reconciled(changed[[SERIES_ID, TIME, TARGET, "split"]], ids, test, future, folds, SPEC)
    test_rows = first["window"] == "test"
    np.testing.assert_allclose(first.loc[test_rows, "mint_shrink"], again.loc[test_rows, "mint_shrink"])
    assert (again.loc[test_rows, "y"] >= 1e6).all()


def test_without_common_folds_only_bottom_up_is_made(inputs):
    sales, ids, test, future, folds = inputs
    table, scores = reconciled(sales[[SERIES_ID, TIME, TARGET, "split"]], ids, test, future, folds.iloc[:0], SPEC)
    assert "mint_shrink" not in table and set(scores["total"]) == {"base", "bottom_up"}
    one_without = folds[folds[SERIES_ID] != folds[SERIES_ID].iloc[0]]  # a series too short for a fold has none
    table, scores = reconciled(sales[[SERIES_ID, TIME, TARGET, "split"]], ids, test, future, one_without, SPEC)
    assert "mint_shrink" not in table and set(scores["total"]) == {"base", "bottom_up"}


def test_series_that_end_apart_are_refused(inputs):
    sales, ids, test, future, folds = inputs
    ragged = sales.drop(index=sales.index[(sales[SERIES_ID] == "1-1") & (sales[TIME] == sales[TIME].max())])
    with pytest.raises(ValueError, match="do not end on the same date"):
        reconciled(ragged[[SERIES_ID, TIME, TARGET, "split"]], ids, test, future, folds, SPEC)


def test_a_hierarchy_must_name_the_id_columns():
    with pytest.raises(ValueError, match="must list the id columns"):
        DataSpec(url="x", id_cols=["store", "item"], time_col="date", target_col="sales", hierarchy=["store"])


def test_a_hierarchy_asked_for_that_cannot_be_reconciled_is_flagged_and_fails_the_run(dask, tmp_path):
    from manymodels.evaluation import assemble_outputs
    from manymodels.ingest import ingest
    from manymodels.jobs import TuneOutcome
    from manymodels.layout import RunLayout
    from manymodels.results import result_files
    from manymodels.series import tune_series
    from manymodels.settings import TuningSpec
    from manymodels.summary import RunSummary

    sales = make_retail_sales(2, days=70, seed=4)
    ragged = sales.drop(index=sales.index[(sales["item"] == 2) & (sales["date"] == sales["date"].max())])
    ragged.to_csv(tmp_path / "in.csv", index=False)
    data = SPEC.model_copy(update={"url": str(tmp_path / "in.csv")})
    ingested = ingest(data, RunLayout(str(tmp_path / "out"), run="r1"))
    outcome, results = TuneOutcome.empty(), result_files(ingested.layout)
    for series_id, url in ingested.series_urls().items():
        result = tune_series(pd.read_parquet(url), data, TuningSpec(trials=1))
        results.save(key := f"tune-{series_id}", result)
        outcome.add(key, result, "tuned")
    run = assemble_outputs(ingested, outcome, results.frames(outcome.results), data, TuningSpec(trials=1), {})
    assert run.scores.counts.series_forecast == 2 and run.hierarchy.empty
    assert "do not end on the same date" in run.scores.hierarchy_error
    summary = RunSummary(**dict(run.scores), flow_run_id="r", step_seconds={}, step_started_at={}, plots={})
    assert summary.shortfall().startswith("the hierarchy asked for was not reconciled: the series do not end")
