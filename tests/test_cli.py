"""The ``sbc`` command end to end on a tiny campaign: outputs, resume, status, errors, lock, recompute."""

import json
import re
import stat
from pathlib import Path

import pandas as pd
import pytest

from campaigns import TINY, copy_campaign
from processes import sbc
from sbc_helpers import cli
from sbc_helpers.run import store
from sbc_helpers.run.params import campaign_from
from sbc_helpers.run.recompute import recompute
from sbc_helpers.run.claims import lock

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # a real campaign, resumed, reported and recomputed


@pytest.fixture(scope="module")
def campaign(tiny_campaign, tmp_path_factory):
    """The session's tiny campaign, copied: these tests rerun, relock and rebuild it."""
    params, out = tiny_campaign
    return params, copy_campaign(out, tmp_path_factory.mktemp("cli"))


def test_every_file_the_run_writes_honours_the_umask(campaign):
    _, out = campaign
    modes = {str(p.relative_to(out)): oct(stat.S_IMODE(p.stat().st_mode)) for p in out.rglob("*") if p.is_file()}
    assert "centered/summary.html" in modes and "index.html" in modes
    assert {k: v for k, v in modes.items() if v != "0o644"} == {}


def test_run_writes_the_output_contract(campaign):
    _, out = campaign
    assert (out / "index.html").is_file()
    for model in ("centered", "noncentered"):
        folder = out / model
        assert (folder / "summary.html").is_file() and (folder / "summary.ipynb").is_file()
        notebooks = sorted(p.name for p in (folder / "replicates").glob("*.ipynb"))
        assert notebooks == ["0000.ipynb", "0001.ipynb", "0002.ipynb"]
        ranks = pd.read_parquet(folder / "ranks.parquet")
        assert {"replicate", "quantity", "rank", "max_rank", "true_value", "post_mean", "post_sd"} <= set(ranks)
        assert ranks["rank"].between(0, 20).all() and (ranks["max_rank"] == 20).all()
        table = pd.read_parquet(folder / "replicates.parquet")
        assert {"replicate", "seed", "status", "divergences", "max_rhat", "min_ess_bulk", "seconds"} <= set(table)
        assert list(table["replicate"]) == [0, 1, 2] and (table["status"] == "ok").all()
        calibration = pd.read_csv(folder / "calibration.csv")
        assert set(calibration["quantity"]) == set(ranks["quantity"])
    index = (out / "index.html").read_text()
    assert 'href="centered/summary.html"' in index and 'href="noncentered/summary.html"' in index


def test_rerun_skips_finished_replicates(campaign):
    params, out = campaign
    notebook = out / "centered" / "replicates" / "0000.ipynb"
    before = notebook.stat().st_mtime_ns
    again = sbc("run", params, "--output-dir", out.parent, "--no-report")
    assert again.returncode == 0, again.stderr
    assert "ran 0, skipped 6" in again.stderr
    assert notebook.stat().st_mtime_ns == before


def test_the_campaign_log_keeps_every_run_even_a_quiet_one(campaign):
    params, out = campaign
    log = (out / "sbc.log").read_text().splitlines()
    # the first run was -q (nothing on the terminal); the rerun was not: both are in the log
    assert sum("ran 6, skipped 0" in line for line in log) == 1
    assert sum("ran 0, skipped 6" in line for line in log) == 1
    assert sum("DEBUG centered replicate 2 ok in" in line for line in log) == 1  # one line per replicate
    assert all(line[:4].isdigit() for line in log)  # each line starts with its timestamp


def test_status_counts_replicates(campaign):
    _, out = campaign
    status = sbc("status", out)
    assert status.returncode == 0
    rows = {line.split()[0]: line.split()[1:] for line in status.stdout.splitlines()[1:]}
    assert rows == {"centered": ["3", "0", "0", "0"], "noncentered": ["3", "0", "0", "0"]}


def test_report_rebuilds_from_disk(campaign):
    _, out = campaign
    (out / "index.html").unlink()
    rebuilt = sbc("report", out)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert (out / "index.html").is_file()


