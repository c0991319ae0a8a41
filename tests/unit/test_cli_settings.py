"""`manymodels run` in-process: every invalid setting stops it in build(), before any Prefect server is contacted,
with one `error: ` line naming the field and the problem; its help comes from the settings' descriptions."""

import re

import pytest
from typer.testing import CliRunner

from app import cli
from manymodels.settings import ComputeSpec, DataSpec, RunSpec, TuningSpec

REQUIRED = [
    "run",
    "--data",
    "sales.csv",
    "--id-cols",
    "store,item",
    "--time-col",
    "date",
    "--target-col",
    "sales",
    "--output",
    "/tmp/manymodels-cli-test",
]

INVALID = {
    "unknown freq": (["--freq", "fortnightly"], "data.freq", "unknown frequency 'fortnightly'"),
    "unknown holidays": (["--holidays", "XX"], "data.holidays", "no holiday calendar for 'XX'"),
    "horizon 0": (["--horizon", "0"], "data.horizon", "greater than or equal to 1"),
    "horizon over 10000": (["--horizon", "10001"], "data.horizon", "less than or equal to 10000"),
    "folds 1": (["--folds", "1"], "data.folds", "greater than or equal to 2"),
    "folds 11": (["--folds", "11"], "data.folds", "less than or equal to 10"),
    "level 0": (["--levels", "0,80"], "data.levels", "percentages between 0 and 100"),
    "level 100": (["--levels", "80,100"], "data.levels", "percentages between 0 and 100"),
    "six levels": (["--levels", "10,20,30,40,50,60"], "data.levels", "at most 5 items"),
    "level not a number": (["--levels", "80,high"], "data.levels.1", "valid integer"),
    "regressor is an id": (["--regressors", "store"], "data", "regressor columns must be other columns"),
    "regressor is the time": (["--regressors", "date"], "data", "regressor columns must be other columns"),
    "regressor is the target": (["--regressors", "sales"], "data", "regressor columns must be other columns"),
    "regressor is reserved": (["--regressors", "price,split"], "data", "regressor columns must be other columns"),
    "regressor repeats": (["--regressors", "price,price"], "data", "regressor columns repeat"),
    "trials 0": (["--trials", "0"], "tuning.trials", "greater than or equal to 1"),
    "trials over 10000": (["--trials", "10001"], "tuning.trials", "less than or equal to 10000"),
    "unknown metric": (["--metric", "mape"], "tuning.metric", "'smape', 'mase', 'wape' or 'rmse'"),
    "unknown solver": (["--solver", "lbfgs"], "tuning.solver", "'exact' or 'stan'"),
    "solver check over 1": (["--solver-check", "1.5"], "tuning.solver_check", "less than or equal to 1"),
    "no early stopping": (["--early-stopping-rounds", "0"], "tuning.early_stopping_rounds", "greater than or equal"),
    "workers 0": (["--workers", "0"], "compute.workers", "greater than or equal to 1"),
    "series per task 0": (["--series-per-task", "0"], "compute.series_per_task", "greater than or equal to 1"),
    "series per task over 10000": (
        ["--series-per-task", "10001"],
        "compute.series_per_task",
        "less than or equal to 10000",
    ),
    "password in the study storage": (
        ["--optuna-storage", "postgresql://me:hunter2@db/optuna"],
        "compute.optuna_storage",
        "PGPASSWORD",
    ),
    "unknown study storage": (["--optuna-storage", "redis://db/0"], "compute.optuna_storage", "unknown scheme 'redis'"),
    "study storage a path": (["--optuna-storage", "/tmp/studies"], "compute.optuna_storage", "unknown scheme"),
    "local output, remote Ray": (["--ray-address", "10.0.0.1:6379"], None, "a local --output cannot be used"),
    "local output, remote Dask": (["--dask-address", "tcp://10.0.0.1:8786"], None, "--dask-address"),
    "sqlite studies, remote Ray": (
        ["--ray-address", "10.0.0.1:6379", "--optuna-storage", "sqlite:///s.db", "--output", "s3://b/r"],
        None,
        "a sqlite --optuna-storage cannot be used with --ray-address",
    ),
    "forecast share over 1": (["--min-forecast-share", "1.5"], "min_forecast_share", "less than or equal to 1"),
    "forecast share negative": (["--min-forecast-share", "-0.1"], "min_forecast_share", "greater than or equal to 0"),
    "output a pattern": (["--output", "s3://b/runs/[ab]"], "output", "cannot hold *, ?, [ or ]"),
    "output a wildcard": (["--output", "s3://b/runs/*"], "output", "would match other locations"),
    "keep no version": (["--keep-versions", "0"], "keep_versions", "greater than or equal to 1"),
    "unknown duplicates": (["--duplicates", "first"], "data.duplicates", "'fail', 'sum' or 'last'"),
    "unknown fill": (["--fill", "mean"], "data.fill", "'interpolate' or 'zero'"),
    "season length 0": (["--season-length", "0"], "data.season_length", "greater than or equal to 1"),
    "empty id columns": (["--id-cols", ""], "data.id_cols", "at least 1 item"),
    "id columns only commas": (["--id-cols", " , "], "data.id_cols", "at least 1 item"),
}


