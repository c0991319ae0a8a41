"""Plots of a run, as PNG bytes: the champion against actuals for sample series, and the errors per model."""

import io
import logging
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # no display on servers and workers

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from manymodels.bounds import column_level, lower_column, upper_column  # noqa: E402
from manymodels.columns import MODEL, SERIES_ID, TARGET, TIME, YHAT  # noqa: E402

log = logging.getLogger(__name__)


def forecasts_against_actuals(
    backtest: pd.DataFrame,
    series: list[str],
    history: dict[str, pd.DataFrame] | None = None,
    baseline: str = "seasonal_naive",
) -> bytes:
    """One panel per series: its recent history (history: series id -> ds, y), the test window's actuals, the
    champion with its narrowest interval, a baseline."""
    fig, axes = plt.subplots(len(series), 1, figsize=(10, 2.6 * len(series)), squeeze=False, sharex=False)
    for ax, sid in zip(axes[:, 0], series, strict=True):
        if history and sid in history:
            past = history[sid]
            ax.plot(past[TIME], past[TARGET], color="grey", linewidth=1, label="history")
        window = backtest[backtest[SERIES_ID] == sid]
        actuals = window.drop_duplicates(TIME).sort_values(TIME)
        ax.plot(actuals[TIME], actuals[TARGET], color="black", linewidth=2, label="actual")
        champion = window[window[MODEL] == "champion"]
        ax.plot(champion[TIME], champion[YHAT], color="tab:blue", linewidth=1.5, label="champion")
        bands = sorted(c for c in champion.columns if column_level(c) is not None and champion[c].notna().any())
        if bands:
            level = column_level(bands[0])
            lo, hi = champion[lower_column(level)], champion[upper_column(level)]
            ax.fill_between(champion[TIME], lo, hi, alpha=0.2, label=f"{level}% interval")
        base = window[window[MODEL] == baseline]
        ax.plot(base[TIME], base[YHAT], color="tab:orange", linewidth=1, linestyle="--", label=baseline)
        ax.set_title(f"series {sid}", fontsize=10, loc="left", parse_math=False, usetex=False)  # an id as it is
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=5)
    return _png(fig)


def error_distribution(metrics: pd.DataFrame, metric: str = "smape") -> bytes:
    """A box per model of the per-series error, lying down so that every model's name reads in full."""
    models = sorted(metrics[MODEL].unique(), reverse=True)  # the first name on top
    fig, ax = plt.subplots(figsize=(8, 1.2 + 0.35 * len(models)))
    boxes = [metrics.loc[metrics[MODEL] == m, metric].dropna() for m in models]
    ax.boxplot(boxes, tick_labels=models, orientation="horizontal")
    ax.set_xlabel(f"{metric} per series")
    ax.set_title(f"{metric} on the test window, {metrics[SERIES_ID].nunique()} series", fontsize=10)
    return _png(fig)


def sample_series(metrics: pd.DataFrame, n: int = 4, model: str = "champion", metric: str = "smape") -> list[str]:
    """Series spread across the error range of one model: best, worst and evenly between."""
    ranked = metrics[metrics[MODEL] == model].sort_values(metric)[SERIES_ID].tolist()
    if len(ranked) <= n:
        return ranked
    return [ranked[round(i * (len(ranked) - 1) / (n - 1))] for i in range(n)]


def drawn(name: str, draw: Callable[[], bytes]) -> bytes | None:
    """A plot's PNG, or None if it cannot be drawn, logged: no plot is worth failing a run's publishing for."""
    try:
        return draw()
    except Exception as e:
        log.warning("plot %r not drawn: %s: %s", name, type(e).__name__, e)
        return None


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(fig)
    return buffer.getvalue()
