"""The ``sbc`` command: ``sbc run PARAMS``, ``sbc report DIR``, ``sbc status DIR``, ``sbc compare
BASELINE CURRENT``, ``sbc check PARAMS --baseline DIR``."""

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sbc_helpers.contract import CAMPAIGN_FILES, COMPARED
from sbc_helpers.run.clusters.kinds import KINDS
from sbc_helpers.stats import ALPHA

log = logging.getLogger("sbc")


@contextmanager
def campaign_log(folder: Path, argv: list[str] | None, create: bool = False) -> Iterator[None]:
    """Copy the ``sbc`` logger, at debug level, to the campaign's log file while the block runs
    (if ``folder`` exists, or ``create``)."""
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        yield
        return
    handler = logging.FileHandler(folder / CAMPAIGN_FILES["log"], encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.debug("sbc %s", " ".join(sys.argv[1:] if argv is None else argv))

    def to_file(message: str) -> None:  # the terminal gets its own one-line message from main()
        handler.handle(logging.LogRecord("sbc", logging.ERROR, __file__, 0, message, None, None))

    try:
        yield
    except KeyboardInterrupt:
        to_file("interrupted; finished replicates are kept")
        raise
    except Exception as err:
        to_file(f"{type(err).__name__}: {err}")
        raise
    finally:
        log.removeHandler(handler)
        handler.close()


def command_parser() -> argparse.ArgumentParser:
    """The ``sbc`` command's parser, which the docs' CLI reference reads too."""
    parser = argparse.ArgumentParser(prog="sbc", description="Simulation-based calibration of PyMC models.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign's missing replicates, then build its report")
    run.add_argument("params", type=Path, help="campaign YAML file")
    run.add_argument("--output-dir", type=Path, default=Path("outputs"), help="default: outputs")
    run.add_argument("--replicates", type=int, help="override the number of replicates per model")
    run.add_argument("--workers", type=int, help="local Dask workers (default: one per core)")
    run.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    run.add_argument("--cluster", choices=list(KINDS),
                     help="where workers run (default: the params' cluster.kind, local)")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--jobs", type=int, metavar="N", help="batch jobs (Kubernetes pods) kept running")
    size.add_argument("--adapt", metavar="MIN:MAX", help="between MIN and MAX jobs, by the queue of replicates")
    run.add_argument("--no-report", action="store_true", help="skip building the HTML report")
    run.add_argument("--restart", action="store_true",
                     help="discard the campaign's results in the output folder first (needed after a change "
                          "of the model, data or inference settings)")
    run.add_argument("--sequential", action="store_true",
                     help="stop each unit as soon as its verdict is sure (replicates becomes the maximum)")
    plan = sub.add_parser("plan", help="how many replicates each resolution needs, and how long they take")
    plan.add_argument("params", type=Path, help="campaign YAML file")
    plan.add_argument("--output-dir", type=Path, default=Path("outputs"), help="default: outputs")
    plan.add_argument("--pilot", type=int, help="run this many replicates per unit first, to measure")
    plan.add_argument("--workers", type=int, help="workers to project for (default: one per core)")
    report = sub.add_parser("report", help="rebuild a campaign's reports from what is on disk")
    report.add_argument("campaign_dir", type=Path, help="the campaign's output folder, e.g. outputs/demo")
    report.add_argument("--recompute", action="store_true",
                        help="re-rank every replicate from its kept draws (no refitting)")
    report.add_argument("--params", type=Path,
                        help="with --recompute: take rank_draws, quantities, derived, log_likelihood from this file")
    status = sub.add_parser("status", help="print per model how many replicates are done, failed, missing")
    status.add_argument("campaign_dir", type=Path, help="the campaign's output folder, e.g. outputs/demo")
    compare = sub.add_parser("compare", help="did calibration, failures or flags get worse from BASELINE to CURRENT? "
                             "(exit 0: no; 1: yes; 2: bad input)")
    compare.add_argument("baseline", type=Path, help="the earlier campaign's output folder")
    compare.add_argument("current", type=Path, help="the campaign to check against it")
    check = sub.add_parser("check", help="run a campaign (sequentially), then compare it with a baseline folder "
                           "(exit code as compare's)")
    check.add_argument("params", type=Path, help="campaign YAML file")
    check.add_argument("--baseline", type=Path, required=True, help="the earlier campaign's output folder")
    check.add_argument("--output-dir", type=Path, default=Path("outputs"), help="default: outputs")
    check.add_argument("--replicates", type=int, help="override the number of replicates per model (the maximum)")
    check.add_argument("--workers", type=int, help="local Dask workers (default: one per core)")
    check.add_argument("--no-report", action="store_true", help="skip building the campaign's HTML report")
    check.add_argument("--restart", action="store_true", help="discard results already in the output folder first")
    for p in (compare, check):
        p.add_argument("--output", type=Path, help="folder for compare.html and compare.csv "
                       "(default: the current campaign's folder/compare)")
        p.add_argument("--fail-on", default=",".join(COMPARED), metavar="KINDS",
                       help=f"what counts as worse for exit 1, comma-separated of {', '.join(COMPARED)} (default: all)")
        p.add_argument("--alpha", type=float, default=ALPHA, help=f"level of the comparison's tests (default {ALPHA}); a check's own run keeps its sequential.alpha")
    for p in (run, plan, report, status, compare, check):
        p.add_argument("-q", "--quiet", action="store_true", help="only errors")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _run(args) -> int:
    from sbc_helpers import api
    from sbc_helpers.errors import ParamsError
    from sbc_helpers.run.params import load_campaign, with_cluster
    from sbc_helpers.run.runner import campaign_dir

    campaign = load_campaign(args.params, replicates=args.replicates, sequential=args.sequential)
    if args.scheduler and args.cluster not in (None, "local"):
        raise ParamsError(f"--scheduler and --cluster {args.cluster}: give one")
    campaign = with_cluster(campaign, "local" if args.scheduler else args.cluster, args.jobs, args.adapt)
    if args.workers and campaign.cluster.kind != "local":
        raise ParamsError(f"--workers goes with the local cluster; a {campaign.cluster.kind} cluster takes --jobs "
                          "or --adapt (and cluster.settings.cores)")
    checked = api.check_campaign(campaign)  # bad input: a one-line error, and nothing written
    with campaign_log(campaign_dir(campaign, args.output_dir), args.argv, create=True):
        done = api.run_campaign(campaign, args.output_dir, workers=args.workers, scheduler=args.scheduler,
                                progress=not args.quiet, report=not args.no_report, checked=checked,
                                restart=args.restart)
        result = done.result
        log.info("%s: ran %d, skipped %d (already done), failed %d", campaign.name, result.ran,
                 result.skipped, len(result.failed))
        if done.index is not None:
            log.info("report: %s", done.index)
            if not args.quiet:
                print(f"report: {done.index}")
    return 1 if result.failed or result.stopped else 0


def _report(args) -> int:
    from sbc_helpers import api
    from sbc_helpers.errors import ParamsError
    from sbc_helpers.run import store
    from sbc_helpers.run.params import campaign_from, load_campaign

    if args.params and not args.recompute:
        raise ParamsError("--params goes with --recompute")
    manifest = store.read_manifest(args.campaign_dir)
    campaign = None
    if args.recompute:
        campaign = load_campaign(args.params) if args.params else campaign_from(manifest, str(args.campaign_dir))
        if campaign.name != manifest["name"]:
            raise ParamsError(f"{args.params}: campaign {campaign.name!r} is not the one in {args.campaign_dir}")
        if args.params:
            api.check_campaign(campaign)
    with campaign_log(args.campaign_dir, args.argv):
        index = api.build_report(args.campaign_dir, recompute_with=campaign)
        log.debug("report: %s", index)
    print(f"report: {index}")
    return 0


def _plan(args) -> int:
    from sbc_helpers import api

    table = api.plan_campaign(args.params, args.output_dir, pilot=args.pilot, workers=args.workers,
                              progress=not args.quiet)
    print(table.to_string(index=False))
    return 0


def _status(args) -> int:
    from sbc_helpers import api

    table = api.campaign_status(args.campaign_dir)
    print(f"{'model':<30} {'done':>6} {'failed':>6} {'not run':>7} {'missing':>7}")
    for row in table.itertuples():
        sequential = f"  {row.sequential}" if "sequential" in table else ""
        print(f"{row.unit:<30} {row.done:>6} {row.failed:>6} {row.not_run:>7} {row.missing:>7}{sequential}")
    return 0


def _fail_on(args) -> tuple[str, ...]:
    from sbc_helpers.errors import ParamsError
    from sbc_helpers.report.compare import counted

    kinds = counted(args.fail_on)
    if not 0 < args.alpha < 1:
        raise ParamsError(f"--alpha {args.alpha}: give a level between 0 and 1")
    return kinds


def _compared(comparison, fail_on: tuple[str, ...], quiet: bool) -> int:
    code = comparison.exit_code(fail_on)
    if not quiet:
        for line in comparison.lines():
            print(line)
        print(f"compare: {comparison.page}")
    worse = [w for kind in fail_on for w in comparison.worse(kind)]
    print(f"worse: {'; '.join(worse)}" if code else "nothing got worse", file=sys.stderr if code else sys.stdout)
    return code


def _compare(args) -> int:
    from sbc_helpers import api

    fail_on = _fail_on(args)
    comparison = api.compare_campaigns(args.baseline, args.current, output=args.output, alpha=args.alpha,
                                       fail_on=fail_on)
    return _compared(comparison, fail_on, args.quiet)


def _check(args) -> int:
    from sbc_helpers import api
    from sbc_helpers.run.params import load_campaign

    fail_on = _fail_on(args)
    campaign = load_campaign(args.params, replicates=args.replicates, sequential=True)
    api.check_campaign(campaign)
    folder = api.check_folder(campaign, args.baseline, args.output_dir)  # one line, nothing written
    with campaign_log(folder, args.argv, create=True):
        comparison = api.check_against(campaign, args.baseline, args.output_dir, workers=args.workers,
                                       progress=not args.quiet, report=not args.no_report, alpha=args.alpha,
                                       fail_on=fail_on, output=args.output, restart=args.restart)
    return _compared(comparison, fail_on, args.quiet)


def main(argv: list[str] | None = None) -> int:
    import distributed  # noqa: F401 - it sets its loggers' levels on import: import it before setting ours

    from sbc_helpers.errors import SBCError

    args = command_parser().parse_args(argv)
    args.argv = argv
    level = logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    # libraries (PyTensor, Dask, ...) reach the terminal from WARNING up; sbc's own messages at `level`
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # the terminal gets `level`; sbc.log gets everything
        handler.setLevel(level)
    log.setLevel(logging.DEBUG)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    commands = {"run": _run, "plan": _plan, "report": _report, "status": _status, "compare": _compare,
                "check": _check}
    try:
        return commands[args.command](args)
    except SBCError as err:
        print(f"sbc: error: {' '.join(str(err).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sbc: interrupted; finished replicates are kept, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
