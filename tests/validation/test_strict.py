"""The validation table is strict: every unit has an expectation, the direction is checked, "from k"
is where a quantity stays flagged over successful replicates, and the docs include RESULTS.md."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from validation import run
from validation.run import ANY, EXPECTED, Expect, check, flagged_from, successful_ranks
from validation.tables import block, replace_block

ROOT = Path(__file__).resolve().parents[2]


def test_the_docs_include_results_md_rather_than_a_copy():
    """The validation page includes RESULTS.md up to the posterior SBC block, and the posterior SBC
    page includes that block (the docs build renders both: tests/test_docs.py)."""
    validation = (ROOT / "docs" / "validation.md").read_text()
    assert "```{include} ../validation/RESULTS.md\n:heading-offset: 1\n:end-before: <!-- posterior-sbc:start -->" in validation
    posterior = (ROOT / "docs" / "guide" / "posterior-sbc.md").read_text()
    assert ("```{include} ../../validation/RESULTS.md\n:start-after: <!-- posterior-sbc:start -->\n"
            ":end-before: <!-- posterior-sbc:end -->") in posterior
    assert "| advi | seed-nuts |" not in validation and "| reference | θ' drawn |" not in posterior


def test_results_md_has_the_validation_table_and_apart_from_it_the_posterior_sbc_table():
    results = (ROOT / "validation" / "RESULTS.md").read_text()
    assert run.table_block(results).count("\n") >= 2
    posterior = block(results, "posterior-sbc")
    assert "| exact draws, sized: ESS >= 20 x N | without replacement |" in posterior
    assert block(replace_block(results, "posterior-sbc", "new"), "posterior-sbc").split("\n")[1] == "new"
    assert "|" not in run.table_block(posterior)


def test_every_unit_of_every_campaign_has_an_expectation():
    from sbc_helpers.run.params import load_campaign

    for params in sorted((ROOT / "validation" / "campaigns").glob("*.yaml")):
        units = {u.name for u in load_campaign(params).units()}
        assert units == set(EXPECTED[params.stem]), params.stem


def calibration(rows: dict[str, tuple[bool, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"quantity": q, "calibrated": not flagged, "reading": reading, "p_adjusted": 0.01}
                         for q, (flagged, reading) in rows.items()])


CASES = {
    # expectation, calibration table, problems (substrings; [] means reproduced)
    "all flagged": (Expect("", flag_all=("a", "b")), {"a": (True, ""), "b": (True, "")}, []),
    "all, one missing": (Expect("", flag_all=("a", "b")), {"a": (True, ""), "b": (False, "")}, ["not flagged: b"]),
    "any of": (Expect("", flag_any=("a", "b")), {"a": (False, ""), "b": (True, "")}, []),
    "any of, none": (Expect("", flag_any=("a", "b")), {"a": (False, ""), "c": (True, "")}, ["none flagged of a, b"]),
    "anything": (Expect("", flag_any=(ANY,)), {"a": (False, ""), "c": (True, "")}, []),
    "control flagged": (Expect("", must_pass=(ANY,)), {"a": (True, "x")}, ["flagged but must pass: a"]),
    "direction right": (Expect("", flag_all=("s",), readings=(("s", "biased high"),)),
                        {"s": (True, "biased high (true values sit low in the posterior)")}, []),
    "direction wrong": (Expect("", flag_all=("s",), readings=(("s", "biased high"),)),
                        {"s": (True, "too wide (hump: underconfident)")}, ["s reads 'too wide"]),
    "reading of any flagged": (Expect("", flag_any=(ANY,), readings=((ANY, "too narrow"),)),
                               {"a": (True, "biased low"), "b": (True, "too narrow (U shape)")}, []),
    "reading of none": (Expect("", flag_any=(ANY,), readings=((ANY, "too narrow"),)),
                        {"a": (True, "biased low")}, ["no flagged quantity reads 'too narrow'"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_check(case):
    expect, rows, problems = CASES[case]
    found = check(expect, calibration(rows))
    assert len(found) == len(problems), found
    for want, got in zip(problems, found, strict=True):
        assert want in got


def test_a_unit_without_an_expectation_fails(tmp_path):
    unit = tmp_path / "stale"
    unit.mkdir()
    calibration({"a": (False, "uniform (not flagged)")}).to_csv(unit / "calibration.csv", index=False)
    pd.DataFrame({"replicate": [0], "quantity": "a", "variable": "a", "rank": 1, "max_rank": 10}).to_parquet(unit / "ranks.parquet")
    pd.DataFrame({"replicate": [0], "status": "ok"}).to_parquet(unit / "replicates.parquet")
    row = run.judge("mvn", "stale", unit)
    assert row["reproduced"] == "NO: no expectation" and row["expected"] == "(no expectation)"


def test_k_counts_successful_replicates_in_replicate_order():
    replicates = pd.DataFrame({"replicate": range(6), "status": ["ok", "failed", "ok", "not_run", "ok", "ok"]})
    ranks = pd.DataFrame({"replicate": [5, 4, 2, 0, 1], "quantity": "a"})
    assert successful_ranks(ranks, replicates).set_index("replicate")["k"].to_dict() == {5: 4, 4: 3, 2: 2, 0: 1}


def test_from_k_is_the_first_look_from_which_it_stays_flagged(monkeypatch):
    # flagged at each look (25, 50, 100, and the last look, 120 successful replicates)
    pattern = {25: {"a", "b", "c"}, 50: {"b", "c"}, 100: {"a", "b", "c"}, 120: {"a", "b"}}
    fake = lambda ranks, alpha: pd.DataFrame({"quantity": ["a", "b", "c"],  # noqa: E731
                                              "calibrated": [q not in pattern[int(ranks["k"].max())]
                                                             for q in "abc"]})
    monkeypatch.setattr(run, "calibration_table", fake)
    ranks = pd.DataFrame({"k": np.arange(1, 121), "quantity": "a"})
    assert flagged_from(ranks) == {"a": 100, "b": 25}
