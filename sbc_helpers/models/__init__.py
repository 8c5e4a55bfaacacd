"""Model sources: designs, the model library, references to a user's own builders and simulators,
Bambi formulas, a model's values as Datasets, and model builders shipped by value. Nothing here
compiles, draws or fits (``compiled``, ``simulation`` and ``inference`` do).

Library models and designs are importable from here, so a params file can name
``sbc_helpers.models:normal_normal_posterior``.
"""

from sbc_helpers.models.designs import (DESIGNS, binomial_design, eight_schools_design, group_codes,
                                        normal_normal_design, regression_design, seed_design)
from sbc_helpers.models.library import (EXACT_POSTERIORS, MODEL_DESIGNS, MODELS, beta_binomial,
                                        beta_binomial_posterior, data_value, eight_schools_centered,
                                        eight_schools_noncentered, hierarchical_centered, hierarchical_noncentered,
                                        linear_regression, logistic_regression, normal_normal,
                                        normal_normal_posterior, observed_value, poisson_varying_intercepts)

__all__ = ["DESIGNS", "EXACT_POSTERIORS", "MODELS", "MODEL_DESIGNS", "beta_binomial", "beta_binomial_posterior",
           "binomial_design", "data_value", "eight_schools_centered", "eight_schools_design",
           "eight_schools_noncentered", "group_codes", "hierarchical_centered", "hierarchical_noncentered",
           "linear_regression", "logistic_regression", "normal_normal", "normal_normal_design",
           "normal_normal_posterior", "observed_value", "poisson_varying_intercepts", "regression_design",
           "seed_design"]
