# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Simulation-based calibration of a PyMC model: the seed analysis
#
# This notebook is the project's entry point. It walks through the documented analysis this project
# grew from (*"Creating a scalable and general workflow for simulation-based calibration of PyMC3
# models"*, 2021), ported to PyMC 6 and ArviZ 1. Every step calls the project's own package,
# `sbc_helpers`, so what you read here is exactly what the SBC campaign runs, one replicate at a time.
#
# ## Simulation-based calibration steps
#
# 1. Draw parameters from the prior
# 2. Simulate data from the sampled parameters
# 3. Fit the model to the simulated data
# 4. Compare the posterior parameter estimates to the actual values
#
# The original notebook stopped after one pass through these steps. The last section shows how this
# project turns that one pass into a full SBC run.

# %% [markdown]
# ### What changed from the original
#
# - **No global `group_idx`.** The original `build_model` read the group index from a global variable.
#   `sbc_helpers.models.hierarchical_centered(design)` takes the design as its only argument and
#   works out the groups itself.
# - **True data noise.** The original added `|N(0, sigma)|` noise to its "true" data, which is not the
#   model's likelihood. `sbc_helpers.models.seed_design` draws `y` from `N(mu, sigma)`. This only
#   changes the plots: SBC simulates `y` from the model in every replicate.
# - **PyMC 6 and ArviZ 1.** `pymc3` and `az.from_pymc3` no longer exist. `pm.sample` now returns an
#   `xarray.DataTree`, `az.plot_trace` is now `arviz_plots.plot_trace_dist` and `az.summary` is now
#   `arviz_stats.summary`. Seeds are passed to each step rather than set globally with `np.random.seed`,
#   so the numbers differ from the original's.
# - **Unused imports and results removed.** The original imported plotnine and never used it. Its
#   posterior predictive draws were computed but never looked at, so this notebook doesn't compute them.

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pymc as pm

import arviz_plots as azp

from sbc_helpers.inference import fit
from sbc_helpers.models import hierarchical_centered, seed_design
from sbc_helpers.run.steps import default_quantities, posterior_vs_truth
from sbc_helpers.simulation.prior import simulate
from sbc_helpers.stats.diagnostics import fit_diagnostics
from sbc_helpers.stats.ranks import rank_table

plt.rcParams["figure.dpi"] = 72

# %% [markdown]
# ## "True" mock data
#
# This data set stands for the "true" data the model will eventually be fit to. We need it before
# building the model because the model is hierarchical: it needs to know how many varying intercepts
# there are. There are 5 groups (A to E) of 10 points each, with `x ~ N(0, 1)` and per-group intercepts
# and slopes `alpha ~ N(0, 5)` and `beta ~ N(0, 1)`. The noise is `sigma = 0.5` and the seed is 1234.

# %%
data = seed_design(n_groups=5, n_points=10, seed=1234)
data.head()

# %%
fig, ax = plt.subplots(figsize=(7, 4))
ax.scatter(data["x"], data["y"], s=15)
ax.set(xlabel="x", ylabel="y", title="Design: y against x");

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for group, rows in data.groupby("group", observed=True):
    ax.scatter(rows["x"], rows["y"], s=15, label=group)
ax.legend(title="group")
ax.set(xlabel="x", ylabel="y", title="Design, coloured by group");

# %% [markdown]
# ## Model
#
# A hierarchical linear regression with a centred parameterisation:
#
# - `mu_alpha ~ N(0, 2)`, `sigma_alpha ~ HalfNormal(2)`, `alpha[g] ~ N(mu_alpha, sigma_alpha)`
# - `mu_beta ~ N(0, 1)`, `sigma_beta ~ HalfNormal(1)`, `beta[g] ~ N(mu_beta, sigma_beta)`
# - `mu = alpha[group] + beta[group] * x` (Deterministic), `sigma ~ HalfNormal(2)`, `y ~ N(mu, sigma)`
#
# The original `build_model` read a global `group_idx`. This builder takes the design as its argument
# and gets the group codes from the design's `group` column, so the same function can be reused for
# any design.

# %%
model = hierarchical_centered(data)
model

# %%
pm.model_to_graphviz(model)

# %% [markdown]
# ## One draw from the prior predictive
#
# Steps 1 and 2: one set of parameters drawn from the prior (seed 0), then data simulated from them.
# These are the "true" values that the fit should recover.

# %%
simulation = simulate(model, seed=0)
simulation.truth[["mu_alpha", "sigma_alpha", "mu_beta", "sigma_beta"]].to_pandas()

# %%
mock_y = simulation.data["y"]
mock_y

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for group, rows in data.assign(mock_y=mock_y).groupby("group", observed=True):
    ax.scatter(rows["x"], rows["mock_y"], s=15, label=group)
ax.legend(title="group")
ax.set(xlabel="x", ylabel="mock y", title="Mock data from parameters drawn from the prior");

# %% [markdown]
# ## Fit the model to the mock data
#
# Step 3: set the model's observed `y` to the mock data and sample the posterior. We use the original's
# settings: 1000 draws after 2000 tuning steps, 3 chains, `target_accept=0.95` and seed 321. The sampler
# is the project's default NUTS implementation, nutpie. Passing `sampler="pymc"` uses PyMC's own NUTS,
# as the original did.

# %%
fitted = fit(model, simulation.data, seed=321, draws=1000, tune=2000, chains=3, cores=1, target_accept=0.95)
print(f"sampled in {fitted.seconds:.1f} s")

# %% [markdown]
# The fit's own diagnostics. The centred parameterisation has a funnel between each `sigma` and its
# group effects, so some divergences are expected: the original saw 77 across its 3 chains. SBC records
# these diagnostics for every replicate. `sbc_helpers.models.hierarchical_noncentered` is the same
# model without the funnel.

# %%
diagnostics = fit_diagnostics(fitted.idata, [rv.name for rv in model.free_RVs])
diagnostics

# %% [markdown]
# ## Compare the posterior to the true values
#
# Step 4: the trace of the group intercepts `alpha`, then their posterior summary beside the true
# values drawn from the prior. ArviZ 1 summarises with an 89% equal-tailed interval instead of the
# original's 94% HDI.

# %%
azp.plot_trace_dist(fitted.idata, var_names=["alpha"], backend="matplotlib", compact=False);

# %%
posterior_vs_truth(fitted, simulation, ["alpha"])

# %% [markdown]
# ## From one replicate to SBC
#
# Checking whether each true value falls inside its interval is a rough check. SBC makes it exact.
# Take each quantity's true value and rank it among L posterior draws, thinned so that they are
# roughly independent. Here L = 100, so a rank runs from 0 to 100. If the model and its inference are
# calibrated, these ranks are uniform over many replicates.

# %%
quantities = default_quantities(model, simulation)
ranks = rank_table(fitted.idata["posterior"].to_dataset()[quantities], simulation.truth,
                   n_rank_draws=100, seed=0)
ranks

# %% [markdown]
# A single replicate gives one rank per quantity, and one rank says nothing about uniformity. The
# template `templates/sbc_replicate.ipynb` repeats the steps of this notebook for one replicate:
# simulate, fit, rank and record the diagnostics. papermill runs it once per replicate, with a seed
# derived from the campaign seed. `sbc run params/demo.yaml` runs a whole campaign: it executes every
# replicate of every model listed in the parameter file, collects the ranks and diagnostics, and
# builds a report with rank histograms and ECDF plots. See the README for details.

# %% [markdown]
# ---

# %%
# %load_ext watermark
# %watermark -n -u -v -iv
