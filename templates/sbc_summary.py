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
model_dir: str = "."  # the model's output folder (holds ranks.parquet, replicates.parquet, calibration.csv)
title: str = "SBC summary"  # heading of the report

# %% tags=["setup"]
# %matplotlib inline
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import HTML, Markdown, display

from sbc_helpers import calibrate, plots
from sbc_helpers.summary import calibration_table_html, replicate_table_html, resolution, sensitivity, verdict

plt.rcParams["figure.dpi"] = 80
folder = Path(model_dir)
ranks = pd.read_parquet(folder / "ranks.parquet")
replicates = pd.read_parquet(folder / "replicates.parquet")
calibration = pd.read_csv(folder / "calibration.csv")
n_ok = int((replicates["status"] == "ok").sum()) if len(replicates) else 0
display(Markdown(f"# {title}"))

# %% [markdown]
# Simulation-based calibration: for each replicate a parameter set was drawn from the prior,
# data simulated from it and the model fitted; each true value was ranked among L thinned posterior
# draws. If the model and its inference are calibrated, every quantity's ranks are uniform.

# %% tags=["verdict"]
display(Markdown(f"**Verdict:** {verdict(calibration)}  \n"
                 f"{n_ok} replicates completed, {len(replicates) - n_ok} failed.  \n"
                 + (resolution(calibration, int(ranks["max_rank"].max())) if not ranks.empty else "")))

# %% [markdown]
# ## Calibration per quantity
#
# Least calibrated first. `reading` puts the rank shape in words (biased, too narrow, too wide);
# `worst_replicate` links to the replicate whose true value lies furthest out in its posterior.
# `gamma_p_value` tests the whole rank ECDF against its simultaneous band (Säilynoja et al.'s gamma,
# exact null distribution); `p_adjusted` is its Holm adjustment across this model's quantities and
# decides `calibrated` at the 5% level. `p_value` is ArviZ's pot_c test, `chi2_p_value` bins the
# ranks, `log_gamma_ratio` below 0 means the ECDF leaves its 95% band. `log_lik` is the
# log-likelihood of the simulated data: it fails when the posterior ignores or misreads the data even
# if every parameter's ranks look uniform.

# %% tags=["table"]
HTML(calibration_table_html(calibration))

# %% [markdown]
# ## Flagged fits
#
# A fit is flagged when its own diagnostics cross the campaign's thresholds (divergences, tree depth,
# R-hat, ESS, BFMI). Flagged replicates stay in the statistics above; here is whether leaving them out
# changes the verdict.

# %% tags=["flags"]
check = sensitivity(ranks, replicates) if not ranks.empty else None
if check:
    display(Markdown(
        f"{check['n_flagged']} of {len(replicates)} replicates flagged.  \n"
        f"All replicates: {check['verdict_all']}.  \n"
        f"Without the flagged: {check['verdict_unflagged']}.  \n"
        + ("Leaving them out cannot be checked: every replicate is flagged." if check["changed"] is None else
           f"**The verdict {'changes' if check['changed'] else 'does not change'}** when they are left out.")))

# %% [markdown]
# ## Rank histograms
#
# Grey: the 99% band of a bin count under uniformity. A U shape means the posterior is too narrow,
# an inverted U too wide, a slope a bias.

# %% tags=["plots"]
if not ranks.empty:
    plots.rank_histograms(ranks);

# %% [markdown]
# ## ECDF differences
#
# The ECDF of the PIT values minus the uniform CDF, with a 99% simultaneous band (grey); more
# sensitive than histograms, and it needs no bins. Orange points are where the deviation is largest.

# %% tags=["plots"]
if not ranks.empty:
    plots.ecdf_difference(ranks);

# %% [markdown]
# ## Recovery: true value against posterior mean

# %% tags=["plots"]
if not ranks.empty:
    plots.true_vs_mean(ranks);

# %% [markdown]
# ## z-score against posterior contraction
#
# Contraction near 1: the data pin the quantity down; near 0: the posterior is the prior. Large |z|
# at high contraction means the posterior is confidently wrong.

# %% tags=["plots"]
if not ranks.empty:
    plots.zscore_vs_contraction(calibrate.zscore_contraction(ranks));

# %% [markdown]
# ## Coverage of central intervals
#
# Observed coverage minus nominal width, with a 95% interval; below 0 the intervals are too narrow,
# above 0 too wide.

# %% tags=["plots"]
if not ranks.empty:
    plots.coverage(calibrate.coverage(ranks));

# %% [markdown]
# ## Replicates
#
# Per-fit diagnostics and flags; click a heading to sort, a replicate to open its executed notebook.

# %% tags=["replicates"]
display(HTML(replicate_table_html(replicates)))

# %% tags=["watermark"]
# %reload_ext watermark
# %watermark -n -u -v -iv
