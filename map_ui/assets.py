"""Vendored front-end libraries: npm lock → ``map_ui/static/vendor`` → folium, with no CDN.

The map pages must work on a network with no internet (a street office's intranet), so every
script, stylesheet, font and image is served by Wangge itself:

* ``map_ui/package.json`` pins exact versions and ``map_ui/package-lock.json`` (with integrity
  hashes) is the single source of truth;
* ``python -m map_ui.assets install`` runs ``npm ci`` when ``node_modules`` is missing or the lock
  changed (stamped with the lock's sha256), then copies the dist files listed in
  :data:`PACKAGES` into ``map_ui/static/vendor/<package>/`` (git-ignored);
* :func:`use_local_assets` points folium's ``Map`` and the plugins we use at those copies, by the
  resource names folium itself uses (``"leaflet"``, ``"bootstrap_css"``...). A name we do not know
  raises, so a folium upgrade that adds a CDN resource fails loudly instead of reaching out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

MAP_UI_DIR = Path(__file__).resolve().parent
STATIC_DIR = MAP_UI_DIR / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
STATIC_URL = "/static"
VENDOR_URL = f"{STATIC_URL}/vendor"

LOCK_FILE = "package-lock.json"
STAMP_FILE = ".wangge-lock.sha256"  # inside node_modules, so `npm ci` wiping it also drops it
NPM_CI = ("npm", "ci", "--no-audit", "--no-fund")


class AssetsError(RuntimeError):
    """The vendored assets cannot be installed or are incomplete."""


@dataclass(frozen=True)
class VendorPackage:
    """One npm package and the files of it the pages need.

    ``files`` maps a path inside the package (a file or a whole folder) to a path under
    ``static/vendor/<name>/``. Relative layouts that CSS depends on are kept: Leaflet's CSS
    loads ``images/``, Font Awesome's ``../webfonts/``.
    """

    name: str
    files: tuple[tuple[str, str], ...]
    licence: str


PACKAGES: tuple[VendorPackage, ...] = (
    VendorPackage(
        "leaflet",
        (
            ("dist/leaflet.js", "leaflet.js"),
            ("dist/leaflet.js.map", "leaflet.js.map"),
            ("dist/leaflet.css", "leaflet.css"),
            ("dist/images", "images"),
        ),
        "LICENSE",
    ),
    VendorPackage(
        "jquery",
        (("dist/jquery.min.js", "jquery.min.js"), ("dist/jquery.min.map", "jquery.min.map")),
        "LICENSE.txt",
    ),
    VendorPackage(
        "bootstrap",
        (
            ("dist/js/bootstrap.bundle.min.js", "js/bootstrap.bundle.min.js"),
            ("dist/js/bootstrap.bundle.min.js.map", "js/bootstrap.bundle.min.js.map"),
            ("dist/css/bootstrap.min.css", "css/bootstrap.min.css"),
            ("dist/css/bootstrap.min.css.map", "css/bootstrap.min.css.map"),
        ),
        "LICENSE",
    ),
    VendorPackage(
        "@fortawesome/fontawesome-free",
        (("css/all.min.css", "css/all.min.css"), ("webfonts", "webfonts")),
        "LICENSE.txt",
    ),
    VendorPackage(
        "leaflet.awesome-markers",
        (
            ("dist/leaflet.awesome-markers.min.js", "leaflet.awesome-markers.min.js"),
            ("dist/leaflet.awesome-markers.css", "leaflet.awesome-markers.css"),
            ("dist/images", "images"),
        ),
        "LICENSE",
    ),
    VendorPackage(
        "@geoman-io/leaflet-geoman-free",
        (
            ("dist/leaflet-geoman.min.js", "leaflet-geoman.min.js"),
            ("dist/leaflet-geoman.min.js.map", "leaflet-geoman.min.js.map"),
            ("dist/leaflet-geoman.css", "leaflet-geoman.css"),
            ("dist/leaflet-geoman.css.map", "leaflet-geoman.css.map"),
        ),
        "LICENSE",
    ),
    VendorPackage(
        "leaflet.markercluster",
        (
            ("dist/leaflet.markercluster.js", "leaflet.markercluster.js"),
            ("dist/leaflet.markercluster.js.map", "leaflet.markercluster.js.map"),
            ("dist/MarkerCluster.css", "MarkerCluster.css"),
            ("dist/MarkerCluster.Default.css", "MarkerCluster.Default.css"),
        ),
        "MIT-LICENCE.txt",
    ),
    VendorPackage("leaflet.heat", (("dist/leaflet-heat.js", "leaflet-heat.js"),), "LICENSE"),
    # Vector tiles (MVT) in Leaflet; the bundle includes pbf and vector-tile. Beerware licence,
    # stated in the README (the package ships no separate licence file).
    VendorPackage(
        "leaflet.vectorgrid",
        (("dist/Leaflet.VectorGrid.bundled.min.js", "Leaflet.VectorGrid.bundled.min.js"),),
        "README.md",
    ),
    # WGS-84 ⇄ GCJ-02 for GeoJSON drawn over an AMap/Tencent basemap (MIT).
    VendorPackage("gcoord", (("dist/gcoord.global.prod.js", "gcoord.global.prod.js"),), "LICENSE"),
)


def vendor_url(package: str, path: str) -> str:
    """URL of a vendored file, e.g. ``vendor_url("leaflet", "leaflet.js")``."""
    return f"{VENDOR_URL}/{package}/{path}"


def static_url(path: str) -> str:
    """URL of one of our own static files (``map_ui/static/<path>``)."""
    return f"{STATIC_URL}/{path}"


# folium's resource names (the first item of each default_js/default_css pair) → local URL.
FOLIUM_JS: dict[str, str] = {
    "leaflet": vendor_url("leaflet", "leaflet.js"),
    "jquery": vendor_url("jquery", "jquery.min.js"),
    "bootstrap": vendor_url("bootstrap", "js/bootstrap.bundle.min.js"),
    "awesome_markers": vendor_url("leaflet.awesome-markers", "leaflet.awesome-markers.min.js"),
    "markerclusterjs": vendor_url("leaflet.markercluster", "leaflet.markercluster.js"),
    # folium ships a patched copy on GitHub; the npm release 0.2.0 is the upstream original.
    "leaflet-heat.js": vendor_url("leaflet.heat", "leaflet-heat.js"),
    "leaflet_geoman_js": vendor_url("@geoman-io/leaflet-geoman-free", "leaflet-geoman.min.js"),
}
FOLIUM_CSS: dict[str, str] = {
    "leaflet_css": vendor_url("leaflet", "leaflet.css"),
    "bootstrap_css": vendor_url("bootstrap", "css/bootstrap.min.css"),
    "awesome_markers_font_css": vendor_url("@fortawesome/fontawesome-free", "css/all.min.css"),
    "awesome_markers_css": vendor_url("leaflet.awesome-markers", "leaflet.awesome-markers.css"),
    # folium loads this from GitHub; ours is a small local stand-in (fa-rotate-<angle>).
    "awesome_rotate_css": static_url("css/leaflet.awesome.rotate.css"),
    "markerclustercss": vendor_url("leaflet.markercluster", "MarkerCluster.css"),
    "markerclusterdefaultcss": vendor_url("leaflet.markercluster", "MarkerCluster.Default.css"),
    "leaflet_geoman_css": vendor_url("@geoman-io/leaflet-geoman-free", "leaflet-geoman.css"),
}
# Bootstrap 3 glyphicons (from a retired CDN) are only an alternative icon set of awesome-markers;
# we use Font Awesome icons, so the stylesheet is dropped rather than vendored.
FOLIUM_DROPPED: frozenset[str] = frozenset({"glyphicons_css"})


def _localise(
    pairs: Iterable[tuple[str, str]], urls: dict[str, str], owner: str
) -> list[tuple[str, str]]:
    local: list[tuple[str, str]] = []
    for name, url in pairs:
        if name in FOLIUM_DROPPED:
            continue
        if name not in urls:
            raise AssetsError(
                f"{owner} wants the resource {name!r} ({url}) that is not vendored: add it to "
                "map_ui/package.json and map_ui/assets.py rather than loading it from a CDN"
            )
        local.append((name, urls[name]))
    return local


def folium_classes() -> tuple[type, ...]:
    """The folium classes whose resources we serve locally (Map and the plugins we use)."""
    import folium
    from folium import plugins

    return (
        folium.Map,
        plugins.MarkerCluster,
        plugins.FastMarkerCluster,
        plugins.HeatMap,
        plugins.GeoMan,
    )


def use_local_assets(classes: Sequence[type] | None = None) -> None:
    """Point folium classes' ``default_js``/``default_css`` at ``/static/vendor`` (idempotent).

    This sets class attributes, so it applies process-wide; :func:`map_ui.router.mount` calls it.
    """
    for cls in classes if classes is not None else folium_classes():
        owner = f"{cls.__module__}.{cls.__qualname__}"
        cls.default_js = _localise(getattr(cls, "default_js", []), FOLIUM_JS, owner)  # type: ignore[attr-defined]
        cls.default_css = _localise(getattr(cls, "default_css", []), FOLIUM_CSS, owner)  # type: ignore[attr-defined]


def local_path(url: str) -> Path:
    """The file under ``map_ui/static`` that serves a ``/static/...`` URL."""
    prefix = STATIC_URL + "/"
    if not url.startswith(prefix):
        raise ValueError(f"not a local static URL: {url}")
    return STATIC_DIR / url[len(prefix) :]


# Vendored files our own pages load directly (not through folium).
PAGE_JS: dict[str, str] = {
    "vectorgrid": vendor_url("leaflet.vectorgrid", "Leaflet.VectorGrid.bundled.min.js"),
    "gcoord": vendor_url("gcoord", "gcoord.global.prod.js"),
}


def missing_files() -> list[str]:
    """Local URLs of the folium mapping and the pages whose files are absent (empty when
    installed)."""
    urls = [*FOLIUM_JS.values(), *FOLIUM_CSS.values(), *PAGE_JS.values()]
    return [url for url in urls if not local_path(url).is_file()]


# --- installation ------------------------------------------------------------------------------

Runner = Callable[[Sequence[str], Path], None]


def _run(cmd: Sequence[str], cwd: Path) -> None:
    subprocess.run(list(cmd), cwd=cwd, check=True)  # noqa: S603 - fixed argv, no shell


def lock_digest(root: Path = MAP_UI_DIR) -> str:
    """sha256 of ``package-lock.json``; the stamp that says node_modules matches it."""
    lock = root / LOCK_FILE
    if not lock.is_file():
        raise AssetsError(f"{lock} is missing: run `npm install --package-lock-only` in {root}")
    return hashlib.sha256(lock.read_bytes()).hexdigest()


def ensure_node_modules(
    root: Path = MAP_UI_DIR, *, run: Runner = _run, npm: str | None = None
) -> bool:
    """Run ``npm ci`` unless node_modules was installed from this very lock; True if it ran."""
    digest = lock_digest(root)
    stamp = root / "node_modules" / STAMP_FILE
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return False
    npm = npm or shutil.which("npm")
    if npm is None:
        raise AssetsError(
            "npm was not found on PATH. The map pages' JavaScript/CSS come from npm packages "
            "pinned in map_ui/package-lock.json: install Node.js 20+ with npm "
            "(e.g. `apt-get install nodejs npm`), then run `python -m map_ui.assets install`."
        )
    try:
        run([npm, *NPM_CI[1:]], root)
    except subprocess.CalledProcessError as exc:
        raise AssetsError(f"`npm ci` failed in {root} (exit {exc.returncode})") from exc
    if not (root / "node_modules").is_dir():
        raise AssetsError(f"`npm ci` ran but {root / 'node_modules'} does not exist")
    stamp.write_text(digest + "\n")
    return True


def _locked_versions(root: Path) -> dict[str, str]:
    lock = json.loads((root / LOCK_FILE).read_text())
    prefix = "node_modules/"
    return {
        key[len(prefix) :]: entry["version"]
        for key, entry in lock.get("packages", {}).items()
        if key.startswith(prefix) and "version" in entry
    }


def copy_vendor(root: Path = MAP_UI_DIR, vendor: Path | None = None) -> dict[str, str]:
    """Copy the files of :data:`PACKAGES` from node_modules into ``vendor``; return versions."""
    vendor = vendor or root / "static" / "vendor"
    if not (root / "node_modules").is_dir():
        raise AssetsError(f"{root / 'node_modules'} is missing: run `npm ci` in {root} first")
    locked = _locked_versions(root)
    # Staged inside node_modules (git-ignored), so an interrupted copy leaves nothing to commit.
    staging = root / "node_modules" / ".wangge-vendor-staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        versions = _copy_packages(root, staging, locked)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    (staging / "VERSIONS.json").write_text(json.dumps(versions, indent=2, sort_keys=True) + "\n")
    # Swap in the complete tree at once, so a failed copy never leaves half a vendor folder.
    shutil.rmtree(vendor, ignore_errors=True)
    vendor.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(staging, vendor)
    return versions


def _copy_packages(root: Path, staging: Path, locked: dict[str, str]) -> dict[str, str]:
    versions: dict[str, str] = {}
    for package in PACKAGES:
        source = root / "node_modules" / package.name
        installed = json.loads((source / "package.json").read_text())["version"]
        if locked.get(package.name) != installed:
            raise AssetsError(
                f"{package.name} {installed} in node_modules differs from the lock "
                f"({locked.get(package.name)}): run `python -m map_ui.assets install --force`"
            )
        target = staging / package.name
        for src_rel, dst_rel in (*package.files, (package.licence, package.licence)):
            src, dst = source / src_rel, target / dst_rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            elif src.is_file():
                shutil.copy2(src, dst)
            else:
                raise AssetsError(f"{package.name}@{installed} has no {src_rel}")
        versions[package.name] = installed
    return versions


def install(root: Path = MAP_UI_DIR, *, force: bool = False, run: Runner = _run) -> None:
    """``npm ci`` if needed, then refresh ``static/vendor``; prints what it did."""
    if force:
        (root / "node_modules" / STAMP_FILE).unlink(missing_ok=True)
    ran = ensure_node_modules(root, run=run)
    if ran:
        print("npm ci: installed node_modules from package-lock.json")
    else:
        digest = lock_digest(root)[:12]
        print(f"npm ci: skipped, node_modules matches package-lock.json (sha256 {digest}...)")
    versions = copy_vendor(root)
    for name, version in sorted(versions.items()):
        print(f"vendored {name}@{version}")
    print(f"-> {root / 'static' / 'vendor'}")


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``install`` (npm ci if needed + copy) or ``check`` (files present)."""
    parser = argparse.ArgumentParser(prog="python -m map_ui.assets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_install = sub.add_parser("install", help="npm ci if the lock changed, then copy to vendor/")
    p_install.add_argument("--force", action="store_true", help="run npm ci even if up to date")
    sub.add_parser("check", help="exit 1 if a file the pages reference is missing")
    args = parser.parse_args(argv)
    try:
        if args.command == "install":
            install(force=args.force)
        missing = missing_files()
        if missing:
            raise AssetsError(
                "missing vendored files (run `python -m map_ui.assets install`): "
                + ", ".join(missing)
            )
    except AssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "check":
        print("vendored assets complete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