def test_second_run_on_a_locked_folder_is_refused(campaign):
    params, out = campaign
    with lock(out):
        refused = sbc("run", params, "--output-dir", out.parent, "--no-report")
    assert refused.returncode == 2
    assert "in use by another 'sbc run'" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "text, expected",
    [
        ("name: x\nseed: 1\nreplicates: 2\nmodels: [{name: a, model: hierarchical_centered}]\nwokers: 2\n", "wokers: unknown key"),
        ("name: x\nseed: 1\nreplicates: [2\n", "not valid YAML"),
        ("name: x\nseed: 1\nreplicates: 2\nmodels: [{name: a, model: no_such_model}]\n", "unknown model 'no_such_model'"),
        ("name: x\nseed: 1\nreplicates: 2\nmodels: [{name: a, model: hierarchical_centered, inference: {draws: -5}}]\n", "draws"),
    ],
)
def test_malformed_params_exit_non_zero_with_one_line(tmp_path, text, expected):
    params = tmp_path / "bad.yaml"
    params.write_text(text)
    result = sbc("run", params, "--output-dir", tmp_path / "out")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sbc: error:"), result.stderr
    assert expected in lines[0]
    assert not (tmp_path / "out" / "x").exists() or not any((tmp_path / "out" / "x").rglob("*.ipynb"))


# --- sbc report --recompute: new ranks from the kept draws, without refitting ----------------------
# These call the CLI's entry point in this process (same parsing, exit codes and messages as the
# ``sbc`` command) on a copy of the campaign: a report build is the slow part, not Python's start.

MODELS = ("centered", "noncentered")


def _mtimes(folder: Path, pattern: str) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob(pattern))}


def _ranks(out: Path, model: str) -> pd.DataFrame:
    return pd.read_parquet(out / model / "ranks.parquet")


def _sorted(ranks: pd.DataFrame) -> pd.DataFrame:
    return ranks.sort_values(["replicate", "quantity"]).reset_index(drop=True)


def _fitted_files(out: Path) -> dict[str, int]:
    """Modification times of what only a fit writes: replicate notebooks and records."""
    return _mtimes(out, "replicates/*.ipynb") | _mtimes(out, "replicates/*.json")


@pytest.fixture
def campaign_copy(campaign, tmp_path):
    """A copy of the finished campaign (file times kept), for tests that change its ranks."""
    _, out = campaign
    return copy_campaign(out, tmp_path / "out")


def test_recompute_with_the_same_settings_leaves_the_ranks_equal(campaign_copy, capsys):
    out = campaign_copy
    before = {m: _ranks(out, m) for m in MODELS}
    fitted = _fitted_files(out)
    assert cli.main(["report", str(out), "--recompute", "-q"]) == 0, capsys.readouterr().err
    for model, ranks in before.items():
        # the same ranks, values and all
        pd.testing.assert_frame_equal(_sorted(_ranks(out, model)), _sorted(ranks))
    assert _fitted_files(out) == fitted  # nothing was refitted


def test_recompute_keeps_each_replicates_ranks_file_as_written(campaign_copy):
    out = campaign_copy
    files = sorted(out.glob("*/replicates/*.ranks.parquet"))
    before = {f: pd.read_parquet(f) for f in files}
    assert recompute(out, campaign_from(store.read_manifest(out))) == 6
    for f, ranks in before.items():
        pd.testing.assert_frame_equal(pd.read_parquet(f), ranks)


