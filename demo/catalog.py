"""The demo shop's fixed content: products, team and dashboard numbers.

Plain data keeps the Flask views short and lets tests name real slugs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Product:
    """One item in the catalogue."""

    slug: str
    name: str
    price: str
    image: str
    summary: str
    details: tuple[str, ...]


PRODUCTS: Final[tuple[Product, ...]] = (
    Product(
        slug="trail-pack",
        name="Trail Pack 28L",
        price="$89.00",
        image="trail-pack.svg",
        summary="A light day pack with a breathable back panel and a rain cover.",
        details=("Capacity: 28 litres", "Weight: 890 g", "Fabric: recycled ripstop nylon"),
    ),
    Product(
        slug="summit-jacket",
        name="Summit Shell Jacket",
        price="$149.00",
        image="summit-jacket.svg",
        summary="A waterproof, windproof shell that packs into its own pocket.",
        details=("Waterproof rating: 20,000 mm", "Weight: 340 g", "Sizes: XS to XXL"),
    ),
    Product(
        slug="camp-stove",
        name="Camp Stove Mini",
        price="$54.00",
        image="camp-stove.svg",
        summary="A palm-sized gas stove that boils a litre of water in four minutes.",
        details=("Output: 2.6 kW", "Weight: 85 g", "Fuel: standard screw-on canister"),
    ),
)

PRODUCTS_BY_SLUG: Final[dict[str, Product]] = {p.slug: p for p in PRODUCTS}

TEAM: Final[tuple[tuple[str, str], ...]] = (
    ("Maya Lindqvist", "Founder and head of product"),
    ("Tomás Reyes", "Customer care"),
    ("Priya Natarajan", "Operations"),
)

STATS: Final[dict[str, str]] = {
    "Orders today": "42",
    "Revenue today": "$3,918",
    "Visitors": "1,274",
    "Conversion rate": "3.3%",
}


@dataclass(frozen=True)
class Store:
    """One shop on the store locator; ``phone`` is None where there is no phone."""

    slug: str
    name: str
    address: str
    city: str
    phone: str | None
    hours: str


STORES: Final[tuple[Store, ...]] = (
    Store(
        slug="portland",
        name="Acme Portland",
        address="12 Harbour Street",
        city="Portland",
        phone="555-0100",
        hours="Monday to Saturday, 9:00 to 18:00",
    ),
    Store(
        slug="bend",
        name="Acme Bend",
        address="4 Deschutes Lane",
        city="Bend",
        phone="555-0142",
        hours="Tuesday to Sunday, 10:00 to 17:00",
    ),
    Store(
        slug="trailhead-kiosk",
        name="Trailhead Kiosk",
        address="Timberline Trailhead car park",
        city="Government Camp",
        phone=None,
        hours="Weekends in summer, 8:00 to 14:00",
    ),
)
