"""Both jobs of a run in one process: the decision job and the feature job on local mini-clusters of one JVM.

On a Flink cluster the two jobs share TaskManagers, so the code they have in common (Kafka clients, Flink's
runtime and network stack, serializers) is compiled once by each TaskManager's JIT. Started as two processes,
each with its own mini-cluster, a run paid for that twice and held two heaps: in ``bench_e2e`` the decision
job's JVM alone spent ~17 CPU-s in C2 compilation. In alternated runs, one JVM used 5-40 CPU-s less (of ~250)
and ~1.4 GB less memory, at the same events per second.

``python -m pipelines.local_jobs`` compiles the feature job's plan, plans and submits the decision job (so it
is ready when the first feature rows arrive), then submits the feature job's compiled plan, and waits until one
of them ends: it then cancels the other and exits non-zero unless both finished. The feature job reads its own
knobs (``CXM_FEATURE_JOB__*``, e.g. its idle timeout and checkpoint interval); everything else comes from the
shared settings. Both jobs stay separate Flink jobs (own checkpoints, restarts and savepoints), exactly as when
they are submitted to a cluster with ``pipelines.deploy``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from cxm.config import Settings, load_settings

log = logging.getLogger(__name__)

#: Flink job states after which a job does not run any more.
ENDED = frozenset({"FINISHED", "FAILED", "CANCELED"})


def exit_code(states: dict[str, str]) -> int:
    """0 when every job finished; 1 when one failed, was cancelled or still ran (stopped because another ended).

    >>> exit_code({"features": "FINISHED", "decisions": "FINISHED"})
    0
    >>> exit_code({"features": "FAILED", "decisions": "CANCELED"})
    1
    """
    return 0 if all(state == "FINISHED" for state in states.values()) else 1


def watch(clients: dict[str, Any], poll_s: float = 2.0, sleep: Any = time.sleep) -> dict[str, str]:
    """Poll the jobs' states until one has ended, then cancel the others; returns the last state of each.

    ``clients``: PyFlink ``JobClient``s by name (anything with ``get_job_status().result()`` and ``cancel()``).

    >>> class Job:
    ...     def __init__(self, states): self.states, self.cancelled = list(states), False
    ...     def get_job_status(self): return self
    ...     def result(self): return self.states.pop(0) if len(self.states) > 1 else self.states[0]
    ...     def cancel(self): self.cancelled = True; return self
    >>> jobs = {"features": Job(["RUNNING", "FAILED"]), "decisions": Job(["RUNNING"])}
    >>> watch(jobs, sleep=lambda s: None), jobs["decisions"].cancelled
    ({'features': 'FAILED', 'decisions': 'RUNNING'}, True)
    """
    while True:
        states = {name: str(c.get_job_status().result()) for name, c in clients.items()}
        if any(state in ENDED for state in states.values()):
            for name, state in states.items():
                if state not in ENDED:
                    log.info("%s job: cancelling (another job ended: %s)", name, states)
                    clients[name].cancel().result()
            return states
        sleep(poll_s)


def run_both(settings: Settings, poll_s: float = 2.0) -> dict[str, str]:
    """Submit the decision job, then the feature job, to mini-clusters of this process's JVM; watch them.

    ``CXM_FILE_IO__OUTPUT`` adds the jobs' JSON-lines file sinks, as it does for each job's own entry point; file
    input is bounded and needs the feature job to end before the decision job starts (``pipelines.file_run``).
    """
    from pipelines import decision_job
    from pipelines.feature_job import compile_feature_job, env_plan, execute_plan
    from pipelines.file_io import FileIOConfig
    from pipelines.flink_env import FeatureJobConfig

    job = FeatureJobConfig()
    bounded, plan = env_plan(settings, job, False)
    if bounded:
        raise ValueError("file input is bounded: run the jobs one after the other (pipelines.file_run)")
    # every optimisation before the first job runs: afterwards the decision job's Python worker threads share
    # py4j's connections and a planner call can land on a Java thread without Calcite's thread-local
    # (compile_feature_job); loading a compiled plan does not optimise
    t_env, plan_json = compile_feature_job(settings, bounded=False, job=job, plan=plan)
    decisions = decision_job.run(settings, bounded=False, wait=False, output=FileIOConfig().file_output())
    features = execute_plan(t_env, plan_json)
    states = watch({"features": features.get_job_client(), "decisions": decisions.get_job_client()}, poll_s)
    log.info("jobs ended: %s", states)
    return states


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    return exit_code(run_both(load_settings()))


if __name__ == "__main__":
    sys.exit(main())
