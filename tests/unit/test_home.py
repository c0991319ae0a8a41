"""One home per user: the local server's state, the demo and the local deployments' data and outputs live in
MANYMODELS_HOME, else the user's data folder, whatever folder a command runs in."""

import sys
from pathlib import Path

import platformdirs
import pytest
import yaml
from prefect.utilities.templating import apply_values
from typer.testing import CliRunner

from app import cli
from app.server.deployments import LOCAL_DEPLOYMENTS, deploy_settings
from manymodels.storage import local_home

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def user_data(tmp_path, monkeypatch) -> Path:
    """No MANYMODELS_HOME, and the user's data folder (XDG_DATA_HOME, on Linux) under tmp_path."""
    monkeypatch.delenv("MANYMODELS_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def test_the_home_is_the_users_data_folder_in_every_working_folder(user_data, tmp_path, monkeypatch):
    homes = set()
    for folder in ("project", "elsewhere"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        homes.add(local_home())
    assert homes == {Path(platformdirs.user_data_dir("manymodels", appauthor=False)).resolve()}
    if sys.platform == "linux":
        assert homes == {user_data / "manymodels"}


def test_manymodels_home_overrides_it_and_an_empty_one_does_not(user_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MANYMODELS_HOME", "mine")
    assert local_home() == tmp_path / "mine"
    monkeypatch.setenv("MANYMODELS_HOME", "")
    assert local_home() == Path(platformdirs.user_data_dir("manymodels", appauthor=False)).resolve()


def test_the_demo_writes_its_data_and_outputs_in_the_home(user_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    specs = []
    monkeypatch.setattr(cli, "execute", specs.append)
    result = CliRunner().invoke(cli.app, ["demo", "--series", "2"])
    assert result.exit_code == 0, result.output
    [spec] = specs
    assert spec.output == str(local_home() / "demo" / "run") and spec.data.url == cli.demo_data_url(2)
    assert Path(spec.data.url).is_file() and list(tmp_path.iterdir()) == [user_data]  # nothing in the working folder


@pytest.mark.parametrize("name", LOCAL_DEPLOYMENTS)
def test_the_local_deployments_read_the_demo_data_and_write_in_the_home(name, tmp_path, monkeypatch):
    monkeypatch.setenv("MANYMODELS_HOME", str(tmp_path / "home"))
    deployments = yaml.safe_load((ROOT / "deployments" / "prefect.yaml").read_text())["deployments"]
    deployment = next(d for d in deployments if d["name"] == name)
    deployed = apply_values(deployment, deploy_settings(ROOT), remove_notset=False)  # as `prefect deploy` does
    assert deployed["parameters"]["data"]["url"] == cli.demo_data_url()  # what `manymodels deploy` writes
    outputs = [deployed["parameters"]["output"], *(s["parameters"]["output"] for s in deployed.get("schedules", []))]
    assert all(output.startswith(f"{tmp_path / 'home'}/") for output in outputs)
