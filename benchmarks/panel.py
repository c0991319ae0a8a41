"""A panel of unrelated series from different domains, for `make accuracy` and the tests: the real series that
statsmodels ships (US macroeconomics, Danish money demand, German interest and inflation, euro-area orders, El Niño
sea temperatures, Mauna Loa CO2), and the project's own series whose best model is known (random walks, damped
trends, pure seasonality, level shifts). No two share a shape: the opposite of store x item data.
"""

import pandas as pd

from manymodels.synthetic import make_known_structure

# frequency alias, M4's horizon and M4's seasonal period for Naive2 and MASE (weekly: 1)
PANELS = {"quarterly": ("QS", 8, 4), "monthly": ("MS", 18, 12), "weekly": ("W-SAT", 13, 1)}
ID_COLS = ["source", "name"]


def _quarterly_real() -> pd.DataFrame:
    from statsmodels.datasets import danish_data, interest_inflation, macrodata

    macro = macrodata.load_pandas().data
    macro.index = pd.date_range("1959-01-01", periods=len(macro), freq="QS")
    rates = interest_inflation.load_pandas().data
    rates.index = pd.date_range("1972-04-01", periods=len(rates), freq="QS")
    danish = danish_data.load_pandas().data
    danish.index = pd.date_range("1974-01-01", periods=len(danish), freq="QS")
    frames = [
        ("us_macro", macro.drop(columns=["year", "quarter"])),
        ("german_rates", rates.drop(columns=["year", "quarter"])),
        ("danish_money", danish),
    ]
    return pd.concat([_long(source, frame) for source, frame in frames], ignore_index=True)


def _monthly_real() -> pd.DataFrame:
    from statsmodels.datasets import co2, elec_equip, elnino

    nino = elnino.load_pandas().data.set_index("YEAR").stack()
    nino.index = pd.date_range("1950-01-01", periods=len(nino), freq="MS")
    orders = elec_equip.load_pandas().data.iloc[:, 0]
    carbon = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    frames = [
        ("el_nino", nino.rename("sea_temperature").to_frame()),
        ("euro_orders", orders.rename("electrical_equipment").to_frame()),
        ("mauna_loa", carbon.rename("co2").to_frame()),
    ]
    return pd.concat([_long(source, frame) for source, frame in frames], ignore_index=True)


def _weekly_real() -> pd.DataFrame:
    from statsmodels.datasets import co2

    carbon = co2.load_pandas().data["co2"].interpolate().rename("co2").to_frame()
    carbon.index = pd.DatetimeIndex(carbon.index).to_period("W-SAT").to_timestamp(how="end").normalize()
    return _long("mauna_loa", carbon)


def _long(source: str, wide: pd.DataFrame) -> pd.DataFrame:
    long = wide.rename_axis("date").reset_index().melt(id_vars="date", var_name="name", value_name="value")
    return long.assign(source=source)[["source", "name", "date", "value"]].dropna()


REAL = {"quarterly": _quarterly_real, "monthly": _monthly_real, "weekly": _weekly_real}
KNOWN_LENGTH = {"quarterly": 80, "monthly": 180, "weekly": 260}
SEASON = {"quarterly": 4, "monthly": 12, "weekly": 52}  # the pipeline's seasonal period at each frequency


def panel(kind: str, known: int = 2, seed: int = 0) -> pd.DataFrame:
    """The kind's real series and `known` of each known-structure series (source 'generated'): source, name, date,
    value."""
    generated = make_known_structure(PANELS[kind][0], KNOWN_LENGTH[kind], SEASON[kind], known, seed)
    return pd.concat([REAL[kind](), generated], ignore_index=True)


def split_held_out(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each series' last horizon points held out: (history, held out)."""
    newest_first = frame.groupby(ID_COLS)["date"].rank(ascending=False, method="first") - 1
    return frame[newest_first >= horizon], frame[newest_first < horizon]
