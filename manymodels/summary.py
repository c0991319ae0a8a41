"""The run's summary as one typed model (summary.json), with the sentences the terminal and the UI both show."""

import re
from collections import Counter
from urllib.parse import quote

from pydantic import BaseModel

from manymodels import storage

Scores = dict[str, float | None]


class Counts(BaseModel):
    series_in: int
    series_forecast: int
    series_rejected: int
    series_short_history: int = 0  # forecast on its folds with fewer than two seasons or horizons before them
    series_one_fold: int = 0  # too short for two folds: the untuned candidates compared on one, Prophet untuned
    series_no_fold: int = 0  # too short for one: the fixed median, with its members' own intervals
    series_unscored: int = 0  # under two horizons: forecast by the fixed median, with no test window to score
    series_intermittent: int = 0  # with Croston, TSB, ADIDA and IMAPA among their challengers
    rows_in: int
    rows_duplicated: int
    periods_filled: int


class Rejection(BaseModel):
    series_id: str
    reason: str


class ChampionWin(BaseModel):
    """The champion against one other model on the test window."""

    metric: str
    champion_mean: float
    model_mean: float
    share_series_better: float
    mean_improvement: float
    relative_improvement: float


class Selection(BaseModel):
    """Whether the champion contest helped, on the test window: how often the chosen model was the best candidate
    there, and the OWA of always using one model beside the champion's."""

    metric: str
    champion_best_share: float  # series whose champion had the lowest error of the candidates on the test window
    champion_owa: float | None
    best_single_model: str | None  # the candidate with the lowest OWA when used for every series
    best_single_owa: float | None

    def line(self) -> str:
        text = f"The champion was the best candidate on the test window for {self.champion_best_share:.0%} of series"
        if self.champion_owa is None or self.best_single_owa is None:
            return text + "."
        verdict = "helped" if self.champion_owa <= self.best_single_owa else "did not help"
        return (
            f"{text}; champion OWA {self.champion_owa:.3f} against {self.best_single_owa:.3f} for always "
            f"{self.best_single_model}: the contest {verdict}."
        )


class RunChoice(BaseModel):
    """The champions chosen with the whole run (run_selection): what always choosing each candidate would have
    scored on the folds (the prior each series' fold errors were shrunk toward), and the champions it changed."""

    weight: float  # folds' worth of weight of the prior against a series' own folds
    series_on_folds: int  # series scored on folds, which the prior was learned on
    always_on_folds: dict[str, float]  # candidate -> its fold errors' sum over the baseline's on the same series
    changed: int  # series whose champion the run's evidence changed
    moves: dict[str, int]  # "own choice -> run's choice" -> series
    pooled_corrections: dict[str, float] = {}  # level -> the run's conformal correction, in units of a series' scale
    series_pooled: int = 0  # series whose folds held too few scores for a level: calibrated by the run's
    forecast_again: dict[str, int] = {}  # the series forecast again (changed or pooled), by their first champion

    def line(self) -> str:
        best = min(self.always_on_folds, key=self.always_on_folds.get, default=None)
        text = f"Chosen with the whole run: {self.changed} champions changed, {self.series_pooled} series' intervals"
        text += " calibrated on the run's pooled scores"
        if best is None:
            return text + " (no series had folds)."
        return f"{text}; on the folds, always {best} would have scored {self.always_on_folds[best]:.3f} of the median."


class CpuPerSeries(BaseModel):
    """Where a series' CPU went, as the mean over the series tuned in this run (a cached result spent none): by step
    of its tuning task, and by model (each model's fits and forecasts in every step, the tuned Prophet's trials
    too)."""

    series: int
    by_step: dict[str, float]
    by_model: dict[str, float]

    def line(self) -> str:
        total = sum(self.by_step.values())
        return (
            f"CPU seconds a series ({self.series} tuned in this run): {total:.3f}; by step "
            + _pairs({k: f"{v:.3f}" for k, v in self.by_step.items()})
            + "; by model "
            + _pairs({k: f"{v:.3f}" for k, v in self.by_model.items()})
            + "."
        )


class Intervals(BaseModel):
    coverage: dict[str, float]  # interval level (percent) -> share of test points inside
    pinball: float
    quantiles: dict[str, tuple[float, float]] = {}  # quantile -> (share of test points at or below it, pinball)


