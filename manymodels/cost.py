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


def estimate(
    node_seconds: dict[str, float], series: int, prices: PriceTable, vcpus: dict[str, float] | None = None
) -> dict:
    """The run's cost at on-demand and at spot prices, in total and per forecast series.

    A type missing from the price table never fails the run (the figure is an estimate, and the run's work is done
    by then): with its vCPUs known (vcpus), it is priced as the cheapest listed type with at least as many
    (`priced_as`); otherwise it is left out of the totals and listed under `unpriced` with its node-seconds.
    """
    priced: dict[str, str] = {}  # type seen -> listed type it is priced as
    priced_as: dict[str, str] = {}
    unpriced: dict[str, float] = {}
    for kind, seconds in sorted(node_seconds.items()):
        if kind in prices.instance_types:
            priced[kind] = kind
        elif (vcpus or {}).get(kind):
            priced[kind] = priced_as[kind] = prices.equivalent(max(vcpus[kind], 1))
        else:
            unpriced[kind] = round(seconds, 1)

    def usd(market: str) -> float:
        return sum(node_seconds[k] / 3600 * getattr(prices.instance_types[p], market) for k, p in priced.items())

    out = {
        "prices_read_on": prices.read_on,
        "region": prices.region,
        "node_seconds": {k: round(s, 1) for k, s in sorted(node_seconds.items())},
    }
    for market in ("on_demand", "spot"):
        total = usd(market)
        out[f"{market}_usd"] = round(total, 6)
        out[f"{market}_usd_per_series"] = round(total / series, 8) if series else None
    out["priced_as"] = priced_as
    out["unpriced"] = unpriced
    return out
