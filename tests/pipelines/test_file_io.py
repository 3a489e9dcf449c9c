"""File input and output of the main job (``cxm run --input/--output``): filesystem sources and sinks."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cxm.config import EVENT_KINDS, Settings
from pipelines import feature_sql as fsql
from pipelines.feature_job import Topics
from pipelines.file_io import FileIOConfig, FileOutput, feature_plan, file_source_ddl, input_files, read_lines
from pipelines.flink_env import FeatureJobConfig

BAD_LINE = '{"event_id": "bad-line-1", "kind": "purchase", "customer_id": "c-bad", "amount": 3.5'


def _columns(ddl: str) -> list[str]:
    """Column names of a CREATE TABLE statement (first word of each column line, WATERMARK excluded)."""
    body = ddl.split("(", 1)[1].split(") WITH (", 1)[0]
    names = [m.group(1) for m in re.finditer(r"^\s+`?(\w+)`?\s", body, flags=re.MULTILINE)]
    return [n for n in names if n != "WATERMARK"]


def test_file_source_has_the_kafka_source_columns_and_event_time() -> None:
    kafka = fsql.source_ddl("gps", "events.gps", "b:1", "g", 3)
    files = file_source_ddl("gps", Path("/in/gps.jsonl"), 3)
    assert _columns(files) == _columns(kafka)
    wm = "WATERMARK FOR ts AS ts - INTERVAL '3' SECOND"
    assert wm in kafka
    assert wm in files
    ts = next(ln for ln in kafka.splitlines() if ln.strip().startswith("ts AS"))
    assert ts in files
    assert "'path' = 'file:///in/gps.jsonl'" in files


def test_input_files_accepts_both_layouts(tmp_path: Path) -> None:
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "call.jsonl").write_text("{}\n")
    (tmp_path / "events" / "notes.txt").write_text("x\n")
    assert input_files(tmp_path, EVENT_KINDS) == {"call": (tmp_path / "events" / "call.jsonl").resolve()}
    (tmp_path / "gps.jsonl").write_text("{}\n")  # files directly in the directory take precedence
    assert list(input_files(tmp_path, EVENT_KINDS)) == ["gps"]
    with pytest.raises(FileNotFoundError):
        input_files(tmp_path / "missing", EVENT_KINDS)


def test_feature_plan_reads_only_the_kinds_with_files(tmp_path: Path) -> None:
    for kind in ("purchase", "outcome"):
        (tmp_path / f"{kind}.jsonl").write_text("{}\n")
    s = Settings.defaults()
    files = FileIOConfig(input=tmp_path, output=tmp_path / "out")
    plan = feature_plan(s, FeatureJobConfig(), Topics.of(s), files, bounded=True, stores=[])
    sources = [d for d in plan.ddl if d.startswith("CREATE TEMPORARY TABLE src_")]
    assert len(sources) == 2
    assert all("'connector' = 'filesystem'" in d for d in sources)
    assert not any("'connector' = 'kafka'" in d and "src_" in d.split("(")[0] for d in plan.ddl)
    # the dead-letter and late records go to Kafka and to the files, for both kinds
    for sink in ("deadletter_sink", "deadletter_file", "late_sink", "late_file"):
        assert sum(i.startswith(f"INSERT INTO {sink}\n") for i in plan.inserts) == 2
    assert sum(i.startswith("INSERT INTO out_purchase") for i in plan.inserts) == 1
    with pytest.raises(FileNotFoundError):
        feature_plan(s, FeatureJobConfig(), Topics.of(s), FileIOConfig(input=tmp_path / "out", output=None), True)


def test_file_io_config_round_trips_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = FileIOConfig(input=tmp_path / "in", output=tmp_path / "out", roll_interval_s=2)
    for key, value in cfg.env().items():
        monkeypatch.setenv(key, value)
    assert FileIOConfig() == cfg


def test_decisions_file_copy_runs_the_udf_once() -> None:
    """Both INSERTs (Kafka and file) read one PythonCalc: the decisions are not computed twice."""
    from pipelines.decision_job import build

    for bounded in (True, False):
        _, stmts = build(Settings.defaults(), bounded, output=FileOutput(Path("/nonexistent/out")))
        physical = stmts.explain().split("== Optimized Execution Plan ==")[-1]
        assert physical.count("PythonCalc(") == 1
        assert "decisions_file" in physical
        assert "decisions_sink" in physical


def _customer(line: str) -> str | None:
    try:
        return str(json.loads(line)["customer_id"])
    except (ValueError, KeyError, TypeError):
        return None


def _simulated_input(root: Path) -> Path:
    from simulator.config import FaultRates, SimConfig
    from simulator.engine import Simulation
    from simulator.run import run
    from simulator.sinks import FileSink, write_truth

    faults = FaultRates(malformed=0.01, missing_field=0.01, late=0.01)
    sim = Simulation(SimConfig(customers=30, days=1.5, seed=11, faults=faults))
    run(sim, FileSink(root, parquet=False))
    write_truth(sim, root)
    with (root / "events" / "purchase.jsonl").open("a", encoding="utf-8") as f:
        f.write(BAD_LINE + "\n")
    return root


@pytest.mark.integration
@pytest.mark.slow
def test_run_from_files_to_files(settings: Settings, kafka_bootstrap: str, tmp_path: Path) -> None:
    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import read_topic, summarize

    src = _simulated_input(tmp_path / "in")
    out = tmp_path / "out"
    result = main_run(settings, RunOptions(input=src, output=out, out_dir=tmp_path / "run", settle_s=5))
    summary, decisions, _ = summarize(result)
    s = result.settings
    n_lines = sum(len(p.read_text().splitlines()) for p in (src / "events").glob("*.jsonl"))
    assert summary.events_in == n_lines

    # dead letters: every injected wire fault plus the hand-written bad line, in the topic and in the files
    faults = pq.read_table(src / "truth" / "faults.parquet").to_pandas()
    wire_faults = int(faults["fault"].isin(["malformed", "missing_field"]).sum())
    dead = [json.loads(ln) for ln in read_lines(out / "deadletter")]
    assert len(dead) == summary.dead_lettered == wire_faults + 1
    bad = [d for d in dead if d["original"] == BAD_LINE]
    assert len(bad) == 1
    assert bad[0]["error_kind"] == "not_json"
    assert bad[0]["reason"] == "payload is not JSON"
    assert bad[0]["source_topic"].endswith("purchase.jsonl")
    assert bad[0]["offset"] is None

    # late records: the same in the topic and in the files, and the injected late events are among them
    late = [json.loads(ln) for ln in read_lines(out / "late")]
    assert len(late) == summary.late
    assert len(late) >= int((faults["fault"] == "late").sum()) > 0
    assert all(r["error_kind"] == "late" for r in late)

    # decisions: the file holds exactly the records of the decisions topic
    file_decisions = [json.loads(ln) for ln in read_lines(out / "decisions")]
    topic_decisions = [json.loads(v) for _, v in read_topic(s.kafka.bootstrap, s.topics.decisions)]
    assert len(file_decisions) == len(topic_decisions) > 0
    assert sorted(d["decision_id"] for d in file_decisions) == sorted(d["decision_id"] for d in topic_decisions)
    assert set(decisions["decision_id"]) == {d["decision_id"] for d in file_decisions}
    customers = {c for p in (src / "events").glob("*.jsonl") for ln in p.read_text().splitlines()
                 if (c := _customer(ln))}
    assert {d["customer_id"] for d in file_decisions} <= customers
    # no events went through Kafka: the run's event topics are empty
    assert all(not read_topic(s.kafka.bootstrap, s.topics.events(k), idle_s=0.5) for k in EVENT_KINDS)


@pytest.mark.integration
@pytest.mark.slow
def test_unbounded_run_ends_with_a_summary_on_ctrl_c(settings: Settings, kafka_bootstrap: str,
                                                     tmp_path: Path) -> None:
    """``--unbounded``: the simulator runs until SIGINT (here sent 5 s after the jobs were up), then the run settles
    and returns its summary like a bounded run. With ``--output`` the streaming jobs' part files are committed
    by the end of the run."""
    import os
    import signal
    import threading

    from pipelines.main_run import RunOptions, main_run
    from pipelines.report import read_topic, summarize
    from pipelines.run_control import UNBOUNDED_DAYS
    from simulator.config import SimConfig

    def echo(line: str) -> None:
        if line.startswith("jobs: ready"):  # the jobs start after the simulator's first tick
            threading.Timer(5.0, os.kill, (os.getpid(), signal.SIGINT)).start()

    opts = RunOptions(customers=100, days=0.5, rate=300, unbounded=True, settle_s=5, out_dir=tmp_path,
                      output=tmp_path / "out")
    result = main_run(settings, opts, echo=echo)
    summary, _, _ = summarize(result)
    # the simulator went on past `days` (a bounded run's horizon) and stopped on the signal, long before its own
    # end; the rate cap held
    assert result.sim_summary["ticks"] > SimConfig(customers=100, days=opts.days).ticks
    assert result.sim_summary["ticks"] < SimConfig(customers=100, days=UNBOUNDED_DAYS).ticks
    assert 0 < result.sim_summary["events"] <= 300 * (result.sim_summary["elapsed_s"] + 2)
    assert summary.decisions > 0
    s = result.settings
    topic_ids = sorted(json.loads(v)["decision_id"] for _, v in read_topic(s.kafka.bootstrap, s.topics.decisions))
    assert sorted(json.loads(ln)["decision_id"] for ln in read_lines(tmp_path / "out" / "decisions")) == topic_ids
    assert len(read_lines(tmp_path / "out" / "deadletter")) == summary.dead_lettered
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
