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

# %% [markdown]
# # One SBC replicate
#
# Simulation-based calibration (SBC) asks whether a model *and its inference* recover the parameters
# that generated the data. One replicate follows the documented analysis step by step:
#
# 1. draw parameters from the prior,
# 2. simulate data from the sampled parameters,
# 3. fit the model to the simulated data,
# 4. compare the posterior to the true values: rank each true value among thinned posterior draws.
#
# The runner executes this notebook once per replicate with papermill; over many replicates the ranks
# must be uniform. Open it in JupyterLab and run it top to bottom to step through one replicate by hand.

# %% tags=["parameters"]
model: str = "hierarchical_centered"  # model builder: a library model name, "module:function" or "file.py:function"
model_kwargs: dict = {}  # keyword arguments passed to the model builder after the design
bambi: dict = {}  # a Bambi formula model instead of `model`: {"formula": "y ~ x + (1|group)", "family": "gaussian", "priors": {}}
design: dict = {"maker": "seed_design", "n_groups": 5, "n_points": 10, "seed": 1234}  # design maker and its keyword arguments, or {"file": "design.csv"}
simulator: str = ""  # optional independent simulator "module:function" of (rng, design); empty uses the model's prior predictive
replicate: int = 0  # replicate index within the campaign
seed: int = 1234  # this replicate's seed; the runner derives it from the campaign seed, model name and replicate
inference: dict = {"method": "nuts", "sampler": "nutpie", "draws": 1000, "tune": 2000, "chains": 3, "target_accept": 0.95}  # inference method under test and its settings
cores: int = 1  # chains sampled in parallel on this many cores (NUTS)
rank_draws: int = 100  # L: thinned posterior draws each true value is ranked among (ranks run 0..L)
keep_draws: int = 0  # thinned draws kept in draws.nc for recomputing ranks later; 0 keeps rank_draws
quantities: list = []  # variables to rank; empty means free parameters plus parameter-sized Deterministics
derived: dict = {}  # extra test quantities, name -> NumPy expression over variables with draws first, e.g. "alpha[:, 0] - alpha[:, 1]"
log_likelihood: bool = True  # also rank the log-likelihood of the simulated data (catches what parameter ranks miss)
make_plots: "Union[bool, str]" = True  # draw the design, mock-data and trace figures (the ranks do not need them); "flagged": only when the fit is flagged
thresholds: dict = {}  # the campaign's diagnostic thresholds that flag a fit; empty: the defaults
conditional_on: dict = {}  # posterior SBC: {"data": observed data file, "reference": reference draws file, "new_design": {...}}
output_dir: str = "."  # folder the side-car result files (ranks, draws, record) are written to

# %% tags=["imports"]
import sbc_helpers

sbc_helpers.configure()  # Numba's portable target, before anything defines Numba code
from sbc_helpers.report import figures  # noqa: E402
from sbc_helpers.run import steps  # noqa: E402

plot_now = make_plots is True  # "flagged" draws the figures after the ranks, if the fit is flagged

# %% [markdown]
# ## The design
#
# The design is the data structure the model is built on: covariates, group labels and sizes. The
# model needs it to know, for example, how many varying intercepts there are. An outcome column in
# it is only shown here; every replicate simulates its own.

# %% tags=["design"]
data = steps.load_design(design)
data.head()

# %% tags=["plots"]
if plot_now:
    figures.show(figures.design_figure, data, cache_key=figures.design_key(data))

# %% [markdown]
# ## Model
#
# The builder takes the design as its argument (the original read a global `group_idx`).

# %% tags=["model"]
built = steps.build(data, model, model_kwargs, bambi, simulator, conditional_on=conditional_on)
print(steps.origin(model, bambi))
print(built.description)

# %% tags=["plots"]
if plot_now:
    display(figures.model_graph(built.model))

# %% [markdown]
# ## One draw from the prior predictive
#
# Step 1 and 2: parameters drawn from the prior, and data simulated from them (by the model's prior
# predictive, or by an independent simulator when one is given). These are the "true" values the
# fit must recover. In posterior SBC (`conditional_on`) they come from the reference posterior of
# the observed data instead, and the simulated rows follow the observed ones.

# %% tags=["prior"]
simulation = steps.draw_truth(built, replicate, seed)
ranked = steps.ranked_quantities(built, simulation, quantities)
steps.record_truth(simulation, ranked, output_dir)
print(simulation.truth)  # as text: xarray's HTML view adds its style sheet to every notebook

# %% tags=["plots"]
if plot_now:
    figures.show(figures.data_figure, built.design, simulation.data)

# %% [markdown]
# ## Fit the model to the mock data
#
# Step 3: condition the model on the simulated data and approximate its posterior with the
# inference method under test.

# %% tags=["fit"]
fitted = steps.fit(built, simulation, seed, inference, cores)
print(f"{inference['method']} took {fitted.seconds:.2f} s")

# %% tags=["plots"]
if plot_now:
    figures.show(figures.trace_figure, fitted.idata, simulation.truth, ranked)

# %% [markdown]
# Step 4: the posterior summary beside the true values, a row for every ranked scalar (the trace
# above shows at most five: the scalar variables, then the elements whose true values sit furthest
# out among their draws).

# %% tags=["summary"]
steps.posterior_vs_truth(fitted, simulation, ranked)

# %% [markdown]
# ## Ranks and diagnostics of this replicate
#
# Each scalar quantity's true value, each derived quantity's and the data log-likelihood's, is
# ranked among L thinned posterior draws; the fit's own diagnostics (divergences, R-hat, ESS) are
# recorded beside them. Ranks, kept draws and diagnostics are written as side-car files that the
# runner gathers into the campaign's tables.

# %% tags=["ranks"]
result = steps.rank(replicate, seed, built.model, simulation, fitted, ranked, rank_draws, keep_draws, derived,
                    log_likelihood)
display(result.record.model_dump(exclude_none=True))
result.ranks

# %% tags=["plots"]
flags = steps.fit_flags(result.record, thresholds) if make_plots == "flagged" else ""
if flags:
    print(f"the fit is flagged ({flags}): its figures")
    figures.show(figures.design_figure, data, cache_key=figures.design_key(data))
    figures.show(figures.data_figure, data, simulation.data)
    figures.show(figures.trace_figure, fitted.idata, simulation.truth, ranked)

# %% tags=["write"]
result.write(output_dir)

# %% [markdown]
# ---

# %% tags=["watermark"]
# %reload_ext watermark
# %watermark -n -u -v -iv -p pymc,pytensor,arviz,nutpie
