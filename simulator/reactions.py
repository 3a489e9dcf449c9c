"""How customers react to the decisions the system sends them (effect sizes in :class:`Effects`).

Decisions (JSON dicts with ``decision_id``, ``customer_id``, ``action_id``, ``action_kind``, ``channel``,
``send_at``; other fields ignored) are queued and delivered at ``send_at`` in simulated time. Delivery needs
the channel's consent; each delivery emits ``response`` events (delivered, maybe opened/clicked, then
accepted/rejected/ignored, or unsubscribed) and changes hidden state:

* marketing or upsell during a crisis: hazard x ``marketing_in_crisis_hazard_mult``, satisfaction down;
* an agent call within ``timely_agent_call_days`` of the crisis start: hazard x ``agent_call_hazard_mult``;
* a free service credit in a crisis or while recovering: hazard x ``credit_hazard_mult``;
* a survey in a crisis before an ETA was given: satisfaction down, hazard x ``survey_before_eta_hazard_mult``;
* more than ``overcontact_per_week`` deliveries in 7 days: unsubscribe with ``overcontact_unsubscribe_p``
  (a ``consent`` event; a ``profile`` event if it was the preferred channel);
* an accepted retention offer, credit or agent call may cancel a churn intent (``save_p``).

Decisions are few compared with events, so this is plain Python per decision.
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from typing import Any

import numpy as np

from events.timefmt import parse_rfc3339, to_epoch_ms
from features.names import ACTION_KINDS, CHANNELS
from simulator.config import Effects
from simulator.emit import EventBuffer
from simulator.population import CH, DAY_MS, State

RESPONSES = ("delivered", "opened", "clicked", "accepted", "rejected", "ignored", "unsubscribed")
RS = {r: i for i, r in enumerate(RESPONSES)}
AK = {k: i for i, k in enumerate(ACTION_KINDS)}
SALES = frozenset({"marketing", "upsell"})
HELP = frozenset({"agent_call", "credit", "service"})
READABLE = frozenset({"email", "push", "sms"})


class Reactions:
    """The decision queue and the customers' reactions."""

    def __init__(self, st: State, effects: Effects, rng: np.random.Generator) -> None:
        self.st = st
        self.fx = effects
        self.rng = rng
        self._queue: list[tuple[int, int, dict[str, Any]]] = []
        self._n = 0
        self.contacts: dict[int, deque[int]] = {}
        self.stats: Counter[str] = Counter()

    def submit(self, decisions: list[dict[str, Any]]) -> int:
        """Queue decisions; returns how many were accepted (no-action and malformed ones are counted)."""
        taken = 0
        for d in decisions:
            try:
                cid = str(d["customer_id"])
                c = int(cid.lstrip("c"))
            except (KeyError, ValueError, TypeError):
                self.stats["malformed"] += 1
                continue
            if not (0 <= c < self.st.n):
                self.stats["unknown_customer"] += 1
                continue
            if d.get("action_id") is None or d.get("action_kind") not in AK or d.get("channel") not in CH:
                self.stats["no_action"] += 1  # no time needed (readers may pass only the customer of these)
                continue
            try:
                send = to_epoch_ms(parse_rfc3339(str(d.get("send_at") or d["decided_at"])))
            except (KeyError, ValueError, TypeError):
                self.stats["malformed"] += 1
                continue
            heapq.heappush(self._queue, (send, self._n, {**d, "_c": c}))
            self._n += 1
            taken += 1
        return taken

    def deliver_due(self, buf: EventBuffer, t0: int, t1: int) -> None:
        """Deliver every queued decision whose send time is before ``t1``."""
        cols: dict[str, list[Any]] = {k: [] for k in ("c", "t", "dec", "act", "kind", "ch", "resp")}
        consent_rows: list[tuple[int, int, int]] = []
        profile_rows: list[tuple[int, int]] = []
        while self._queue and self._queue[0][0] < t1:
            send, _, d = heapq.heappop(self._queue)
            self._deliver(d, max(send, t0), cols, consent_rows, profile_rows)
        if cols["c"]:
            buf.add(
                "response",
                np.array(cols["c"]),
                np.array(cols["t"]),
                decision_id=cols["dec"],
                action_id=cols["act"],
                action_kind=np.array(cols["kind"], dtype=np.int8),
                channel=np.array(cols["ch"], dtype=np.int8),
                response=np.array(cols["resp"], dtype=np.int8),
            )
        if consent_rows:
            c, t, ch = (np.array(x) for x in zip(*consent_rows, strict=True))
            buf.add("consent", c, t, channel=ch.astype(np.int8), granted=np.zeros(len(c), dtype=bool))
        if profile_rows:
            emit_profiles(buf, self.st, *(np.array(x) for x in zip(*profile_rows, strict=True)))

    def _deliver(
        self,
        d: dict[str, Any],
        t: int,
        cols: dict[str, list[Any]],
        consent_rows: list[tuple[int, int, int]],
        profile_rows: list[tuple[int, int]],
    ) -> None:
        st, fx, rng = self.st, self.fx, self.rng
        c, kind, ch = d["_c"], str(d["action_kind"]), CH[str(d["channel"])]
        if not st.active[c]:
            self.stats["churned_before_send"] += 1
            return
        if not st.consent[c, ch]:
            self.stats["blocked_by_consent"] += 1
            return
        self.stats["delivered"] += 1
        t += int(rng.integers(0, 600_000))

        def respond(resp: str, dt_ms: int = 0) -> None:
            for k, v in (
                ("c", c),
                ("t", t + dt_ms),
                ("dec", str(d.get("decision_id", ""))),
                ("act", str(d["action_id"])),
                ("kind", AK[kind]),
                ("ch", ch),
                ("resp", RS[resp]),
            ):
                cols[k].append(v)

        respond("delivered")
        crisis = bool(st.crisis[c])
        days = (t - st.crisis_start_ms[c]) / DAY_MS if crisis else 0.0
        recovering = st.resolved_ms[c] >= 0 and t - st.resolved_ms[c] < 14 * DAY_MS
        if kind in SALES and crisis:
            st.hazard_mult[c] *= fx.marketing_in_crisis_hazard_mult
            st.satisfaction[c] += fx.marketing_in_crisis_satisfaction
            self.stats["sales_in_crisis"] += 1
        elif kind == "agent_call" and crisis and days <= fx.timely_agent_call_days:
            st.hazard_mult[c] *= fx.agent_call_hazard_mult
            st.satisfaction[c] += fx.agent_call_satisfaction
        elif kind == "credit" and (crisis or recovering):
            st.hazard_mult[c] *= fx.credit_hazard_mult
            st.satisfaction[c] += fx.credit_satisfaction
        elif kind == "survey" and crisis and not st.eta_given[c]:
            st.hazard_mult[c] *= fx.survey_before_eta_hazard_mult
            st.satisfaction[c] += fx.survey_before_eta_satisfaction
            self.stats["survey_before_eta"] += 1
        elif kind == "loyalty_reward":
            st.satisfaction[c] += fx.loyalty_reward_satisfaction
        st.satisfaction[c] = min(1.0, max(0.0, st.satisfaction[c]))
        # the customer's answer
        if CHANNELS[ch] in READABLE and rng.random() < fx.open_p:
            respond("opened", 60_000)
            if rng.random() < fx.click_p:
                respond("clicked", 120_000)
        p_acc = fx.accept_p * float(np.exp(2.0 * (st.satisfaction[c] - 0.7)))
        p_rej = 0.2
        if crisis and kind in HELP:
            p_acc = fx.accept_p_crisis_help
        elif crisis and kind in SALES:
            p_acc, p_rej = 0.01, fx.reject_p_crisis_sales
        u = rng.random()
        answer = "accepted" if u < p_acc else "rejected" if u < p_acc + p_rej else "ignored"
        respond(answer, 300_000)
        if answer == "accepted":
            if kind == "retention_offer":
                st.hazard_mult[c] *= fx.retention_offer_hazard_mult
                if rng.random() < fx.retention_upgrade_p:
                    st.device_gen[c] += 1
                    st.had_fault[c] = False
            if kind in ("retention_offer", "credit", "agent_call") and st.intent_ms[c] >= 0:
                if rng.random() < fx.save_p:
                    st.intent_ms[c] = -1
                    st.churn_at_ms[c] = -1
                    self.stats["saved"] += 1
        # contact pressure
        log = self.contacts.setdefault(c, deque())
        log.append(t)
        while log and log[0] < t - 7 * DAY_MS:
            log.popleft()
        if len(log) > fx.overcontact_per_week and rng.random() < fx.overcontact_unsubscribe_p:
            respond("unsubscribed", 400_000)
            st.consent[c, ch] = False
            consent_rows.append((c, t + 400_000, ch))
            self.stats["unsubscribed"] += 1
            if st.preferred[c] == ch:
                allowed = np.flatnonzero(st.consent[c])
                if len(allowed):
                    st.preferred[c] = int(allowed[0])
                    profile_rows.append((c, t + 401_000))


def emit_profiles(buf: EventBuffer, st: State, cust: np.ndarray, t: np.ndarray) -> None:
    """Profile events (time zone, preferred channel, home, sign-up) of the given customers."""
    buf.add(
        "profile",
        cust,
        t,
        timezone=[st.timezones[i] for i in st.tz_idx[cust]],
        preferred_channel=st.preferred[cust].astype(np.int8),
        home_lat=st.home_lat[cust],
        home_lon=st.home_lon[cust],
        signup_time=st.signup_ms[cust],
    )
