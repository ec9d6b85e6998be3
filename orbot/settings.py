"""One settings object for orbot, read from ``ORBOT_*`` environment variables.

Every limit orbot enforces lives here with a sane default, so a service operator can tighten
it and a researcher can loosen it without touching code.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr
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
    max_abs_value: float = Field(1e15, description="largest magnitude of a coefficient or bound (HiGHS's "
                                 "infinity is 1e20)")
    max_problem_chars: int = Field(50_000, description="characters in a problem text sent to the LLM")


class SolverOptions(BaseModel):
    """What the solver is told. None means the solver's own default."""

    solver: Literal["auto", "highs", "scip"] = Field(
        "auto", description="auto: HiGHS for LP, MILP and convex QP, SCIP for the rest (nonlinear, MIQP, non-convex)")
    time_limit: float | None = Field(60.0, description="seconds; None for no limit")
    mip_rel_gap: float | None = Field(None, description="relative MIP gap at which to stop")
    threads: int | None = Field(None, description="HiGHS threads; None lets HiGHS decide")
    diagnose: bool = Field(True, description="explain infeasible and unbounded results")
    diagnose_time_limit: float = Field(10.0, description="seconds for an explanation (an IIS can take long on "
                                       "large models; past this HiGHS returns what it has)")
    # --- linear-fractional objectives (orbot.solving.fractional) ---
    fractional_max_iterations: int = Field(50, ge=1, le=10_000, description="Dinkelbach iterations (HiGHS solves "
                                           "of N - lambda D) for a ratio objective; a few suffice, past this the "
                                           "best point so far is returned")


