"""Configuration of the simulator: rates of behaviour, effect sizes of decisions, fault rates.

Every number that shapes the synthetic world lives here, in pydantic models with ``extra="forbid"``; the
docs (``docs/events.md``) list the effect sizes. Rates are per customer per hour unless noted.

>>> cfg = SimConfig(customers=10, days=1)
>>> cfg.effects.marketing_in_crisis_hazard_mult > 1 > cfg.effects.agent_call_hazard_mult
True
>>> SimConfig(start="2026-11-24T00:00:00")
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for SimConfig
start
  Value error, start must be timezone-aware ...
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from features.stores import STORES_FILE


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Rates(_Cfg):
    """Behaviour of undisturbed customers (per customer per hour, before the local time-of-day curve)."""

    sessions_engaged: float = Field(0.10, ge=0, description="browsing sessions/h of a fully engaged customer")
    sessions_floor: float = Field(0.01, ge=0, description="browsing sessions/h of a disengaged customer")
    pages_per_session: float = Field(3.0, ge=0, description="mean extra pages per session (1 + Poisson)")
    purchase_per_session: float = Field(0.08, ge=0, le=1, description="P(purchase | session) at engagement 1")
    gps_app_share: float = Field(0.7, ge=0, le=1, description="share of customers whose app sends GPS pings")
    gps_pings: float = Field(0.04, ge=0, description="background GPS pings/h (near home)")
    store_visits: float = Field(0.008, ge=0, description="store visits/h (2-4 pings inside the geofence)")
    fault_onset: float = Field(0.004, ge=0, description="terminal fault onsets/h at problem proneness 1")
    fault_relapse_factor: float = Field(4.0, ge=1, description="onset multiplier once the device has failed")
    recurrence: float = Field(0.02, ge=0, description="new complaints/h about the same problem in a crisis")
    crisis_calls: float = Field(0.03, ge=0, description="inbound calls/h in a crisis (repeat calls)")
    other_calls: float = Field(0.0015, ge=0, description="inbound calls/h about other reasons")
    eta_delay_h: float = Field(36.0, gt=0, description="mean hours from fault onset until an ETA is given")
    fix_after_eta_h: float = Field(48.0, gt=0, description="mean hours from the ETA message until the fix")
    churn_hazard: float = Field(5e-5, ge=0, description="baseline churn hazard/h")
    hazard_satisfaction_k: float = Field(4.0, ge=0, description="hazard x exp(k (0.7 - satisfaction))")
    hazard_crisis_per_day: float = Field(1.5, ge=0, description="hazard x (1 + this x days in crisis)")
    satisfaction_crisis_drift: float = Field(-0.004, le=0, description="satisfaction change/h in a crisis")
    satisfaction_recovery: float = Field(0.01, ge=0, description="share/h of the gap to baseline recovered")
    churn_delay_h: tuple[float, float] = (12.0, 72.0)
    cancel_page_visits: float = Field(0.15, ge=0, description="cancel-page views/h between intent and churn")
    renewal_period_days: int = Field(30, ge=1)
    onboarding_days: float = 14.0
    recovering_days: float = 14.0
    at_risk_hazard_factor: float = Field(4.0, ge=1, description="stage at_risk when hazard > this x baseline")


class Effects(_Cfg):
    """How the simulated customers react to the decisions they receive (effect sizes)."""

    marketing_in_crisis_hazard_mult: float = Field(2.0, description="marketing/upsell delivered in a crisis")
    marketing_in_crisis_satisfaction: float = -0.10
    timely_agent_call_days: float = Field(3.0, description="an agent call within this many crisis days")
    agent_call_hazard_mult: float = Field(0.5, description="timely agent call in a crisis")
    agent_call_satisfaction: float = 0.10
    credit_hazard_mult: float = Field(0.6, description="free service credit in a crisis or when recovering")
    credit_satisfaction: float = 0.08
    survey_before_eta_satisfaction: float = Field(-0.15, description="survey in a crisis before any ETA")
    survey_before_eta_hazard_mult: float = 1.3
    retention_offer_hazard_mult: float = Field(0.7, description="accepted retention offer")
    retention_upgrade_p: float = Field(0.5, description="accepted retention offer replaces the faulty device")
    save_p: float = Field(
        0.4, description="accepted retention offer/credit/agent call cancels a churn intent"
    )
    loyalty_reward_satisfaction: float = 0.05
    mult_half_life_days: float = Field(14.0, gt=0, description="hazard multipliers relax towards 1")
    overcontact_per_week: int = Field(5, ge=1, description="deliveries per 7 days above which ...")
    overcontact_unsubscribe_p: float = Field(0.3, ge=0, le=1, description="... each delivery may unsubscribe")
    accept_p: float = Field(0.15, ge=0, le=1, description="P(accept) at satisfaction 0.7, outside a crisis")
    accept_p_crisis_help: float = Field(
        0.5, ge=0, le=1, description="P(accept) of agent call/credit in crisis"
    )
    reject_p_crisis_sales: float = Field(
        0.6, ge=0, le=1, description="P(reject) of marketing/upsell in crisis"
    )
    open_p: float = Field(0.4, ge=0, le=1, description="P(opened) for email/push/sms")
    click_p: float = Field(0.3, ge=0, le=1, description="P(clicked | opened)")


class FaultRates(_Cfg):
    """Wire faults injected into the JSONL/Kafka stream (shares of events)."""

    malformed: float = Field(0.0, ge=0, le=1, description="payload truncated: not JSON")
    missing_field: float = Field(0.0, ge=0, le=1, description="one required field removed")
    duplicate: float = Field(0.0, ge=0, le=1, description="the same event (same event_id) sent again")
    out_of_order: float = Field(
        0.0,
        ge=0,
        le=1,
        description="event time set up to max_disorder_s behind the newest earlier event of its kind",
    )
    late: float = Field(
        0.0,
        ge=0,
        le=1,
        description="event time max(1.5 x, +30 s) to 3 x lateness_s behind the newest earlier event of its kind",
    )
    max_disorder_s: float = Field(
        1.0,
        gt=0,
        description="out-of-order faults stay within this (keep it below the streaming job's watermark delay, "
        "2-5 s, so they are disorder, not late)",
    )
    lateness_s: float = Field(3600.0, gt=0, description="the allowed lateness that late faults exceed")

    @model_validator(mode="after")
    def _disorder_within_lateness(self) -> FaultRates:
        if self.max_disorder_s >= self.lateness_s:
            raise ValueError(
                f"max_disorder_s ({self.max_disorder_s}) must be below lateness_s ({self.lateness_s}): "
                "out-of-order events would be late"
            )
        return self


class SimConfig(_Cfg):
    """A whole simulation run."""

    customers: int = Field(1000, ge=1)
    days: float = Field(30.0, gt=0)
    seed: int = Field(0, ge=0)
    start: datetime = datetime(2026, 11, 1, tzinfo=UTC)
    tick_s: int = Field(3600, ge=60, le=86_400)
    stores_file: Path = STORES_FILE
    flush_events: int = Field(200_000, ge=1, description="serialise once this many events are buffered")
    rates: Rates = Rates()
    effects: Effects = Effects()
    faults: FaultRates = FaultRates()

    @field_validator("start")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("start must be timezone-aware (e.g. 2026-11-01T00:00:00Z)")
        return v

    @property
    def ticks(self) -> int:
        return round(self.days * 86_400 / self.tick_s)
