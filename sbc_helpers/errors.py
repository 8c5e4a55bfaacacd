"""Errors a user can act on. Each carries a one-line message naming what is wrong; the ``sbc``
command prints it and exits 2 (``cli.main``). Anything else is a bug and keeps its traceback."""


class SBCError(Exception):
    """The base of every user-facing error."""


class ParamsError(SBCError, ValueError):
    """A campaign that cannot run as written: a bad key or value, or a model, design, simulator,
    method or quantity that fails the preflight."""


class ModelBuildError(ParamsError):
    """A model builder that raised on its design."""


class BadReference(SBCError, ValueError):
    """A model, design or function reference that cannot be resolved."""


class FileImportError(BadReference, ImportError):
    """A referenced Python file that exists but raised while being imported."""


class QuantityError(ParamsError):
    """A derived quantity whose expression cannot be evaluated."""


class MethodUnavailable(SBCError, RuntimeError):
    """An inference method that cannot run here (a package it needs is not installed) or cannot fit the
    model (its discrete variables)."""


class NonFiniteError(SBCError, ValueError):
    """A replicate produced a NaN or infinite value; it fails rather than rank silently."""


class CampaignLocked(SBCError, RuntimeError):
    """Another ``sbc run`` is writing to the same output folder."""


class ClusterUnavailable(SBCError, RuntimeError):
    """The Dask cluster cannot be reached or its workers never start."""


class StoreError(SBCError, OSError):
    """A campaign file exists but cannot be read now (permissions, I/O): not a sign to redo work."""


class ReportError(SBCError, RuntimeError):
    """A report step (a figure, a page) failed; the run's tables are written and ``sbc report``
    rebuilds the pages."""


class ResumeRefused(SBCError, RuntimeError):
    """An output folder holding replicates made from other settings (an edited model file, another
    prior or sampler setting): resuming would mix two campaigns' replicates."""


class CompareError(SBCError, ValueError):
    """Two folders that cannot be compared: one is not a campaign, their models differ, or they
    share no model or quantity."""


MESSAGE_LENGTH = 500
"""The longest message a one-line error keeps (a record's cell, a log line, a page's table)."""


def one_line(err: BaseException | str, typed: bool = True) -> str:
    """An exception as ``Type: message`` on one line (``typed=False``: the message alone; a string:
    itself), whitespace collapsed and cut at ``MESSAGE_LENGTH``. A notebook cell's exception
    (papermill's ``ename``/``evalue``) is named as the cell raised it."""
    if isinstance(err, str):
        return " ".join(err.split())[:MESSAGE_LENGTH]
    name = getattr(err, "ename", None) or type(err).__name__
    text = " ".join(str(getattr(err, "evalue", None) or err).split())
    if not typed:
        return (text or name)[:MESSAGE_LENGTH]
    return f"{name}: {text}"[:MESSAGE_LENGTH] if text else name
