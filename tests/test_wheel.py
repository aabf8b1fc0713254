"""The wheel, installed into a fresh virtualenv, runs `vtl` from an empty directory: configs and sweep files come
from the installed package, not from a checkout. The new venv has no pip and no network: vtl's dependencies are
reached through a .pth line naming this environment's site-packages (whose own .pth files, such as an editable
install of vtl, are not run), and pip of this environment installs the wheel with --no-deps."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp / "dist"), str(ROOT)], check=True, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("vtl-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "-q", str(wheel)], check=True, env=clean, cwd=tmp)
    # after the install: pip would otherwise see this environment's (editable) vtl and skip the wheel
    (Path(site) / "shared_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    empty = tmp / "empty"
    empty.mkdir()
    env = dict(clean)
    env.update(VTL_HOME=str(tmp / "home"), OMP_NUM_THREADS="1", PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    return venv / "bin" / "vtl", empty, env


def _run(installed, *args, timeout=120):
    vtl, cwd, env = installed
    return subprocess.run([str(vtl), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_installed_vtl_is_the_wheel_and_finds_its_configs(installed):
    vtl, cwd, env = installed
    where = subprocess.run([str(vtl.parent / "python"), "-c", "import vtl; print(vtl.__file__)"], cwd=cwd, env=env,
                           capture_output=True, text=True, check=True).stdout
    assert str(ROOT) not in where and "site-packages" in where
    done = _run(installed, "demo", "--help")
    assert done.returncode == 0 and "--sources" in done.stdout, done.stderr
    done = _run(installed, "config", "show", "sweeps/demo_tiny")
    assert done.returncode == 0 and "source_task" in done.stdout, done.stderr


@pytest.mark.slow
def test_one_source_demo_from_an_empty_directory(installed):
    done = _run(installed, "demo", "--quick", "--sources", "Counting", "--max-epochs", "1", "--out", "runs/demo",
                timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "[3/3] transfer analysis of 1 run(s)" in done.stdout
    assert (installed[1] / "runs" / "demo" / "analysis" / "summary.json").is_file()