class Settings(BaseSettings):
    """Environment: ``ORBOT_TIME_LIMIT=10``, ``ORBOT_LIMITS__MAX_SET_SIZE=1000`` and so on."""

    model_config = SettingsConfigDict(env_prefix="ORBOT_", env_nested_delimiter="__", extra="ignore",
                                      populate_by_name=True)

    limits: Limits = Field(default_factory=Limits)
    solver: Literal["auto", "highs", "scip"] = "auto"
    time_limit: float | None = 60.0
    mip_rel_gap: float | None = None
    threads: int | None = None

    # --- the LLM endpoint (any OpenAI-compatible server) ---------------------------------------
    model: str | None = Field(None, description="model name, e.g. gpt-4o-mini, or what vLLM/Ollama serve")
    base_url: str | None = Field(
        None, validation_alias=AliasChoices("ORBOT_BASE_URL", "OPENAI_BASE_URL"),
        description="endpoint, e.g. http://localhost:8000/v1 (vLLM) or http://localhost:11434/v1 (Ollama)")
    api_key: SecretStr | None = Field(None, validation_alias=AliasChoices("ORBOT_LLM_API_KEY", "OPENAI_API_KEY"),
                                      description="the LLM endpoint's key (not to be confused with ORBOT_API_KEYS, "
                                      "the REST service's own bearer tokens)")
    temperature: float = Field(0.0, description="sampling temperature for a single sample")
    sample_temperature: float = Field(0.7, description="temperature when several samples vote")
    max_tokens: int = Field(8192, description="largest reply, in tokens")
    llm_timeout: float = Field(180.0, description="seconds to wait for one LLM reply")
    llm_retries: int = Field(4, description="retries of a transient LLM failure (429, 5xx, timeout)")
    llm_backoff: float = Field(1.0, description="first retry delay in seconds; doubles, with jitter")
    cache_dir: Path | None = Field(None, description="cache LLM replies here, so reruns are free")
    rounds: int = Field(4, ge=1, le=20, description="formulate-and-revise rounds per problem")
    samples: int = Field(1, ge=1, le=16, description="independent formulations that vote (self-consistency)")
    review: bool = Field(False, description="run every check on optimal answers, including those measured to "
                         "raise more false alarms than they catch (whole_units)")
    # default: the checks that cost nothing on a sound model; on the dev sample (eval/README.md) unused_numbers and
    # unused_parameters changed no answer, and whole_units fires mostly on right ones
    checks: str = Field("constant_objective,zero_solution",
                        description="checks of an optimal answer that may cost a round (comma-separated; '' for "
                        "none): constant_objective, zero_solution, unused_numbers, unused_parameters, whole_units")
    # off by default: on the dev sample (eval/README.md) it overruled the vote 3 times, 1 right and 2 wrong
    adjudicate: bool = Field(False, description="when samples reach different optima, one call compares the "
                             "formulations side by side and picks one (instead of the vote alone)")
    readings: int = Field(2, ge=0, le=5, description="alternative readings asked for after solving, with the parts "
                          "of a multi-question text (one extra LLM call); 0 turns both off")

    # --- the REST service (orbot serve) ---------------------------------------------------------
    api_keys: str | None = Field(None, description="comma-separated bearer tokens; unset: no authentication")
    database_url: str = Field("sqlite:///orbot-jobs.db", description="job store, an SQLAlchemy URL")
    workers: int = Field(8, ge=1, le=256, description="jobs run at once (LLM calls are I/O-bound)")
    solver_workers: int = Field(2, ge=1, le=64, description="formulation solves run at once (worker processes)")
    solver_queue: int = Field(32, ge=0, description="formulation solves that may wait for a worker; past it: 503")
    solver_queue_per_caller: int = Field(4, ge=1, description="of those, how many one caller may have waiting; "
                                         "past it: 429 (waiters are served round-robin between callers)")
    max_time_limit: float = Field(300.0, gt=0, description="the largest solver time limit a request may ask for "
                                  "(seconds); larger asks get 422")
    solve_grace: float = Field(60.0, ge=0, description="seconds a formulation solve may run past its time limit "
                                "and diagnosis (compiling) before its worker is stopped")
    sync_timeout: float = Field(60.0, description="seconds POST /v1/solve waits before answering with a job id")
    max_body_bytes: int = Field(2_000_000, description="largest request body")
    rate_limit_per_minute: int = Field(120, ge=1, description="requests per minute per API key (or client)")
    max_job_starts: int = Field(3, ge=1, description="a job cut off by this many stops is failed, not retried")

    # --- scale-out: workers sharing the job database (orbot worker, orbot serve --no-workers) -----------------
    # three missed heartbeats: the solvers release the GIL, so only a dead worker (or database) misses them
    job_lease_seconds: float = Field(30.0, gt=0, description="a running job's lease: if its worker sends no "
                                     "heartbeat for this long (it died), another worker runs the job again")
    job_heartbeat_seconds: float = Field(10.0, gt=0, description="how often a worker renews its jobs' leases "
                                         "(at most a third of ORBOT_JOB_LEASE_SECONDS)")
    job_poll_seconds: float = Field(0.5, gt=0, description="how often an idle worker looks for queued jobs, and an "
                                    "API replica for the ends of jobs that run elsewhere")
    job_retention_seconds: float = Field(7 * 86400.0, ge=0, description="finished jobs (and their events) are "
                                         "deleted this long after they end; 0 keeps them")
    job_stop_grace: float = Field(30.0, ge=0, description="seconds a stopping `orbot worker` lets its running jobs "
                                  "finish before it gives them back to the queue")
    events_stream_seconds: float = Field(300.0, gt=0, description="longest a GET /v1/jobs/{id}/events stream stays "
                                         "open; clients reconnect with Last-Event-ID")
    db_auto_upgrade: bool | None = Field(None, description="migrate the job database at start; unset: yes for "
                                         "SQLite (zero set-up), no elsewhere (run `orbot db upgrade`)")

    # --- data synthesis (orbot synth) -----------------------------------------------------------
    synth_max_items: int = Field(10_000, ge=1, description="items one orbot synth run may ask for (--items)")
    synth_variation_tries: int = Field(5, ge=1, le=100, description="variants drawn for an item until one passes "
                                       "the solver's checks (proven optimum, bounded, objective not constant, no "
                                       "near-copy); past them the item is rejected with the last reason")
    synth_max_scale: float = Field(2.0, gt=1.0, le=100.0, description="largest factor (and 1/smallest) by which "
                                   "a parameter's data is rescaled in a variant")
    synth_repair_rounds: int = Field(0, ge=0, le=10, description="rewrites of a story guided by what went wrong "
                                     "(numbers missing, another optimum on the round trip); 0: reject at once")
    synth_tolerance: float = Field(1e-6, gt=0, le=0.1, description="relative difference at which two optima "
                                   "count as the same (round trip, near-copies, constant objective)")
    synth_ngram: int = Field(8, ge=3, le=50, description="words per n-gram in the contamination check")
    synth_contamination_threshold: float = Field(0.2, gt=0, le=1, description="share of an item's n-grams found in "
                                                 "a benchmark text at which the item is reported as overlapping")

    # --- the eval HTML report (orbot eval report) -----------------------------------------------
    report_max_values: int = Field(12, ge=1, le=10_000, description="per answer in the eval HTML report: set members, "
                                   "parameter entries and nonzero variable values shown (the page stays small)")

    def api_key_list(self) -> list[str]:
        return [key.strip() for key in (self.api_keys or "").split(",") if key.strip()]

    diagnose_time_limit: float = 10.0
    fractional_max_iterations: int = Field(50, ge=1, le=10_000)  # ORBOT_FRACTIONAL_MAX_ITERATIONS (SolverOptions)

    def solver_options(self) -> SolverOptions:
        return SolverOptions(solver=self.solver, time_limit=self.time_limit, mip_rel_gap=self.mip_rel_gap,
                             threads=self.threads, diagnose_time_limit=self.diagnose_time_limit,
                             fractional_max_iterations=self.fractional_max_iterations)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
