"""Models benchmark: churn AUC / stage macro F1 on a held-out simulated period, learn and score speed per model.

Simulates ``CXM_BENCH_MODELS_CUSTOMERS`` (default 2000) customers for 90 days (seed 1).

- ``churn_auc`` (label window 7 days, :data:`models.delayed.CHURN_WINDOW_MS`): held out *within the first
  month*: train on samples of days 0-14 (their labels are resolved by day 21), test on days 21-30;
- ``churn_online_auc``: the same test days scored by the model as it was at each moment of an online replay
  (:func:`models.replay.replay`: score, then learn from delayed labels, day by day from day 0);
- ``churn_auc_30d_window``: the former definition (30-day window, train month 1, test month 2), for comparison;
- ``stage_macro_f1``: train month 1, test month 2.

Speeds are single-threaded, on training rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from bench.common import write_result
from models.baseline import compare
from models.churn import ChurnModel
from models.delayed import DAY_MS
from models.evaluate import churn_summary, stage_report
from models.propensity import PropensityModel
from models.replay import replay
from models.scoring import Scorer
from models.stage import StageModel
from models.trainset import build_training_set, label_samples, simulate_log

BATCH = 1000


def _rate(n: int, fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def _speeds(name: str, make: Callable[[], Any], X: pd.DataFrame, y: pd.Series, out: dict[str, float]) -> Any:
    n1 = min(3000, len(X))
    rows = X.iloc[:n1].to_dict("records")
    ys = list(y.iloc[:n1])
    m1 = make()
    out[f"{name}_learn_per_s_single"] = _rate(n1, lambda: [m1.learn_one(r, t) for r, t in zip(rows, ys, strict=True)])
    out[f"{name}_score_per_s_single"] = _rate(n1, lambda: [m1.predict_proba_one(r) for r in rows])
    mb = make()
    batches = [(X.iloc[i : i + BATCH], y.iloc[i : i + BATCH]) for i in range(0, len(X), BATCH)]
    out[f"{name}_learn_per_s_batched"] = _rate(len(X), lambda: [mb.learn_many(a, b) for a, b in batches])
    out[f"{name}_score_per_s_batched"] = _rate(len(X), lambda: [mb.predict_proba_many(a) for a, _ in batches])
    return mb


def main() -> None:
    customers = int(os.environ.get("CXM_BENCH_MODELS_CUSTOMERS", "2000"))
    t0 = time.perf_counter()
    log = simulate_log(customers=customers, days=90, seed=1)
    df = build_training_set(log)
    data_s = time.perf_counter() - t0
    s0 = log.start_ms
    mid, end = s0 + 30 * DAY_MS, s0 + 60 * DAY_MS
    train = df[df["ts_ms"] < mid]
    test = df[(df["ts_ms"] >= mid) & (df["ts_ms"] < end)]
    labelled = df[df["label"].notna()]
    tr_l = labelled[labelled["ts_ms"] < s0 + 14 * DAY_MS]
    te_l = labelled[(labelled["ts_ms"] >= s0 + 21 * DAY_MS) & (labelled["ts_ms"] < mid)]

    m: dict[str, float] = {}
    churn = _speeds("churn", lambda: ChurnModel(track_metrics=False), tr_l, tr_l["label"].astype(bool), m)
    online = ChurnModel()
    online.learn_many(tr_l, tr_l["label"].astype(bool))
    summary = churn_summary(online.churn_risk(te_l), te_l["label"].to_numpy(float))
    m["churn_auc"] = summary["roc_auc"]
    m["churn_log_loss"] = summary["log_loss"]
    m["churn_ece"] = summary["ece"]
    m["churn_test_base_rate"] = summary["base_rate"]
    m["churn_progressive_auc"] = online.metrics()["roc_auc"]
    month1 = df[df["ts_ms"] < mid].drop(columns=["label", "true_stage"])
    rep_scores = replay(month1, log.outcomes, ChurnModel(), s0)
    late = te_l.merge(rep_scores, on=["customer_id", "ts_ms"], how="left")
    m["churn_online_auc"] = churn_summary(late["score"].to_numpy(float), late["label"].to_numpy(float))["roc_auc"]
    y30 = label_samples(df, log.outcomes, log.end_ms, 30 * DAY_MS)
    tr30, te30 = train[y30[train.index].notna()], test[y30[test.index].notna()]
    old = ChurnModel(track_metrics=False)
    old.learn_many(tr30, y30[tr30.index].astype(bool))
    m["churn_auc_30d_window"] = churn_summary(old.churn_risk(te30), y30[te30.index].to_numpy(float))["roc_auc"]

    stage = _speeds("stage", StageModel, train, train["true_stage"], m)
    rep = stage_report(test["true_stage"].tolist(), stage.predict_many(test).tolist())
    m["stage_macro_f1"] = rep.macro_f1

    kinds = np.array(["greeting", "marketing", "service"], dtype=object)[np.arange(len(train)) % 3]
    ptrain = train.assign(action_kind=kinds)
    _speeds("propensity", PropensityModel, ptrain, ptrain["purchases_30d"] > 1, m)

    scorer = Scorer(churn, stage, PropensityModel())
    lat = []
    for i in range(0, min(len(test), 50 * BATCH), BATCH):
        b = test.iloc[i : i + BATCH]
        t = time.perf_counter()
        scorer.score_batch(b)
        lat.append((time.perf_counter() - t) * 1000)
    m["score_p99_ms"] = float(np.percentile(lat, 99))  # one batch of 1000 customers, all scores
    m["scorer_customers_per_s"] = BATCH / float(np.mean(lat)) * 1000
    one = []
    rows = test.iloc[:2000].to_dict("records")
    for r in rows:
        t = time.perf_counter()
        churn.predict_proba_one(r)
        one.append((time.perf_counter() - t) * 1000)
    m["churn_score_one_p99_ms"] = float(np.percentile(one, 99))

    table = compare(tr_l, te_l)
    print(table.round(4).to_string())
    notes = {
        "customers": customers,
        "days": 90,
        "churn_train": "labelled samples of days 0-14, 7-day window (labels resolved by day 21)",
        "churn_test": "labelled samples of days 21-30",
        "train_rows": len(tr_l),
        "test_rows": len(te_l),
        "data_build_s": round(data_s, 1),
        "score_p99_ms": "p99 of Scorer.score_batch over batches of 1000 customers (churn, stage, 9 propensities)",
        "baseline_comparison": table.round(4).to_dict(orient="index"),
        "stage_per_class": rep.per_stage.round(3).to_dict(orient="index"),
    }
    write_result("models", {k: round(v, 4) for k, v in m.items()}, notes)


if __name__ == "__main__":
    main()
