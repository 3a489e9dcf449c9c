"""File input and output for the streaming jobs (``cxm run --input DIR --output DIR``): Flink's filesystem
connector instead of Kafka at the edges of the pipeline.

Input layout (what ``cxm simulate --to file --out X`` writes): one JSON-lines file per event kind,
``<kind>.jsonl``, in ``DIR`` or in ``DIR/events``; one event per line. Each file becomes the ``src_<kind>``
table of the feature job (format ``raw``: a line that is not JSON still arrives and is dead-lettered), with the
Kafka source's event-time attribute (same ``ts`` and WATERMARK expressions). Metadata columns: ``src_topic`` is
the file's path (``file.path``); Flink's file source has no line position, so ``src_partition`` and
``src_offset`` are NULL. Kinds without a file are left out of the job. The file source is bounded: the feature
job ends by itself when every file has been read.

Output layout (``--output DIR``), JSON lines in Flink part files (``part-<uuid>-<task>-<n>``, no extension):

- ``DIR/decisions/``  the decision records (the value of the decisions topic, one per line);
- ``DIR/deadletter/`` the dead-letter records (with ``reason``/``error_kind``/``field``);
- ``DIR/late/``       the late records.

The Kafka topics are still written; the files are an additional copy. A part file is in progress (hidden,
``.part-...inprogress...``) until it is rolled and the next checkpoint completes: files roll after
``roll_interval_s`` of processing time and become visible on the following checkpoint
(``execution.checkpointing.interval``); at the end of a bounded job every file is committed.

>>> ddl = file_source_ddl("gps", Path("/data/gps.jsonl"), 2)
>>> "'connector' = 'filesystem'" in ddl, "METADATA FROM 'file.path'" in ddl
(True, True)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipelines.feature_sql import sql_string

if TYPE_CHECKING:
    from cxm.config import Settings
    from pipelines.feature_job import JobPlan, Topics
    from pipelines.flink_env import FeatureJobConfig

#: Sub-directories of ``--output``.
OUTPUT_DIRS = {"decisions": "decisions", "dead_letter": "deadletter", "late": "late"}


def _options(opts: dict[str, str]) -> str:
    return ",\n  ".join(f"{sql_string(k)} = {sql_string(v)}" for k, v in opts.items())


def input_files(path: Path, kinds: Sequence[str]) -> dict[str, Path]:
    """The input file of each kind that has one: ``path/<kind>.jsonl`` or ``path/events/<kind>.jsonl``.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "gps.jsonl").write_text("{}\\n")
    >>> {k: p.name for k, p in input_files(d, ["gps", "call"]).items()}
    {'gps': 'gps.jsonl'}
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"input directory {path} does not exist")
    base = path / "events" if not any((path / f"{k}.jsonl").is_file() for k in kinds) else path
    return {k: (base / f"{k}.jsonl").resolve() for k in kinds if (base / f"{k}.jsonl").is_file()}


def file_source_ddl(kind: str, path: Path, watermark_delay_s: int) -> str:
    """``src_<kind>`` over a JSON-lines file (or a directory of them), with the columns of the Kafka source.

    >>> ddl = file_source_ddl("call", Path("/in/call.jsonl"), 5)
    >>> "WATERMARK FOR ts AS ts - INTERVAL '5' SECOND" in ddl, "CAST(NULL AS BIGINT)" in ddl
    (True, True)
    """
    opts = {"connector": "filesystem", "path": Path(path).resolve().as_uri(), "format": "raw",
            "raw.charset": "UTF-8"}
    return f"""CREATE TEMPORARY TABLE src_{kind} (
  payload STRING,
  src_topic STRING METADATA FROM 'file.path' VIRTUAL,
  src_partition AS CAST(NULL AS INT),
  src_offset AS CAST(NULL AS BIGINT),
  ts AS COALESCE(CXM_RFC3339(CXM_JSON_FIELD(payload, 'event_time')), TIMESTAMP '1970-01-01 00:00:00.000'),
  pt AS PROCTIME(),
  WATERMARK FOR ts AS ts - INTERVAL '{int(watermark_delay_s)}' SECOND
) WITH (
  {_options(opts)}
)"""


def sink_options(path: Path, fmt: str, roll_interval_s: int) -> dict[str, str]:
    """Options of a streaming filesystem sink that rolls part files every ``roll_interval_s``.

    >>> sink_options(Path("/out/d"), "raw", 5)["sink.rolling-policy.rollover-interval"]
    '5 s'
    """
    return {
        "connector": "filesystem",
        "path": Path(path).resolve().as_uri(),
        "format": fmt,
        "sink.rolling-policy.rollover-interval": f"{int(roll_interval_s)} s",
        "sink.rolling-policy.inactivity-interval": f"{int(roll_interval_s)} s",
        "sink.rolling-policy.check-interval": "1 s",
    }


