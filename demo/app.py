"""The Acme Outfitters demo shop, a Flask app with switchable seeded bugs.

``create_app(bugs=True)`` serves the bugs listed in :mod:`demo.bugs`;
``create_app(bugs=False)`` serves a clean site MATF must find nothing wrong
with. Every bug is decided here, in :mod:`demo.api` or in a template
guarded by ``bugs``, so the two modes differ only where the bug list says they
do.

The site also has a *version* (``create_app(version=2)``), read from
``app.config["MATF_DEMO_VERSION"]`` on every request so a running server can
switch it (``DemoServer.set_version``). With bugs seeded, version 2 restyles
the about page (seeded bug "visual-change"); without bugs every version looks
the same.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

from flask import (
    Flask,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask.typing import ResponseReturnValue

from demo import forms
from demo.account import LOGIN_PATH, make_account_blueprint
from demo.api import OPENAPI_PATH, make_api_blueprint
from demo.backoffice import make_backoffice_blueprint
from demo.catalog import PRODUCTS, PRODUCTS_BY_SLUG, STATS, TEAM
from demo.lab import make_lab_blueprint

STATIC_DIR = Path(__file__).parent / "static"
BROKEN_IMAGE_SLUG = "camp-stove"
THROWING_BUTTON_SLUG = "trail-pack"
ERROR_ON_LOAD_SLUG = "summit-jacket"
SLOW_PAGE_DELAY_S: Final = 1.0  # seeded bug "slow-page": TTFB over the 800 ms budget
VERSIONS: Final = (1, 2)  # the site versions; 2 restyles /about when bugs are seeded
VERSION_KEY: Final = "MATF_DEMO_VERSION"


def check_version(version: int) -> int:
    """``version`` if it is one of :data:`VERSIONS`, else ``ValueError``."""
    if not isinstance(version, int) or isinstance(version, bool) or version not in VERSIONS:
        raise ValueError(f"demo site version must be one of {VERSIONS}, not {version!r}")
    return version


def create_app(bugs: bool = True, version: int = 1) -> Flask:
    """Build the demo site; ``bugs=False`` serves it without seeded bugs.

    ``version`` (1 or 2) lands in ``app.config["MATF_DEMO_VERSION"]`` and is
    read per request, so changing it there changes the running site.
    """
    app = Flask(__name__)
    app.config["MATF_DEMO_BUGS"] = bugs
    app.config[VERSION_KEY] = check_version(version)
    app.register_blueprint(make_lab_blueprint())
    app.register_blueprint(make_api_blueprint(bugs))
    app.register_blueprint(make_backoffice_blueprint(bugs))
    app.register_blueprint(make_account_blueprint(bugs))

    @app.context_processor
    def _globals() -> dict[str, object]:
        return {"bugs": bugs, "nav": _NAV, "footer_nav": _FOOTER_NAV, "openapi_url": OPENAPI_PATH}

    _add_shop_pages(app, bugs)
    _add_company_pages(app, bugs)
    _add_forms(app, bugs)
    _add_dashboard(app, bugs)
    _add_error_pages(app)
    return app


def _add_shop_pages(app: Flask, bugs: bool) -> None:
    """The favicon, the home page, the catalogue and its product pages."""

    @app.get("/favicon.ico")
    def favicon() -> ResponseReturnValue:
        """Answer the browser's automatic favicon request so it never 404s."""
        return send_from_directory(STATIC_DIR / "img", "favicon.svg", mimetype="image/svg+xml")

    @app.get("/")
    def home() -> ResponseReturnValue:
        return render_template("home.html", products=PRODUCTS)

    @app.get("/products")
    def products() -> ResponseReturnValue:
        cards = [(p, _card_image(p.slug, p.image, bugs)) for p in PRODUCTS]
        return render_template("products.html", cards=cards)

    @app.get("/products/<slug>")
    def product(slug: str) -> ResponseReturnValue:
        item = PRODUCTS_BY_SLUG.get(slug)
        if item is None:
            abort(404)
        return render_template(
            "product.html",
            product=item,
            stock_bug=bugs and slug == THROWING_BUTTON_SLUG,
            size_bug=bugs and slug == ERROR_ON_LOAD_SLUG,
            has_size_guide=slug == ERROR_ON_LOAD_SLUG,
        )


