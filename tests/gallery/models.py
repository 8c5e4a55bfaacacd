"""Model shapes written as a user would, with their own names, for the gallery test.

None of them uses the seed's columns (x, y, group): the workflow must take every name from the model
and its design.
"""

import numpy as np
import pymc as pm


def clinics(design):
    """Design columns of any names: a numeric dose and a categorical clinic; dims from the design."""
    clinic = design["clinic"].astype("category")
    with pm.Model(coords={"clinic": list(clinic.cat.categories), "patient": design.index}) as model:
        base = pm.Normal("base", 0, 1, dims="clinic")
        slope = pm.Normal("slope", 0, 1)
        noise = pm.HalfNormal("noise", 1)
        pm.Normal("response", base[clinic.cat.codes.to_numpy()] + slope * design["dose"].to_numpy(), noise,
                  observed=np.zeros(len(design)), dims="patient")
    return model


def two_outcomes(design):
    """Several observed variables: counts and a score per household."""
    size = design["size"].to_numpy(dtype=float)
    with pm.Model() as model:
        rate = pm.Normal("log_rate", 0, 0.5)
        level = pm.Normal("level", 0, 1)
        spread = pm.HalfNormal("spread", 1)
        pm.Poisson("visits", pm.math.exp(rate + 0.1 * size), observed=np.zeros(len(size), dtype=int))
        pm.Normal("score", level + 0.2 * size, spread, observed=np.zeros(len(size)))
    return model


def discrete(design):
    """Discrete outcomes: binomial successes of known trials, and an ordinal rating."""
    trials = design["trials"].to_numpy(dtype=int)
    with pm.Model() as model:
        p = pm.Beta("p", 2, 2)
        pm.Binomial("successes", trials, p, observed=np.zeros(len(trials), dtype=int))
        eta = pm.Normal("eta", 0, 1)
        low = pm.Normal("low_cut", -1, 0.5)
        gap = pm.HalfNormal("gap", 1)
        cuts = pm.Deterministic("cuts", pm.math.stack([low, low + gap]))
        pm.OrderedLogistic("rating", eta=eta, cutpoints=cuts, observed=np.zeros(len(trials), dtype=int))
    return model


def data_containers(design):
    """Dims and coords, and pm.Data containers holding the design."""
    with pm.Model(coords={"day": design["day"].to_numpy()}) as model:
        temperature = pm.Data("temperature", design["temperature"].to_numpy(dtype=float), dims="day")
        effect = pm.Normal("effect", 0, 0.5)
        baseline = pm.Normal("baseline", 10, 2)
        sd = pm.HalfNormal("sd", 2)
        pm.Normal("sales", baseline + effect * temperature, sd, observed=np.zeros(len(design)), dims="day")
    return model


def scalars(design):
    """Scalar parameters only, and a vector parameter without dims, data unrelated to the design."""
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        beta = pm.Normal("beta", 0, 1, shape=3)
        pm.Normal("obs", mu + beta.sum(), 1, observed=np.zeros(7))
    return model


def repeated(design):
    """An observed variable whose length differs from the design's: three readings per site."""
    n_sites = len(design)
    with pm.Model(coords={"site": design["site"].to_numpy()}) as model:
        level = pm.Normal("level", 0, 1, dims="site")
        error = pm.HalfNormal("error", 1)
        pm.Normal("reading", level[np.repeat(np.arange(n_sites), 3)], error, observed=np.zeros(3 * n_sites))
    return model


def switchpoint(design):
    """A discrete free variable: the year a rate changes (PyMC assigns it a Metropolis step)."""
    years = design["year"].to_numpy()
    with pm.Model(coords={"year": years}) as model:
        change = pm.DiscreteUniform("change_year", lower=years.min(), upper=years.max())
        early = pm.Exponential("early_rate", 0.5)
        late = pm.Exponential("late_rate", 0.5)
        pm.Poisson("accidents", pm.math.switch(change >= years, early, late), observed=np.zeros(len(years), dtype=int),
                   dims="year")
    return model


def correlated(design):
    """A bivariate outcome per row with an LKJ prior: 2-D quantities whose diagonal is constant."""
    with pm.Model(coords={"trait": ["height", "weight"], "animal": design["Tier"]}) as model:
        chol, _, _ = pm.LKJCholeskyCov("chol", n=2, eta=2.0, sd_dist=pm.Exponential.dist(1.0, shape=2),
                                       compute_corr=True)
        mu = pm.Normal("mu", 0, 1, dims="trait")
        pm.MvNormal("measure", mu, chol=chol, observed=np.zeros((len(design), 2)), dims=("animal", "trait"))
    return model


def censored(design):
    """A censored likelihood: readings above the assay's limit are recorded at the limit."""
    limit = design["Grenze (µg/L)"].to_numpy(dtype=float)
    with pm.Model() as model:
        centre = pm.Normal("centre", 0, 1)
        scale = pm.HalfNormal("scale", 1)
        pm.Censored("assay", pm.Normal.dist(centre, scale), lower=None, upper=limit, observed=np.zeros(len(limit)))
    return model



def schools(design):
    """A hundred groups written as PyMC's docs write a hierarchical model: dims over the schools, a
    Deterministic over them; 204 ranked quantities."""
    school = design["school"].astype("category")
    with pm.Model(coords={"school": list(school.cat.categories), "student": design.index}) as model:
        mu = pm.Normal("mu", 0, 5)
        tau = pm.HalfNormal("tau", 5)
        z = pm.Normal("z", 0, 1, dims="school")
        theta = pm.Deterministic("theta", mu + tau * z, dims="school")
        sigma = pm.HalfNormal("sigma", 5)
        pm.Normal("score", theta[school.cat.codes.to_numpy()], sigma, observed=np.zeros(len(design)), dims="student")
    return model
