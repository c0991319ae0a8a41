"""Durable Optuna studies: they resume after a crash and end with exactly the requested complete trials."""

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages.journal import BaseJournalBackend
from optuna.storages.journal._storage import JournalOperation, JournalStorageReplayResult
from optuna.trial import TrialState

from manymodels import storage

FAILURES = (RuntimeError, ValueError)  # a fit that fails fails its trial, not the series
# A journal is saved at most this often between trials, and when its study stops: not an fsync per trial, nor on S3
# an upload of the whole journal per trial (on a moto server about as much time as an exact-solver trial). A process
# killed between saves loses the trials of at most this long, which its resumed study asks again (re-seeded sampler).
SAVE_EVERY = 1.0  # seconds
log = logging.getLogger(__name__)


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
    return JournalStorage(StepJournal(url))


def repair_journal(path: Path) -> Path | None:
    """A journal whose last write was cut off ends in a partial line: drop it (its trial runs again), or Optuna
    appends after it and cannot read the study again. A journal that cannot be opened otherwise, whatever the error,
    is moved aside (the study starts afresh) and logged; its new path is returned."""
    if not path.exists():
        return None
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    try:
        check_journal(complete.splitlines())
    except MemoryError:
        raise
    except Exception as e:
        aside = path.with_name(f"{path.name}.aside-{uuid.uuid4().hex[:8]}")
        path.rename(aside)
        log.warning(
            "study journal %s cannot be opened (%s: %.200s); moved to %s, the study starts afresh",
            path,
            type(e).__name__,
            e,
            aside,
        )
        return aside
    if len(complete) < len(data):
        with open(path, "r+b") as f:
            f.truncate(len(complete))
    return None


def check_journal(lines: list[bytes]) -> None:
    """Raise what Optuna would on opening a study from these journal lines, or later on reading its trials."""
    replay = JournalStorageReplayResult(worker_id_prefix="check-")
    replay.apply_logs(json.loads(line) for line in lines)
    for trial in replay._trials.values():  # Optuna has no public reader of a journal, nor check of a trial
        trial._validate()


class StepJournal(BaseJournalBackend):
    """A study's journal held in memory and saved up to the end of a step (the study created, a trial finished):
    when the study is created, after a finished trial at most every SAVE_EVERY seconds, and when the study stops
    (save_study). Appended to a local file with one fsync, or written whole to the run location on S3 for nodes that
    share no disk. Optuna's file backend takes a lock and fsyncs on every operation, about eleven a trial. A study
    cut off mid-trial resumes from its saved trials, and its re-seeded sampler asks the lost trials' questions again.
    One process works on a study at a time (a task per series)."""

    def __init__(self, url: str) -> None:
        self.local = storage.is_local(url)
        self.url = storage.normalise(url) if self.local else url
        if self.local:
            path = Path(self.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
            repair_journal(path)
            data = path.read_bytes() if path.exists() else b""
        else:
            data = self._remote = self._remote_bytes()
        self._logs = [json.loads(line) for line in data.splitlines()]
        self._saved = self._step_end = len(self._logs)
        self._saved_at = time.monotonic()

    def _remote_bytes(self) -> bytes:
        fs, path = storage.url_to_fs(self.url)
        if not fs.exists(path):
            return b""
        with tempfile.TemporaryDirectory(prefix="study-") as folder:
            local = Path(folder) / "study.journal"
            local.write_bytes(fs.cat_file(path))
            if aside := repair_journal(local):
                storage.write_bytes(f"{self.url}{aside.name.removeprefix(local.name)}", aside.read_bytes())
            return local.read_bytes() if local.exists() else b""

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._logs[log_number_from:]

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        for entry in logs:
            self._logs.append(entry)
            if _ends_a_step(entry):
                self._step_end = len(self._logs)
                if (
                    entry.get("op_code") == JournalOperation.CREATE_STUDY
                    or self._saved_at <= time.monotonic() - SAVE_EVERY
                ):
                    self.save()

    def save(self) -> None:
        """Save the journal up to its last finished step, if anything there is not saved yet."""
        if self._step_end > self._saved:
            self._write(self._logs[self._saved : self._step_end])
            self._saved, self._saved_at = self._step_end, time.monotonic()

    def _write(self, entries: list[dict[str, Any]]) -> None:
        lines = "".join(json.dumps(entry, separators=(",", ":")) + "\n" for entry in entries)
        if self.local:
            with open(self.url, "ab") as journal:
                journal.write(lines.encode())
                journal.flush()
                os.fsync(journal.fileno())
        else:
            self._remote += lines.encode()
            storage.write_bytes(self.url, self._remote)


def save_study(study: optuna.Study) -> None:
    """Save a journal study's finished trials not yet saved (other storages save each operation)."""
    backend = getattr(study._storage, "_backend", None)  # a JournalStorage's; Optuna has no public accessor
    if isinstance(backend, StepJournal):
        backend.save()


def _ends_a_step(entry: dict[str, Any]) -> bool:
    """A journal entry after which the study is worth saving: the study created, or a trial finished."""
    if entry.get("op_code") == JournalOperation.CREATE_STUDY:
        return True
    return entry.get("op_code") == JournalOperation.SET_TRIAL_STATE_VALUES and TrialState(entry["state"]).is_finished()


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


def stalled(study: optuna.Study, rounds: int | None) -> bool:
    """Whether the study's best value has not improved over its last `rounds` finished trials (None: never), read
    from the stored trials, so a resumed study stops where an uninterrupted one would."""
    if not rounds:
        return False
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    best, best_at = np.inf, -1
    for position, trial in enumerate(sorted(finished, key=lambda t: t.number)):
        if trial.state == TrialState.COMPLETE and trial.value < best:
            best, best_at = trial.value, position
    return best_at >= 0 and len(finished) - 1 - best_at >= rounds


class ReseededTPE(optuna.samplers.TPESampler):
    """TPE whose random state can be set as a new TPESampler(seed=seed) would start: the same questions as a new
    sampler per trial, without recomputing the search space over every earlier trial on each ask (quadratic in
    the trials: a fifth of Optuna's time at 100 trials). Without the constant liar, which only matters for trials
    running at once (one process works on a study), TPE reads the study's cached trials: the same questions."""

    def __init__(self) -> None:
        super().__init__(constant_liar=False)

    def reseed(self, seed: int) -> None:
        self._rng.rng.seed(seed)
        self._random_sampler._rng.rng.seed(seed)


def run_to(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    trials: int,
    seed: int,
    early_stopping_rounds: int | None = None,
) -> int:
    """Run trials until `trials` are finished (complete or pruned), or the best value has not improved for
    early_stopping_rounds of them; return how many were started here.

    The sampler is re-seeded from the count of finished trials before each one, so a study that was interrupted
    and resumed asks the same questions as one that never was. Hopeless trials are pruned by the median rule.
    """
    study.pruner = optuna.pruners.MedianPruner(n_startup_trials=4, n_warmup_steps=0)
    study.sampler = ReseededTPE()
    started = failed = 0
    try:
        while (
            (done := finished_trials(study)) < trials and failed <= trials and not stalled(study, early_stopping_rounds)
        ):
            study.sampler.reseed((seed + done) % 2**32)
            trial = study.ask()
            started += 1
            try:
                study.tell(trial, objective(trial))
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
            except FAILURES:
                study.tell(trial, state=TrialState.FAIL)
                failed += 1
    finally:
        save_study(study)
    return started
