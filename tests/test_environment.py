"""The three descriptions of the environment must agree.

pyproject.toml names the dependencies, requirements.lock pins them (the
Makefile installs from it), environment.yml gives conda users the same
packages at the same versions. A drift between them fails here.
"""

from __future__ import annotations

import re
import tomllib

import yaml

from evidence.paths import ROOT


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        m = re.match(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", line)
        if m:
            pins[_norm(m.group(1))] = m.group(2)
    return pins


def _direct_deps() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["dev"]
    return [_norm(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in deps]


def _environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for item in dep.get("pip", []):
                if "==" in item:
                    name, version = item.split("==")
                    pins[_norm(name)] = version
        elif "=" in dep:
            name, version = dep.split("=", 1)
            pins[_norm(name)] = version
    return pins


def test_every_direct_dependency_is_pinned_in_the_lock():
    lock = _lock()
    missing = [d for d in _direct_deps() if d not in lock]
    assert not missing, f"in pyproject.toml but not pinned in requirements.lock: {missing}"


def test_environment_yml_matches_the_lock():
    lock, env = _lock(), _environment_pins()
    deps = _direct_deps()
    missing = [d for d in deps if d not in env]
    assert not missing, f"in pyproject.toml but not in environment.yml: {missing}"
    drift = {d: (env[d], lock[d]) for d in deps if d in env and env[d] != lock.get(d)}
    assert not drift, f"environment.yml vs requirements.lock versions differ: {drift}"


def test_environment_python_matches_requires_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert pythons == ["python=3.11"]
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == ">=3.11"
