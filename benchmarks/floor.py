"""How low a held-out sMAPE can go: an oracle that has seen the held-out days.

Each series' forecast is its own level times a day-of-week x month shape shared by all series, both fitted on the
held-out days themselves; `--trend` adds each series' own straight line over those days. No forecaster knows the
held-out level or shape, so a target below this floor asks for more than the answers give on store-item data,
whose series share one shape: `python -m benchmarks.floor` prints the floor of `make accuracy`'s daily set, and how
Poisson the held-out days are about it, with the sMAPE that knowing each day's true mean would score under that
noise.
"""

import argparse

import numpy as np
import pandas as pd

from manymodels.metrics import smape


def oracle_fits(held: pd.DataFrame, ids: list[str], target: str, time: str, trend: bool = False) -> list[tuple]:
    """Each series' held-out values and the oracle's fit of them (held: the held-out rows of every series)."""
    held = held.assign(dow=held[time].dt.day_of_week, month=held[time].dt.month)
    held["ratio"] = held[target] / held.groupby(ids)[target].transform("mean")
    shape = held.groupby(["dow", "month"])["ratio"].mean()
    fits = []
    for _, rows in held.groupby(ids):
        y = rows[target].to_numpy(float)
        season = shape.loc[list(zip(rows["dow"], rows["month"], strict=True))].to_numpy()
        design = np.c_[season, season * np.arange(len(y))] if trend else season[:, None]
        fits.append((y, design @ np.linalg.lstsq(design, y, rcond=None)[0]))
    return fits


def oracle_smape(held: pd.DataFrame, ids: list[str], target: str, time: str, trend: bool = False) -> float:
    """The mean sMAPE over series of the oracle fitted on held (the held-out rows of every series)."""
    return float(np.mean([smape(y, fit) for y, fit in oracle_fits(held, ids, target, time, trend)]))


def poisson_noise(fits: list[tuple], draws: int = 20, seed: int = 0) -> tuple[float, float]:
    """How Poisson the held-out values are about the oracle's fits (the median over series of the residuals' mean
    square over the fit's mean: 1 for Poisson counts), and the mean sMAPE of forecasting Poisson draws about those
    fits by the fits themselves: what knowing every day's true mean would score if the noise is Poisson."""
    rng = np.random.default_rng(seed)
    dispersion = np.median([np.mean((y - fit) ** 2) / np.mean(fit) for y, fit in fits])
    noise = np.mean([np.mean([smape(rng.poisson(fit).astype(float), fit) for _ in range(draws)]) for _, fit in fits])
    return float(dispersion), float(noise)


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
    dispersion, noise = poisson_noise(oracle_fits(held, ["store", "item"], "sales", "date"))
    print(
        f"residuals' mean square over the mean: {dispersion:.2f} (median over series; Poisson: 1); Poisson draws "
        f"about the oracle's fits, forecast by those fits: sMAPE {noise:.3f}"
    )


if __name__ == "__main__":
    main()
