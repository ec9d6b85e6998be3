"""One settings object for orbot, read from ``ORBOT_*`` environment variables.

Every limit orbot enforces lives here with a sane default, so a service operator can tighten
it and a researcher can loosen it without touching code.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Limits", "SolverOptions", "Settings", "get_settings"]


class Limits(BaseModel):
    """Budgets checked before anything is built, so no formulation can exhaust the machine."""

    max_expression_chars: int = Field(4000, description="characters in one expression")
    max_expression_nodes: int = Field(600, description="syntax-tree nodes in one expression")
    max_exponent: float = Field(8, description="largest |constant exponent| allowed with **")
    max_set_size: int = Field(100_000, description="members in one set")
    max_index_combinations: int = Field(
        2_000_000, description="index combinations expanded in one element (forall x sums)"
    )
    max_variables: int = Field(1_000_000, description="scalar variables in a model")
    max_nonzeros: int = Field(5_000_000, description="coefficients in a model")
    max_elements: int = Field(500, description="elements of each kind in a formulation")


class SolverOptions(BaseModel):
    """What HiGHS is told. None means HiGHS's own default."""

    time_limit: float | None = Field(60.0, description="seconds; None for no limit")
    mip_rel_gap: float | None = Field(None, description="relative MIP gap at which to stop")
    threads: int | None = Field(None, description="HiGHS threads; None lets HiGHS decide")
    diagnose: bool = Field(True, description="explain infeasible and unbounded results")


class Settings(BaseSettings):
    """Environment: ``ORBOT_TIME_LIMIT=10``, ``ORBOT_LIMITS__MAX_SET_SIZE=1000`` and so on."""

    model_config = SettingsConfigDict(env_prefix="ORBOT_", env_nested_delimiter="__", extra="ignore")

    limits: Limits = Field(default_factory=Limits)
    time_limit: float | None = 60.0
    mip_rel_gap: float | None = None
    threads: int | None = None

    def solver_options(self) -> SolverOptions:
        return SolverOptions(time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap, threads=self.threads)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
