"""Default figures of the network between sites, with their sources.

A fleet file may leave a link out, or leave out a link's latency, bandwidth, price or transfer
energy; the defaults come from published figures, by the continents (or the metro) of its two
ends:

* round-trip latency and throughput between continents: Persico et al., "A First Look at
  Public-Cloud Inter-Datacenter Network Performance", IEEE GLOBECOM 2016, figures 3 and 6
  (AWS column; as reproduced in ``../shared/data/README.md``);
* price per GB: the inter-region data-transfer price matrix of AWS
  (``../shared/data/network/aws_transmission_cost_usd_per_gb.csv``, from HewlettPackard/
  sustain-cluster, MIT): 0.02 USD/GB out of North America and Europe (us-east-1,
  eu-central-1 rows), 0.09 out of Asia-Pacific (ap-northeast-1), 0.138 out of South America
  (sa-east-1), 0.01 between two regions of one metro area (us-east-1 → us-east-2);
* inside one metro: 1–5 ms round trips are typical (``../shared/data/README.md``); the
  upper 5 ms is taken, and a 10 Gbit/s metro link is assumed (stated, not sourced);
* transfer energy: 0.06 kWh/GB, the electricity intensity of Internet data transmission for
  2015 of Aslan, Mayers, Koomey and France, "Electricity Intensity of Internet Data
  Transmission: Untangling the Estimates", Journal of Industrial Ecology 22(4), 2018
  (the figure halves about every two years, so it is an upper bound today).

Two sites on different continents need no link in the file; two sites of the same continent
in different metros do (no published default fits every distance).
"""

from __future__ import annotations

from dataclasses import dataclass

CONTINENTS = ("north-america", "europe", "asia-pacific", "south-america")
"""Continents the defaults know."""

TRANSFER_ENERGY_KWH_PER_GB = 0.06
"""Energy of moving one GB across the Internet [kWh/GB] (Aslan et al. 2018, the 2015 value)."""

METRO_LATENCY_MS = 5.0
"""Round trip between two sites of one metro [ms] (upper end of 1–5 ms)."""

METRO_BANDWIDTH_GBPS = 10.0
"""Bandwidth assumed between two sites of one metro [Gbit/s] (an assumption)."""

METRO_PRICE_PER_GB = 0.01
"""Price of a GB between two sites of one metro [USD/GB] (AWS us-east-1 → us-east-2)."""

_PRICE_OUT_OF = {
    "north-america": 0.02,
    "europe": 0.02,
    "asia-pacific": 0.09,
    "south-america": 0.138,
}
"""USD per GB leaving a continent for another region (AWS matrix rows)."""

_PAIRS = {
    frozenset({"north-america", "europe"}): (70.0, 0.160),
    frozenset({"north-america", "south-america"}): (120.0, 0.095),
    frozenset({"north-america", "asia-pacific"}): (240.0, 0.050),
    frozenset({"europe", "asia-pacific"}): (190.0, 0.050),
}
"""Between continents: round trip [ms] and per-flow throughput [Gbit/s] (Persico et al.,
AWS)."""


@dataclass(frozen=True)
class LinkDefaults:
    """Default figures of one link.

    Attributes
    ----------
    latency
        Round-trip time [ms].
    bandwidth
        Usable bandwidth in each direction [Gbit/s].
    price_forward, price_backward
        Price of a GB from the first end to the second, and back [USD/GB].
    source
        Where the figures come from, in words.
    """

    latency: float
    bandwidth: float
    price_forward: float
    price_backward: float
    source: str


def link_defaults(
    first: tuple[str | None, str | None], second: tuple[str | None, str | None]
) -> LinkDefaults | None:
    """Default figures between two sites given as (metro, continent), None when unknown.

    Parameters
    ----------
    first, second
        Metro and continent of each end (either may be None).

    Returns
    -------
    LinkDefaults or None
        Metro figures when both sites share a metro; Persico et al. and AWS prices when their
        continents differ and both are known; None otherwise (the link must be given).
    """
    (metro_a, continent_a), (metro_b, continent_b) = first, second
    if metro_a is not None and metro_a == metro_b:
        return LinkDefaults(
            METRO_LATENCY_MS,
            METRO_BANDWIDTH_GBPS,
            METRO_PRICE_PER_GB,
            METRO_PRICE_PER_GB,
            "same metro: 5 ms, 10 Gbit/s assumed, AWS intra-metro price",
        )
    if continent_a is None or continent_b is None or continent_a == continent_b:
        return None
    pair = _PAIRS.get(frozenset({continent_a, continent_b}))
    if pair is None:
        return None
    return LinkDefaults(
        pair[0],
        pair[1],
        _PRICE_OUT_OF[continent_a],
        _PRICE_OUT_OF[continent_b],
        "Persico et al. 2016 (AWS RTT and per-flow throughput), AWS inter-region price",
    )