class Cost(BaseModel):
    prices_read_on: str
    region: str
    node_seconds: dict[str, float]
    on_demand_usd: float
    on_demand_usd_per_series: float | None
    spot_usd: float
    spot_usd_per_series: float | None
    priced_as: dict[str, str] = {}  # a type missing from the price table -> the listed type it was priced as
    unpriced: dict[str, float] = {}  # types with no price and no known vCPUs -> node-seconds left out of the totals


class RunScores(BaseModel):
    """What the evaluation step finds: counts, rejections, accuracy against the baselines, cost, manifest."""

    counts: Counts
    rejected: list[Rejection]
    empty_files: list[str]
    tuning: dict[str, int]  # series tuned, resumed, cached
    trials: int
    studies_stopped_early: int = 0  # studies ended by early_stopping_rounds
    prophet_fits: int
    fits_by_solver: dict[str, int] = {}  # exact, stan, fallback (Stan after the exact solver's check), constant
    solver_check: dict[str, float] | None = None  # evaluation.solver_check, where --solver-check sampled series
    metrics: dict[str, Scores]  # model -> metric -> mean over series
    metrics_by: dict[str, dict[str, dict[str, Scores]]]  # id column -> value -> model -> metric -> mean
    champions: dict[str, int]
    models_dropped: dict[str, int] = {}  # challenger -> series whose contest it left by raising on a fold
    cpu_per_series: CpuPerSeries | None = None  # None: every result came from the cache
    champion_vs_models: dict[str, ChampionWin]
    owa: dict[str, float]  # per model: its OWA when used for every series
    selection: Selection | None = None
    run_choice: RunChoice | None = None
    intervals: Intervals | None
    hierarchy: dict[str, dict[str, dict[str, float]]] | None = None  # level -> forecast -> metric (--hierarchy)
    hierarchy_error: str | None = None  # why the hierarchy asked for could not be reconciled: the run failed
    cost: Cost
    manifest: dict


