"""Where an element is: one strategy, optionally inside (nested) same-origin frames.

Split from ``matf.spec`` (which re-exports it) so the step models and the
locator model each stay readable; it is the lowest layer above the errors.
A locator is data like the rest of a spec: strict, bounded, never code.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

MAX_FRAMES = 5  # frames inside frames a locator may go through
MAX_FRAME_SELECTOR = 300

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


FrameSelector = Annotated[str, StringConstraints(min_length=1, max_length=MAX_FRAME_SELECTOR)]


class Locator(_Strict):
    """Where an element is, by exactly one strategy; role+name first, css last.

    With ``frames``, the strategy searches the document of that (nested)
    iframe only. Exploration writes them for same-origin frames, the only
    ones it can read.
    """

    role: AriaRole | None = None
    name: str | None = Field(None, description="accessible name, used with role")
    label: str | None = None
    text: str | None = None
    test_id: str | None = None
    placeholder: str | None = None
    alt: str | None = None
    css: str | None = Field(None, description="last resort: CSS selector")
    exact: bool = True
    nth: int | None = Field(None, ge=0, description="pick one of several matches")
    frames: list[FrameSelector] | None = Field(
        None,
        min_length=1,
        max_length=MAX_FRAMES,
        description=(
            "inside iframes: a selector of each iframe element in its parent document, "
            'outermost first (e.g. ["iframe[title=\\"Payment\\"]"])'
        ),
    )

    @model_validator(mode="after")
    def _one_strategy(self) -> Locator:
        chosen = [
            key
            for key in ("role", "label", "text", "test_id", "placeholder", "alt", "css")
            if getattr(self, key) is not None
        ]
        if len(chosen) != 1:
            raise ValueError(
                "a locator needs exactly one of role, label, text, test_id, placeholder, alt, css"
            )
        if self.name is not None and self.role is None:
            raise ValueError("'name' only goes with 'role'")
        if any(not frame.strip() for frame in self.frames or ()):
            raise ValueError("a frame selector cannot be blank")
        return self

    def describe(self) -> str:
        """The locator as people read it: ``button 'Pay' in frame iframe[title="Payment"]``.

        Nested frames are joined by ``›``, outermost first.
        """
        where = f" in frame {' › '.join(self.frames)}" if self.frames else ""
        return self._strategy() + where

    def _strategy(self) -> str:
        if self.role is not None:
            return f"{self.role} {self.name!r}" if self.name is not None else self.role
        for key in ("label", "text", "test_id", "placeholder", "alt", "css"):
            value = getattr(self, key)
            if value is not None:
                return f"{key} {value!r}"
        return "element"  # unreachable: the validator demands one strategy
