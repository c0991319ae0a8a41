"""Tune and run one forecasting model per time series; the core, free of Prefect and Ray."""

import logging

# Progress lines at INFO; with PREFECT_LOGGING_EXTRA_LOGGERS=manymodels Prefect also sends them to the UI.
logging.getLogger(__name__).setLevel(logging.INFO)
