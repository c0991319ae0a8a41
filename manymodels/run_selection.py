"""The champion chosen with what the whole run says: a series' own folds are few (none on a short series), and on
unrelated series a choice made on one or two windows picks by noise. Each candidate's run-wide fold error relative to
the baseline's on the same folds (the ratio of their sums over the series where both were scored: what always
choosing it would have scored) is a prior, and each series' fold errors are shrunk toward it, weighing the prior as
the rule's run_weight folds against the series' own; the rule (champion.ChampionRule) then chooses on the shrunk
errors, its margins scaled by the series' own share of the evidence (a margin guards against a series' own noise,
which the run's evidence does not have). A series with no fold takes the run's choice. The tuned Prophet's errors
are shrunk too, paired with the baseline's on its selection folds, but it must beat the choice there by the whole
tuned margin, which guards against its own search's luck: with the margin scaled it took 56 of 500 store-item series
from pooled_seasonal and the held-out sMAPE rose, and unshrunk it was champion of 43 of the first 100 M3 quarterly
series, where it forecast badly (benchmarks/RESULTS.md). The weight was set on the competitions' panels."""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from manymodels.calibration import enough, pooled_corrections
from manymodels.champion import DEFAULT_RULE, ChampionRule, choose_champion
from manymodels.summary import RunChoice


class Scored(Protocol):
    """What selection knows of one series (a SeriesSummary): its champion by its own folds, each candidate's error
    on each fold it was scored on, the candidates (every one that competed, those with no fold too), and by level
    the champion's kept scaled conformity scores (calibration)."""

    series_id: str
    champion: str
    errors_by_fold: dict[str, list[float]]
    models: Sequence[str]
    scaled_scores: dict[str, list[float]]


@dataclass(frozen=True)
class RunPrior:
    """By candidate, the log of its fold errors' sum over the baseline's on the series where both were scored; the
    folds it was learned on, and the most folds' worth it weighs."""

    log_ratio: dict[str, float]
    weight: float
    folds: int = 0

    def weight_against(self, own_folds: int) -> float:
        """The prior's weight against a series' own folds: no more than the other series' folds (a run of one
        series has nothing to add to it)."""
        return float(min(self.weight, max(self.folds - own_folds, 0)))

    def against(self, series: Scored, baseline: str) -> tuple[int, float]:
        """The series' own folds, and the prior's weight against them."""
        folds = len(series.errors_by_fold.get(baseline, ()))
        return folds, self.weight_against(folds)


def paired_means(errors: dict[str, list[float]], baseline: str) -> dict[str, tuple[float, float]]:
    """Each candidate's mean fold error and the baseline's on the same folds (the tuned Prophet is scored on the
    last, selection, folds only), where both are finite."""
    if baseline not in errors:
        return {}
    out = {}
    for model, values in errors.items():
        own, base = float(np.mean(values)), float(np.mean(errors[baseline][-len(values) :]))
        if np.isfinite(own) and np.isfinite(base):
            out[model] = (own, base)
    return out


def log_ratios(errors: dict[str, list[float]], baseline: str) -> dict[str, float]:
    """Each candidate's log of its mean fold error over the baseline's on the same folds, where both are finite
    and positive."""
    pairs = paired_means(errors, baseline).items()
    return {m: float(np.log(own / base)) for m, (own, base) in pairs if own > 0 and base > 0}


def learn_prior(scored: Iterable[Scored], rule: ChampionRule = DEFAULT_RULE) -> RunPrior:
    """The run's prior from every series scored on folds."""
    own, base, folds = defaultdict(float), defaultdict(float), 0
    for series in scored:
        folds += len(series.errors_by_fold.get(rule.baseline, ()))
        for model, (mean, baseline_mean) in paired_means(series.errors_by_fold, rule.baseline).items():
            own[model] += mean
            base[model] += baseline_mean
    measured = [m for m in own if own[m] > 0 and base[m] > 0]
    return RunPrior(
        log_ratio={m: float(np.log(own[m] / base[m])) for m in measured},
        weight=rule.run_weight,
        folds=folds,
    )


def shrunk(series: Scored, prior: RunPrior, baseline: str) -> dict[str, list[float]]:
    """The series' fold errors, each candidate's scaled so its log ratio to the baseline is the folds-weighted mean
    of its own and the prior's (RunPrior.weight_against); with no fold, one pseudo-fold per candidate at the
    prior's ratio (the baseline at 1). A candidate the prior has not measured keeps its own errors."""
    if not series.errors_by_fold:
        known = [m for m in series.models if m in prior.log_ratio or m == baseline]
        return {m: [float(np.exp(prior.log_ratio.get(m, 0.0)))] for m in known}
    folds, weight = prior.against(series, baseline)
    own = log_ratios(series.errors_by_fold, baseline)
    out = {}
    for model, values in series.errors_by_fold.items():
        if model in own and model in prior.log_ratio:
            mixed = (folds * own[model] + weight * prior.log_ratio[model]) / (folds + weight)
            values = [v * float(np.exp(mixed - own[model])) for v in values]
        out[model] = list(values)
    return out


def rechosen(series: Scored, prior: RunPrior, rule: ChampionRule = DEFAULT_RULE) -> str:
    """The series' champion by the rule on its errors shrunk toward the run's, with margins scaled by its own
    share of the evidence."""
    folds, weight = prior.against(series, rule.baseline)
    share = folds / (folds + weight) if folds + weight else 1.0
    return choose_champion(shrunk(series, prior, rule.baseline), rule.scaled(share))


def short_of_scores(series: Scored, levels: Sequence[int]) -> bool:
    """Whether the series' folds hold too few scores for some level's quantile (calibration.enough)."""
    return any(not enough(len(series.scaled_scores.get(str(level), ())), level) for level in levels)


def choose_with_the_run(
    scored: Sequence[Scored], levels: Sequence[int], rule: ChampionRule = DEFAULT_RULE
) -> tuple[dict[str, str], RunChoice]:
    """By series to forecast again with what the run learned, its champion: those whose champion the run's evidence
    changes, and those whose folds hold too few scores for a level, which the run's pooled correction calibrates;
    and what the choice was made on."""
    prior = learn_prior(scored, rule)
    pooled = pooled_corrections([s.scaled_scores for s in scored], list(levels))
    chosen = {s.series_id: rechosen(s, prior, rule) for s in scored}
    changed = {s.series_id for s in scored if chosen[s.series_id] != s.champion}
    short = {s.series_id for s in scored if short_of_scores(s, [int(level) for level in pooled])}
    moves = Counter(f"{s.champion} -> {chosen[s.series_id]}" for s in scored if s.series_id in changed)
    again = Counter(s.champion for s in scored if s.series_id in changed | short)
    return {sid: chosen[sid] for sid in changed | short}, RunChoice(
        weight=prior.weight,
        series_on_folds=sum(1 for s in scored if s.errors_by_fold),
        always_on_folds={m: round(float(np.exp(r)), 4) for m, r in sorted(prior.log_ratio.items())},
        changed=len(changed),
        moves=dict(moves.most_common()),
        pooled_corrections={level: round(q, 6) for level, q in pooled.items()},
        series_pooled=len(short),
        forecast_again=dict(again.most_common()),
    )
