"""The flows' task runner on Ray: prefect-ray's, with the driver's credentials (when the run forwards them) and the
tasks' logs delivered."""

from prefect.logging.handlers import APILogHandler
from prefect_ray import RayTaskRunner

from engines.ray_engine import fetch_secrets, ray_engine
from manymodels.settings import ComputeSpec


class LoggedRayTaskRunner(RayTaskRunner):
    """A RayTaskRunner whose tasks have the driver's credentials, if the run forwards them to the cluster
    (ray_connected shares them, fetch_secrets takes them), and whose logs reach their task runs in the UI.

    A task's log lines wait in a batch that Prefect sends every two seconds; prefect-ray returns without sending it,
    so the lines of a short task, or of the last tasks before Ray shuts down, were lost. Here each task sends its
    batch before returning its state.
    """

    @staticmethod
    def _run_prefect_task(*upstream_ray_obj_refs, **kwargs):
        fetch_secrets()
        try:
            return RayTaskRunner._run_prefect_task(*upstream_ray_obj_refs, **kwargs)
        finally:
            APILogHandler().flush()


def ray_task_runner(compute: ComputeSpec) -> RayTaskRunner:
    """A task runner on the Ray that ray_engine chooses (or on the Ray this process already started)."""
    return LoggedRayTaskRunner(address=compute.ray_address, init_kwargs=ray_engine(compute).init_kwargs())
