"""map_ui.assets: when npm runs, what gets copied, and folium pointed at the local copies."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import pytest

import folium
from folium import plugins

from map_ui import assets
from map_ui.assets import AssetsError, ensure_node_modules, use_local_assets


def _project(tmp_path: Path, lock: str = '{"packages": {}}') -> Path:
    (tmp_path / "package-lock.json").write_text(lock)
    return tmp_path


class _FakeNpm:
    """Records calls and creates node_modules, as `npm ci` would."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, cmd: Sequence[str], cwd: Path) -> None:
        self.calls.append(list(cmd))
        (cwd / "node_modules").mkdir(exist_ok=True)


def test_npm_ci_runs_when_node_modules_is_missing_then_not_again(tmp_path: Path) -> None:
    root = _project(tmp_path)
    npm = _FakeNpm()
    assert ensure_node_modules(root, run=npm, npm="/usr/bin/npm") is True
    assert npm.calls == [["/usr/bin/npm", "ci", "--no-audit", "--no-fund"]]
    stamp = (root / "node_modules" / assets.STAMP_FILE).read_text().strip()
    assert stamp == hashlib.sha256((root / "package-lock.json").read_bytes()).hexdigest()

    assert ensure_node_modules(root, run=npm, npm="/usr/bin/npm") is False
    assert len(npm.calls) == 1


def test_npm_ci_runs_again_when_the_lock_changes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    npm = _FakeNpm()
    ensure_node_modules(root, run=npm, npm="npm")
    (root / "package-lock.json").write_text('{"packages": {"node_modules/x": {}}}')
    assert ensure_node_modules(root, run=npm, npm="npm") is True
    assert len(npm.calls) == 2


def test_missing_npm_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path)
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    with pytest.raises(AssetsError, match="npm was not found"):
        ensure_node_modules(root, run=_FakeNpm())


def test_up_to_date_node_modules_needs_no_npm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path)
    ensure_node_modules(root, run=_FakeNpm(), npm="npm")
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)
    assert ensure_node_modules(root, run=_FakeNpm()) is False


def test_lock_pins_every_vendored_package_exactly() -> None:
    package = json.loads((assets.MAP_UI_DIR / "package.json").read_text())
    lock = json.loads((assets.MAP_UI_DIR / "package-lock.json").read_text())
    for vendored in assets.PACKAGES:
        wanted = package["dependencies"][vendored.name]
        assert wanted[0].isdigit(), f"{vendored.name} is not pinned exactly: {wanted}"
        assert lock["packages"][f"node_modules/{vendored.name}"]["version"] == wanted
    assert package["dependencies"]["leaflet"] == "1.9.4"


def test_folium_classes_point_at_local_files_only() -> None:
    use_local_assets()
    use_local_assets()  # idempotent
    for cls in (folium.Map, plugins.MarkerCluster, plugins.HeatMap, plugins.GeoMan):
        for name, url in [*cls.default_js, *cls.default_css]:
            assert url.startswith("/static/"), f"{cls.__name__}.{name} -> {url}"
            assert assets.local_path(url).is_file(), f"{url} is not installed"
    names = [name for name, _ in folium.Map.default_css]
    assert "glyphicons_css" not in names
    assert "awesome_rotate_css" in names


def test_unknown_folium_resource_fails_loudly() -> None:
    future_map = type(
        "FutureMap",
        (folium.Map,),
        {"default_js": [*folium.Map.default_js, ("shiny", "https://cdn.example/shiny.js")]},
    )
    with pytest.raises(AssetsError, match="shiny"):
        use_local_assets([future_map])


def test_rendered_folium_map_has_no_remote_urls() -> None:
    use_local_assets()
    fmap = folium.Map(tiles=None)
    plugins.MarkerCluster().add_to(fmap)
    html = fmap.get_root().render()
    assert "http://" not in html and "https://" not in html
