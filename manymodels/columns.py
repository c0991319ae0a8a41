"""Every column name the project gives its files and tables, in one place: settings refuse user columns of these
names, and every module reads them from here."""

# the long contract every step speaks (manymodels.contract)
SERIES_ID, TIME, TARGET, ROW = "series_id", "ds", "y", "row"
PATH = "path"  # the file a CSV row came from (include_path_column)
# a series file's own columns beside the contract's (manymodels.prepare), and SPLIT's labels
FILLED, SPLIT = "filled", "split"
TRAIN, TEST, FUTURE = "train", "test", "future"  # FUTURE: rows after the last target, with the regressors' values
# the outputs' own columns
MODEL, YHAT = "model", "yhat"

# A series file's columns, which a regressor must not overwrite
SERIES_FILE = (SERIES_ID, TIME, TARGET, ROW, FILLED, SPLIT, PATH)

# The profile table's columns (after the id columns) and their types
PROFILE = {
    SERIES_ID: "string",
    "key": "string",
    "status": "string",
    "reason": "string",
    "data_hash": "string",
    "n_rows": "int64",
    "n_duplicates": "int64",
    "length": "Int64",
    "folds": "Int64",  # the rolling-origin folds the series gets
    "short_history": "boolean",  # fewer than min_train points before its folds: its folds on what it has
    "scored": "boolean",  # has a test window of its own: at least two horizons long (else forecast, not scored)
    "intermittent": "boolean",  # demand before its folds is intermittent (forecasters.intermittent.is_intermittent)
    "n_filled": "Int64",
    "zero_share": "float64",
    "mean": "float64",
    "volatility": "float64",
    "mase_scale": "float64",
    "start": "datetime64[ns]",
    "end": "datetime64[ns]",
    "summaries": "string",  # JSON: what each model that learns across series takes of this series at ingest
}
# The columns of the outputs that also carry the id columns, which an id column must not overwrite
OUTPUTS = (MODEL, YHAT, "best_value", "n_trials", "champion", "rank")
