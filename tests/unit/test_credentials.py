"""Forwarding a run's credentials to the workers of a Ray cluster it joins is off unless the run asks for it (what
the workers then see is tested against a real Ray in tests/slice/test_ray_credentials.py)."""

from typer.testing import CliRunner

from app import cli
from manymodels.settings import ComputeSpec


def test_forwarding_is_off_unless_the_run_asks_for_it(monkeypatch):
    assert ComputeSpec().forward_credentials is False
    assert "instance profile" in ComputeSpec.model_fields["forward_credentials"].description
    specs = []
    monkeypatch.setattr(cli, "execute", specs.append)
    args = ["run", "--data", "s.csv", "--id-cols", "a", "--time-col", "t", "--target-col", "y", "--output", "o"]
    for extra in ([], ["--forward-credentials"]):
        result = CliRunner().invoke(cli.app, args + extra)
        assert result.exit_code == 0, result.output
    assert [spec.compute.forward_credentials for spec in specs] == [False, True]
