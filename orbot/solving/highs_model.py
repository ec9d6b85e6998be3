"""A CanonicalModel loaded into a silent HiGHS instance: shared by the solve and the diagnosis.

HiGHS prints a banner on its first construction and keeps one thread scheduler per process;
both are handled here once, so every caller gets a clean, correctly threaded instance.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import highspy
import numpy as np

from orbot.compiler import CanonicalModel
from orbot.settings import SolverOptions

__all__ = ["new_highs", "pass_model", "ModelRejected"]

_banner_lock = threading.Lock()
_banner_shown = False
_UNSET = object()
_scheduler_threads: object = _UNSET  # the thread count HiGHS's one scheduler was started with


def new_highs(options: SolverOptions) -> highspy.Highs:
    """A silent Highs instance with the options applied.

    HiGHS prints a banner to the C-level stdout on its first construction in a process; it is
    sent to /dev/null so that ``--json`` output stays machine-readable.
    """
    global _banner_shown, _scheduler_threads
    with _banner_lock:
        if not _banner_shown:
            with _stdout_to_devnull():
                highs = highspy.Highs()
            _banner_shown = True
        else:
            highs = highspy.Highs()
        # HiGHS keeps one thread scheduler per process, sized by the first solve: another thread
        # count later needs a reset (None is HiGHS's own default, a count of its own)
        if _scheduler_threads is _UNSET:
            _scheduler_threads = options.threads
        elif options.threads != _scheduler_threads:
            highspy.Highs.resetGlobalScheduler(True)
            _scheduler_threads = options.threads
    highs.setOptionValue("output_flag", False)
    if options.time_limit is not None:
        highs.setOptionValue("time_limit", float(options.time_limit))
    if options.mip_rel_gap is not None:
        highs.setOptionValue("mip_rel_gap", float(options.mip_rel_gap))
    if options.threads is not None:
        highs.setOptionValue("threads", int(options.threads))
    return highs


@contextlib.contextmanager
def _stdout_to_devnull():
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError, OSError):  # no real stdout (e.g. Jupyter): nothing to protect
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def pass_model(highs: highspy.Highs, model: CanonicalModel, integrality: np.ndarray | None = None) -> bool:
    """Load the model; returns True when the objective was negated (a maximized QP)."""
    integrality = model.integrality if integrality is None else integrality
    cost, offset = model.col_cost, model.offset
    sense = highspy.ObjSense.kMaximize if model.sense == "maximize" else highspy.ObjSense.kMinimize
    negate = bool(model.quad) and model.sense == "maximize"
    if negate:  # HiGHS's QP solver minimizes: maximize f  ==  -minimize -f
        cost, offset, sense = -cost, -offset, highspy.ObjSense.kMinimize
    common = (np.ascontiguousarray(cost, dtype=float), model.col_lower, model.col_upper,
              model.row_lower, model.row_upper, model.a_start, model.a_index, model.a_value)
    if model.quad:
        q_start, q_index, q_value = _hessian(model, -1.0 if negate else 1.0)
        status = highs.passModel(model.num_cols, model.num_rows, len(model.a_value), len(q_value),
                                 int(highspy.MatrixFormat.kRowwise), int(highspy.HessianFormat.kTriangular),
                                 int(sense), float(offset), *common, q_start, q_index, q_value, integrality)
    else:
        status = highs.passModel(model.num_cols, model.num_rows, len(model.a_value),
                                 int(highspy.MatrixFormat.kRowwise), int(sense), float(offset), *common, integrality)
    if status == highspy.HighsStatus.kError:
        raise ModelRejected("HiGHS rejected the model")
    return negate


class ModelRejected(Exception):
    """HiGHS refused the arrays (compile's checks should prevent this): reported as status error."""


def _hessian(model: CanonicalModel, factor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower-triangular column-wise Hessian H with objective term 0.5 x'Hx == sum coef x_i x_j."""
    columns: dict[int, dict[int, float]] = {}
    for (i, j), coef in model.quad.items():  # i <= j: entry at row j, column i
        value = factor * (2.0 * coef if i == j else coef)
        columns.setdefault(i, {})[j] = columns.get(i, {}).get(j, 0.0) + value
    starts: list[int] = []
    index: list[int] = []
    values: list[float] = []
    for col in range(model.num_cols):
        starts.append(len(index))
        for row in sorted(columns.get(col, {})):
            index.append(row)
            values.append(columns[col][row])
    return (np.asarray(starts, dtype=np.int32), np.asarray(index, dtype=np.int32), np.asarray(values, dtype=float))


