"""The names of a forecast's bounds and quantiles, built in manymodels/bounds.py and nowhere else, and the typed
forecast that carries them."""

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from manymodels import bounds
from manymodels.bounds import Forecast, Interval, column_level, intervals_of

REPO = Path(__file__).resolve().parents[2]
SCANNED = ("manymodels", "benchmarks")  # the packages whose code must take every such name from bounds.py
OWNER = REPO / "manymodels" / "bounds.py"
# a literal, or an f-string's literal part, that starts a bound's or a quantile's name: 'lo-', 'hi_80', 'q_0.9'
NAME = re.compile(r"(lo|hi|q)[-_](\d|$)")
SIDES = {"lo", "hi"}  # f"{side}-{level}" for side in ("lo", "hi")


def names_built(source: str) -> list[tuple[int, str]]:
    """(line, text) of each string literal in the source (f-strings' literal parts too, docstrings and other bare
    strings not) that spells a bound's or a quantile's name, or a bound's side."""
    tree = ast.parse(source)
    bare = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)}
    found = [
        (node.lineno, node.col_offset, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in bare
        and (NAME.match(node.value) or node.value in SIDES)
    ]
    return [(line, text) for line, _, text in sorted(found)]


def test_the_scan_finds_every_way_a_name_was_built():
    source = '''
def f(level, q, side, rows):
    """{'mean', 'lo-80', 'hi-80'}: a docstring may name them."""
    a = f"lo-{level}"
    b = rows[f'hi_{level}']
    c = {f"{side}-{level}": 1 for side in ("lo", "hi")}
    d = f"q-{q:g}"
    e = [c for c in rows if c.startswith("lo_")]
    g = rows["q_0.9"]
    return "lo_cation", f"{level}% interval", "quantile"
'''
    found = [text for _, text in names_built(source)]
    assert found == ["lo-", "hi_", "lo", "hi", "q-", "lo_", "q_0.9"]


def test_no_module_but_bounds_builds_a_bound_or_quantile_name():
    built = {}
    for package in SCANNED:
        for path in sorted((REPO / package).rglob("*.py")):
            if path != OWNER and (found := names_built(path.read_text())):
                built[str(path.relative_to(REPO))] = found
    assert not built, f"build these names with manymodels.bounds: {built}"


def test_each_name_is_spelled_as_statsforecast_and_the_output_tables_spell_it():
    assert (bounds.lower(80), bounds.upper(95)) == ("lo-80", "hi-95")
    assert (bounds.lower_column(80), bounds.upper_column(95)) == ("lo_80", "hi_95")
    assert [bounds.quantile_column(q) for q in (0.05, 0.1, 0.5, 0.9)] == ["q_0.05", "q_0.1", "q_0.5", "q_0.9"]
    assert bounds.quantile_label(0.95) == "0.95"
    assert [column_level(c) for c in ("lo_80", "lo_5", "hi_80", "lo_x", "yhat", "q_0.9")] == [80, 5, *[None] * 4]


def test_a_forecast_comes_from_statsforecast_s_keys_and_goes_out_as_columns_in_order():
    keys = {"mean": np.array([5.0]), "lo-95": np.array([1.0]), "hi-95": np.array([9.0])}
    keys |= {"lo-80": np.array([3.0]), "hi-80": np.array([7.0])}
    forecast = Forecast.from_keys(keys, [95, 80])
    assert forecast.intervals[80].lo is keys["lo-80"] and forecast.intervals[80].hi is keys["hi-80"]
    assert forecast.mean is keys["mean"] and list(forecast.intervals) == [95, 80]
    with_quantiles = Forecast(forecast.mean, forecast.intervals, {0.9: np.array([8.0]), 0.1: np.array([2.0])})
    columns = with_quantiles.columns()
    assert list(columns) == ["yhat", "q_0.1", "q_0.9", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert [v.item() for v in columns.values()] == [5.0, 2.0, 8.0, 3.0, 7.0, 1.0, 9.0]
    read = intervals_of(pd.DataFrame(columns), [95])
    assert {level: (lo.tolist(), hi.tolist()) for level, (lo, hi) in read.items()} == {95: ([1.0], [9.0])}


def test_a_floor_clips_every_array_or_only_the_bounds_and_a_point_only_forecast_bounds_at_its_point():
    forecast = Forecast.point_only(np.array([-1.0, 2.0]), [80])
    assert forecast.intervals[80].lo is forecast.mean and forecast.intervals[80].hi is forecast.mean
    clipped = forecast.at_least(0.0)
    assert clipped.mean.tolist() == [0.0, 2.0] and clipped.intervals[80].lo.tolist() == [0.0, 2.0]
    assert forecast.at_least(0.0, point=False).mean.tolist() == [-1.0, 2.0]
    assert forecast.at_least(None) is forecast
    assert forecast.mean.tolist() == [-1.0, 2.0]  # left as it was


def test_combining_takes_the_first_forecast_s_levels_and_needs_them_in_every_other():
    a = Forecast(np.array([1.0]), {80: Interval(np.array([0.0]), np.array([2.0]))})
    b = Forecast(np.array([3.0]), {80: Interval(np.array([2.0]), np.array([4.0]))})
    mean = Forecast.combined([a, b], lambda each: sum(each) / len(each))
    assert mean.mean.tolist() == [2.0] and [b.tolist() for b in mean.intervals[80]] == [[1.0], [3.0]]
    with pytest.raises(KeyError):
        Forecast.combined([a, Forecast(np.array([3.0]))], np.median)
