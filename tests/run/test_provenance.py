"""Provenance: what a campaign ran on (versions, platform, file hashes, git state), recorded in
``campaign.json`` without breaking manifests written before it existed."""

import hashlib
import subprocess
import textwrap

from sbc_helpers.run import provenance, store
from sbc_helpers.run.params import campaign_from, dump

MODEL = textwrap.dedent("""
    import numpy as np
    import pymc as pm


    def build(design):
        with pm.Model(coords={"obs": np.arange(len(design))}) as model:
            mu = pm.Normal("mu", 0, 1)
            pm.Normal("y", mu, 1, observed=np.zeros(len(design)), dims="obs")
        return model
""")


def _git(folder, *args):
    subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"})


def _campaign(folder):
    return campaign_from({"name": "p", "seed": 1, "replicates": 2, "design": "design.csv", "base_dir": str(folder),
                          "models": [{"name": "m", "model": "models/m.py:build",
                                      "inference": {"method": "exact", "function":
                                                    "sbc_helpers.models:normal_normal_posterior"}}]})


def test_versions_platform_file_hashes_and_the_git_state_of_a_model_folder(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.py").write_text(MODEL)
    (tmp_path / "design.csv").write_text("x\n1\n2\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "model")
    commit = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True, text=True).stdout

    made = provenance.collect(_campaign(tmp_path))

    assert set(made) == {"python", "packages", "platform", "sbc", "params_sha256", "files"}
    assert set(provenance.PACKAGES) <= set(made["packages"])
    assert made["packages"]["pymc"] and made["packages"]["numpy"]
    assert made["platform"]["cpu"] and made["sbc"]["version"]
    model = made["files"]["models/m.py"]
    assert model["sha256"] == hashlib.sha256(MODEL.encode()).hexdigest()
    assert model["roles"] == ["m.model"] and model["git"] == {"commit": commit.strip(), "dirty": False}
    assert made["files"]["design.csv"]["sha256"] == hashlib.sha256(b"x\n1\n2\n").hexdigest()
    assert any(name.endswith("sbc_helpers/models/__init__.py") for name in made["files"])  # module:function

    (tmp_path / "models" / "m.py").write_text(MODEL.replace("Normal(\"mu\", 0, 1)", "Normal(\"mu\", 5, 0.1)"))
    edited = provenance.collect(_campaign(tmp_path))
    assert edited["files"]["models/m.py"]["git"]["dirty"] is True
    changes = provenance.differences(made, edited)  # (sbc's own tree may be dirty where the suite runs)
    assert [c for c in changes if not c.startswith("sbc had uncommitted changes")] == ["models/m.py changed"]


def test_a_file_outside_a_repository_has_no_git_state_and_missing_packages_are_none(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.py").write_text(MODEL)
    (tmp_path / "design.csv").write_text("x\n1\n")
    assert provenance.files(_campaign(tmp_path))["models/m.py"]["git"] is None
    assert provenance.versions(("no-such-package-sbc",)) == {"no-such-package-sbc": None}


def test_the_manifest_keeps_provenance_apart_and_old_manifests_still_read(tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.py").write_text(MODEL)
    (tmp_path / "design.csv").write_text("x\n1\n")
    campaign = _campaign(tmp_path)
    store.write_manifest(tmp_path, dump(campaign))  # as written before provenance was recorded
    assert store.read_provenance(tmp_path) is None
    assert campaign_from(store.read_manifest(tmp_path)) == campaign
    store.write_manifest(tmp_path, dump(campaign), provenance.collect(campaign))
    assert campaign_from(store.read_manifest(tmp_path)) == campaign
    assert store.read_provenance(tmp_path)["params_sha256"] == provenance.params_hash(dump(campaign))


def test_differences_name_package_file_and_sbc_changes():
    before = {"python": "3.12.1", "packages": {"pymc": "6.4.0", "jax": None},
              "sbc": {"version": "0.1.0", "git": {"commit": "c1", "dirty": False}}, "platform": {"cpu": "A"},
              "files": {"models/dose.py": {"sha256": "1", "roles": ["dose.model"]},
                        "old/design.csv": {"sha256": "4", "roles": ["design"]}}}
    after = {**before, "packages": {"pymc": "6.5.0", "jax": "0.5"},
             "sbc": {"version": "0.1.0", "git": {"commit": "c2", "dirty": True}},
             "files": {"models/dose.py": {"sha256": "2", "roles": ["dose.model"]},
                       "sim.py": {"sha256": "3", "roles": ["dose.simulator"]},
                       "new/design.csv": {"sha256": "4", "roles": ["design"]}}}  # moved, the same content
    assert provenance.differences(before, after) == [
        "jax not installed -> 0.5", "pymc 6.4.0 -> 6.5.0", "sbc commit c1 -> c2",
        "sbc had uncommitted changes in the current run", "models/dose.py changed", "sim.py added (dose.simulator)"]
    assert provenance.differences(None, after) == ["baseline recorded no provenance"]
