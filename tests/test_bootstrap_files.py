"""The setup files: bootstrap script, Makefile, CI entry point, Dockerfile and docker-compose.yml.

No Docker engine runs here, so the container files are checked by reading them: the compose file
parses and wires its services as docs/SETUP.md says, and every file the Dockerfile copies from the
build context exists and is not hidden by .dockerignore.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh"))


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment minus an outer make's flags (pytest may itself run under `make test`)."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    env.update(extra)
    return env


def _make_n(target: str, **extra: str) -> str:
    proc = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=ROOT,
        env=_clean_env(**extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# --- docker-compose.yml -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_has_the_three_services(compose: dict) -> None:
    assert {"db", "migrate", "app"} <= set(compose["services"])


def test_compose_db_is_postgis_with_health_check_and_named_volume(compose: dict) -> None:
    db = compose["services"]["db"]
    assert db["image"].startswith("postgis/postgis:15-")
    assert "POSTGRES_PASSWORD" in db["environment"]
    assert "C.UTF-8" in db["environment"]["POSTGRES_INITDB_ARGS"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"])
    named = {v.split(":", 1)[0] for v in db["volumes"] if not v.startswith((".", "/"))}
    assert named
    assert named <= set(compose["volumes"])


def test_compose_migrate_waits_for_a_healthy_db_and_runs_a_repo_script(compose: dict) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["build"] == "."
    scripts = [part for part in migrate["command"] if part.startswith("scripts/")]
    assert scripts
    for script in scripts:
        text = (ROOT / script).read_text(encoding="utf-8")
        assert "alembic upgrade head" in text
        assert "wangge demo load --if-empty" in text
        assert "CREATE EXTENSION IF NOT EXISTS" in text
    assert migrate.get("restart", "no") == "no"


def test_compose_app_waits_for_migrate_and_checks_healthz(compose: dict) -> None:
    app = compose["services"]["app"]
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    assert any(str(p).endswith("8000:8000") for p in app["ports"])
    command = " ".join(app["command"])
    assert "uvicorn gis_api.main:create_app --factory" in command
    assert "--host 0.0.0.0 --port 8000" in command


def test_compose_requires_a_jwt_secret_and_shares_one_database(compose: dict) -> None:
    raw = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "${WANGGE_JWT_SECRET:?" in raw  # required: compose refuses to start without it
    app_env = compose["services"]["app"]["environment"]
    assert app_env == compose["services"]["migrate"]["environment"]
    assert "@db:5432/" in app_env["DATABASE_URL"]
    assert app_env["DATABASE_URL"].endswith(
        "/" + compose["services"]["db"]["environment"]["POSTGRES_DB"]
    )


# --- Dockerfile and .dockerignore ---------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def _dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _ignore_pattern_matches(path: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        parts = path.split("/")
        tails = ("/".join(parts[i:]) for i in range(len(parts)))
        return any(fnmatch.fnmatchcase(tail, pattern[3:]) for tail in tails)
    return fnmatch.fnmatchcase(path, pattern)


def _dockerignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a match on a parent counts."""
    parts = rel.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.removeprefix("!").strip("/")
        if any(_ignore_pattern_matches(c, pat) for c in candidates):
            ignored = not negate
    return ignored


def _copy_sources() -> list[str]:
    sources = []
    for keyword, rest in _dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        args = shlex.split(rest)
        if any(a.startswith("--from=") for a in args):
            continue
        paths = [a for a in args if not a.startswith("--")]
        assert len(paths) >= 2, rest
        sources.extend(paths[:-1])
    return sources


def test_dockerignore_keeps_local_state_out_of_the_context() -> None:
    patterns = _dockerignore_patterns()
    for rel in (
        ".venv/bin/python",
        ".local/jwt_secret",
        ".local/pgdata/PG_VERSION",
        "map_ui/node_modules/leaflet/package.json",
        "layers/__pycache__/x.pyc",
        ".pytest_cache/v",
        ".mypy_cache/3.11",
        ".ruff_cache/x",
        ".env",
    ):
        assert _dockerignored(rel, patterns), rel
    for rel in ("pyproject.toml", "layers/cli.py", "map_ui/package.json", "scripts/bootstrap.sh"):
        assert not _dockerignored(rel, patterns), rel


def test_dockerfile_copy_sources_exist_in_the_repo() -> None:
    sources = _copy_sources()
    assert "map_ui/package-lock.json" in sources  # npm ci needs the lock file
    patterns = _dockerignore_patterns()
    for src in sources:
        if src == ".":
            continue
        matches = list(ROOT.glob(src))
        assert matches, f"COPY source {src} does not exist"
        for match in matches:
            rel = match.relative_to(ROOT).as_posix()
            assert not _dockerignored(rel, patterns), f"COPY source {rel} is in .dockerignore"


def test_dockerfile_is_multi_stage_with_node_and_python_311_slim() -> None:
    instructions = _dockerfile_instructions()
    stages = [rest.split() for keyword, rest in instructions if keyword == "FROM"]
    images = [s[0] for s in stages]
    assert any(i.startswith("node:") for i in images)
    assert images[-1] == "python:3.11-slim-bookworm"  # the final, runtime stage
    names = {s[2] for s in stages if len(s) == 3 and s[1].upper() == "AS"}
    for keyword, rest in instructions:
        for ref in re.findall(r"--from=(\S+)", rest):
            assert keyword == "COPY"
            assert ref in names, f"COPY --from={ref} names no stage"
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "npm ci" in runs
    # The vendored assets come from map_ui.assets itself, and the build fails if one is missing.
    assert "from map_ui.assets import copy_vendor; copy_vendor()" in runs
    assert "python -m map_ui.assets check" in runs


