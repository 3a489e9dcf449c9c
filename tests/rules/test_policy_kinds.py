"""Every policy kind and every example policy of the product brief, acting on a customer (shipped rules/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from rules.testing import NOON, candidate

MARKETING = {
    "mc_fibre_bundle",
    "mc_streaming_addon",
    "mc_seasonal_promo",
    "mb_pos_software",
    "mb_payment_plan",
}


def test_baseline_customer_gets_marketing(decide):
    d = decide()
    assert d.action_kind == "marketing"
    assert d.channel == "email"
    assert d.send_at == d.decided_at


def test_in_crisis_no_marketing_or_upsell(decide):
    d = decide(scores={"stage": "in_crisis", "propensity_upsell": 0.9})
    assert d.action_kind not in ("marketing", "upsell")
    for aid in (*MARKETING, "sales_plan_upgrade", "sales_hardware_upgrade"):
        c = candidate(d, aid)
        assert (c.status, c.policy) == ("blocked", "crisis_no_marketing")


def test_open_complaint_blocks_marketing_too(decide):
    d = decide(features={"open_complaints": 1})
    assert candidate(d, "mc_fibre_bundle").policy == "crisis_no_marketing"


def test_no_survey_until_eta_given(decide):
    f = {"open_complaints": 1, "eta_given": False}
    d = decide(features=f, scores={"propensity_survey": 0.9})
    assert candidate(d, "care_satisfaction_survey").policy == "survey_after_eta"
    d2 = decide(features={**f, "eta_given": True}, scores={"propensity_survey": 0.9})
    assert d2.action_kind == "survey"


def test_free_service_after_more_than_three_days_in_crisis(decide):
    f = {"open_complaints": 1, "complaints_30d": 1}
    d = decide(
        features={**f, "days_in_crisis": 3.5}, scores={"stage": "in_crisis", "propensity_service": 0.0}
    )
    assert (d.action_id, d.mandatory) == ("svc_free_service", True)
    assert d.applied[0] == "free_service_after_3_days_in_crisis"
    d3 = decide(
        features={**f, "days_in_crisis": 3.0}, scores={"stage": "in_crisis", "propensity_service": 0.0}
    )
    assert not d3.mandatory


def test_agent_calls_after_more_than_three_recurrences(decide):
    d = decide(
        features={"problem_recurrences_30d": 4, "open_complaints": 1}, scores={"propensity_agent_call": 0}
    )
    assert (d.action_id, d.channel, d.mandatory) == ("svc_agent_callback", "call", True)
    d3 = decide(
        features={"problem_recurrences_30d": 3, "open_complaints": 1}, scores={"propensity_agent_call": 0}
    )
    assert d3.action_id != "svc_agent_callback"


def test_retention_after_resolution_leads_to_hardware_upgrade(decide):
    solved = {"open_complaints": 0, "complaints_30d": 1}
    s = {
        "propensity_marketing": 0.0,
        "propensity_credit": 0.5,
        "propensity_retention_offer": 0.0,
        "churn_risk": 0.8,
        "stage": "recovering",
    }
    d = decide(features=solved, scores=s)
    assert d.action_id == "ret_monthly_credit"
    assert "retention_leads_to_hardware_upgrade" in d.applied
    assert d.components["context_weight"] == 2.0
    calm = decide(features=solved, scores={**s, "churn_risk": 0.2})
    assert candidate(calm, "ret_monthly_credit").policy == "retention_after_resolution"
    unsolved = decide(features={"open_complaints": 1, "complaints_30d": 1}, scores=s)
    assert candidate(unsolved, "ret_discount_offer").policy == "retention_after_resolution"


def test_loyal_engaged_customer_is_thanked_not_sold_to(decide):
    s = {"propensity_upsell": 0.9, "propensity_marketing": 0.0, "propensity_loyalty_reward": 0.3}
    d = decide(features={"tenure_days": 1500.0}, scores=s)
    assert d.action_kind == "loyalty_reward"
    assert candidate(d, "sales_hardware_upgrade").policy == "thank_loyal_customers_dont_sell"
    young = decide(features={"tenure_days": 100.0}, scores=s)
    assert young.action_kind == "upsell"
    assert candidate(young, "loy_thank_you_reward").policy == "loyalty_for_long_standing_engaged"


def test_store_greeting_suggests_the_usual_order(decide):
    d = decide(features={"near_store": True}, scores={"propensity_greeting": 0.6})
    assert (d.action_id, d.channel, d.format) == ("store_usual_order_greeting", "store", "staff_app_card")
    away = decide(features={"near_store": False}, scores={"propensity_greeting": 0.6})
    assert candidate(away, "store_usual_order_greeting").policy == "greeting_only_in_store"


def test_consent_never_uses_an_opted_out_channel(decide):
    d = decide(features={"consent_email": False})
    assert d.action_kind == "marketing"
    assert d.channel not in (None, "email")
    none = decide(features={f"consent_{c}": False for c in ("email", "sms", "push", "web", "call")})
    c = candidate(none, "mc_fibre_bundle")
    assert (c.status, c.policy) == ("blocked", "consent")
    assert none.channel in (None, "store")


def test_contact_caps_one_email_and_one_sms_a_week(decide):
    d = decide(features={"contacts_email_7d": 1})
    assert d.channel != "email"
    both = decide(features={"contacts_email_7d": 1, "contacts_sms_7d": 1})
    c = candidate(both, "mc_seasonal_promo")  # email and SMS only
    assert c.status == "blocked"
    assert c.policy == "cap_email_week"
    assert "one commercial SMS a week" in c.reason


def test_overall_caps_per_day_and_week(decide):
    day = decide(features={"contacts_24h": 1})
    assert day.action_kind not in ("marketing", "upsell", "survey")
    assert candidate(day, "mc_fibre_bundle").policy == "cap_all_day"
    week = decide(features={"contacts_7d": 3})
    assert candidate(week, "mc_fibre_bundle").policy == "cap_all_week"


def test_suppression_after_two_rejects_in_30_days(decide):
    d = decide(features={"rejects_marketing_30d": 2})
    assert d.action_kind != "marketing"
    assert candidate(d, "mc_fibre_bundle").policy == "suppress_after_2_rejects"
    once = decide(features={"rejects_marketing_30d": 1})
    assert once.action_kind == "marketing"


def test_quiet_hours_defer_to_next_morning_in_customer_time_zone(decide):
    ny = ZoneInfo("America/New_York")
    late = datetime(2026, 11, 24, 22, 30, tzinfo=ny)
    d = decide(
        features={"timezone": "America/New_York", "preferred_channel": "call"}, now=late.astimezone(UTC)
    )
    assert d.channel == "call"
    assert "quiet_hours" in d.applied
    assert d.send_at.astimezone(ny) == datetime(2026, 11, 25, 8, 0, tzinfo=ny)
    email = decide(features={"timezone": "America/New_York"}, now=late.astimezone(UTC))
    assert email.channel == "email"
    assert email.send_at == email.decided_at
    madrid = decide(
        features={"timezone": "Europe/Madrid", "preferred_channel": "call"}, now=late.astimezone(UTC)
    )
    assert madrid.send_at.astimezone(ZoneInfo("Europe/Madrid")).hour == 8  # 04:30 in Madrid: still quiet


def test_not_now_tell_them_tomorrow_after_a_bad_call(decide):
    d = decide(features={"calls_24h": 1, "last_call_sentiment": -0.8})
    assert d.action_kind == "marketing"
    assert d.send_at - d.decided_at == timedelta(hours=24)
    assert "calm_down_after_bad_call" in d.applied
    assert d.to_record()["deferred"] is True


def test_since_you_are_calling_offer_goes_through_the_call(decide):
    s = {"propensity_marketing": 0.5}
    d = decide(features={"contacts_24h": 1}, scores=s, inbound_channel="call")
    assert d.action_kind == "marketing"
    assert d.channel == "call"
    assert "since_you_are_calling" in d.applied
    assert d.components["context_weight"] == 1.5
    # an offer whose catalogue channels lack "call" may still go through the call
    assert candidate(d, "mc_streaming_addon").status == "lost"
    outbound = decide(features={"contacts_24h": 1}, scores=s)
    assert candidate(outbound, "mc_streaming_addon").policy == "cap_all_day"


def test_marketing_yields_to_service_with_an_open_case(decide):
    d = decide(features={"complaints_30d": 1, "open_complaints": 0}, scores={"propensity_service": 0.01})
    assert d.department == "service"
    assert candidate(d, "mc_fibre_bundle").policy == "marketing_yields_to_service"
    assert candidate(d, "care_satisfaction_survey").policy != "marketing_yields_to_service"


def test_no_context_no_marketing_and_never_a_crash(policy_set):
    from rules.engine import DecisionContext

    d = policy_set.decide(None, None, DecisionContext("c-x"), NOON)
    assert d.context_known is False
    assert d.action_kind not in ("marketing", "upsell")
    bad = policy_set.decide(
        {"open_complaints": "lots", "days_in_crisis": None}, {"stage": 3}, DecisionContext("c-y"), NOON
    )
    assert bad.context_known is False
    assert candidate(bad, "mc_fibre_bundle").policy == "no_marketing_without_context"


def test_arbitration_priority_is_the_product_of_components(decide, policy_set):
    d = decide(scores={"propensity_marketing": 0.3})
    c = d.components
    assert c["priority"] == c["propensity"] * c["context_weight"] * c["value"] * c["lever"]
    assert all(x.priority <= c["priority"] for x in d.candidates)
    assert d.action_id == "mb_pos_software"  # the highest value x lever among marketing actions
    top = max((a for a in policy_set.actions if a.kind == "marketing"), key=lambda a: a.value * a.lever)
    assert top.id == d.action_id


def test_channel_choice_inbound_then_preferred_then_first(decide):
    assert decide(features={"preferred_channel": "call"}).channel == "call"
    assert decide(features={"preferred_channel": "store"}).channel == "email"  # first allowed
    assert decide(inbound_channel="web").channel == "web"


def test_cooldown_from_action_history(decide):
    d = decide(action_history={"mb_pos_software": 24.0})
    assert d.action_id != "mb_pos_software"
    assert candidate(d, "mb_pos_software").policy == "cooldown"


def test_no_action_is_explicit(decide):
    from features.names import ACTION_KINDS

    d = decide(scores={f"propensity_{k}": 0.0 for k in ACTION_KINDS})
    assert d.action_id is None
    assert d.channel is None
    assert len(d.candidates) == 20
