"""Prefect task that chooses every series' champion and calibrates short series' intervals with what the whole run's
folds say."""

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from manymodels.run_selection import choose_with_the_run
from manymodels.series import SeriesSummary
from manymodels.summary import RunChoice


@task(name="choose-with-the-run", cache_policy=NO_CACHE)
def choose_champions(results: list[SeriesSummary], levels: list[int]) -> tuple[dict[str, str], RunChoice]:
    """Shrink each series' fold errors toward the run's and choose again, and pool the champions' scaled conformity
    scores; the series to forecast again, with their champions."""
    again, choice = choose_with_the_run(results, levels)
    get_run_logger().info(
        "%d of %d champions changed by the run's evidence (%d series on folds): %s; %d series calibrated on the "
        "run's pooled scores (%s)",
        choice.changed,
        len(results),
        choice.series_on_folds,
        choice.moves,
        choice.series_pooled,
        choice.pooled_corrections,
    )
    return again, choice
