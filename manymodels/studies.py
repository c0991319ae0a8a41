"""Durable Optuna studies: they resume after a crash and end with exactly the requested complete trials."""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

FAILURES = (RuntimeError, ValueError)  # a fit that fails fails its trial, not the series


@dataclass(frozen=True)
class StudyPlace:
    """Where a series' study lives: a journal file path or an RDB URL (None: in memory), and its name."""

    storage: str | None
    name: str


def is_database(url: str) -> bool:
    return url.startswith(("postgresql", "mysql", "sqlite"))


def open_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    if url is None:
        return None
    if is_database(url):
        return RDBStorage(url)
    Path(url).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(url))


def open_study(place: StudyPlace, warm_start: dict | None = None) -> tuple[optuna.Study, bool]:
    """Load or create the study; trials left RUNNING by a dead process are failed and queued again."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per trial
    study = optuna.create_study(
        study_name=place.name, storage=open_storage(place.storage), direction="minimize", load_if_exists=True
    )
    resumed = bool(study.get_trials(deepcopy=False))
    for dead in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(dead.number, state=TrialState.FAIL)
        study.enqueue_trial(dead.params)
    if not resumed and warm_start:
        study.enqueue_trial(warm_start)
    return study, resumed


def complete_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def finished_trials(study: optuna.Study) -> int:
    """Trials that count against the budget: complete, or pruned after their first fold."""
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_to(study: optuna.Study, objective: Callable[[optuna.Trial], float], trials: int, seed: int) -> int:
    """Run trials until `trials` are finished (complete or pruned); return how many were started here.

    The sampler is re-seeded from the count of finished trials before each one, so a study that was interrupted
    and resumed asks the same questions as one that never was. Hopeless trials are pruned by the median rule.
    """
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    started = failed = 0
    while (done := finished_trials(study)) < trials and failed <= trials:
        study.sampler = optuna.samplers.TPESampler(seed=(seed + done) % 2**32)
        trial = study.ask()
        started += 1
        try:
            study.tell(trial, objective(trial))
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
        except FAILURES:
            study.tell(trial, state=TrialState.FAIL)
            failed += 1
    return started
