"""The champion rule on fold errors, and the median of forecasts."""

import dataclasses

import numpy as np
import pytest

from manymodels.candidates import DEFAULT, TUNED
from manymodels.champion import DEFAULT_RULE, ChampionRule, choose_champion, mean_errors
from manymodels.ensembles import BEST3, GREEDY, MEDIAN
from manymodels.forecasters.pooled import POOLED

ETS, NAIVE, THETA = "auto_ets", "naive", "auto_theta"


def errors(median: list[float], tuned: list[float] | None = None, **singles: list[float]) -> dict[str, list[float]]:
    return singles | {MEDIAN: median} | ({TUNED: tuned} if tuned else {})


def test_the_median_is_kept_unless_a_single_model_beats_it_by_the_margin():
    just_inside = 10 * (1 - DEFAULT_RULE.single_margin) + 0.01
    assert choose_champion(errors([10, 10, 10, 10], auto_ets=[just_inside] * 4, naive=[30] * 4)) == MEDIAN
    assert choose_champion(errors([10, 10, 10, 10], auto_ets=[7, 7, 7, 7], auto_theta=[7.5] * 4)) == ETS


def test_a_single_model_is_judged_on_every_fold_not_its_luckiest():
    # best by far on the last two folds, worse than the median over all four
    assert choose_champion(errors([10, 10, 10, 10], auto_theta=[16, 16, 4, 4])) == MEDIAN


def test_the_tuned_prophet_replaces_the_choice_where_it_does_better_on_the_selection_folds():
    # the median's mean over all folds is 10, but 14 on the two selection folds, where the tuned Prophet scores 12
    assert choose_champion(errors([6, 6, 14, 14], tuned=[12, 12], naive=[30] * 4)) == TUNED
    assert choose_champion(errors([6, 6, 14, 14], tuned=[13, 13], naive=[30] * 4)) == MEDIAN  # not by the margin
    assert 13 > 14 * (1 - DEFAULT_RULE.tuned_margin) > 12
    # the tuned Prophet's 8 is below the median's 10 overall, not below its 6 on the selection folds
    assert choose_champion(errors([14, 14, 6, 6], tuned=[8, 8], naive=[30] * 4)) == MEDIAN
    assert choose_champion(errors([10] * 4, tuned=[9], prophet_default=[7] * 4)) == DEFAULT


def test_a_nan_error_never_wins():
    assert choose_champion(errors([10] * 4, tuned=[np.nan], auto_ets=[np.nan] * 4, naive=[30] * 4)) == MEDIAN
    assert choose_champion(errors([np.nan] * 4, auto_theta=[12] * 4)) == THETA
    assert mean_errors({NAIVE: [1.0, 3.0]}) == {NAIVE: 2.0}


def test_a_chosen_ensemble_only_has_to_beat_the_median_its_fold_errors_being_held_out_already():
    assert choose_champion(errors([10] * 4, best3_median=[8.9] * 4, auto_ets=[9.5] * 4)) == BEST3
    assert choose_champion(errors([10] * 4, greedy_ensemble=[9.2] * 4)) == GREEDY
    assert choose_champion(errors([10] * 4, auto_theta=[9.2] * 4)) == MEDIAN  # a single model: not by its margin
    assert choose_champion(errors([10] * 4, greedy_ensemble=[10.0] * 4)) == MEDIAN
    assert choose_champion(errors([10] * 4, greedy_ensemble=[7.9] * 4, auto_ets=[7.5] * 4)) == ETS


def test_a_chosen_ensemble_must_beat_the_best_single_model_that_qualified_by_its_margin_too():
    assert choose_champion(errors([10] * 4, greedy_ensemble=[7.5] * 4, pooled_seasonal=[7.7] * 4)) == "pooled_seasonal"
    assert choose_champion(errors([10] * 4, greedy_ensemble=[7.4] * 4, pooled_seasonal=[7.7] * 4)) == GREEDY
    assert choose_champion(errors([10] * 4, best3_median=[8.5] * 4, auto_ets=[8.6] * 4)) == BEST3  # ETS: no margin


def test_the_rule_is_a_value_the_default_being_the_margins_the_runs_were_set_on():
    margins = {"single_margin": 0.2, "ensemble_margin": 0.0, "tuned_margin": 0.1, "over_single_margin": 0.03}
    assert dataclasses.asdict(DEFAULT_RULE) == margins | {
        "baseline": MEDIAN,
        "chosen": (BEST3, GREEDY),
        "run_weight": 16,
    }
    assert dataclasses.asdict(DEFAULT_RULE.scaled(0.5)) == dataclasses.asdict(DEFAULT_RULE) | {
        name: margin / 2 for name, margin in margins.items() if name != "tuned_margin"
    }
    assert hash(DEFAULT_RULE) == hash(ChampionRule())
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_RULE.single_margin = 0.1
    tight = errors([10] * 4, auto_ets=[8.5] * 4)
    assert choose_champion(tight) == choose_champion(tight, DEFAULT_RULE) == MEDIAN


def test_a_variant_rule_chooses_as_its_margins_say_and_leaves_the_default_alone():
    def variant(**changes) -> ChampionRule:
        return dataclasses.replace(DEFAULT_RULE, **changes)

    single = errors([10] * 4, auto_ets=[8.5] * 4)  # 15% below the median: not by 0.2, by 0.1
    assert choose_champion(single, variant(single_margin=0.1)) == ETS
    tuned = errors([6, 6, 14, 14], tuned=[13, 13], naive=[30] * 4)  # 7% below the median on the selection folds
    assert choose_champion(tuned, variant(tuned_margin=0.05)) == TUNED
    ensemble = errors([10] * 4, greedy_ensemble=[9.2] * 4)  # 8% below the median: by 0, not by 0.1
    assert choose_champion(ensemble, variant(ensemble_margin=0.1)) == MEDIAN
    close = errors([10] * 4, greedy_ensemble=[7.6] * 4, pooled_seasonal=[7.7] * 4)  # 1% below the single model
    assert choose_champion(close) == POOLED and choose_champion(close, variant(over_single_margin=0.0)) == GREEDY
    assert [choose_champion(e) for e in (single, tuned, ensemble)] == [MEDIAN, MEDIAN, GREEDY]


def test_a_rule_with_another_baseline_keeps_it_unless_beaten_and_holds_the_median_to_the_ensemble_margin():
    greedy_based = dataclasses.replace(DEFAULT_RULE, baseline=GREEDY, chosen=(BEST3, MEDIAN))
    assert choose_champion({}, greedy_based) == GREEDY and choose_champion({}) == MEDIAN
    assert choose_champion(errors([10] * 4, greedy_ensemble=[9.0] * 4), greedy_based) == GREEDY
    assert choose_champion(errors([9.0] * 4, greedy_ensemble=[10] * 4), greedy_based) == MEDIAN  # margin 0
    # a single model beats the greedy ensemble's 10 by 0.2, not the median's 9.5 (the default rule's baseline)
    beaten = errors([9.5] * 4, greedy_ensemble=[10] * 4, auto_ets=[7.9] * 4)
    assert choose_champion(beaten, greedy_based) == ETS and choose_champion(beaten) == MEDIAN
