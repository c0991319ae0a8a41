"""The Prefect tasks around the core's steps."""

# What a Ray worker imports before its first task when a run warms its workers up (engines.ray_engine.RayResource):
# the tuning code, which the tasks the run sends to Ray need. Names, so that naming them imports nothing.
RAY_WORKER_MODULES = ("prefect.task_engine", "prophet", "statsforecast.models", "tasks.tune")
