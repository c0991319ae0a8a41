"""How low a held-out sMAPE can go: an oracle that has seen the held-out days.

Each series' forecast is its own level times a day-of-week x month shape shared by all series, both fitted on the
held-out days themselves; `--trend` adds each series' own straight line over those days. No forecaster knows the
held-out level or shape, so a target below this floor asks for more than the answers give on store-item data,
whose series share one shape: `python -m benchmarks.floor` prints the floor of `make accuracy`'s daily set.
"""

import argparse

import numpy as np
import pandas as pd

from manymodels.metrics import smape


def oracle_smape(held: pd.DataFrame, ids: list[str], target: str, time: str, trend: bool = False) -> float:
    """The mean sMAPE over series of the oracle fitted on held (the held-out rows of every series)."""
    held = held.assign(dow=held[time].dt.day_of_week, month=held[time].dt.month)
    held["ratio"] = held[target] / held.groupby(ids)[target].transform("mean")
    shape = held.groupby(["dow", "month"])["ratio"].mean()
    errors = []
    for _, rows in held.groupby(ids):
        y = rows[target].to_numpy(float)
        season = shape.loc[list(zip(rows["dow"], rows["month"], strict=True))].to_numpy()
        design = np.c_[season, season * np.arange(len(y))] if trend else season[:, None]
        coefficients = np.linalg.lstsq(design, y, rcond=None)[0]
        errors.append(smape(y, design @ coefficients))
    return float(np.mean(errors))


def main() -> None:
    from benchmarks.accuracy import daily

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=500)
    args = parser.parse_args()
    _, held, _ = daily(args.series)
    for trend in (False, True):
        floor = oracle_smape(held, ["store", "item"], "sales", "date", trend)
        print(
            f"store-item daily, {args.series} series, the held-out 90 days: oracle sMAPE {floor:.3f}"
            + (" (with each series' trend)" if trend else "")
        )


if __name__ == "__main__":
    main()
