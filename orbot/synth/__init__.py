"""Data synthesis: verified problem-formulation pairs, generated and checked by orbot itself.

Seeds (formulations) -> variants without the LLM, kept when the solver proves a bounded optimum that
depends on the decisions and no earlier instance has the same answer -> a story written by the LLM with
every number of the data in it -> the story formulated again from scratch, which must reach the same
optimum -> items.jsonl, an eval dataset and chat-format fine-tuning data.
"""

from orbot.synth.runner import DEFAULT_SEEDS, synthesize
from orbot.synth.seeds import Seed, SeedSource, load_seeds

__all__ = ["DEFAULT_SEEDS", "Seed", "SeedSource", "load_seeds", "synthesize"]
