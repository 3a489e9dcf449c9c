"""The names a policy condition may use, with their types: features, scores and decision-context names.

Features and scores come from the contract in :mod:`features.names`; the decision-context names
are defined here:

- ``inbound_channel`` (str): the channel of the inbound contact that triggered the decision ("" when none);
- ``trigger`` (str): the event kind that triggered the decision ("" for a periodic or manual decision);
- ``local_hour`` (int, 0-23) and ``local_weekday`` (int, 0 = Monday): the decision time in the customer's
  ``timezone`` feature (UTC when the zone is unknown);
- ``context_known`` (bool): false when the features could not be fetched (a dead feature store); the shipped
  policies then allow no marketing at all, only service actions.

>>> SYMBOLS["days_in_crisis"], SYMBOLS["stage"], SYMBOLS["local_hour"]
('float', 'str', 'int')
>>> "in_crisis" in STR_DOMAINS["stage"]
True
"""

from __future__ import annotations

from features.names import ACTION_KINDS, CHANNELS, FEATURES, SCORES, STAGES, DType

#: Names computed for each decision (not features, not scores).
CONTEXT: dict[str, DType] = {
    "inbound_channel": "str",
    "trigger": "str",
    "local_hour": "int",
    "local_weekday": "int",
    "context_known": "bool",
}

#: Every name a condition may use, with its type.
SYMBOLS: dict[str, DType] = {
    **{name: f.dtype for name, f in FEATURES.items()},
    **SCORES,
    **CONTEXT,
}

#: String names whose values are a closed set: a literal outside it is a typo and rejected at load time.
STR_DOMAINS: dict[str, frozenset[str]] = {
    "stage": frozenset((*STAGES, "")),
    "inbound_channel": frozenset((*CHANNELS, "")),
    "preferred_channel": frozenset(CHANNELS),
}

#: Default score values used when the models could not answer (no propensity, unknown stage).
SCORE_DEFAULTS: dict[str, float | str] = {
    name: ("" if dtype == "str" else 0.0) for name, dtype in SCORES.items()
}

__all__ = ["ACTION_KINDS", "CHANNELS", "CONTEXT", "SCORE_DEFAULTS", "STR_DOMAINS", "SYMBOLS"]
