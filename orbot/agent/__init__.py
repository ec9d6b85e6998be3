"""The agent: problem text -> LLM formulation -> solve, with feedback rounds; returns an Answer."""

from orbot.agent.answer import Answer, Attempt
from orbot.agent.loop import Agent, asolve, solve

__all__ = ["Agent", "Answer", "Attempt", "asolve", "solve"]