def _add_company_pages(app: Flask, bugs: bool) -> None:
    """About, the store locator, the journal and (healthy only) careers."""

    @app.get("/about")
    def about() -> ResponseReturnValue:
        # Seeded bug "visual-change": version 2 restyles this page.
        redesign = bugs and current_app.config[VERSION_KEY] >= 2
        return render_template("about.html", team=TEAM, redesign=redesign)

    @app.get("/stores")
    def stores() -> ResponseReturnValue:
        if bugs:  # seeded bug "slow-page" (its busy loop is in static/stores-busy.js)
            time.sleep(SLOW_PAGE_DELAY_S)
        return render_template("stores.html")

    @app.get("/journal")
    def journal() -> ResponseReturnValue:
        return render_template("journal.html")

    if not bugs:  # seeded bug "broken-link": the footer links /careers either way

        @app.get("/careers")
        def careers() -> ResponseReturnValue:
            return render_template("careers.html")


def _add_forms(app: Flask, bugs: bool) -> None:
    """The contact form (a 500 on submit with bugs seeded) and the newsletter form."""

    @app.route("/contact", methods=["GET", "POST"])
    def contact() -> ResponseReturnValue:
        if request.method == "GET":
            return _contact_form({}, [])
        if bugs:
            return render_template(
                "error.html",
                title="Something went wrong",
                message="We could not send your message because of a server error.",
            ), 500
        errors = forms.validate_contact(request.form)
        if errors:
            return _contact_form(request.form, errors, 400)
        return render_template(
            "thanks.html",
            name=request.form["name"].strip(),
            detail="We received your message and will reply within two business days.",
        )

    @app.route("/newsletter", methods=["GET", "POST"])
    def newsletter() -> ResponseReturnValue:
        if request.method == "GET":
            return _newsletter_form({}, [])
        errors = forms.validate_newsletter(request.form)
        if errors:
            return _newsletter_form(request.form, errors, 400)
        frequency = forms.FREQUENCIES[request.form["frequency"]].lower()
        return render_template(
            "thanks.html",
            name=request.form["name"].strip(),
            detail=f"You are subscribed. Look out for our {frequency} newsletter.",
        )


def _add_dashboard(app: Flask, bugs: bool) -> None:
    """The dashboard and its undocumented feed, which fails with bugs seeded."""

    @app.get("/dashboard")
    def dashboard() -> ResponseReturnValue:
        return render_template("dashboard.html")

    @app.get("/api/stats")
    def api_stats() -> ResponseReturnValue:
        if bugs:
            return jsonify(error="stats backend unavailable"), 500
        return jsonify(stats=[{"label": k, "value": v} for k, v in STATS.items()])


def _add_error_pages(app: Flask) -> None:
    """The site's own 404 page."""

    @app.errorhandler(404)
    def not_found(_error: Exception) -> ResponseReturnValue:
        return render_template(
            "error.html",
            title="Page not found",
            message="The page you asked for does not exist.",
        ), 404


_NAV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Home", "/", ("home",)),
    ("Products", "/products", ("products", "product")),
    ("About", "/about", ("about",)),
    ("Contact", "/contact", ("contact",)),
    ("Newsletter", "/newsletter", ("newsletter",)),
    ("Dashboard", "/dashboard", ("dashboard",)),
    ("Back office", "/app", ("backoffice.shell",)),
    ("Sign in", LOGIN_PATH, ("account.login",)),
)

# (label, href); "Careers" is the seeded "broken-link" when bugs are on.
_FOOTER_NAV: tuple[tuple[str, str], ...] = (
    ("Careers", "/careers"),
    ("Contact", "/contact"),
    ("Newsletter", "/newsletter"),
    ("Store locator", "/stores"),
    ("Journal", "/journal"),
)


def _card_image(slug: str, image: str, bugs: bool) -> str:
    """The product-card image URL; the seeded broken image points at a missing PNG."""
    if bugs and slug == BROKEN_IMAGE_SLUG:
        image = image.removesuffix(".svg") + ".png"
    return url_for("static", filename=f"img/{image}")


def _contact_form(values: object, errors: list[str], status: int = 200) -> ResponseReturnValue:
    return render_template(
        "contact.html",
        values=values,
        errors=errors,
        topics=forms.TOPICS,
        methods=forms.CONTACT_METHODS,
        phone_pattern=forms.PHONE_PATTERN,
        limits=(forms.ORDER_MIN, forms.ORDER_MAX, forms.MESSAGE_MIN, forms.MESSAGE_MAX),
    ), status


def _newsletter_form(values: object, errors: list[str], status: int = 200) -> ResponseReturnValue:
    return render_template(
        "newsletter.html",
        values=values,
        errors=errors,
        frequencies=forms.FREQUENCIES,
        interests=forms.INTERESTS,
    ), status
