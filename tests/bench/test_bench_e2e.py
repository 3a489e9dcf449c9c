"""bench_e2e's latency window: the start-up it leaves out and the feature checkpoint interval it is sized by."""

from __future__ import annotations

from bench.bench_e2e import feature_checkpoint_interval_ms, latency_days, steady_window, warmup_s
from cxm.config import Settings
from pipelines.main_run import LIVE_FEATURE_JOB_ENV


def test_warmup_covers_the_feature_jobs_first_checkpoint() -> None:
    # Flink takes the first checkpoint up to one interval after the job's start, which is before the first
    # decision: a warm-up of one interval after the first decision always holds it
    live = int(LIVE_FEATURE_JOB_ENV["CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS"])
    assert feature_checkpoint_interval_ms(Settings.defaults(), {}) == live
    assert warmup_s(live) == live / 1000 > 30
    assert warmup_s(5_000) == 30.0  # never shorter than the JIT and worker start-up


def test_the_environment_chooses_the_interval() -> None:
    s = Settings.defaults()
    env = {"CXM_FEATURE_JOB__CHECKPOINT_INTERVAL_MS": "120000"}
    assert feature_checkpoint_interval_ms(s, env) == 120_000
    start, end = steady_window({("c", 1): 200_000}, 1_000, warmup_s(120_000), 7)
    assert (start, end) == (121_000, 193_000)


def test_latency_run_is_sized_by_its_traffic_time() -> None:
    assert latency_days(11_500, 150, 25) > latency_days(11_500, 100, 25) > 25
