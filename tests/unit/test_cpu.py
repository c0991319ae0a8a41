"""Where a series' CPU went: the ledger of parts, and the run's mean per series (manymodels.cpu, evaluation)."""

import time
from collections import Counter
from types import SimpleNamespace

from manymodels.cpu import charged, learned_with_cpu, mean_per_series
from manymodels.evaluation import cpu_per_series


def busy(seconds: float) -> None:
    started = time.process_time()
    while time.process_time() - started < seconds:
        pass


def test_a_block_is_charged_its_cpu_and_sleeping_costs_nothing():
    ledger = Counter()
    with charged(ledger, "fit"):
        busy(0.05)
    with charged(ledger, "wait"):
        time.sleep(0.05)
    assert ledger["fit"] >= 0.05 and ledger["wait"] < 0.01


def test_a_block_that_raises_is_still_charged():
    ledger = Counter()
    try:
        with charged(ledger, "fit"):
            busy(0.02)
            raise ValueError("boom")
    except ValueError:
        pass
    assert ledger["fit"] >= 0.02


def test_the_mean_per_series_leaves_out_results_from_the_cache_and_puts_the_costliest_first():
    means = mean_per_series([{"study": 1.0, "contest": 3.0}, {}, {"contest": 1.0}])
    assert means == {"contest": 2.0, "study": 0.5} and list(means) == ["contest", "study"]


def test_the_run_reports_cpu_per_series_only_where_series_were_tuned_in_it():
    tuned = SimpleNamespace(cpu_by_step={"study": 2.0, "forecast": 1.0}, cpu_by_model={"auto_ets": 0.5})
    cached = SimpleNamespace(cpu_by_step={}, cpu_by_model={})
    report = cpu_per_series([tuned, cached])
    assert report.series == 1 and report.by_step == {"study": 2.0, "forecast": 1.0}
    assert report.line() == (
        "CPU seconds a series (1 tuned in this run): 3.000; by step study 2.000, forecast 1.000; by model "
        "auto_ets 0.500."
    )
    assert cpu_per_series([cached]) is None


def test_learning_across_series_is_charged_with_every_thread_and_shared_among_the_tuned_series():
    import threading

    def spin(seconds: float) -> None:  # this thread's CPU, not the process's
        started = time.thread_time()
        while time.thread_time() - started < seconds:
            pass

    def learn(inputs, threads=1):
        workers = [threading.Thread(target=spin, args=(0.05,)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return f"learned from {inputs}"

    learned, cpu = learned_with_cpu(learn, "every series", threads=2)
    assert learned == "learned from every series" and cpu >= 0.1  # both threads' CPU
    tuned = SimpleNamespace(cpu_by_step={"contest": 1.0}, cpu_by_model={"auto_ets": 0.5})
    report = cpu_per_series([tuned, tuned], {"global_lgbm": 3.0, "pooled_seasonal": 1.0})
    assert report.by_step == {"learn": 2.0, "contest": 1.0}
    assert report.by_model == {"global_lgbm": 1.5, "auto_ets": 0.5, "pooled_seasonal": 0.5}
