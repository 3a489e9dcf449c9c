"""The per-customer feature contract: every feature name, its type and meaning, defined once.

The Feast definitions (``features/definitions.py``), the streaming feature job, the batch oracle, the models
and the policy compiler all read this table, so a name cannot drift between them.

>>> "days_in_crisis" in FEATURES
True
>>> FEATURES["eta_given"].dtype
'bool'
>>> sorted(names_of_type("str"))
['last_call_reason', 'preferred_channel', 'timezone']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DType = Literal["int", "float", "bool", "str"]

#: Channels an action can use; consent and contact counts exist per channel.
CHANNELS: tuple[str, ...] = ("email", "sms", "push", "call", "web", "store")
#: Kinds of action (the catalogue in ``rules/actions.yaml`` gives each action one kind).
ACTION_KINDS: tuple[str, ...] = (
    "marketing",
    "upsell",
    "service",
    "survey",
    "retention_offer",
    "agent_call",
    "credit",
    "loyalty_reward",
    "greeting",
)


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: DType
    description: str
    default: int | float | bool | str


def _f(name: str, dtype: DType, description: str, default: int | float | bool | str = 0) -> Feature:
    return Feature(name, dtype, description, default)


#: Time-decaying features are not stored: they are derived at read time from a stored timestamp
#: (epoch milliseconds, 0 = never) by ``features.derive`` so they are never stale. derived name -> stored name.
DERIVED_FROM: dict[str, str] = {
    "days_in_crisis": "crisis_since_ms",
    "near_store": "last_store_visit_ms",
    "days_since_store_visit": "last_store_visit_ms",
    "days_since_purchase": "last_purchase_ms",
    "hours_since_marketing": "last_marketing_ms",
    "tenure_days": "signup_ms",
}
#: The stored timestamps behind the derived features.
TIMESTAMP_FEATURES: tuple[str, ...] = (
    "crisis_since_ms",
    "last_store_visit_ms",
    "last_purchase_ms",
    "last_marketing_ms",
    "signup_ms",
)


_BASE: list[Feature] = [
    # clickstream
    _f("clicks_1h", "int", "clickstream events in the last hour"),
    _f("clicks_24h", "int", "clickstream events in the last 24 h"),
    _f("clicks_7d", "int", "clickstream events in the last 7 days"),
    _f("cancel_page_visits_7d", "int", "visits to the cancellation page in the last 7 days"),
    _f("help_page_visits_7d", "int", "visits to help pages in the last 7 days"),
    # calls
    _f("calls_24h", "int", "calls (inbound and outbound) in the last 24 h"),
    _f("calls_7d", "int", "calls in the last 7 days"),
    _f("repeat_calls_7d", "int", "calls in 7 days whose reason repeats an earlier call's reason in those 7 days"),
    _f("mean_wait_s_7d", "float", "mean wait time of inbound calls in 7 days, seconds", 0.0),
    _f("last_call_sentiment", "float", "sentiment of the last call, -1..1", 0.0),
    _f("last_call_reason", "str", "reason of the last call", ""),
    # complaints
    _f("open_complaints", "int", "complaints opened and not yet resolved"),
    _f("complaints_7d", "int", "complaints opened in the last 7 days"),
    _f("complaints_30d", "int", "complaints opened in the last 30 days"),
    _f("problem_recurrences_30d", "int", "complaints opened in 30 days for the problem of the latest complaint"),
    _f("eta_given", "bool", "every open complaint has been given a resolution ETA (true when none is open)", True),
    _f("days_in_crisis", "float", "days since the oldest unresolved complaint opened (0 when none)", 0.0),
    # location
    _f("near_store", "bool", "the last GPS ping (within 30 min) lies inside a store geofence", False),
    _f("days_since_store_visit", "float", "days since the last ping inside a store geofence (999 = never)", 999.0),
    # purchases
    _f("spend_30d", "float", "purchase amount in the last 30 days", 0.0),
    _f("purchases_30d", "int", "purchases in the last 30 days"),
    _f("days_since_purchase", "float", "days since the last purchase (999 = never)", 999.0),
    # contact pressure (inputs of contact policies)
    _f("contacts_24h", "int", "actions delivered to the customer on any channel in 24 h"),
    _f("contacts_7d", "int", "actions delivered on any channel in 7 days"),
    _f("hours_since_marketing", "float", "hours since the last marketing or upsell delivery (9999 = never)", 9999.0),
    # profile
    _f("timezone", "str", "the customer's IANA time zone", "UTC"),
    _f("preferred_channel", "str", "the customer's preferred channel", "email"),
    _f("tenure_days", "float", "days since the customer signed up", 0.0),
]

_PER_CHANNEL: list[Feature] = [
    f
    for ch in CHANNELS
    for f in (
        _f(f"contacts_{ch}_24h", "int", f"actions delivered by {ch} in 24 h"),
        _f(f"contacts_{ch}_7d", "int", f"actions delivered by {ch} in 7 days"),
        _f(f"consent_{ch}", "bool", f"the customer allows contact by {ch} (default: allowed)", True),
    )
]

_PER_ACTION_KIND: list[Feature] = [
    _f(f"rejects_{k}_30d", "int", f"responses 'rejected' to actions of kind {k} in 30 days") for k in ACTION_KINDS
]

#: All features by name, in a stable order.
FEATURES: dict[str, Feature] = {f.name: f for f in (*_BASE, *_PER_CHANNEL, *_PER_ACTION_KIND)}


def stored_features() -> list[str]:
    """Names of the features the feature job computes and Feast stores (int timestamps included).

    >>> "crisis_since_ms" in stored_features() and "days_in_crisis" not in stored_features()
    True
    """
    return [n for n in FEATURES if n not in DERIVED_FROM] + list(TIMESTAMP_FEATURES)


def names_of_type(dtype: DType) -> list[str]:
    """Names of the features of one type."""
    return [f.name for f in FEATURES.values() if f.dtype == dtype]


def defaults() -> dict[str, int | float | bool | str]:
    """The value of every feature for a customer with no events.

    >>> defaults()["consent_email"]
    True
    """
    return {f.name: f.default for f in FEATURES.values()}


#: Relationship stages (the inferred state of what the customer thinks and feels about the company).
STAGES: tuple[str, ...] = ("onboarding", "engaged", "dormant", "in_crisis", "recovering", "at_risk")

#: Scores the models add beside the features; policies may use them like features.
SCORES: dict[str, DType] = {
    "churn_risk": "float",
    "stage": "str",
    **{f"propensity_{k}": "float" for k in ACTION_KINDS},
}


#: Stored features by group. One group = one Feast feature view and one query of the feature job, computed
#: from one event kind; a group's row is stamped with the event time of the last event it includes.
GROUPS: dict[str, tuple[str, ...]] = {
    "clickstream": ("clicks_1h", "clicks_24h", "clicks_7d", "cancel_page_visits_7d", "help_page_visits_7d"),
    "call": (
        "calls_24h", "calls_7d", "repeat_calls_7d", "mean_wait_s_7d", "last_call_sentiment", "last_call_reason",
    ),
    "complaint": (
        "open_complaints", "complaints_7d", "complaints_30d", "problem_recurrences_30d", "eta_given",
        "crisis_since_ms",
    ),
    "gps": ("last_store_visit_ms",),
    "purchase": ("spend_30d", "purchases_30d", "last_purchase_ms"),
    "response": (
        "contacts_24h", "contacts_7d", "last_marketing_ms",
        *(f"contacts_{ch}_{w}" for ch in CHANNELS for w in ("24h", "7d")),
        *(f"rejects_{k}_30d" for k in ACTION_KINDS),
    ),
    "consent": tuple(f"consent_{ch}" for ch in CHANNELS),
    "profile": ("timezone", "preferred_channel", "signup_ms"),
}


def feature_dtype(name: str) -> DType:
    """Type of a stored or derived feature (stored timestamps are ints).

    >>> feature_dtype("crisis_since_ms"), feature_dtype("clicks_1h")
    ('int', 'int')
    """
    return "int" if name in TIMESTAMP_FEATURES else FEATURES[name].dtype
