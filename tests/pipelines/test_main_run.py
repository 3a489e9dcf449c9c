"""The main job end to end on mini-clusters: simulator -> Kafka -> feature job -> Feast + decision job."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cxm.config import EVENT_KINDS, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_main_run_events_to_decisions(settings: Settings, kafka_bootstrap: str, tmp_path: Path) -> None:
    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import html_report, summarize

    result = main_run(
        settings, RunOptions(customers=300, days=3, rate=3000, faults=0.004, settle_s=8, out_dir=tmp_path)
    )
    summary, decisions, lat = summarize(result)
    faults = pq.read_table(result.truth_dir / "truth" / "faults.parquet").to_pandas()
    wire_faults = faults[faults["fault"].isin(["malformed", "missing_field"])]
    # every malformed or incomplete event reached the dead-letter topic, with its reason
    assert summary.dead_lettered == len(wire_faults)
    assert set(summary.dead_letter_reasons) <= {"not_json", "missing_field", "not_object"}
    # decisions were made for the simulated customers, at most one per customer and coalescing interval, together
    # covering every feature change (the warm-up customer's rows aside), each for a known trigger event
    covered = int(sum(c["rows"] for c in decisions["coalesced"]))
    assert 0 <= summary.feature_rows - covered <= 2, (summary.feature_rows, covered)
    assert summary.decisions <= covered
    assert decisions["decision_id"].is_unique
    # every decision's trigger event is found; the latency leaves out the events that waited in Kafka for the jobs
    # (the first simulated hour is written before they start)
    from pipelines.report import event_arrivals, latencies

    arrivals = event_arrivals(kafka_bootstrap, [result.settings.topics.events(k) for k in EVENT_KINDS])
    assert len(latencies(decisions, arrivals)) == summary.decisions
    assert result.ready_ms is not None
    waited = {k: ts for k, ts in arrivals.items() if ts < result.ready_ms}
    assert len(waited) >= 300  # at least every customer's first profile event
    assert len(lat) == summary.decisions - len(latencies(decisions, waited)) > 0
    assert set(decisions["trigger"]) <= set(EVENT_KINDS)
    # the simulator marked every partition after each tick (watermark records), and only late faults it
    # injected were late: the marks never ran ahead of the events behind them, and no partition was declared idle
    # while its records waited (a watermark record on the other partition would have made them late)
    assert result.sim_summary["marks"] == 2 * len(EVENT_KINDS) * (result.sim_summary["ticks"] - 1)
    import json

    from pipelines.report import read_topic

    late_ids = {json.loads(v)["event_id"] for _, v in read_topic(kafka_bootstrap, result.settings.topics.late)}
    late_faults = set(faults.loc[faults["fault"] == "late", "event_id"])
    assert late_ids <= late_faults
    assert late_ids  # (a late fault lies far behind the newest event of its topic, not always of its partition)
    # the latency split by the kind of the triggering event covers every measured decision
    assert set(summary.latency_by_kind) <= set(EVENT_KINDS)
    assert sum(v["n"] for v in summary.latency_by_kind.values()) == len(lat)
    # the simulator read the decisions back and responded
    assert result.sim_summary["decisions"] > 0
    assert result.writer_stats["rows_written"] > 0
    report = html_report(summary, decisions, lat, result.truth_dir, tmp_path / "report.html")
    assert report.read_text().count("<img") >= 3
    # the jobs checkpointed under the run's directory, removed when the run ended
    assert not (tmp_path / "checkpoints").exists()


@pytest.mark.parametrize("one_jvm", [True, False], ids=["one-jvm", "separate-jvms"])
def test_preloaded_run_decides_the_whole_backlog(settings: Settings, kafka_bootstrap: str, tmp_path: Path,
                                                 one_jvm: bool) -> None:
    """bench_e2e's sustained-rate run: every event is in Kafka before the jobs start (open loop); both jobs in one
    process and JVM (the default) or one process each."""
    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import summarize

    result = main_run(
        settings,
        RunOptions(customers=150, days=2, rate=0, faults=0.0, settle_s=8, out_dir=tmp_path, preload=True,
                   keep_checkpoints=True, one_jvm=one_jvm),
    )
    logs = {"jobs.log"} if one_jvm else {"feature_job.log", "decision_job.log"}
    assert {p.name for p in tmp_path.glob("*.log")} == logs
    summary, decisions, _ = summarize(result)
    # no faults injected: no event is late (a partition waiting its turn in the backlog is not idle), and all but
    # the last events of each kind (the watermark is not past them when the run ends) gave a feature row
    assert summary.late == 0
    assert summary.feature_rows >= 0.95 * summary.events_in
    covered = int(sum(c["rows"] for c in decisions["coalesced"]))
    assert 0 <= summary.feature_rows - covered <= 2, (summary.feature_rows, covered)
    assert result.sim_summary["decisions"] == 0  # open loop: the simulator saw no decision
    # kept on request: each job checkpointed on its own, also when both ran in one JVM
    assert {p.name for p in (tmp_path / "checkpoints").iterdir()} >= {"cxm-features", "cxm-decisions"}
    with pytest.raises(ValueError, match="bounded"):
        main_run(settings, RunOptions(unbounded=True, preload=True, out_dir=tmp_path / "u"))
