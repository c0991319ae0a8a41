"""The forecasting models that challenge Prophet for a series' champion, as plug-ins: the protocols (base), the
models, one module each, and the registry that lists them."""