@pytest.fixture
def executed(monkeypatch) -> list:
    """What would have run: an invalid setting must stop before execute(), which contacts the Prefect server."""
    specs = []
    monkeypatch.setattr(cli, "execute", specs.append)
    monkeypatch.setattr(cli.lifecycle, "ensure_server", lambda: pytest.fail("a Prefect server was asked for"))
    return specs


@pytest.mark.parametrize(("args", "field", "problem"), INVALID.values(), ids=INVALID.keys())
def test_an_invalid_setting_fails_with_one_error_line_naming_the_field(executed, args, field, problem):
    result = CliRunner().invoke(cli.app, REQUIRED + args)

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"error: {field}: " if field else "error: ")
    assert problem in result.stderr
    assert executed == []


def test_valid_settings_reach_execute_with_the_new_flags(executed):
    args = ["--fill", "zero", "--season-length", "12", "--levels", "95, 80", "--regressors", "price, promo"]
    result = CliRunner().invoke(cli.app, REQUIRED + args)

    assert result.exit_code == 0, result.output
    [spec] = executed
    assert (spec.data.fill, spec.data.season_length, spec.data.period) == ("zero", 12, 12)
    assert (spec.data.id_cols, spec.data.levels) == (["store", "item"], [80, 95])
    assert spec.data.regressors == ["price", "promo"]


def test_cli_defaults_are_the_settings_defaults(executed):
    result = CliRunner().invoke(cli.app, REQUIRED)

    assert result.exit_code == 0, result.output
    [spec] = executed
    assert spec == RunSpec(
        data={"url": "sales.csv", "id_cols": ["store", "item"], "time_col": "date", "target_col": "sales"},
        output="/tmp/manymodels-cli-test",
    )


def help_text(*command: str) -> str:
    result = CliRunner().invoke(cli.app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", result.stdout).split())  # the text without rich's frame and wrapping


def test_run_help_is_the_settings_descriptions():
    text = help_text("run")

    assert ComputeSpec.model_fields["series_per_task"].description in text
    assert "1/(2 x the Ray CPUs) of them, at most 100" in text
    for flag in ("--fill", "--season-length"):
        assert flag in text
    for model, fields in [
        (DataSpec, ["url", "id_cols", "freq", "horizon", "folds", "levels", "holidays", "season_length", "fill"]),
        (DataSpec, ["regressors", "duplicates", "non_negative", "encoding", "time_col", "target_col"]),
        (TuningSpec, ["trials", "metric", "seed", "early_stopping_rounds", "solver", "solver_check"]),
        (ComputeSpec, ["ray_address", "dask_address", "workers", "optuna_storage"]),
        (RunSpec, ["output"]),
    ]:
        for field in fields:
            assert model.model_fields[field].description in text, field


def test_demo_help_is_the_settings_descriptions():
    text = help_text("demo")

    for model, field in [(TuningSpec, "trials"), (DataSpec, "horizon"), (RunSpec, "output"), (TuningSpec, "seed")]:
        assert model.model_fields[field].description in text, field
