"""What a run would cost on EC2: node-seconds by instance type, priced on demand and on spot."""

import tomllib
from pathlib import Path

from pydantic import BaseModel

PRICES = Path(__file__).with_name("ec2_prices.toml")


class InstancePrice(BaseModel):
    vcpus: int
    on_demand: float  # USD per hour
    spot: float


class PriceTable(BaseModel):
    read_on: str
    region: str
    instance_types: dict[str, InstancePrice]

    @classmethod
    def load(cls, path: Path = PRICES) -> "PriceTable":
        return cls.model_validate(tomllib.loads(path.read_text()))

    def equivalent(self, cpus: float) -> str:
        """The cheapest listed type with at least this many vCPUs (the largest if none has as many)."""
        fits = [(p.on_demand, name) for name, p in self.instance_types.items() if p.vcpus >= cpus]
        if not fits:
            return max(self.instance_types, key=lambda name: self.instance_types[name].vcpus)
        return min(fits)[1]


def estimate(node_seconds: dict[str, float], series: int, prices: PriceTable) -> dict:
    """The run's cost at on-demand and at spot prices, in total and per forecast series."""
    unknown = set(node_seconds) - set(prices.instance_types)
    if unknown:
        raise ValueError(f"no price for instance types {sorted(unknown)} in {PRICES.name}")

    def usd(market: str) -> float:
        return sum(s / 3600 * getattr(prices.instance_types[k], market) for k, s in node_seconds.items())

    out = {
        "prices_read_on": prices.read_on,
        "region": prices.region,
        "node_seconds": {k: round(s, 1) for k, s in sorted(node_seconds.items())},
    }
    for market in ("on_demand", "spot"):
        total = usd(market)
        out[f"{market}_usd"] = round(total, 6)
        out[f"{market}_usd_per_series"] = round(total / series, 8) if series else None
    return out
