"""Provenance: what a campaign ran on, precisely enough to say what changed between two campaigns.

Recorded in ``campaign.json`` under ``provenance`` by every run: the versions of Python and of the
packages a fit touches (None when not installed), the platform and CPU, this package's version, a
SHA-256 of the campaign's settings and of every file they name (model, simulator, design, data,
inference function), and for each such file inside a git repository the commit and whether its
folder has uncommitted changes. Everything is best effort: a file that cannot be read or a git that
is missing leaves a None, never a failed run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
from importlib import metadata, util
from pathlib import Path

PACKAGES = ("pymc", "pytensor", "numpy", "scipy", "arviz", "arviz_base", "arviz_stats", "nutpie", "numba", "jax",
            "numpyro", "blackjax", "pymc-extras", "bambi")
"""Packages whose versions can change a fit's draws."""
SELF = "sbc-helpers"


def versions(packages: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed version of each package, None when it is not installed."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu() -> str:
    """The CPU's model name (Linux: /proc/cpuinfo), else what ``platform`` says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def git(folder: Path) -> dict | None:
    """The commit checked out in the repository holding ``folder`` and whether ``folder`` has
    uncommitted changes (tracked or new files); None outside a repository or without git."""
    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout if done.returncode == 0 else None

    commit = run("rev-parse", "HEAD")
    if commit is None:
        return None
    status = run("status", "--porcelain", "--", ".")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def _file_of(reference: str | None, base_dir: Path) -> Path | None:
    """The file a reference names: ``file.py:f``/``file.pkl:f``, a CSV/Parquet path, or the source
    file of ``module:function`` (found without importing the module itself); None for library names."""
    if not reference or not isinstance(reference, str):
        return None
    target, sep, _ = reference.rpartition(":")
    if not sep:
        target = reference
        if not target.endswith((".csv", ".parquet", ".pq")):
            return None
    if target.endswith((".py", ".pkl", ".csv", ".parquet", ".pq")):
        path = Path(target)
        return path if path.is_absolute() else base_dir / path
    try:
        spec = util.find_spec(target)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin) if spec is not None and spec.origin and spec.origin != "built-in" else None


def _references(campaign) -> list[tuple[str, str | None]]:
    """(role, reference) of every file a campaign's replicates are made from."""
    def design(value):
        if isinstance(value, dict):
            return value.get("file") or value.get("maker")
        return value

    found = [("design", design(campaign.design)), ("inference.function", campaign.inference.get("function"))]
    for spec in campaign.models:
        inference = spec.inference if isinstance(spec.inference, list) else [spec.inference]
        found += [(f"{spec.name}.model", spec.model), (f"{spec.name}.simulator", spec.simulator),
                  (f"{spec.name}.design", design(spec.design)), (f"{spec.name}.conditional_on", spec.conditional_on),
                  (f"{spec.name}.new_design", design(spec.new_design)),
                  *((f"{spec.name}.inference.function", i.get("function")) for i in inference)]
    return found


def _shown(path: Path, base_dir: Path) -> str:
    """A file's name as the user wrote it: relative to the params' folder where it is inside it."""
    try:
        return path.resolve().relative_to(base_dir.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def files(campaign) -> dict[str, dict]:
    """Each file the campaign names: its SHA-256, the roles it plays and its folder's git state."""
    base = Path(campaign.base_dir)
    out: dict[str, dict] = {}
    repositories: dict[Path, dict | None] = {}
    for role, reference in _references(campaign):
        path = _file_of(reference, base)
        if path is None:
            continue
        name = _shown(path, base)
        if name not in out:
            if path.parent not in repositories:
                repositories[path.parent] = git(path.parent)
            out[name] = {"sha256": sha256(path), "roles": [], "git": repositories[path.parent]}
        out[name]["roles"].append(role)
    return out


def params_hash(settings: dict) -> str:
    """SHA-256 of a campaign's settings as run, without where they were read from."""
    kept = {k: v for k, v in settings.items() if k != "base_dir"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True, default=str).encode()).hexdigest()


def collect(campaign) -> dict:
    """The provenance of a run of ``campaign``."""
    from sbc_helpers.run.params import dump

    here = Path(__file__).resolve().parents[1]  # the package: its commit, and edits anywhere in it
    return {
        "python": platform.python_version(),
        "packages": versions(),
        "platform": {"system": platform.platform(), "machine": platform.machine(), "cpu": cpu(),
                     "implementation": sys.implementation.name},
        "sbc": {"version": versions((SELF,))[SELF], "git": git(here)},
        "params_sha256": params_hash(dump(campaign)),
        "files": files(campaign),
    }


def differences(before: dict | None, after: dict | None) -> list[str]:
    """What changed between two provenances, one short phrase each ("pymc 6.4.0 -> 6.5.0",
    "models/dose.py changed")."""
    if not before or not after:
        missing = [n for n, p in (("baseline", before), ("current", after)) if not p]
        return [f"{' and '.join(missing)} recorded no provenance"]
    lines = []

    def change(name, a, b):
        if a != b:
            lines.append(f"{name} {a if a is not None else 'not installed'} -> {b if b is not None else 'not installed'}")

    change("python", before.get("python"), after.get("python"))
    for package in sorted(set(before.get("packages", {})) | set(after.get("packages", {}))):
        change(package, before.get("packages", {}).get(package), after.get("packages", {}).get(package))
    change("sbc", before.get("sbc", {}).get("version"), after.get("sbc", {}).get("version"))
    sbc_git = [(p.get("sbc", {}).get("git") or {}) for p in (before, after)]
    change("sbc commit", sbc_git[0].get("commit"), sbc_git[1].get("commit"))
    dirty = [side for side, g in zip(("baseline", "current"), sbc_git) if g.get("dirty")]
    if dirty:  # the code that ran is not the commit's
        lines.append(f"sbc had uncommitted changes in the {' and the '.join(dirty)} run")
    for key in ("cpu", "system"):
        change(key, before.get("platform", {}).get(key), after.get("platform", {}).get(key))
    old, new = _by_role(before.get("files", {})), _by_role(after.get("files", {}))
    for role in sorted(set(old) | set(new)):  # matched by role: a moved file with the same content is the same
        if role not in old:
            lines.append(f"{new[role][0]} added ({role})")
        elif role not in new:
            lines.append(f"{old[role][0]} removed ({role})")
        elif old[role][1].get("sha256") != new[role][1].get("sha256"):
            lines.append(f"{new[role][0]} changed")
        elif (old[role][1].get("git") or {}).get("commit") != (new[role][1].get("git") or {}).get("commit"):
            lines.append(f"{new[role][0]} unchanged, its repository at another commit")
    return list(dict.fromkeys(lines))  # a file with several roles, named once


def _by_role(files: dict) -> dict[str, tuple[str, dict]]:
    """(name, entry) of the file each role ("dose.model", "design") is played by."""
    return {role: (name, entry) for name, entry in files.items() for role in entry.get("roles", [])}
