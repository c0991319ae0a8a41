"""Champions chosen with the whole run: each series' fold errors shrunk toward the run's (run_selection)."""

import dataclasses

import numpy as np
import pytest

from manymodels.champion import DEFAULT_RULE, choose_champion
from manymodels.ensembles import MEDIAN
from manymodels.run_selection import RunPrior, choose_with_the_run, learn_prior, rechosen, shrunk

ETS, THETA, NAIVE, TUNED = "auto_ets", "auto_theta", "naive", "prophet_tuned"


@dataclasses.dataclass
class Series:
    series_id: str
    errors_by_fold: dict[str, list[float]]
    models: tuple[str, ...] = (MEDIAN, ETS, THETA, NAIVE)
    champion: str = MEDIAN
    scaled_scores: dict[str, list[float]] = dataclasses.field(default_factory=lambda: {"80": [0.0] * 8})


def on_folds(series_id: str, median: float, **ratios: float) -> Series:
    """A series of two folds whose candidates' errors are the median's times their ratio on each fold."""
    errors = {MEDIAN: [median, median]} | {m: [median * r, median * r] for m, r in ratios.items()}
    return Series(series_id, errors, champion=choose_champion(errors))


RUN = [on_folds(f"s{i}", 10.0 + i, auto_ets=0.6, auto_theta=0.9, naive=1.5) for i in range(9)]


def test_the_prior_is_what_always_one_candidate_would_have_scored_on_the_folds_against_the_baseline():
    odd = on_folds("odd", 1.0, auto_ets=50.0, auto_theta=0.9, naive=1.5)  # a small error, its ratio far off
    prior = learn_prior([*RUN, odd, Series("short", {})])
    medians = sum(10.0 + i for i in range(9))
    assert np.exp(prior.log_ratio[ETS]) == pytest.approx((0.6 * medians + 50.0) / (medians + 1.0))
    assert np.exp(prior.log_ratio[THETA]) == pytest.approx(0.9) and prior.log_ratio[MEDIAN] == 0
    assert prior.folds == 2 * 10 and prior.weight == DEFAULT_RULE.run_weight


def test_errors_that_cannot_be_compared_are_left_out_of_the_prior():
    broken = Series("b", {MEDIAN: [0.0, 0.0], ETS: [1.0, 1.0]})  # a perfect baseline: no ratio
    failed = Series("f", {MEDIAN: [2.0, 2.0], ETS: [np.nan, 1.0], THETA: [1.0, 1.0]})
    prior = learn_prior([broken, failed])
    assert set(prior.log_ratio) == {MEDIAN, THETA} and prior.folds == 4


def test_a_series_with_no_fold_takes_the_runs_choice_among_its_own_candidates():
    short = Series("short", {}, models=(MEDIAN, THETA, NAIVE))  # AutoETS did not compete on it
    prior = learn_prior(RUN)
    assert rechosen(short, prior) == THETA  # no margin: it guards against a series' own noise
    assert rechosen(dataclasses.replace(short, models=(MEDIAN, ETS, THETA)), prior) == ETS
    assert rechosen(short, learn_prior(RUN[:0])) == MEDIAN and choose_champion({}) == MEDIAN  # nothing to go on


def test_a_series_own_folds_weigh_their_count_against_the_runs_weight():
    lucky = on_folds("lucky", 10.0, auto_ets=1.0, auto_theta=1.1, naive=0.7)  # naive won its two folds
    prior, weight = learn_prior(RUN), DEFAULT_RULE.run_weight
    mixed = shrunk(lucky, prior, MEDIAN)
    expected = (2 * np.log(0.7) + weight * np.log(1.5)) / (2 + weight)
    assert np.mean(mixed[NAIVE]) / np.mean(mixed[MEDIAN]) == pytest.approx(np.exp(expected))
    assert lucky.champion == NAIVE and rechosen(lucky, prior) == ETS
    alone = dataclasses.replace(DEFAULT_RULE, run_weight=0.0)  # no weight: the series' own choice
    assert rechosen(lucky, learn_prior(RUN, alone), alone) == NAIVE


def test_the_margins_shrink_with_the_series_own_share_of_the_evidence():
    close = on_folds("close", 10.0, auto_ets=0.9)  # 10% below the median: short of the 20% a single model must be
    assert close.champion == MEDIAN
    prior = RunPrior({MEDIAN: 0.0, ETS: float(np.log(0.9))}, weight=DEFAULT_RULE.run_weight, folds=100)
    assert rechosen(close, prior) == ETS  # its margin, 0.2 * 2 / (2 + weight)
    assert rechosen(close, dataclasses.replace(prior, weight=0.0)) == MEDIAN  # the whole margin


