import numpy as np
import pandas as pd

from benchmarks.workloads import seasonal_naive, train_and_valid


def test_seasonal_naive_repeats_the_last_season():
    assert seasonal_naive(np.arange(1.0, 11.0), 5, 3).tolist() == [8, 9, 10, 8, 9]
    assert seasonal_naive(np.array([4.0]), 2, 7).tolist() == [4, 4]


def test_the_validation_window_is_the_horizon_before_the_test():
    frame = pd.DataFrame({"y": range(10), "split": ["train"] * 8 + ["test"] * 2})
    train, valid = train_and_valid(frame, horizon=3)
    assert train["y"].tolist() == [0, 1, 2, 3, 4] and valid["y"].tolist() == [5, 6, 7]