# --- CI entry point, scripts, Makefile ----------------------------------------------------------


def test_ci_run_runs_make_test_and_nothing_else() -> None:
    path = ROOT / ".ci" / "run"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] in {"#!/usr/bin/env bash", "#!/bin/bash"}
    commands = [ln.strip() for ln in lines[1:] if ln.strip() and not ln.strip().startswith("#")]
    assert commands[0] == "set -euo pipefail"
    assert commands[1].startswith("cd ")
    assert commands[2:] == ["make test"]
    assert path.stat().st_mode & stat.S_IXUSR


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse_and_are_strict(script: Path) -> None:
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "set -euo pipefail" in script.read_text(encoding="utf-8")
    assert script.stat().st_mode & stat.S_IXUSR


def test_bootstrap_script_is_among_the_scripts() -> None:
    assert ROOT / "scripts" / "bootstrap.sh" in SCRIPTS


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        ([], 2, "usage: scripts/bootstrap.sh DBNAME [--browser]"),
        (["wangge", "--brwoser"], 2, "unknown option: --brwoser"),
        (["a", "b"], 2, "more than one DBNAME"),
        (["bad-name;"], 1, "invalid DBNAME"),
    ],
)
def test_bootstrap_rejects_bad_arguments_before_doing_anything(
    args: list[str], code: int, message: str
) -> None:
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "bootstrap.sh"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == code
    assert message in proc.stderr
    assert "==>" not in proc.stdout


def test_makefile_declares_the_real_targets() -> None:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    phony: set[str] = set()
    for match in re.finditer(r"^\.PHONY:(.*)$", text, flags=re.M):
        phony.update(match.group(1).split())
    assert {"run", "test", "lint", "db", "demo"} <= phony
    targets = set(re.findall(r"^([A-Za-z][\w-]*):", text, flags=re.M))
    assert phony <= targets
    assert "bench" not in targets


def test_make_run_bootstraps_migrates_loads_the_demo_and_serves() -> None:
    out = _make_n("run", WANGGE_PORT="")
    steps = [
        "bash scripts/bootstrap.sh wangge\n",
        ". .local/env.wangge && .venv/bin/alembic upgrade head",
        ". .local/env.wangge && .venv/bin/wangge demo load --if-empty",
        "/map/",
        "/docs",
        "exec .venv/bin/uvicorn gis_api.main:create_app --factory --host 127.0.0.1 --port 8000",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions, out
    assert positions == sorted(positions), out


def test_make_run_port_comes_from_wangge_port() -> None:
    out = _make_n("run", WANGGE_PORT="8123")
    assert "--port 8123" in out
    assert "http://127.0.0.1:8123" in out


def test_make_test_bootstraps_lints_migrates_and_runs_pytest() -> None:
    out = _make_n("test")
    steps = [
        "bash scripts/bootstrap.sh wangge_test --browser",
        ".venv/bin/ruff check . || rc=1",
        ".venv/bin/ruff format --check . || rc=1",
        ".venv/bin/mypy || rc=1",
        ". .local/env.wangge_test && .venv/bin/alembic upgrade head",
        ". .local/env.wangge_test && .venv/bin/pytest",
    ]
    positions = [out.find(step) for step in steps]
    assert -1 not in positions, out
    assert positions == sorted(positions), out


# --- pinned versions -----------------------------------------------------------------------------


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not an exact pin"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_constraints_pin_every_direct_dependency_and_the_linters() -> None:
    """A new release of ruff turned CI red once: every direct dependency is pinned exactly."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    names = {
        re.split(r"[\[<>=!~ ;]", req, maxsplit=1)[0].lower().replace("_", "-") for req in wanted
    }
    missing = sorted(names - _pins().keys())
    assert missing == [], f"not pinned in constraints.txt: {missing}"


def test_bootstrap_and_dockerfile_install_with_the_constraints() -> None:
    assert "-c constraints.txt" in (ROOT / "scripts" / "bootstrap.sh").read_text(encoding="utf-8")
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "COPY pyproject.toml constraints.txt" in dockerfile
    assert "-c constraints.txt" in dockerfile


def test_make_demo_drops_the_schema_instead_of_downgrading() -> None:
    """`alembic downgrade base` cannot run under loaded data (the category tree's data migration
    is referenced by incidents), so the demo reload empties schema public and migrates up."""
    out = _make_n("demo")
    steps = [
        "bash scripts/bootstrap.sh wangge\n",
        "DROP SCHEMA public CASCADE",
        "CREATE SCHEMA public",
        "bash scripts/bootstrap.sh wangge\n",
        ". .local/env.wangge && .venv/bin/alembic upgrade head",
        ". .local/env.wangge && .venv/bin/wangge demo load",
    ]
    start = 0
    for step in steps:  # each after the previous one
        found = out.find(step, start)
        assert found != -1, (step, out)
        start = found + 1
    assert "downgrade" not in out