@dataclass(frozen=True)
class FileOutput:
    """Where a run's file outputs go (``--output``)."""

    root: Path
    roll_interval_s: int = 5

    def dir(self, what: str) -> Path:
        """The directory of one output (``decisions``, ``dead_letter`` or ``late``).

        >>> FileOutput(Path("/o")).dir("dead_letter").as_posix()
        '/o/deadletter'
        """
        return Path(self.root) / OUTPUT_DIRS[what]

    def record_sink_ddl(self, name: str, what: str) -> str:
        """A JSON-lines sink of dead-letter-style records (the columns of ``feature_sql.record_sink_ddl``).

        >>> "'format' = 'json'" in FileOutput(Path("/o")).record_sink_ddl("dl_file", "dead_letter")
        True
        """
        from pipelines.feature_sql import _RECORD_COLUMNS

        opts = sink_options(self.dir(what), "json", self.roll_interval_s)
        opts["json.encode.ignore-null-fields"] = "false"
        return f"CREATE TEMPORARY TABLE {name} (\n{_RECORD_COLUMNS}\n) WITH (\n  {_options(opts)}\n)"

    def decisions_sink_ddl(self, name: str = "decisions_file") -> str:
        """The decision records, one JSON document per line (the ``record`` column is already JSON).

        >>> "'format' = 'raw'" in FileOutput(Path("/o")).decisions_sink_ddl()
        True
        """
        opts = sink_options(self.dir("decisions"), "raw", self.roll_interval_s)
        return f"CREATE TEMPORARY TABLE {name} (\n  record STRING\n) WITH (\n  {_options(opts)}\n)"


class FileIOConfig(BaseSettings):
    """File input/output of the jobs (env prefix ``CXM_FILE_IO__``, so jobs started by ``cxm run`` or submitted
    with ``flink run`` see the same settings).

    >>> FileIOConfig(input=None, output=None).active
    False
    """

    model_config = SettingsConfigDict(env_prefix="CXM_FILE_IO__", extra="forbid", frozen=True)

    input: Path | None = Field(default=None, description="directory of <kind>.jsonl files (or of events/)")
    output: Path | None = Field(default=None, description="directory of the decisions/deadletter/late files")
    roll_interval_s: int = Field(default=5, ge=1, description="part files roll after this many seconds")

    @property
    def active(self) -> bool:
        return self.input is not None or self.output is not None

    def file_output(self) -> FileOutput | None:
        return None if self.output is None else FileOutput(self.output, self.roll_interval_s)

    def env(self) -> dict[str, str]:
        """The environment variables that hand this configuration to a job process.

        >>> FileIOConfig(input=Path("/in"), output=None).env()
        {'CXM_FILE_IO__INPUT': '/in', 'CXM_FILE_IO__ROLL_INTERVAL_S': '5'}
        """
        out = {f"CXM_FILE_IO__{k.upper()}": str(Path(v).resolve()) for k, v in
               (("input", self.input), ("output", self.output)) if v is not None}
        out["CXM_FILE_IO__ROLL_INTERVAL_S"] = str(self.roll_interval_s)
        return out


def feature_plan(settings: Settings, job: FeatureJobConfig, topics: Topics, files: FileIOConfig,
                 bounded: bool, stores: Sequence[object] | None = None) -> JobPlan:
    """The feature job's plan with file sources (``files.input``: only the kinds that have a file) and/or
    file copies of the dead-letter and late records (``files.output``). ``bounded`` applies to Kafka sources;
    file sources are always bounded.

    >>> from cxm.config import Settings
    >>> from pipelines.feature_job import Topics
    >>> from pipelines.flink_env import FeatureJobConfig
    >>> s = Settings.defaults()
    >>> files = FileIOConfig(input=None, output=Path("/o"))
    >>> p = feature_plan(s, FeatureJobConfig(), Topics.of(s), files, bounded=True, stores=[])
    >>> [sum(i.startswith(f"INSERT INTO {t}") for i in p.inserts) for t in ("deadletter_file", "late_file")]
    [9, 9]
    """
    from cxm.config import EVENT_KINDS
    from pipelines.feature_job import build_plan

    kinds: Sequence[str] = EVENT_KINDS
    source = None
    if files.input is not None:
        found = input_files(files.input, EVENT_KINDS)
        if not found:
            raise FileNotFoundError(f"no <kind>.jsonl file in {files.input} or {Path(files.input) / 'events'}")
        kinds = [k for k in EVENT_KINDS if k in found]
        source = partial(_source_of, found, settings.flink.watermark_delay_s)
    plan = build_plan(settings, job, topics, bounded=bounded, stores=stores, kinds=kinds, source=source)
    out = files.file_output()
    if out is not None:
        plan.ddl.append(out.record_sink_ddl("deadletter_file", "dead_letter"))
        plan.ddl.append(out.record_sink_ddl("late_file", "late"))
        plan.inserts.extend(file_inserts(plan.inserts))
    return plan


