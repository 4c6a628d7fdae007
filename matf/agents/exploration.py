"""A run's exploration summary: pages read and not, URL templates sampled, tests dropped.

Every string in it came from the site (URLs, error texts, names), so each is
made one printable line of bounded length here, and each list is capped: a
site with thousands of broken pages still makes a small report.
"""

from __future__ import annotations

from matf.agents.explore import SiteMap
from matf.agents.specguard import Checked, one_line, shorten
from matf.reports.document import DroppedTest, Exploration, SampledTemplate, UnreadPage

MAX_LISTED = 100
MAX_URL = 500


def summarise(site: SiteMap, checked: Checked) -> Exploration:
    """What exploring ``site`` and writing its tests (``checked``) did, fit for a report."""
    unread = [
        UnreadPage(url=_text(url, MAX_URL), reason=_text(why)) for url, why in site.errors.items()
    ]
    templates = [
        SampledTemplate(
            template=_text(t.template, MAX_URL),
            sampled=[_text(url, MAX_URL) for url in t.sampled[:MAX_LISTED]],
            skipped=t.skipped,
        )
        for t in site.templates
    ]
    dropped = [
        DroppedTest(id=_text(d.id), name=_text(d.name), reason=_text(d.reason))
        for d in checked.dropped
    ]
    left_out = sum(max(0, len(items) - MAX_LISTED) for items in (unread, templates, dropped))
    return Exploration(
        pages=len(site.pages),
        states=len(site.states),
        unread=unread[:MAX_LISTED],
        templates=templates[:MAX_LISTED],
        dropped=dropped[:MAX_LISTED],
        merged=checked.merged,
        left_out=left_out,
    )


def _text(value: str, limit: int = 300) -> str:
    return shorten(one_line(value), limit)
