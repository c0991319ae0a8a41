import pytest
from pydantic import ValidationError

from manymodels.settings import ComputeSpec, DataSpec, RunSpec

BASE = {"url": "x.csv", "id_cols": ["store"], "time_col": "date", "target_col": "sales"}


@pytest.mark.parametrize(("freq", "period"), [("D", 7), ("W", 52), ("W-MON", 52), ("MS", 12), ("h", 24), ("B", 5)])
def test_season_length_is_inferred_from_the_frequency(freq, period):
    assert DataSpec(**BASE, freq=freq).period == period


def test_season_length_can_be_overridden():
    assert DataSpec(**BASE, season_length=3).period == 3


def test_unknown_frequency_is_rejected_with_its_name():
    with pytest.raises(ValidationError, match="unknown frequency 'fortnightly'"):
        DataSpec(**BASE, freq="fortnightly")


def test_the_shortest_series_forecast_has_a_horizon_and_a_point_and_a_test_window_only_from_two_horizons():
    assert DataSpec(**BASE, horizon=7).min_length == 7 + 1
    assert DataSpec(**BASE, horizon=90, folds=3).min_length == 90 + 1
    spec = DataSpec(**BASE, horizon=7)
    assert (spec.test_length(13), spec.test_length(14), spec.test_length(400)) == (0, 7, 7)


def test_interval_levels_are_percentages_kept_in_order():
    assert DataSpec(**BASE, levels=[95, 80, 95]).levels == [80, 95]
    with pytest.raises(ValidationError, match="percentages between 0 and 100"):
        DataSpec(**BASE, levels=[80, 100])


@pytest.mark.parametrize("bad", [{"id_cols": []}, {"horizon": 0}, {"fill": "mean"}, {"unknown": 1}])
def test_invalid_data_specs_are_refused(bad):
    with pytest.raises(ValidationError):
        DataSpec(**(BASE | bad))


def test_run_spec_is_frozen_and_forbids_extra_fields():
    spec = RunSpec(data=BASE, output="/tmp/x")
    with pytest.raises(ValidationError):
        spec.output = "/tmp/y"
    with pytest.raises(ValidationError):
        RunSpec(data=BASE, output="/tmp/x", tuneing={})


def test_a_database_password_in_the_study_storage_url_is_refused():
    with pytest.raises(ValidationError, match="PGPASSWORD"):
        ComputeSpec(optuna_storage="postgresql://me:hunter2@db/optuna")
    assert ComputeSpec(optuna_storage="postgresql://me@db/optuna").optuna_storage == "postgresql://me@db/optuna"


def test_holidays_name_a_country_with_a_calendar():
    assert DataSpec(**BASE, holidays="US").holidays == "US"
    assert DataSpec(**BASE, holidays="").holidays is None
    with pytest.raises(ValidationError, match="no holiday calendar for 'XX'"):
        DataSpec(**BASE, holidays="XX")


def test_quantiles_are_probabilities_and_bring_the_levels_their_bounds_start_from():
    spec = DataSpec(**BASE, quantiles=[0.95, 0.1, 0.5, 0.9, 0.1])
    assert spec.quantiles == [0.1, 0.5, 0.9, 0.95] and spec.bound_levels == [80, 90, 95]
    with pytest.raises(ValidationError, match="quantiles are probabilities between 0 and 1"):
        DataSpec(**BASE, quantiles=[0.5, 1.0])
