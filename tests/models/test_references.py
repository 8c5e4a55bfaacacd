import numpy as np
import pandas as pd
import pytest

from sbc_helpers.models.designs import group_codes, seed_design
from sbc_helpers.models.library import hierarchical_centered, hierarchical_noncentered
from sbc_helpers.models.references import BadReference, load_function, make_design, resolve_model

USER_MODEL = """\
import pymc as pm


def simple(design):
    with pm.Model() as model:
        mu = pm.Normal("mu", 0, 1)
        pm.Normal("y", mu, 1, observed=design["x"].to_numpy())
    return model


def small_design(n=4):
    import pandas as pd
    return pd.DataFrame({"x": [float(i) for i in range(n)], "group": ["A"] * n})


NOT_A_FUNCTION = 3
"""


@pytest.fixture
def user_file(tmp_path):
    path = tmp_path / "my_models.py"
    path.write_text(USER_MODEL)
    return path


@pytest.mark.parametrize(
    "name, builder",
    [("hierarchical_centered", hierarchical_centered),
     ("hierarchical_noncentered", hierarchical_noncentered)],
)
def test_resolve_model_by_library_name(name, builder):
    assert resolve_model(name) is builder


def test_resolve_model_by_module_reference():
    assert resolve_model("sbc_helpers.models:hierarchical_centered") is hierarchical_centered


def test_resolve_model_by_file_reference_relative_to_base_dir(user_file, tmp_path):
    builder = resolve_model("my_models.py:simple", base_dir=tmp_path)
    model = builder(pd.DataFrame({"x": [1.0, 2.0]}))
    assert [rv.name for rv in model.observed_RVs] == ["y"]
    assert [rv.name for rv in model.free_RVs] == ["mu"]


def test_resolve_model_by_absolute_file_reference(user_file):
    assert callable(resolve_model(f"{user_file}:simple", base_dir="/nonexistent"))


def test_unknown_model_name_lists_the_library():
    with pytest.raises(BadReference, match="unknown model 'nope'") as err:
        resolve_model("nope")
    assert "hierarchical_centered" in str(err.value)
    assert "hierarchical_noncentered" in str(err.value)


def test_missing_model_file_is_named(tmp_path):
    with pytest.raises(BadReference, match="does not exist") as err:
        resolve_model("missing.py:simple", base_dir=tmp_path)
    assert str(tmp_path / "missing.py") in str(err.value)


def test_missing_function_in_file_is_named(user_file):
    with pytest.raises(BadReference, match="has no function 'other'"):
        resolve_model(f"{user_file}:other")


def test_non_callable_attribute_is_rejected(user_file):
    with pytest.raises(BadReference, match="has no function 'NOT_A_FUNCTION'"):
        load_function(f"{user_file}:NOT_A_FUNCTION")


def test_unimportable_module_is_reported():
    with pytest.raises(BadReference, match="cannot import module 'no_such_module_xyz'"):
        resolve_model("no_such_module_xyz:f")


def test_reference_without_colon_is_rejected():
    with pytest.raises(BadReference, match="module:function"):
        load_function("sbc_helpers.models.library.hierarchical_centered")


def test_reference_errors_are_value_errors():
    # callers (CLI, params) can catch ValueError
    assert issubclass(BadReference, ValueError)


def test_a_file_that_failed_to_import_is_retried(tmp_path):
    path = tmp_path / "flaky.py"
    path.write_text("import no_such_module_xyz\n\ndef f(design):\n    return design\n")
    with pytest.raises(ImportError):
        load_function(f"{path}:f")
    path.write_text("def f(design):\n    return design\n")  # the user fixes the file
    try:
        func = load_function(f"{path}:f")
    except BadReference as err:
        raise AssertionError(f"fixed file still not loadable: {err}") from None
    assert func("d") == "d"


# --- designs ------------------------------------------------------------------------------------


def test_make_design_from_library_maker_with_arguments():
    design = make_design({"maker": "seed_design", "n_groups": 2, "n_points": 3, "seed": 5})
    pd.testing.assert_frame_equal(design, seed_design(n_groups=2, n_points=3, seed=5))


def test_make_design_does_not_mutate_the_spec():
    spec = {"maker": "seed_design", "n_groups": 2}
    make_design(spec)
    assert spec == {"maker": "seed_design", "n_groups": 2}


def test_make_design_from_file_reference_maker(user_file, tmp_path):
    design = make_design({"maker": "my_models.py:small_design", "n": 6}, base_dir=tmp_path)
    assert list(design["x"]) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_make_design_from_csv_relative_to_base_dir(tmp_path):
    original = seed_design(n_groups=3, n_points=4, seed=2)
    original.to_csv(tmp_path / "design.csv", index=False)
    design = make_design("design.csv", base_dir=tmp_path)
    assert len(design) == 12
    np.testing.assert_allclose(design["x"], original["x"])
    np.testing.assert_array_equal(group_codes(design)[0], group_codes(original)[0])


def test_make_design_from_parquet_keeps_categorical_groups(tmp_path):
    original = seed_design(n_groups=3, n_points=4, seed=2)
    original.to_parquet(tmp_path / "design.parquet")
    pd.testing.assert_frame_equal(make_design(str(tmp_path / "design.parquet")), original)


def test_make_design_rejects_unknown_maker():
    with pytest.raises(BadReference, match="unknown design maker 'nope'") as err:
        make_design({"maker": "nope"})
    assert "seed_design" in str(err.value)


def test_make_design_requires_a_maker():
    with pytest.raises(BadReference, match="maker"):
        make_design({"n_groups": 3})


def test_make_design_reports_missing_or_unsupported_files(tmp_path):
    with pytest.raises(BadReference, match="does not exist"):
        make_design("missing.csv", base_dir=tmp_path)
    (tmp_path / "design.txt").write_text("x\n1\n")
    with pytest.raises(BadReference, match=r"must be \.csv or \.parquet"):
        make_design("design.txt", base_dir=tmp_path)
