"""The ARIA roles a spec's locator may name.

Kept apart from the spec models: a long list of names, read by the spec's
``Locator`` and by the prompts that tell a model which roles it may write.
"""

from __future__ import annotations

from typing import Literal

AriaRole = Literal[
    "alert",
    "article",
    "banner",
    "button",
    "cell",
    "checkbox",
    "combobox",
    "complementary",
    "contentinfo",
    "dialog",
    "form",
    "grid",
    "heading",
    "img",
    "link",
    "list",
    "listbox",
    "listitem",
    "main",
    "menu",
    "menuitem",
    "navigation",
    "option",
    "progressbar",
    "radio",
    "region",
    "row",
    "search",
    "searchbox",
    "slider",
    "spinbutton",
    "status",
    "switch",
    "tab",
    "table",
    "tablist",
    "tabpanel",
    "textbox",
    "tooltip",
]
