"""What the Prefect UI shows of a finished run: a markdown summary and the best and worst series."""

import pandas as pd

from manymodels import storage
from manymodels.contract import SERIES_ID
from manymodels.tuning import CHAMPION


def best_and_worst(metrics: pd.DataFrame, id_cols: list[str], n: int = 5, metric: str = "smape") -> list[dict]:
    """The n series with the lowest and the n with the highest error of the champion, with every model's error."""
    table = metrics.pivot(index=SERIES_ID, columns="model", values=metric).sort_values(CHAMPION)
    ids = metrics.drop_duplicates(SERIES_ID).set_index(SERIES_ID)[id_cols]
    picked = [("best", sid) for sid in table.index[:n]]
    picked += [("worst", sid) for sid in table.index[max(n, len(table) - n) :][::-1]]
    return [
        {"rank": rank, SERIES_ID: sid, **ids.loc[sid].to_dict()}
        | {f"{model} {metric}": round(float(table.at[sid, model]), 3) for model in table.columns}
        for rank, sid in picked
    ]


def summary_markdown(summary: dict, output: str, plots: dict[str, str]) -> str:
    """The run's summary as markdown: counts, metrics against baselines, cost, step times, rejections, plots."""
    counts = summary["counts"]
    lines = [
        "# Forecast run",
        f"**{counts['series_forecast']}** series forecast of {counts['series_in']} "
        f"({counts['series_rejected']} rejected); {counts['rows_in']:,} rows in, "
        f"{counts['periods_filled']:,} periods filled, {counts['rows_duplicated']:,} duplicated rows.",
        f"Tuning: {_pairs(summary['tuning'])}; {summary['trials']:,} trials, {summary['prophet_fits']:,} Prophet fits.",
        f"Outputs: `{storage.link(output)}`",
        "",
        "## Accuracy on the test window (mean over series)",
    ]
    metrics = summary["metrics"]
    if metrics:
        names = list(next(iter(metrics.values())))
        lines += ["| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        lines += [f"| {model} | " + " | ".join(_num(v[m]) for m in names) + " |" for model, v in metrics.items()]
        lines.append("")
        if champions := summary.get("champions"):
            lines.append("Champions (lowest error over the rolling-origin folds): " + _pairs(champions) + ".")
            lines.append("")
        for other, win in summary["champion_vs_models"].items():
            lines.append(
                f"- the champion beat **{other}** on {win['share_series_better']:.0%} of series "
                f"(mean {win['metric']} {win['champion_mean']:.2f} against {win['model_mean']:.2f})"
            )
        if owa := summary.get("owa"):
            lines += ["", "OWA against Naive2 (below 1 beats it): " + _pairs({m: f"{v:.3f}" for m, v in owa.items()})]
        if intervals := summary.get("intervals"):
            coverage = ", ".join(f"{level}% interval {share:.0%}" for level, share in intervals["coverage"].items())
            lines += ["", f"Coverage of the champion's intervals: {coverage}; pinball loss {intervals['pinball']:.3f}."]
    else:
        lines.append("No series was forecast.")
    if cost := summary.get("cost"):
        lines += [
            "",
            "## Cost on EC2 (estimate)",
            f"Node-seconds: {_pairs(cost['node_seconds'])}. On demand **${cost['on_demand_usd']:.4f}** "
            f"(${_per_series(cost['on_demand_usd_per_series'])} per series), on spot **${cost['spot_usd']:.4f}** "
            f"(${_per_series(cost['spot_usd_per_series'])} per series); {cost['region']} prices "
            f"read on {cost['prices_read_on']}.",
        ]
    lines += ["", "## Step seconds", _pairs({k: f"{v:.1f}" for k, v in summary["step_seconds"].items()})]
    if rejected := summary["rejected"]:
        lines += ["", f"## Rejected series ({len(rejected)})", "| series | reason |", "|---|---|"]
        lines += [f"| {r[SERIES_ID]} | {r['reason']} |" for r in rejected[:50]]
        if len(rejected) > 50:
            lines.append(f"... and {len(rejected) - 50} more in summary.json")
    if plots:
        lines += ["", "## Plots"] + [f"- [{name}]({url})" for name, url in plots.items()]
    return "\n".join(lines) + "\n"


def _pairs(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _per_series(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"
