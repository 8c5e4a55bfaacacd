"""The ``sbc`` command: ``sbc run PARAMS``, ``sbc report DIR``, ``sbc status DIR``."""

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger("sbc")


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
    from sbc_helpers import report, runner
    from sbc_helpers.params import load_campaign

    campaign = load_campaign(args.params, replicates=args.replicates)
    runner.preflight(campaign)
    result = runner.run(campaign, args.output_dir, workers=args.workers, scheduler=args.scheduler,
                        progress=not args.quiet)
    log.info("%s: ran %d, skipped %d (already done), failed %d", campaign.name, result.ran,
             result.skipped, len(result.failed))
    if not args.no_report:
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
    print(f"report: {report.build(args.campaign_dir, recompute_with=campaign)}")
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
    from sbc_helpers.quantities import QuantityError
    from sbc_helpers.runner import CampaignLocked, SchedulerUnavailable

    args = _parser().parse_args(argv)
    level = logging.ERROR if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    logging.getLogger("distributed").setLevel(logging.ERROR)
    logging.getLogger("papermill").setLevel(logging.WARNING)
    commands = {"run": _run, "report": _report, "status": _status}
    try:
        return commands[args.command](args)
    except (ParamsError, CampaignLocked, SchedulerUnavailable, FileNotFoundError, QuantityError) as err:
        print(f"sbc: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("sbc: interrupted; finished replicates are kept, run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
