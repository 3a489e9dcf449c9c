"""Evaluation helpers: calibration (reliability table), stage report against ground truth, churn summary.

>>> import numpy as np
>>> t = reliability_table(np.array([0.1, 0.1, 0.9, 0.9]), np.array([0, 0, 1, 1]), bins=2)
>>> t["mean_predicted"].round(2).tolist(), t["observed_rate"].tolist()
([0.1, 0.9], [0.0, 1.0])
>>> r = stage_report(["engaged", "dormant", "engaged"], ["engaged", "engaged", "engaged"])
>>> float(round(r.per_stage.loc["engaged", "recall"], 2)), float(round(r.per_stage.loc["engaged", "precision"], 2))
(1.0, 0.67)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import confusion_matrix, f1_score, log_loss, precision_recall_fscore_support, roc_auc_score

from features.names import STAGES


def reliability_table(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per equal-width probability bin: count, mean predicted probability and observed positive rate."""
    p = np.asarray(p, dtype=float)
    y = np.asarray(y, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    df = pd.DataFrame({"bin": idx, "p": p, "y": y})
    g = df.groupby("bin").agg(n=("y", "size"), mean_predicted=("p", "mean"), observed_rate=("y", "mean"))
    g.index = [f"[{b / bins:.1f}, {(b + 1) / bins:.1f})" for b in g.index]
    return g


def expected_calibration_error(p: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |mean predicted - observed rate| over the reliability bins."""
    t = reliability_table(p, y, bins)
    return float((t["n"] * (t["mean_predicted"] - t["observed_rate"]).abs()).sum() / t["n"].sum())


def churn_summary(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """ROC AUC, log loss, ECE, base rate and mean prediction."""
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    y = np.asarray(y, dtype=float)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "ece": expected_calibration_error(p, y),
        "base_rate": float(y.mean()),
        "mean_predicted": float(p.mean()),
    }


@dataclass
class StageReport:
    """Per-stage precision/recall/F1/support, macro F1 and the confusion matrix (rows = true stage)."""

    per_stage: pd.DataFrame
    macro_f1: float
    confusion: pd.DataFrame


def stage_report(y_true: Sequence[str], y_pred: Sequence[str]) -> StageReport:
    """Evaluate predicted stages against the true ones over ``features.names.STAGES``.

    Macro F1 averages over the stages present in ``y_true`` or ``y_pred``.
    """
    labels = list(STAGES)
    prec, rec, f1, sup = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per = pd.DataFrame({"precision": prec, "recall": rec, "f1": f1, "support": sup}, index=labels)
    present = sorted(set(y_true) | set(y_pred))
    macro = float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
    cm = pd.DataFrame(confusion_matrix(y_true, y_pred, labels=labels), index=labels, columns=labels)
    return StageReport(per, macro, cm)
