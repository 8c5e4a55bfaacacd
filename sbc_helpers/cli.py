"""The ``sbc`` command: ``sbc run PARAMS``, ``sbc report DIR``, ``sbc status DIR``."""

import argparse
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger("sbc")
LOG_FILE = "sbc.log"  # in the campaign's output folder: every run, report and error, appended


@contextmanager
def campaign_log(folder: Path, argv: list[str] | None, create: bool = False) -> Iterator[None]:
    """Copy the ``sbc`` logger, at debug level, to ``folder/sbc.log`` while the block runs
    (if ``folder`` exists, or ``create``)."""
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    if not folder.is_dir():
        yield
        return
    handler = logging.FileHandler(folder / LOG_FILE, encoding="utf-8")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sbc", description="Simulation-based calibration of PyMC models.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a campaign's missing replicates, then build its report")
    run.add_argument("params", type=Path, help="campaign YAML file")
    run.add_argument("--output-dir", type=Path, default=Path("outputs"), help="default: outputs")
    run.add_argument("--replicates", type=int, help="override the number of replicates per model")
    run.add_argument("--workers", type=int, help="local Dask workers (default: one per core)")
    run.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    run.add_argument("--no-report", action="store_true", help="skip building the HTML report")
    report = sub.add_parser("report", help="rebuild a campaign's reports from what is on disk")
    report.add_argument("campaign_dir", type=Path)
    report.add_argument("--recompute", action="store_true",
                        help="re-rank every replicate from its kept draws (no refitting)")
    report.add_argument("--params", type=Path,
                        help="with --recompute: take rank_draws, quantities, derived, log_likelihood from this file")
    status = sub.add_parser("status", help="print per model how many replicates are done, failed, missing")
    status.add_argument("campaign_dir", type=Path)
    for p in (run, report, status):
        p.add_argument("-q", "--quiet", action="store_true", help="only errors")
        p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def _run(args) -> int:
    from sbc_helpers import runner
    from sbc_helpers.params import load_campaign

    campaign = load_campaign(args.params, replicates=args.replicates)
    runner.preflight(campaign)  # bad input: a one-line error, and nothing written
    with campaign_log(runner.campaign_dir(campaign, args.output_dir), args.argv, create=True):
        result = runner.run(campaign, args.output_dir, workers=args.workers, scheduler=args.scheduler,
                            progress=not args.quiet)
        log.info("%s: ran %d, skipped %d (already done), failed %d", campaign.name, result.ran,
                 result.skipped, len(result.failed))
        if not args.no_report:
            from sbc_helpers import report  # plotting libraries: imported only when a report is built

            index = report.build(result.campaign_dir)
            log.info("report: %s", index)
            if not args.quiet:
                print(f"report: {index}")
    return 1 if result.failed else 0


def _report(args) -> int:
    from sbc_helpers import report, store
    from sbc_helpers.params import Campaign, ParamsError, load_campaign

    campaign = None
    if args.params and not args.recompute:
        raise ParamsError("--params goes with --recompute")
    if args.recompute:
        campaign = load_campaign(args.params) if args.params else Campaign(**store.read_manifest(args.campaign_dir))
        if campaign.name != store.read_manifest(args.campaign_dir)["name"]:
            raise ParamsError(f"{args.params}: campaign {campaign.name!r} is not the one in {args.campaign_dir}")
    with campaign_log(args.campaign_dir, args.argv):
        index = report.build(args.campaign_dir, recompute_with=campaign)
        log.debug("report: %s", index)
    print(f"report: {index}")
    return 0


def _status(args) -> int:
    from sbc_helpers import store

    wanted = store.read_manifest(args.campaign_dir)["replicates"]
    print(f"{'model':<30} {'done':>6} {'failed':>6} {'missing':>7}")
    for model in store.campaign_models(args.campaign_dir):
        recs = {r["replicate"]: r for r in store.records(args.campaign_dir, model)}
        done = sum(store.is_complete(args.campaign_dir, model, r) for r in range(wanted))
        failed = sum(1 for r in range(wanted) if recs.get(r, {}).get("status") == "failed")
        print(f"{model:<30} {done:>6} {failed:>6} {wanted - done - failed:>7}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from sbc_helpers.params import ParamsError
    from sbc_helpers.runner import CampaignLocked, SchedulerUnavailable

    args = _parser().parse_args(argv)
    args.argv = argv
    level = logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    # libraries (PyTensor, Dask, ...) reach the terminal from WARNING up; sbc's own messages at `level`
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    for handler in logging.getLogger().handlers:  # the terminal gets `level`; sbc.log gets everything
        handler.setLevel(level)
    log.setLevel(logging.DEBUG)
    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    commands = {"run": _run, "report": _report, "status": _status}
    try:
        return commands[args.command](args)
    except (ParamsError, CampaignLocked, SchedulerUnavailable, FileNotFoundError) as err:  # incl. QuantityError
        print(f"sbc: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sbc: interrupted; finished replicates are kept, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
