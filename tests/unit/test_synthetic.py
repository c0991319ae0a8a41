"""The project's generated workloads: the hourly one has the shape the cost benchmark asks of it."""

import numpy as np

from manymodels.synthetic import make_hourly_sales


def test_hourly_sales_are_counts_on_an_hourly_grid_with_a_daily_pattern():
    sales = make_hourly_sales(3, hours=24 * 14, seed=1)
    assert sales.groupby("item").size().tolist() == [24 * 14] * 3
    assert (sales.groupby("item")["date"].diff().dropna() == np.timedelta64(1, "h")).all()
    assert (sales["sales"] >= 0).all() and sales["sales"].dtype.kind == "i"
    by_hour = sales[sales["item"] == 1].groupby(sales["date"].dt.hour)["sales"].mean()
    assert by_hour.max() > 1.5 * by_hour.min()  # the day's shape stands out of two weeks of Poisson noise
    assert not make_hourly_sales(3, hours=48, seed=1).equals(make_hourly_sales(3, hours=48, seed=2))