def test_recompute_with_a_derived_quantity_adds_its_rows_without_refitting(campaign_copy, tmp_path, capsys):
    out = campaign_copy
    params = tmp_path / "derived.yaml"
    params.write_text(TINY + 'derived: {contrast: "alpha[:, 0] - alpha[:, 1]"}\n')
    before = {m: _ranks(out, m) for m in MODELS}
    fitted = _fitted_files(out)
    assert cli.main(["report", str(out), "--recompute", "--params", str(params), "-q"]) == 0, capsys.readouterr().err
    for model, old in before.items():
        ranks = _ranks(out, model)
        added = ranks[ranks["quantity"] == "contrast"]
        assert list(added["replicate"]) == [0, 1, 2]
        assert (added["variable"] == "contrast").all() and (added["max_rank"] == 20).all()
        assert added["rank"].between(0, 20).all()
        # every other row is as it was
        pd.testing.assert_frame_equal(_sorted(ranks[ranks["quantity"] != "contrast"]), _sorted(old))
        # the contrast's truth is alpha[A] - alpha[B] of the same replicate
        truth = old.set_index(["replicate", "quantity"])["true_value"]
        for _, row in added.iterrows():
            r = row["replicate"]
            assert row["true_value"] == pytest.approx(truth[(r, "alpha[A]")] - truth[(r, "alpha[B]")])
        assert "contrast" in set(pd.read_csv(out / model / "calibration.csv")["quantity"])
    assert _fitted_files(out) == fitted  # nothing was refitted: notebooks and records untouched
    assert json.loads((out / "campaign.json").read_text())["derived"] == {"contrast": "alpha[:, 0] - alpha[:, 1]"}


@pytest.mark.parametrize(
    "text, recompute, expected",
    [
        (TINY, False, "--params goes with --recompute"),
        (TINY.replace("name: tiny", "name: other"), True, "is not the one in"),
        (TINY + 'derived: {broken: "alpha[:, 0] - nope"}\n', True, "derived quantity 'broken'"),
        (TINY.replace("rank_draws: 20", "rank_draws: 40"), True, "rank_draws=40 needs that many kept draws"),
        (TINY.replace("model: hierarchical_centered}", "model: no_such_model}"), True, "unknown model 'no_such_model'"),
    ],
    ids=["params-without-recompute", "other-campaign", "bad-expression", "more-rank-draws-than-kept",
         "bad-model-reference"],
)
def test_recompute_errors_exit_2_with_one_line(campaign_copy, tmp_path, capsys, text, recompute, expected):
    out = campaign_copy
    before = {m: _ranks(out, m) for m in MODELS}
    params = tmp_path / "params.yaml"
    params.write_text(text)
    code = cli.main(["report", str(out), *(["--recompute"] if recompute else []), "--params", str(params)])
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sbc: error:") and expected in lines[0], err
    for model, ranks in before.items():  # a failed recompute leaves the ranks as they were
        pd.testing.assert_frame_equal(_ranks(out, model), ranks)
    assert not list(out.glob("*/replicates/*.tmp"))


def _documented_columns() -> dict[str, list[str]]:
    """The columns the docs' output contract (the report page) names, per table."""
    text = (ROOT / "docs" / "guide" / "report.md").read_text()
    section = text.split("The tables' columns", 1)[1].split("\n\n", 2)[1]
    columns = {}
    for item in section.split("\n- "):
        name, _, rest = item.lstrip("- ").partition(":")
        # the first backticked word of each comma-separated entry is a column; others are values
        columns[name.strip("` ")] = [re.match(r"\s*`(\w+)`", entry).group(1) for entry in rest.split(",")
                                     if re.match(r"\s*`(\w+)`", entry)]
    return columns


def test_the_output_contract_has_every_column_the_docs_name(campaign):
    from sbc_helpers.contract import CALIBRATION_COLUMNS, RANKS_COLUMNS, REPLICATE_COLUMNS

    _, out = campaign
    named = _documented_columns()
    assert named == {"ranks.parquet": RANKS_COLUMNS, "replicates.parquet": REPLICATE_COLUMNS,
                     "calibration.csv": CALIBRATION_COLUMNS}
    for model in ("centered", "noncentered"):
        folder = out / model
        assert list(pd.read_parquet(folder / "ranks.parquet").columns) == RANKS_COLUMNS
        assert list(pd.read_parquet(folder / "replicates.parquet").columns) == REPLICATE_COLUMNS
        assert list(pd.read_csv(folder / "calibration.csv").columns) == CALIBRATION_COLUMNS
