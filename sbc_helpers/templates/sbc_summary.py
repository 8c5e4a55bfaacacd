# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python (sbc)
#     language: python
#     name: sbc
# ---

# %% tags=["parameters"]
model_dir: str = "."  # the unit's output folder (ranks.parquet, replicates.parquet, calibration.csv, verdict.json)
title: str = "SBC summary"  # heading of the report

# %% tags=["setup"]
# %matplotlib inline
import html
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, display

from sbc_helpers.contract import UNIT_FILES
from sbc_helpers.report import plots, tables
from sbc_helpers.report.analysis import read_verdict, worst_first
from sbc_helpers.stats import plot_data

plt.rcParams["figure.dpi"] = 80
folder = Path(model_dir)
ranks = pd.read_parquet(folder / UNIT_FILES["ranks"])
replicates = pd.read_parquet(folder / UNIT_FILES["replicates"])
calibration = pd.read_csv(folder / UNIT_FILES["calibration"])
verdict = read_verdict(folder)
rendered = tables.rendered_replicates(replicates, calibration)
order = worst_first(calibration)  # the figures' order: least calibrated first
quantities, variables = order["quantity"].tolist(), order["variable"].unique().tolist()
display(HTML(f"<h1>{html.escape(title)}</h1>"))

# %% [markdown]
# Simulation-based calibration: for each replicate a parameter set was drawn from the prior,
# data simulated from it and the model fitted; each true value was ranked among L thinned posterior
# draws. If the model and its inference are calibrated, every quantity's ranks are uniform.
#
# A figure shows at most 16 panels (`plots.SHOWN`): the least calibrated quantities first, in the
# calibration table's order, or the variables that hold them. Every element of a vector variable
# is drawn in one panel of the ECDF figure; the tables hold every quantity.

# %% tags=["verdict"]
display(HTML(tables.verdict_html(verdict)))

# %% tags=["failures"]
if verdict["failures"]:
    display(HTML("<h2>Failures</h2><p>Failed replicates, grouped by their error; the link opens the first "
                 "failing replicate's notebook. Failed replicates are left out of the statistics.</p>"
                 + tables.failures_html(verdict["failures"], rendered)))

# %% tags=["sequential"]
if verdict["sequential"]:
    sequential = verdict["sequential"]
    display(HTML("<h2>Sequential verdict</h2><p>Each quantity's e-value grows with evidence against "
                 "uniform ranks; the campaign may stop the moment one crosses the threshold, and the chance "
                 "of a false alarm stays below alpha however often it is checked. A unit that is not flagged "
                 "ends with the fixed-N test below, at the other half of alpha.</p>"
                 f"<p>{html.escape(sequential['line'])}.</p>"))
    paths = pd.read_parquet(folder / UNIT_FILES["evidence"])
    if len(paths):
        plots.evidence(paths, 1 / sequential["threshold"], sequential["stopped_at"]);

# %% [markdown]
# ## Calibration per quantity
#
# Least calibrated first; what each column says is listed below the table.

# %% tags=["table"]
HTML(tables.calibration_table_html(calibration, rendered, verdict))

# %% [markdown]
# ## Rank histograms
#
# Grey: the 99% band of a bin count under uniformity. A U shape means the posterior is too narrow,
# an inverted U too wide, a slope a bias.

# %% tags=["plots"]
if not ranks.empty:
    display(HTML(f"<p>{plots.shown_note(len(quantities))}</p>"))
    plots.rank_histograms(ranks, quantities);

# %% [markdown]
# ## ECDF differences
#
# The ECDF of the PIT values minus the uniform CDF, with a 99% simultaneous band (grey); more
# sensitive than histograms, and it needs no bins. Orange points are where the deviation is largest.
# Below, every element of each vector variable in one panel: the elements the verdict flags in red.
# The band is one curve's, so among many calibrated elements a few touching it is expected.

# %% tags=["plots"]
if not ranks.empty:
    plots.ecdf_difference(ranks, quantities);
    plots.ecdf_elements(ranks, order);

# %% [markdown]
# ## Where fits fail or are flagged
#
# The verdict reads every completed replicate, flagged fits included (whether it changes without
# them is said under the verdict); failed replicates have no ranks. Per quantity, the true values of
# failed or flagged replicates are compared with the clean ones' (two-sided Mann-Whitney U test,
# Holm-adjusted across quantities: `failures.csv`). A small `p_adjusted` means they sit in one region
# of parameter space: the verdict does not cover where fits fail, and where fits are flagged it rests
# on fits with suspect diagnostics. Failed replicates that failed before their true values were
# drawn, and derived quantities of failed replicates, have no true value to show.

# %% tags=["failure_map"]
truths_file, failures_file = folder / UNIT_FILES["truths"], folder / UNIT_FILES["failures"]
if truths_file.is_file() and failures_file.is_file():
    truths, dependence = pd.read_parquet(truths_file), pd.read_csv(failures_file)
    if (truths["outcome"] != "clean").any():
        display(HTML(tables.dependence_html(dependence) + f"<p>{plots.shown_note(truths['quantity'].nunique())}</p>"))
        plots.failure_map(truths, dependence);
        plots.divergences_vs_truth(truths, dependence);

# %% [markdown]
# ## Recovery: true value against posterior mean

# %% tags=["plots"]
if not ranks.empty:
    display(HTML(f"<p>{plots.shown_note(len(variables), 'variables')}</p>"))
    plots.true_vs_mean(ranks, variables);

# %% [markdown]
# ## z-score against posterior contraction
#
# Contraction near 1: the data pin the quantity down; near 0: the posterior is the prior. Large |z|
# at high contraction means the posterior is confidently wrong.

# %% tags=["plots"]
if not ranks.empty:
    plots.zscore_vs_contraction(plot_data.zscore_contraction(ranks), variables);

# %% [markdown]
# ## Coverage of central intervals
#
# Observed coverage minus nominal width, with a 95% interval; below 0 the intervals are too narrow,
# above 0 too wide.

# %% tags=["plots"]
if not ranks.empty:
    plots.coverage(plot_data.coverage(ranks), variables);

# %% [markdown]
# ## The model
#
# As built on its design (a formula model lists the priors Bambi set, which stay fixed across
# replicates).

# %% tags=["model"]
model_text = folder / UNIT_FILES["model"]
if model_text.is_file():
    display(HTML(f"<pre>{html.escape(model_text.read_text())}</pre>"))

# %% [markdown]
# ## Replicates
#
# Per-fit diagnostics and flags; click a heading to sort, a replicate to open its executed notebook.

# %% tags=["replicates"]
display(HTML(tables.replicate_table_html(replicates, rendered)))

# %% tags=["watermark"]
# %reload_ext watermark
# %watermark -n -u -v -iv
