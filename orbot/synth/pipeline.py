"""One item of a synthesis run, stage by stage: a variant that passes the instance checks (no LLM), its
story (the LLM), every number of the data found in the story, and the round trip (orbot formulates the
story from scratch and must reach the same optimum). A failed stage rejects the item with its reason;
with repair rounds, a story that lost numbers or led to another optimum is rewritten first.

Reasons: at the variation stage ``invalid``, ``infeasible``, ``unbounded``, ``not_proven``,
``constant_objective``, ``zero_solution``, ``near_copy`` (see orbot.synth.instance); then
``llm_error`` (the endpoint failed: such items run again when the run is resumed),
``story_unreadable``, ``numbers_missing``, ``round_trip_status`` (the text formulated again has no
optimum), ``round_trip_optimum`` (another optimum: beyond ORBOT_SYNTH_TOLERANCE, or beyond the MIP
gap either solve stopped at), ``error`` (anything else, with its message: a run never stops for one
item).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any

from orbot.agent import Agent
from orbot.agent.llm import Usage
from orbot.compiler import compile_formulation
from orbot.errors import FormulationError, OrbotError
from orbot.formulation import Formulation
from orbot.settings import Settings
from orbot.synth.instance import Checked, Fingerprint, check_instance, same_value
from orbot.synth.numbers import missing_numbers, required_numbers
from orbot.synth.seeds import Seed
from orbot.synth.story import ask_story, numbers_repair, round_trip_repair, story_messages
from orbot.synth.variation import Variation

__all__ = ["Plan", "plan_items", "run_item", "formulation_data"]


@dataclass
class Plan:
    """An item after the variation stage: a checked variant to write up, or the reason there is none."""

    id: str
    seed: str
    variant: int
    formulation: Formulation | None = None
    changes: list[str] = field(default_factory=list)
    checked: Checked | None = None
    tries: list[dict] = field(default_factory=list)  # the variants drawn before, each with why it was rejected

    @property
    def ok(self) -> bool:
        return self.checked is not None and self.checked.ok

    def record(self) -> dict[str, Any]:
        """The item's record as the variation stage leaves it (the later stages add to it)."""
        last = self.tries[-1] if self.tries and not self.ok else {}
        record: dict[str, Any] = {
            "id": self.id, "seed": self.seed, "variant": self.variant, "variation": self.changes,
            "status": "rejected" if not self.ok else "pending", "stage": None if self.ok else "variation",
            "reason": last.get("reason"), "detail": last.get("detail"), "text": None,
            "formulation": formulation_data(self.formulation) if self.formulation is not None else None,
            "rejected_variants": self.tries if self.ok else self.tries[:-1],
            "repairs": 0, "llm_calls": 0, "tokens": Usage().to_dict(), "round_trip": None, "seconds": 0.0}
        if self.ok:
            assert self.checked is not None
            record.update(self.checked.facts())
        return record


def formulation_data(formulation: Formulation) -> dict:
    return formulation.model_dump(mode="json", exclude_defaults=True)


