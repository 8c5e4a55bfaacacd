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


def ar_scalar(design):
    """An AR(1) series with a scalar coefficient, as PyMC's AR examples write it."""
    n_days = len(design)
    with pm.Model(coords={"day": design["day"].to_numpy()}) as model:
        phi = pm.Normal("phi", 0, 0.4)
        scale = pm.HalfNormal("scale", 1)
        pm.AR("level", rho=phi, sigma=scale, init_dist=pm.Normal.dist(0, 2), steps=n_days - 1,
              observed=np.zeros(n_days), dims="day")
    return model


def ar_vector(design):
    """An AR(2) series with a constant: a coefficient vector with its own dim."""
    with pm.Model(coords={"day": design["day"].to_numpy(), "coefficient": ["constant", "lag1", "lag2"]}) as model:
        rho = pm.Normal("rho", [0, 0.3, 0], 0.2, dims="coefficient")
        scale = pm.HalfNormal("scale", 1)
        pm.AR("level", rho=rho, sigma=scale, constant=True, ar_order=2, init_dist=pm.Normal.dist(0, 2, shape=2),
              observed=np.zeros(len(design)), dims="day")
    return model


def random_walk(design):
    """A latent Gaussian random walk observed with noise, the trend of a weekly series."""
    with pm.Model(coords={"week": design["week"].to_numpy()}) as model:
        drift = pm.HalfNormal("drift", 0.5)
        trend = pm.GaussianRandomWalk("trend", sigma=drift, init_dist=pm.Normal.dist(0, 1), dims="week")
        noise = pm.HalfNormal("noise", 0.5)
        pm.Normal("sales", trend, noise, observed=np.zeros(len(design)), dims="week")
    return model


def spatial_gp(design):
    """A latent Gaussian process over positions, in its Hilbert-space approximation (pm.gp.HSGP)."""
    with pm.Model(coords={"station": design["station"].to_numpy()}) as model:
        position = pm.Data("position", design["km"].to_numpy(dtype=float)[:, None])
        length = pm.InverseGamma("length", 5, 5)
        amplitude = pm.HalfNormal("amplitude", 1)
        gp = pm.gp.HSGP(m=[8], c=2.0, cov_func=amplitude**2 * pm.gp.cov.Matern52(1, ls=length))
        field = gp.prior("field", X=position, dims="station")
        noise = pm.HalfNormal("noise", 0.5)
        pm.Normal("reading", field, noise, observed=np.zeros(len(design)), dims="station")
    return model


def mixture(design):
    """A two-component normal mixture whose components sit apart (no label switching)."""
    with pm.Model(coords={"component": ["slow", "fast"], "runner": design["runner"].to_numpy()}) as model:
        weight = pm.Dirichlet("weight", np.ones(2), dims="component")
        centre = pm.Normal("centre", [-2, 2], 0.5, dims="component")
        spread = pm.HalfNormal("spread", 0.5)
        pm.NormalMixture("finish", w=weight, mu=centre, sigma=spread, observed=np.zeros(len(design)), dims="runner")
    return model


def custom_scan(design):
    """A pm.CustomDist drawn day by day by a pytensor.scan, whose log-density PyMC derives as a scan:
    a price pulled towards its mean from 0."""
    import pytensor
    import pytensor.tensor as pt

    n_days = len(design)

    def step(previous, rng, mean, pull, sigma):
        next_rng, value = pm.Normal.dist(previous + pull * (mean - previous), sigma, rng=rng, return_next_rng=True)
        return value, next_rng

    def reverting(mean, pull, sigma, size):
        series, _ = pytensor.scan(step, outputs_info=[pt.zeros(()), pytensor.shared(np.random.default_rng())],
                                  non_sequences=[mean, pull, sigma], n_steps=n_days, strict=True,
                                  return_updates=False)
        return series

    with pm.Model(coords={"day": design["day"].to_numpy()}) as model:
        mean = pm.Normal("mean", 0, 1)
        pull = pm.Beta("pull", 2, 2)
        sigma = pm.HalfNormal("sigma", 0.5)
        pm.CustomDist("price", mean, pull, sigma, dist=reverting, signature="(),(),()->(t)",
                      observed=np.zeros(n_days), dims="day")
    return model
