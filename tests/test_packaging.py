"""The wheel built from the repository holds every package folder and resource file (a non-editable install works)."""
import shutil
import subprocess
import sys
import zipfile

from conftest import REPO


def _source_files() -> set[str]:
    """Every file a non-editable install needs: the package's modules and its resource files."""
    probe = REPO / "probe"
    modules = {p.relative_to(REPO).as_posix() for p in probe.rglob("*.py") if "__pycache__" not in p.parts}
    resources = {p.relative_to(REPO).as_posix() for p in (probe / "resources").iterdir() if p.is_file()}
    return modules | resources


def test_every_module_folder_is_a_package():
    # find_packages only sees folders with an __init__.py: a folder without one is left out of the wheel
    folders = {p.parent for p in (REPO / "probe").rglob("*.py") if "__pycache__" not in p.parts}
    missing = sorted(str(f.relative_to(REPO)) for f in folders if not (f / "__init__.py").is_file())
    assert not missing, f"package folders without __init__.py (left out of a wheel): {missing}"


def test_the_wheel_holds_every_module_and_resource(tmp_path):
    # build from a copy, so that the build leaves nothing (build/, *.egg-info) in the checkout
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.py", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "probe", src / "probe", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    wheel, = (tmp_path / "dist").glob("probe-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(_source_files() - inside)
    assert not missing, f"files missing from the wheel: {missing}"
    assert any(n.endswith("entry_points.txt") for n in inside)