def plan_items(seeds: list[Seed], count: int, rng_seed: int, settings: Settings) -> tuple[list[Plan], dict]:
    """Check the seeds, then draw ``count`` items round-robin over the usable ones, in a fixed order.

    Sequential and seeded (each item's generator is seeded by the run's seed and the item's id), so a
    resumed run draws the same variants and finds the same near-copies. Returns the plans and a report
    of the seeds (used, skipped with why)."""
    options, limits, tolerance = settings.solver_options(), settings.limits, settings.synth_tolerance
    usable: list[tuple[Seed, Variation]] = []
    known: list[tuple[Fingerprint, str]] = []  # instances kept so far, seeds included
    report: dict[str, Any] = {"used": [], "skipped": []}
    for seed in seeds:
        checked = check_instance(seed.formulation, options, limits, tolerance)
        if not checked.ok:
            report["skipped"].append({"seed": seed.id, "reason": checked.reason, "detail": checked.detail[:300]})
            continue
        assert checked.fingerprint is not None and checked.result is not None
        known.append((checked.fingerprint, seed.id))
        compiled = checked.result.compiled or compile_formulation(seed.formulation, limits)
        usable.append((seed, Variation(seed.formulation, compiled, settings.synth_max_scale)))
        report["used"].append(seed.id)
    if not usable:
        return [], report
    plans = []
    for number in range(count):
        seed, variation = usable[number % len(usable)]
        plan = Plan(f"{seed.id}/v{number // len(usable) + 1}", seed.id, number // len(usable) + 1)
        rng = random.Random(f"{rng_seed}:{plan.id}")
        for _ in range(settings.synth_variation_tries):
            _try(plan, variation, rng, known, settings)
            if plan.ok:
                assert plan.checked is not None and plan.checked.fingerprint is not None
                known.append((plan.checked.fingerprint, plan.id))
                break
        plans.append(plan)
    return plans, report


def _try(plan: Plan, variation: Variation, rng: random.Random, known: list[tuple[Fingerprint, str]],
         settings: Settings) -> None:
    """Draw one variant into ``plan``; a rejected one is added to ``plan.tries`` with its reason."""
    try:
        variant = variation.draw(rng)
    except FormulationError as exc:
        plan.tries.append({"variation": [], "reason": "invalid", "detail": str(exc)[:300]})
        plan.formulation, plan.changes, plan.checked = None, [], None
        return
    except Exception as exc:  # a seed this module cannot vary: that item's result, not the end of the run
        plan.tries.append({"variation": [], "reason": "error", "detail": f"{type(exc).__name__}: {exc}"[:300]})
        plan.formulation, plan.changes, plan.checked = None, [], None
        return
    plan.formulation, plan.changes = variant.formulation, variant.changes
    checked = check_instance(variant.formulation, settings.solver_options(), settings.limits, settings.synth_tolerance)
    if checked.ok:
        assert checked.fingerprint is not None
        twin = next((name for fingerprint, name in known
                     if fingerprint.matches(checked.fingerprint, settings.synth_tolerance)), None)
        if twin is not None:
            checked = Checked(checked.result, "near_copy", f"same optimum ({checked.fingerprint.objective:.10g}) and "
                              f"same nonzero variables as {twin}")
    plan.checked = checked
    if not checked.ok:
        plan.tries.append({"variation": variant.changes, "reason": checked.reason, "detail": checked.detail[:300]})


def run_item(plan: Plan, agent: Agent, repair_rounds: int, tolerance: float) -> dict[str, Any]:
    """The LLM stages of a planned item: story, numbers, round trip, with up to ``repair_rounds`` rewrites.

    Never raises: an item that breaks the pipeline is rejected with reason ``error`` and the message."""
    try:
        return _llm_stages(plan, agent, repair_rounds, tolerance)
    except Exception as exc:
        record = plan.record()
        record.update(status="rejected", stage="story", reason="error", detail=f"{type(exc).__name__}: {exc}")
        return record


def _llm_stages(plan: Plan, agent: Agent, repair_rounds: int, tolerance: float) -> dict[str, Any]:
    started = time.perf_counter()
    record = plan.record()
    assert plan.formulation is not None and plan.ok
    usage, calls = Usage(), 0
    messages = story_messages(plan.formulation)
    required = required_numbers(plan.formulation)
    optimum = record["optimum"]
    expected = f"status optimal, objective {optimum:.10g}"

    def reject(stage: str, reason: str, detail: str) -> None:
        record.update(status="rejected", stage=stage, reason=reason, detail=detail)

    for attempt in range(repair_rounds + 1):
        record["repairs"] = attempt
        text, reply, error = ask_story(agent.llm, messages, temperature=agent.settings.temperature)
        if reply is not None:
            usage.add(reply.usage)
            calls += 1
        if text is None:
            reject("story", "llm_error" if reply is None else "story_unreadable", error or "")
            break
        assert reply is not None
        record["text"] = text
        missing = missing_numbers(text, required)
        if missing:
            reject("numbers", "numbers_missing", "not in the text: " + ", ".join(str(m) for m in missing))
            repair = numbers_repair([str(m) for m in missing])
        else:
            try:
                answer = agent.solve(text)
            except OrbotError as exc:
                reject("round_trip", "error", str(exc))
                break
            usage.add(Usage(answer.usage.get("prompt_tokens", 0), answer.usage.get("completion_tokens", 0)))
            calls += answer.llm_calls
            record["round_trip"] = {"status": answer.status, "objective": answer.objective, "rounds": answer.rounds,
                                    "categories": [a.category for a in answer.attempts],
                                    "formulation": formulation_data(answer.formulation) if answer.formulation
                                    else None}
            if answer.status == "llm_error":
                reject("round_trip", "llm_error", (answer.attempts[-1].error or "") if answer.attempts else "")
                break
            found = f"status {answer.status}, objective " + (
                f"{answer.objective:.10g}" if answer.objective is not None else "none")
            # two MIP optima agree only up to the gaps their solves stopped at (HiGHS's default: 1e-4 relative)
            gaps = [record.get("mip_gap"), answer.result.mip_gap if answer.result is not None else None]
            within = max([tolerance, *(g for g in gaps if g is not None)])
            if answer.status == "optimal" and answer.objective is not None \
                    and same_value(answer.objective, optimum, within):
                record.update(status="accepted", stage=None, reason=None, detail=None)
                break
            reason = "round_trip_optimum" if answer.status == "optimal" else "round_trip_status"
            reject("round_trip", reason, f"formulated again: {found}; the instance: {expected}")
            repair = round_trip_repair(expected, found, answer.formulation)
        if attempt < repair_rounds:
            messages = messages + [{"role": "assistant", "content": reply.content}, {"role": "user", "content": repair}]
    record["llm_calls"], record["tokens"] = calls, usage.to_dict()
    record["seconds"] = round(time.perf_counter() - started, 3)
    return record