def test_shrinking_keeps_each_folds_errors_in_proportion():
    series = Series("s", {MEDIAN: [1.0, 3.0], ETS: [2.0, 2.0], THETA: [1.0, 5.0]})
    mixed = shrunk(series, learn_prior(RUN), MEDIAN)
    assert mixed[MEDIAN] == [1.0, 3.0] and mixed[THETA][1] / mixed[THETA][0] == pytest.approx(5.0)


def test_the_run_choice_names_the_changed_series_and_what_always_one_model_scored_on_the_folds():
    lucky = on_folds("lucky", 10.0, auto_ets=1.0, auto_theta=1.1, naive=0.7)
    changed, choice = choose_with_the_run([*RUN, lucky, Series("short", {})], levels=[80])
    assert changed == {"lucky": ETS, "short": ETS} and choice.series_pooled == 0
    assert choice.changed == 2 and choice.moves == {f"{NAIVE} -> {ETS}": 1, f"{MEDIAN} -> {ETS}": 1}
    assert choice.forecast_again == {NAIVE: 1, MEDIAN: 1}
    medians = sum(10.0 + i for i in range(9))
    always_ets = (0.6 * medians + 10.0) / (medians + 10.0)
    assert choice.series_on_folds == 10 and choice.always_on_folds[ETS] == pytest.approx(always_ets, abs=1e-4)
    assert "2 champions changed" in choice.line() and "always auto_ets" in choice.line()


def test_a_series_with_too_few_scores_for_a_level_is_forecast_again_with_the_runs_pooled_correction():
    few = dataclasses.replace(RUN[0], series_id="few", scaled_scores={"80": [0.1, 0.2], "95": [0.3]})
    plenty = [dataclasses.replace(s, scaled_scores={"80": [1.0] * 4, "95": [2.0] * 19}) for s in RUN[1:]]
    again, choice = choose_with_the_run([few, *plenty], levels=[80, 95])
    assert again == {"few": RUN[0].champion} and choice.changed == 0 and choice.series_pooled == 1
    assert choice.pooled_corrections == {"80": 1.0, "95": 2.0} and choice.forecast_again == {RUN[0].champion: 1}
    assert choose_with_the_run(plenty, levels=[80, 95])[0] == {}


def test_the_run_weighs_no_more_than_its_other_series_folds():
    lucky = on_folds("lucky", 10.0, auto_ets=1.0, auto_theta=1.1, naive=0.7)
    assert learn_prior([lucky]).weight_against(2) == 0 and rechosen(lucky, learn_prior([lucky])) == NAIVE
    two = learn_prior([lucky, RUN[0]])  # one other series of two folds
    assert (
        two.folds == 4 and two.weight_against(2) == 2 and learn_prior(RUN).weight_against(2) == DEFAULT_RULE.run_weight
    )
    assert choose_with_the_run([lucky], levels=[80])[0] == {}


def test_the_tuned_prophet_is_compared_with_the_baseline_on_its_own_selection_folds():
    later_easier = {MEDIAN: [20.0, 20.0, 5.0, 5.0], TUNED: [6.0, 6.0]}  # the tuned Prophet is scored on the last two
    series = Series("s", later_easier, models=(MEDIAN, TUNED))
    assert learn_prior([series]).log_ratio[TUNED] == pytest.approx(np.log(6.0 / 5.0))  # not 6 / 12.5: worse, not better
    assert choose_with_the_run([series, dataclasses.replace(series, series_id="t")], levels=[80])[0] == {}


def test_the_tuned_prophet_is_shrunk_too_but_held_to_its_whole_margin():
    errors = {MEDIAN: [10.0] * 4, ETS: [10.0] * 4, TUNED: [9.5, 9.5]}  # 5% below the median on its folds
    series = Series("s", errors, models=(MEDIAN, ETS, TUNED))
    prior = RunPrior({MEDIAN: 0.0, ETS: 0.0, TUNED: float(np.log(0.95))}, weight=DEFAULT_RULE.run_weight, folds=100)
    assert shrunk(series, prior, MEDIAN)[TUNED] == pytest.approx([9.5, 9.5])
    assert rechosen(series, prior) == MEDIAN  # 5% below: not the whole 10%, whatever the series' share
    bad = dataclasses.replace(prior, log_ratio=prior.log_ratio | {TUNED: float(np.log(1.5))})
    lucky = dataclasses.replace(series, errors_by_fold=errors | {TUNED: [6.0, 6.0]})  # 40% below on its own folds
    assert rechosen(lucky, prior) == TUNED and rechosen(lucky, bad) == MEDIAN  # the run says it forecasts badly
