"""Property: whatever long table a warehouse exports, the run ends with its own one-line error, or with every
input series either forecast or rejected with a reason."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from manymodels import storage
from manymodels.errors import InputError
from manymodels.evaluation import assemble_outputs
from manymodels.ingest import ingest
from manymodels.layout import RunLayout
from manymodels.prepare import series_key
from manymodels.results import result_files
from manymodels.series import TuneOutcome, tune_series
from manymodels.settings import DataSpec, TuningSpec

IDS = st.sampled_from(["1", "2", "Zürich", " x ", "a,b", "../../escaped"])
TIMES = st.one_of(
    st.integers(0, 60).map(lambda d: str(pd.Timestamp("2023-01-01") + pd.Timedelta(days=d))[:10]),
    st.integers(0, 60 * 24).map(lambda h: (pd.Timestamp("2023-01-01") + pd.Timedelta(hours=h)).isoformat()),
    st.integers(0, 60).map(lambda d: f"{pd.Timestamp('2023-01-01') + pd.Timedelta(days=d):%Y-%m-%d}T00:00:00+01:00"),
    st.just("2999-01-01"),
)
TARGETS = st.one_of(
    st.floats(-1e9, 1e9).map(repr),
    st.integers(0, 50).map(str),
    st.sampled_from(["", "nan", "inf", "-inf", "1e400", None]),
)
# Each stops the whole run: a missing id or time, a time or target that is no value of its kind.
STOPPERS = st.sampled_from(
    [(None, "2023-01-01", "1"), ("1", None, "1"), ("1", "soon", "1"), ("1", "2023-01-01", "n/a")]
)


@st.composite
def messy_tables(draw) -> pd.DataFrame:
    """A few regular daily series, then rows with every kind of damage; now and then one that stops the run."""
    frames = []
    for store in draw(st.lists(st.sampled_from(["1", "2", "Zürich"]), min_size=1, max_size=3, unique=True)):
        days = draw(st.integers(0, 45))
        level = draw(st.integers(0, 30))
        dates = pd.date_range("2023-01-01", periods=days, freq="D").strftime("%Y-%m-%d")
        sales = (level + np.arange(days) % 7).astype(str)
        frames.append(pd.DataFrame({"store": store, "day": dates, "sales": sales}))
    noise = draw(st.lists(st.tuples(IDS, TIMES, TARGETS), max_size=10))
    noise += draw(st.lists(STOPPERS, max_size=1)) if draw(st.integers(0, 4)) == 0 else []
    frames.append(pd.DataFrame(noise, columns=["store", "day", "sales"], dtype=object))
    table = pd.concat(frames, ignore_index=True)
    return table.assign(extra="x").sample(frac=1, random_state=draw(st.integers(0, 9)), ignore_index=True)


@settings(max_examples=12, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    table=messy_tables(),
    duplicates=st.sampled_from(["fail", "sum", "last"]),
    non_negative=st.booleans(),
    fill=st.sampled_from(["interpolate", "zero"]),
)
def test_every_series_is_forecast_or_rejected_or_the_run_stops_with_one_clear_line(
    dask, tmp_path_factory, table, duplicates, non_negative, fill
):
    work = tmp_path_factory.mktemp("property")
    table.to_csv(work / "in.csv", index=False)
    data = DataSpec(
        url=str(work / "in.csv"),
        id_cols=["store"],
        time_col="day",
        target_col="sales",
        horizon=3,
        duplicates=duplicates,
        non_negative=non_negative,
        fill=fill,
    )
    try:
        ingested = ingest(data, RunLayout(str(work), run="run-1"))
    except InputError as error:
        assert sorted(p.name for p in work.iterdir()) == ["in.csv"]  # nothing written
        assert str(error) and "\n" not in str(error)
        event("the run stopped with its one-line error")
        return
    assert set(ingested.profiles["series_id"]) == set(table.dropna(subset=["store"])["store"].astype(str))
    assert sorted(p.name for p in work.iterdir()) == ["_work", "in.csv"]  # ids name no path
    outcome, results = TuneOutcome.empty(), result_files(ingested.layout)
    for series_id, url in ingested.series_urls().items():
        frame = storage.read_parquet(url)
        assert np.isfinite(frame["y"]).all() and frame["ds"].diff().dropna().eq(pd.Timedelta(days=1)).all()
        if non_negative:
            assert (frame["y"] >= 0).all(), series_id
        result, key = tune_series(frame, data, TuningSpec(trials=1)), f"tune-{series_key(series_id)}"
        results.save(key, result)
        outcome.add(key, result, "tuned")
    frames = results.frames(outcome.results)
    counts = assemble_outputs(ingested, outcome, frames, data, TuningSpec(trials=1), {}).scores.counts
    assert counts.series_in == counts.series_forecast + counts.series_rejected == len(ingested.profiles)
    event(f"series forecast: {'some' if counts.series_forecast else 'none'}, rejected: {counts.series_rejected}")
