"""What a unit's report costs as its quantities grow (issue #27): the report pass's seconds and
the size of ``summary.html`` for a hierarchical model of 100, 1000 and 5000 quantities.

The ranks are synthetic (no fitting): scalars ``mu`` and ``tau``, vectors ``z`` and ``theta`` over
groups, and ``log_lik``; uniform ranks except a few ``theta`` elements that are miscalibrated, and
a tenth of the replicates flagged at small ``tau`` (so the failure map is drawn). The report pass is
``report.build.build`` given the gathered tables, as ``sbc run`` calls it: analysis, the summary
notebook and its page, the thumbnail and the index page. It prints wall seconds and CPU seconds
(this process and the notebook's kernel).

    PYTHONPATH=. .venv/bin/python benchmarks/report_size.py [--quantities 100 1000 5000] [--replicates 200]
"""

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from rankdata import synthetic_unit  # noqa: E402

from sbc_helpers.contract import UNIT_FILES  # noqa: E402
from sbc_helpers.report.build import build  # noqa: E402


def _cpu() -> float:
    """CPU seconds of this process and its finished children (the summary notebook's kernel): on a
    shared machine, steadier than the wall clock."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quantities", type=int, nargs="+", default=[100, 1000, 5000])
    parser.add_argument("--replicates", type=int, default=200)
    args = parser.parse_args()
    print(f"{'quantities':>10} {'replicates':>10} {'report s':>9} {'CPU s':>7} {'summary.html MB':>16} "
          f"{'s per 1000 q':>13}")
    for n in args.quantities:
        with tempfile.TemporaryDirectory() as tmp:
            campaign_dir, campaign, tables = synthetic_unit(Path(tmp), n, args.replicates)
            start, cpu = time.perf_counter(), _cpu()
            build(campaign_dir, campaign, tables)
            seconds, cpu = time.perf_counter() - start, _cpu() - cpu
            size = (campaign_dir / "m" / UNIT_FILES["summary_page"]).stat().st_size / 1e6
            quantities = tables["m"].ranks["quantity"].nunique()
            print(f"{quantities:>10} {args.replicates:>10} {seconds:>9.1f} {cpu:>7.1f} {size:>16.2f} "
                  f"{1000 * seconds / quantities:>13.2f}", flush=True)


if __name__ == "__main__":
    main()
