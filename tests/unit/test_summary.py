"""What the UI shows of a run: the markdown summary, the best and worst series, the plots."""

import base64
from pathlib import Path

import pandas as pd
from matplotlib.text import Text

from manymodels import plots, storage
from manymodels.evaluation import best_and_worst
from manymodels.summary import RunSummary
from tests.helpers import SUMMARY

MODELS = ["champion", "prophet_tuned", "seasonal_naive"]


def metrics_of(n: int) -> pd.DataFrame:
    rows = [
        {"store": str(i // 3), "item": str(i % 3), "series_id": f"s{i}", "model": m, "smape": 10.0 * i + k}
        for i in range(n)
        for k, m in enumerate(MODELS)
    ]
    return pd.DataFrame(rows)


def test_best_and_worst_rank_by_the_champions_error_and_never_list_a_series_twice():
    rows = best_and_worst(metrics_of(12), ["store", "item"], n=3)
    assert [(r["rank"], r["series_id"]) for r in rows] == [
        ("best", "s0"), ("best", "s1"), ("best", "s2"), ("worst", "s11"), ("worst", "s10"), ("worst", "s9"),
    ]  # fmt: skip
    assert rows[0] == {
        "rank": "best", "series_id": "s0", "store": "0", "item": "0",
        "champion smape": 0.0, "prophet_tuned smape": 1.0, "seasonal_naive smape": 2.0,
    }  # fmt: skip
    few = best_and_worst(metrics_of(4), ["store", "item"], n=3)
    assert [r["series_id"] for r in few] == ["s0", "s1", "s2", "s3"]


def test_summary_markdown_carries_counts_metrics_cost_steps_rejections_and_plot_links():
    text = RunSummary.model_validate(SUMMARY).to_markdown("s3://bucket/run")
    assert "**3** series forecast of 5 (2 rejected); 1,234 rows in" in text
    # names are escaped like any text from the data: seasonal\_naive renders as seasonal_naive
    assert "| champion | 9.500 | - |" in text and "| seasonal\\_naive | 15.250 | 1.000 |" in text
    assert "the champion beat **seasonal\\_naive** on 67% of series (mean smape 9.50 against 15.25)" in text
    assert "(chosen on the folds): prophet\\_tuned 2, auto\\_ets 1." in text
    assert "OWA against Naive2 (below 1 beats it): champion 0.812, seasonal\\_naive 1.100" in text
    assert "80% interval 75%, 95% interval 90%; pinball loss 1.234" in text
    assert "On demand **$0.0015** ($0.000500 per series), on spot **$0.0006**" in text
    assert "read on 2026-11-22" in text and "ingest 1.2, tune 30.0, evaluate 0.5" in text
    assert "CPU seconds a series (2 tuned in this run): 1.750; by step study 1.500, contest 0.250; by model " in text
    assert "prophet\\_tuned 1.250, auto\\_ets 0.125." in text
    assert "| 9-1 | too short |" in text and "| 9-2 | constant target |" in text
    assert "- [errors per model](s3://bucket/run/plots/errors.png)" in text and "Outputs: `s3://bucket/run`" in text


def test_summary_markdown_of_a_run_that_forecast_nothing():
    empty = SUMMARY | {"metrics": {}, "champion_vs_models": {}, "rejected": [], "plots": {}, "intervals": None}
    text = RunSummary.model_validate(empty).to_markdown("out")
    assert "No series was forecast." in text and "Rejected" not in text and "Plots" not in text
    assert f"Outputs: `{Path('out').resolve().as_uri()}`" in text  # where a worker's relative path really is


def test_sample_series_spread_over_the_error_range():
    metrics = metrics_of(10)
    assert plots.sample_series(metrics, n=4) == ["s0", "s3", "s6", "s9"]
    assert plots.sample_series(metrics_of(2), n=4) == ["s0", "s1"]


def test_plots_render_to_png():
    dates = pd.date_range("2024-01-01", periods=7)
    backtest = pd.DataFrame(
        [
            {"series_id": sid, "ds": d, "y": float(i), "model": m, "yhat": float(i) + k}
            for sid in ("s0", "s1")
            for i, d in enumerate(dates)
            for k, m in enumerate(MODELS)
        ]
    )
    history = {"s0": pd.DataFrame({"ds": dates - pd.Timedelta(days=7), "y": range(7)})}  # s1: none at hand
    for png in (
        plots.forecasts_against_actuals(backtest, ["s0", "s1"], history),
        plots.error_distribution(metrics_of(5)),
    ):
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_a_local_plot_reaches_the_ui_as_a_data_url_of_its_bytes(tmp_path):
    png = plots.error_distribution(metrics_of(5))
    (tmp_path / "errors.png").write_bytes(png)
    url = storage.image_url((tmp_path / "errors.png").as_uri())
    assert url.startswith("data:image/png;base64,") and base64.b64decode(url.split(",", 1)[1]) == png


def test_short_and_intermittent_series_are_counted_where_there_are_any():
    plain = RunSummary.model_validate(SUMMARY)
    assert "short history" not in plain.to_markdown("out") and "intermittent" not in plain.to_markdown("out")
    assert "one fold" not in plain.to_markdown("out") + plain.headline()
    assert "under two horizons" not in plain.to_markdown("out")
    counts = SUMMARY["counts"] | {"series_short_history": 3, "series_one_fold": 1, "series_no_fold": 1}
    summary = RunSummary.model_validate(SUMMARY | {"counts": counts | {"series_intermittent": 1}})
    assert (
        summary.headline()
        == "3 series forecast of 5 (2 rejected, 3 on a short history, 1 of them on one fold, 1 on none)"
    )
    text = summary.to_markdown("out")
    assert "3 series on a short history: their folds on fewer points" in text
    assert "1 series too short for two folds: one, on which their untuned candidates" in text
    assert "1 series too short for a fold: the median of seasonal naive, AutoETS and AutoTheta" in text
    assert "1 intermittent series: Croston, TSB, ADIDA and IMAPA among their challengers" in text
    unscored = RunSummary.model_validate(SUMMARY | {"counts": counts | {"series_unscored": 1}}).to_markdown("out")
    assert "1 of them under two horizons long: forecast with no test window of their own, so in no score" in unscored


def test_the_quantiles_share_of_test_points_below_them_is_in_the_ui_summary():
    intervals = SUMMARY["intervals"] | {"quantiles": {"0.1": (0.12, 1.5), "0.9": (0.88, 2.5)}}
    text = RunSummary.model_validate(SUMMARY | {"intervals": intervals}).to_markdown("out")
    assert "Test points at or below the champion's 0.1 quantile 12%, 0.9 quantile 88%." in text


def test_series_ids_are_drawn_literally_and_never_as_mathtext(monkeypatch):
    ids = ["a$\\foo$", "$x^2$"]
    dates = pd.date_range("2024-01-01", periods=7)
    backtest = pd.DataFrame(
        [
            {"series_id": sid, "ds": d, "y": float(i), "model": m, "yhat": float(i) + k}
            for sid in ids
            for i, d in enumerate(dates)
            for k, m in enumerate(MODELS)
        ]
    )
    assert plots.forecasts_against_actuals(backtest, ids).startswith(b"\x89PNG")
    drawn = []
    monkeypatch.setattr(plots, "_png", drawn.append)
    plots.forecasts_against_actuals(backtest, ids)
    titles = [t for t in drawn[0].findobj(Text) if t.get_text().startswith("series ")]
    plots.plt.close(drawn[0])
    assert [t._preprocess_math(t.get_text()) for t in titles] == [(f"series {sid}", False) for sid in ids]


def test_a_hierarchy_that_was_asked_for_and_not_reconciled_fails_the_run_and_says_why():
    why = "the series do not end on the same date: their sums are not comparable"
    summary = RunSummary.model_validate(SUMMARY | {"hierarchy_error": why})
    assert summary.shortfall() == f"the hierarchy asked for was not reconciled: {why}"
    assert f"Hierarchy not reconciled: {why}." in summary.to_markdown("out")
    assert RunSummary.model_validate(SUMMARY).shortfall() is None
