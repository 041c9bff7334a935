"""The engine: the stage functions (fit -> pool -> cell), their on-disk artefacts, the
executors that run a plan, and :func:`run_protocol`."""

from ferbench.engine.context import Context, resolve_device, select_real
from ferbench.engine.run import RunOutcome, plan_protocol, run_protocol

__all__ = ["Context", "RunOutcome", "plan_protocol", "resolve_device", "run_protocol",
           "select_real"]