class RunSummary(RunScores):
    """summary.json: the scores and the run's own record (flow run, step times, plots)."""

    flow_run_id: str
    step_seconds: dict[str, float]
    step_started_at: dict[str, float]  # Unix times, to line up with machine metrics
    plots: dict[str, str]  # name -> URL
    published: bool = True  # False: the run fell short, and the published set was left as it was
    previously_published: str | None = None  # the run whose set was published when this run began
    versions: list[str] = []  # the published sets kept at the location after this one, newest first

    def publishing_line(self) -> str:
        """What happened to the location's published outputs."""
        if self.published:
            return (
                f"Published as version {self.flow_run_id}; versions kept: {', '.join(self.versions)} "
                "(`manymodels versions` lists them, `manymodels restore` publishes one again)."
            )
        if self.previously_published:
            return f"Nothing published: the outputs of run {self.previously_published} were left as they were."
        return "Nothing published: the location had no published outputs, and still has none."

    def shortfall(self, min_share: float = 0.0) -> str | None:
        """Why the run failed, if it forecast no series, or a share of its series under min_share (the counts and
        the most common reason), or could not reconcile the hierarchy it was asked for."""
        c = self.counts
        if c.series_forecast and c.series_forecast >= min_share * c.series_in:
            if self.hierarchy_error:
                return f"the hierarchy asked for was not reconciled: {self.hierarchy_error}"
            return None
        common = Counter(r.reason for r in self.rejected).most_common(1)
        reason = f"; most common reason: {common[0][0]} ({common[0][1]} series)" if common else ""
        if not c.series_forecast:
            return f"no series was forecast: {c.series_rejected} of {c.series_in} rejected{reason}"
        return (
            f"too few series forecast: {c.series_forecast} of {c.series_in} ({c.series_forecast / c.series_in:.0%}), "
            f"under the {min_share:.0%} this run requires; {c.series_rejected} rejected{reason}"
        )

    def headline(self) -> str:
        c = self.counts
        short = f", {c.series_short_history} on a short history" if c.series_short_history else ""
        short += f", {c.series_one_fold} of them on one fold" if c.series_one_fold else ""
        short += f", {c.series_no_fold} on none" if c.series_no_fold else ""
        return f"{c.series_forecast} series forecast of {c.series_in} ({c.series_rejected} rejected{short})"

    def champions_line(self) -> str:
        line = "Champions (chosen on the folds): " + _pairs(self.champions) + "."
        if self.models_dropped:
            line += f" Left out of some series' contest, having raised: {_pairs(self.models_dropped)}."
        return line

    def champion_lines(self, bold: str = "") -> list[str]:
        return [
            f"the champion beat {bold}{other}{bold} on {win.share_series_better:.0%} of series "
            f"(mean {win.metric} {win.champion_mean:.2f} against {win.model_mean:.2f})"
            for other, win in self.champion_vs_models.items()
        ]

    def owa_line(self) -> str:
        return "OWA against Naive2 (below 1 beats it): " + _pairs({m: f"{v:.3f}" for m, v in self.owa.items()})

    def intervals_line(self) -> str:
        coverage = ", ".join(f"{level}% interval {share:.0%}" for level, share in self.intervals.coverage.items())
        below = ", ".join(f"{q} quantile {share:.0%}" for q, (share, _) in self.intervals.quantiles.items())
        quantiles = f" Test points at or below the champion's {below}." if below else ""
        return (
            f"Coverage of the champion's intervals: {coverage}; pinball loss {self.intervals.pinball:.3f}.{quantiles}"
        )

    def hierarchy_line(self) -> str:
        levels = "; ".join(
            f"{level}: " + ", ".join(f"{name} {scores['smape']:.2f}" for name, scores in by_forecast.items())
            for level, by_forecast in self.hierarchy.items()
        )
        return f"Reconciled across the hierarchy, sMAPE on the test window per level: {levels}."

    def steps_line(self) -> str:
        return _pairs({k: f"{v:.1f}" for k, v in self.step_seconds.items()})

    def to_markdown(self, output: str) -> str:
        """The UI's summary: counts, metrics against baselines, cost, step times, rejections, plots. Every name and
        text in it (series ids, reasons, models, instance types) is data, and is shown as literal text."""
        safe = self._escaped()
        c = safe.counts
        lines = [
            "# Forecast run",
            f"**{c.series_forecast}** series forecast of {c.series_in} ({c.series_rejected} rejected); "
            f"{c.rows_in:,} rows in, {c.periods_filled:,} periods filled, {c.rows_duplicated:,} duplicated rows."
            + (
                f" {c.series_short_history:,} series on a short history: their folds on fewer points before them than "
                "two seasons or two horizons."
                if c.series_short_history
                else ""
            )
            + (
                f" {c.series_one_fold:,} series too short for two folds: one, on which their untuned candidates and "
                "the fixed median competed; Prophet kept its defaults."
                if c.series_one_fold
                else ""
            )
            + (
                f" {c.series_no_fold:,} series too short for a fold: the median of seasonal naive, AutoETS and "
                "AutoTheta, with its members' own intervals (uncalibrated)."
                if c.series_no_fold
                else ""
            )
            + (
                f" {c.series_unscored:,} of them under two horizons long: forecast with no test window of their own, "
                "so in no score."
                if c.series_unscored
                else ""
            )
            + (
                f" {c.series_intermittent:,} intermittent series: Croston, TSB, ADIDA and IMAPA among their "
                "challengers, tuned and chosen on RMSE where the run's metric is sMAPE."
                if c.series_intermittent
                else ""
            ),
            f"Tuning: {_pairs(safe.tuning)}; {safe.trials:,} trials ({safe.studies_stopped_early:,} studies stopped "
            f"early), {safe.prophet_fits:,} Prophet fits"
            + (f" ({_pairs(safe.fits_by_solver)})." if safe.fits_by_solver else "."),
            *self._solver_check_markdown(),  # numbers only
            f"Outputs: {_code(storage.link(output))}. {self.publishing_line()}",
            "",
            "## Accuracy on the test window (mean over series)",
            *(safe._accuracy_markdown() or ["No series was forecast."]),
            *safe._cost_markdown(),
            "",
            "## Step seconds",
            safe.steps_line(),
            *([f"\n{safe.cpu_per_series.line()}"] if safe.cpu_per_series else []),
            *safe._rejected_markdown(),
        ]
        if self.plots:
            lines += ["", "## Plots"] + [
                f"- [{_escape(name)}]({_destination(url)})" for name, url in self.plots.items()
            ]
        return "\n".join(lines) + "\n"

    def _solver_check_markdown(self) -> list[str]:
        check = self.solver_check
        if not check:
            return []
        return [
            f"Solver check on {check['series']:.0f} series: the exact fit's log posterior over Stan's at least "
            f"{check['min_log_posterior_gain']:.3g}; forecasts at most {check['max_forecast_gap']:.2%} apart."
        ]

    def _escaped(self) -> "RunSummary":
        """This summary with every string in it, keys too, escaped for markdown (the plots and manifest left out)."""
        return _escape_all(self.model_copy(update={"plots": {}, "manifest": {}}))

    def _accuracy_markdown(self) -> list[str]:
        if not self.metrics:
            return []
        names = list(next(iter(self.metrics.values())))
        lines = ["| model | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
        lines += [f"| {model} | " + " | ".join(_num(v[m]) for m in names) + " |" for model, v in self.metrics.items()]
        lines.append("")
        if self.champions:
            lines += [self.champions_line(), ""]
        lines += [f"- {line}" for line in self.champion_lines(bold="**")]
        if self.owa:
            lines += ["", self.owa_line()]
        if self.selection:
            lines += ["", self.selection.line()]
        if self.run_choice:
            lines += ["", self.run_choice.line()]
        if self.intervals:
            lines += ["", self.intervals_line()]
        if self.hierarchy:
            lines += ["", self.hierarchy_line()]
        if self.hierarchy_error:
            lines += ["", f"Hierarchy not reconciled: {self.hierarchy_error}."]
        return lines

    def _cost_markdown(self) -> list[str]:
        c = self.cost
        lines = [
            "",
            "## Cost on EC2 (estimate)",
            f"Node-seconds: {_pairs(c.node_seconds)}. On demand **${c.on_demand_usd:.4f}** "
            f"(${_per_series(c.on_demand_usd_per_series)} per series), on spot **${c.spot_usd:.4f}** "
            f"(${_per_series(c.spot_usd_per_series)} per series); {c.region} prices read on {c.prices_read_on}.",
        ]
        if c.priced_as:
            lines.append(
                "Not in the price table, priced as the cheapest listed type with as many vCPUs: "
                + ", ".join(f"{kind} as {listed}" for kind, listed in c.priced_as.items())
                + "."
            )
        if c.unpriced:
            lines.append(
                "Not priced (not in the price table, vCPUs unknown) and left out of the totals: "
                + ", ".join(f"{kind} {seconds:,.1f} node-seconds" for kind, seconds in c.unpriced.items())
                + "."
            )
        return lines

    def _rejected_markdown(self, shown: int = 50) -> list[str]:
        if not self.rejected:
            return []
        lines = ["", f"## Rejected series ({len(self.rejected)})", "| series | reason |", "|---|---|"]
        lines += [f"| {r.series_id} | {r.reason} |" for r in self.rejected[:shown]]
        if len(self.rejected) > shown:
            lines.append(f"... and {len(self.rejected) - shown} more in summary.json")
        return lines


_MARKDOWN = str.maketrans({c: "\\" + c for c in "\\`*_[]|~"} | {"&": "&amp;", "<": "&lt;", ">": "&gt;"})


def _escape(text: object) -> str:
    """Data as literal text in markdown, in a sentence or a table cell: no emphasis, code, link, HTML, table cell
    or line of its own."""
    return " ".join(str(text).splitlines()).translate(_MARKDOWN)


def _escape_all(value: object) -> object:
    """Every string in a value escaped: in models' fields, dicts' keys and values, lists."""
    if isinstance(value, BaseModel):
        return value.model_copy(update={name: _escape_all(getattr(value, name)) for name in type(value).model_fields})
    if isinstance(value, dict):
        return {_escape(k) if isinstance(k, str) else k: _escape_all(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escape_all(v) for v in value]
    return _escape(value) if isinstance(value, str) else value


def _code(text: str) -> str:
    """text as an inline code span, whatever backticks it holds."""
    text = " ".join(text.splitlines())
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _destination(url: str) -> str:
    """url as a markdown link's target: spaces, parentheses, angle brackets and new lines percent-encoded."""
    return quote(url, safe=":/?#[]@!$&'*+,;=%~")


def _pairs(values: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in values.items())


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _per_series(value: float | None) -> str:
    return "-" if value is None else f"{value:.6f}"