def _source_of(found: dict[str, Path], watermark_delay_s: int, kind: str) -> str:
    return file_source_ddl(kind, found[kind], watermark_delay_s)


def file_inserts(inserts: Sequence[str]) -> list[str]:
    """Copies of the feature job's dead-letter and late INSERTs into the file sinks (same SELECTs; the planner
    shares the sources and views between the Kafka and the file branch).

    >>> file_inserts(["INSERT INTO deadletter_sink\\nSELECT 1", "INSERT INTO out_gps\\nSELECT 2"])
    ['INSERT INTO deadletter_file\\nSELECT 1']
    """
    out = []
    for ins in inserts:
        for kafka_sink, file_sink in (("deadletter_sink", "deadletter_file"), ("late_sink", "late_file")):
            prefix = f"INSERT INTO {kafka_sink}\n"
            if ins.startswith(prefix):
                out.append(f"INSERT INTO {file_sink}\n" + ins.removeprefix(prefix))
    return out


def add_decisions_file_insert(t_env: Any, stmts: Any, query: str, output: FileOutput) -> None:
    """Add to the decision job's statement set a copy of its decisions INSERT (``INSERT INTO decisions_sink
    SELECT customer_id, decide(...) ...``) into ``decisions_file``: the record column only, one per line. The
    planner plans the shared SELECT once (one optimisation block, ``pipelines.tableenv.job_config``), so the UDF
    still runs once per row."""
    head = "INSERT INTO decisions_sink"
    if head not in query:
        raise ValueError(f"not a decisions INSERT: {query[:80]!r}")
    t_env.execute_sql(output.decisions_sink_ddl("decisions_file"))
    decided = t_env.sql_query(query.split(head, 1)[1])
    from pyflink.table.expressions import col

    record = decided.get_schema().get_field_names()[1]
    # the filter keeps the projection from being merged into the shared SELECT: with it, both INSERTs read
    # the same (digest-equal) block, planned once
    stmts.add_insert("decisions_file", decided.where(col(record).is_not_null).select(col(record)))


def in_progress(directory: Path) -> list[Path]:
    """The part files of a sink directory that are not committed yet (hidden ``.part-*`` files).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / ".part-1.inprogress.x").write_text("")
    >>> [p.name for p in in_progress(d)]
    ['.part-1.inprogress.x']
    """
    return sorted(p for p in Path(directory).rglob(".part-*") if p.is_file())


def wait_committed(directory: Path, timeout_s: float, poll_s: float = 1.0,
                   clock: Callable[[], float] = time.monotonic) -> bool:
    """Wait until every part file under ``directory`` is committed (files roll after ``roll_interval_s`` and are
    committed on the next checkpoint); False on timeout.

    >>> import tempfile
    >>> wait_committed(Path(tempfile.mkdtemp()), timeout_s=0)
    True
    """
    deadline = clock() + timeout_s
    while in_progress(directory):
        if clock() >= deadline:
            return False
        time.sleep(poll_s)
    return True


def read_lines(directory: Path) -> list[str]:
    """Every committed line of a file sink's directory (in-progress/hidden part files skipped).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "part-1").write_text('{"a": 1}\\n')
    >>> _ = (d / ".part-2.inprogress.x").write_text('{"a": 2}\\n')
    >>> read_lines(d)
    ['{"a": 1}']
    """
    out: list[str] = []
    for p in sorted(Path(directory).rglob("*")):
        if p.is_file() and not p.name.startswith("."):
            out.extend(ln for ln in p.read_text(encoding="utf-8").splitlines() if ln.strip())
    return out


__all__ = [
    "OUTPUT_DIRS",
    "FileIOConfig",
    "FileOutput",
    "add_decisions_file_insert",
    "feature_plan",
    "file_inserts",
    "file_source_ddl",
    "in_progress",
    "input_files",
    "read_lines",
    "sink_options",
    "wait_committed",
]
