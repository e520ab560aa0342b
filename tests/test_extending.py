"""A plugin (tests/toy_plugin.py) adds a proxy, a method and a device; the command line and the workflow use them.

Plugins change the global registries, so every test here runs them in a child process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "HWEVRSNAS_PLUGINS": "toy_plugin"}
HWEVRSNAS = Path(sys.executable).with_name("hwevrsnas")


def hwevrsnas(*args: str, env: dict = ENV) -> subprocess.CompletedProcess:
    return subprocess.run([str(HWEVRSNAS), *args], capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def plugin_tables(mirror: Path, tmp_path_factory) -> Path:
    """Tables built with the plugin loaded: they hold its device's column."""
    out = tmp_path_factory.mktemp("plugin_tables")
    proc = hwevrsnas("tables", "build", "--sources", str(mirror), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


def test_a_plugin_method_with_a_plugin_proxy_runs_through_the_search_command(plugin_tables: Path, tmp_path: Path):
    out = tmp_path / "run.json"
    proc = hwevrsnas("search", "--tables", str(plugin_tables), "--device", "fpga", "--quantile", "0.5",
                     "--method", "toy-hill-climb", "--budget", "40", "--cache", "", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["method"] == "toy-hill-climb" and record["unique_evaluations"] == 40
    assert record["evaluator"]["identity"]["kind"] == "toy" and record["feasible"] is True
    assert set(record["ga_config"]) == {"budget", "population", "generations", "elites", "lam", "penalty"}
    # Without the plugin the method is unknown, and the error lists the registered ones.
    plain = {key: value for key, value in ENV.items() if key != "HWEVRSNAS_PLUGINS"}
    proc = hwevrsnas("search", "--tables", str(plugin_tables), "--device", "fpga", "--quantile", "0.5",
                     "--method", "toy-hill-climb", "--out", str(tmp_path / "x.json"), env=plain)  # fmt: skip
    assert proc.returncode == 2 and "unknown method 'toy-hill-climb'; valid methods: hw-evrsnas" in proc.stderr


def test_a_plugin_device_is_a_cost_column(plugin_tables: Path, tmp_path: Path):
    out = tmp_path / "oracle.json"
    proc = hwevrsnas("search", "--tables", str(plugin_tables), "--device", "toydev", "--quantile", "0.3",
                     "--method", "oracle", "--out", str(out))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    from hwevrsnas.spaces import nb201

    assert record["cost"] == pytest.approx(float(nb201.params_mb(nb201.arch_to_ops(record["arch"]))))
    assert record["cost"] <= record["threshold"] and record["regret"] == 0.0


@pytest.mark.slow
def test_a_plugin_runs_through_a_tiny_workflow(mirror: Path, tmp_path: Path):
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed")
    config = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    config.update(plugins=["toy_plugin"], methods=["toy-hill-climb", "oracle"])
    config["grid"][0]["devices"] = ["fpga", "toydev"]
    config["search"]["overrides"] = {"toy-hill-climb": {"budget": 12}}
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests"), "HWEVRSNAS_MIRROR": str(mirror)}
    env.pop("HWEVRSNAS_PLUGINS", None)
    proc = subprocess.run(
        [str(snakemake), "--snakefile", str(REPO / "Snakefile"), "--directory", str(tmp_path), "--cores", "2",
         "--configfile", str(path)], capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
    run = json.loads((tmp_path / "results/runs/nb201/cifar10/toydev_latency/q0.5/toy-hill-climb/seed0.json").read_text())
    assert run["unique_evaluations"] == 12 and run["feasible"] is True
    assert (tmp_path / "results/tables/main.csv").read_text().count("toy-hill-climb") == 2
