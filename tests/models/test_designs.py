import numpy as np
import pandas as pd
import pytest

from sbc_helpers.models.designs import DESIGNS, group_codes, seed_design


def test_seed_design_has_one_row_per_group_and_point_with_x_group_y():
    design = seed_design(n_groups=4, n_points=7, seed=1)
    assert design.shape == (4 * 7, 3)
    assert list(design.columns) == ["x", "group", "y"]
    assert design["x"].dtype == np.float64
    assert design["y"].dtype == np.float64
    assert np.isfinite(design[["x", "y"]].to_numpy()).all()


def test_seed_design_groups_are_ordered_categorical_A_to_E_in_blocks():
    design = seed_design(n_groups=5, n_points=3)
    groups = design["group"]
    assert isinstance(groups.dtype, pd.CategoricalDtype)
    assert groups.cat.ordered
    assert list(groups.cat.categories) == list("ABCDE")
    assert list(groups.astype(str)) == [g for g in "ABCDE" for _ in range(3)]


def test_seed_design_is_reproducible_by_seed():
    pd.testing.assert_frame_equal(seed_design(seed=7), seed_design(seed=7))


def test_seed_design_differs_between_seeds():
    a, b = seed_design(seed=7), seed_design(seed=8)
    assert not np.allclose(a["x"], b["x"])
    assert not np.allclose(a["y"], b["y"])
    # only the draws change, not the structure
    assert list(a["group"]) == list(b["group"])


@pytest.mark.parametrize("n_groups", [0, -1, 27])
def test_seed_design_rejects_bad_group_count(n_groups):
    with pytest.raises(ValueError, match="n_groups"):
        seed_design(n_groups=n_groups)


def test_seed_design_rejects_bad_point_count():
    with pytest.raises(ValueError, match="n_points"):
        seed_design(n_points=0)


def test_seed_design_outcome_noise_is_the_models_normal_likelihood():
    # The docstring promises y = alpha[g] + beta[g] * x + N(0, 0.5) (the model's own likelihood),
    # not the seed's |N(0, sigma)| noise (whose SD would be 0.5 * sqrt(1 - 2/pi) = 0.30).
    # Per-group OLS residual SD over n = 10_000 rows estimates sigma = 0.5 with a standard error
    # of about sigma / sqrt(2 (n - 10)) = 0.0035; 3 standard errors gives the tolerance.
    design = seed_design(n_groups=5, n_points=2000, seed=99)
    residuals = []
    for _, g in design.groupby("group", observed=True):
        X = np.column_stack([np.ones(len(g)), g["x"]])
        coef, *_ = np.linalg.lstsq(X, g["y"].to_numpy(), rcond=None)
        residuals.append(g["y"].to_numpy() - X @ coef)
    r = np.concatenate(residuals)
    sd = np.sqrt(np.sum(r**2) / (len(r) - 10))
    se = 0.5 / np.sqrt(2 * (len(r) - 10))
    assert abs(sd - 0.5) < 3 * se


def test_group_codes_of_categorical_column_follow_category_order():
    design = seed_design(n_groups=3, n_points=2)
    codes, labels = group_codes(design)
    assert labels == ["A", "B", "C"]
    np.testing.assert_array_equal(codes, [0, 0, 1, 1, 2, 2])

    # a categorical keeps its own (non-alphabetical) category order, unused categories included
    frame = pd.DataFrame(
        {"g": pd.Categorical(["b", "a", "b"], categories=["b", "a", "z"])}
    )
    codes, labels = group_codes(frame, "g")
    assert labels == ["b", "a", "z"]
    np.testing.assert_array_equal(codes, [0, 1, 0])


def test_group_codes_of_plain_string_column_are_sorted_labels():
    frame = pd.DataFrame({"group": ["C", "A", "B", "A"]})
    codes, labels = group_codes(frame)
    assert labels == ["A", "B", "C"]
    np.testing.assert_array_equal(codes, [2, 0, 1, 0])
    assert codes.dtype.kind == "i"


def test_group_codes_of_numeric_column_sort_numerically_and_return_string_labels():
    codes, labels = group_codes(pd.DataFrame({"group": [10, 2, 10]}))
    assert labels == ["2", "10"]
    np.testing.assert_array_equal(codes, [1, 0, 1])


def test_group_codes_agree_between_categorical_and_csv_round_trip(tmp_path):
    # A design saved to CSV loses its categorical dtype; the grouping must not change.
    design = seed_design(n_groups=4, n_points=3)
    path = tmp_path / "design.csv"
    design.to_csv(path, index=False)
    reread = pd.read_csv(path)
    assert group_codes(reread)[1] == group_codes(design)[1]
    np.testing.assert_array_equal(group_codes(reread)[0], group_codes(design)[0])


def test_design_registry_holds_seed_design():
    assert DESIGNS["seed_design"] is seed_design
