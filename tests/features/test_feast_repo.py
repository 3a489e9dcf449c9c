"""``feast apply`` accepts the repo, and ``get_historical_features`` is point-in-time correct."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from cxm.config import Settings
from features.names import GROUPS
from features.rows import FeatureRow

REPO = Path(__file__).resolve().parents[2] / "features"


@pytest.mark.slow
def test_feast_cli_apply_on_a_copy_of_the_repo(tmp_path: Path) -> None:
    repo = tmp_path / "features"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "var").mkdir()  # Feast creates var/feast but not its parents (`make`/`cxm up` create var/)
    feast = Path(sys.executable).parent / "feast"
    proc = subprocess.run([str(feast), "apply"], cwd=repo, capture_output=True, text=True, timeout=240,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for group in GROUPS:
        assert f"Created feature view {group}" in proc.stdout
    assert "Created feature service customer_context" in proc.stdout
    assert (tmp_path / "var" / "feast" / "registry.db").exists()  # ../var relative to the repo
    listed = subprocess.run([str(feast), "feature-views", "list"], cwd=repo, capture_output=True, text=True,
                            timeout=240, check=False)
    assert sorted(line.split()[0] for line in listed.stdout.splitlines()[1:] if line.strip()) == sorted(GROUPS)


def _ts(s: int) -> datetime:
    return datetime.fromtimestamp(s, tz=UTC)


def test_historical_features_are_point_in_time_correct(tmp_path: Path) -> None:
    from features.offline_writer import ParquetAppender
    from features.store import FeastPaths, apply
    from features.training import training_frame

    settings = Settings(var_dir=tmp_path / "var")
    fs = apply(settings)
    app = ParquetAppender(FeastPaths.from_settings(settings).offline_root)
    base = 1_800_000_000
    # two batches (two part files) for c1, one for c2; a later-written correction of c1 at the same time
    app.append([FeatureRow("c1", "purchase", (base + 100) * 1000,
                           {"spend_30d": 10.0, "purchases_30d": 1, "last_purchase_ms": (base + 100) * 1000}),
                FeatureRow("c2", "purchase", (base + 150) * 1000,
                           {"spend_30d": 7.0, "purchases_30d": 1, "last_purchase_ms": (base + 150) * 1000})],
               now_ms=(base + 101) * 1000)
    app.append([FeatureRow("c1", "purchase", (base + 200) * 1000,
                           {"spend_30d": 30.0, "purchases_30d": 2, "last_purchase_ms": (base + 200) * 1000})],
               now_ms=(base + 201) * 1000)
    app.append([FeatureRow("c1", "gps", (base + 50) * 1000, {"last_store_visit_ms": (base + 50) * 1000})],
               now_ms=(base + 51) * 1000)
    labels = pd.DataFrame({
        "customer_id": ["c1", "c1", "c1", "c1", "c2", "c2"],
        "event_timestamp": [_ts(base + 50), _ts(base + 150), _ts(base + 199), _ts(base + 250),
                            _ts(base + 149), _ts(base + 150)],
        "label": [0, 1, 2, 3, 4, 5],
    })
    refs = ["purchase:spend_30d", "purchase:purchases_30d"]
    raw = fs.get_historical_features(labels, refs).to_df()
    assert set(raw["label"]) <= set(labels["label"])  # Feast's dask store may drop rows (see training.py)
    out = training_frame(fs, labels, refs)
    assert out["label"].tolist() == labels["label"].tolist()
    spend = [None if pd.isna(v) else float(v) for v in out["spend_30d"]]
    # label at t sees the newest row with event time <= t, never one written after t
    assert spend == [None, 10.0, 10.0, 30.0, None, 7.0]
    assert [None if pd.isna(v) else int(v) for v in out["purchases_30d"]] == [None, 1, 1, 2, None, 1]
    gps = training_frame(fs, labels[labels["customer_id"] == "c1"], ["gps:last_store_visit_ms"])
    assert gps["last_store_visit_ms"].tolist() == [(base + 50) * 1000] * 4
