"""One spec -> one test function: the code of its steps, and what that code needs.

A ``TestWriter`` renders a spec's test function and records what its module
must add: the helpers it calls, the names to import, the secrets it reads from
the environment, and the steps that stay in MATF (the test skips itself at the
end instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

from matf import spec as s
from matf.browser.steps import describe
from matf.export.literals import (
    WIDTH,
    comment,
    data,
    docstring,
    flat_data,
    literal,
    secret_string,
)
from matf.export.origins import origin_url, same_origin

# The list each "no errors" check reads, in the order the test sets them up, and what it names.
_WATCHED: dict[type, str] = {
    s.ExpectNoConsoleErrors: "console_errors",
    s.ExpectNoPageErrors: "page_errors",
    s.ExpectNoFailedRequests: "failed_requests",
    s.ExpectNoServerErrors: "server_errors",
}
_WHAT = {
    "console_errors": "console error",
    "page_errors": "uncaught page error",
    "failed_requests": "failed request",
    "server_errors": "server error",
}
_SINCE = (
    s.ExpectNoConsoleErrors,
    s.ExpectNoPageErrors,
    s.ExpectNoFailedRequests,
    s.ExpectNoServerErrors,
)


@dataclass
class TestWriter:
    """Renders one spec as a test function; collects what its module must provide."""

    __test__ = False  # not a pytest test class, whatever its name

    spec: s.TestSpec
    base: str
    name: str
    helpers: set[str] = field(default_factory=set)
    imports: set[str] = field(default_factory=set)
    secret_vars: set[str] = field(default_factory=set)
    skip_reasons: list[str] = field(default_factory=list)
    needs_base_url: bool = False

    def render(self) -> str:
        """The test function's code, decorator and docstring included."""
        steps = self.spec.steps
        body: list[str] = []
        body.extend(self._watchers())
        for number, step in enumerate(steps, 1):
            body.extend(self._step(number, step))
        if self.skip_reasons:
            self.imports.add("pytest")
            verb = "runs" if len(self.skip_reasons) == 1 else "run"
            reason = f"{' and '.join(self.skip_reasons)} {verb} in MATF ('matf run')"
            body.append(f"pytest.skip({literal(reason)})")
        params = "page: Page, base_url: str" if self.needs_base_url else "page: Page"
        lines: list[str] = []
        if self.spec.viewport is not None:
            self.imports.add("pytest")
            size = self.spec.viewport
            lines.append(
                "@pytest.mark.browser_context_args("
                f'viewport={{"width": {size.width}, "height": {size.height}}})'
            )
        lines.append(f"def {self.name}({params}) -> None:")
        lines.append(f"    {docstring(self.spec.name)}")
        lines.append(
            "    "
            + comment(
                f"# MATF spec {self.spec.id} ({self.spec.kind}, {self.spec.category})"
                + (f", tags: {', '.join(self.spec.tags)}" if self.spec.tags else "")
            )
        )
        lines.extend("    " + line if line else "" for code in body for line in code.split("\n"))
        return "\n".join(lines)

    # -- listeners, set up before the first step, only those the spec reads

    def _watchers(self) -> list[str]:
        actions = {step.action for step in self.spec.steps}
        lines: list[str] = []
        if "expect_no_console_errors" in actions:
            self.helpers.add("watch_console_errors")
            lines.append("console_errors = watch_console_errors(page)")
        if "expect_no_page_errors" in actions:
            self.helpers.add("watch_page_errors")
            lines.append("page_errors = watch_page_errors(page)")
        if "expect_no_failed_requests" in actions:
            self.helpers.add("watch_failed_requests")
            answers = self._answers()
            extra = f", answers={answers!r}" if answers else ""  # ints only
            lines.append(f"failed_requests = watch_failed_requests(page, {self._origin()}{extra})")
        if "expect_no_server_errors" in actions:
            self.helpers.add("watch_failed_requests")
            lines.append(
                f"server_errors = watch_failed_requests(page, {self._origin()}, min_status=500)"
            )
        lines += [
            f"{name}_mark = 0  # {name} seen before the last action" for name in self._marked()
        ]
        return lines

    def _answers(self) -> tuple[int, ...]:
        """4xx statuses every failed-request check of the spec counts as answers (one watcher)."""
        sets = [
            set(step.answers)
            for step in self.spec.steps
            if isinstance(step, s.ExpectNoFailedRequests)
        ]
        return tuple(sorted(set.intersection(*sets))) if sets else ()

    def _marked(self) -> list[str]:
        """The lists a check reads "since the last action", in a fixed order."""
        marked = {
            _WATCHED[type(step)]
            for step in self.spec.steps
            if isinstance(step, _SINCE) and step.since_last_action
        }
        return [name for name in _WATCHED.values() if name in marked]

    def _origin(self) -> str:
        if same_origin(self.spec.url, self.base):
            self.needs_base_url = True
            return "base_url"
        return literal(origin_url(self.spec.url))

    # -- steps

    def _step(self, number: int, step: s.Step) -> list[str]:
        lines = self._code(step)
        if isinstance(step, s.Click | s.Press | s.Submit):
            if any(isinstance(other, s.ExpectChange) for other in self.spec.steps):
                self.helpers.add("fingerprint")
                lines.insert(0, "shown = fingerprint(page)  # what the page showed before acting")
            lines[:0] = [f"{name}_mark = len({name})" for name in self._marked()]
        if isinstance(step, s.ApiRequest | s.CheckAccessibility | s.WaitFor | s.ExpectContent):
            lines.insert(0, comment(f"# step {number}: {describe(step)}"))
        return lines

    def _code(self, step: s.Step) -> list[str]:
        """The lines of one step's code."""
        if isinstance(step, s.ApiRequest):
            return self._api_request(step)
        code = self._action(step)
        return code if code is not None else self._check(step)

    def _action(self, step: s.Step) -> list[str] | None:
        """The code of a step that acts on the page; None for other steps."""
        match step:
            case s.Goto():
                self.helpers.add("goto")
                args = [self._url(step.url)]
                if step.expect_status != "2xx":
                    expected = step.expect_status
                    args.append(f"status={literal(expected) if expected else None}")
                if step.wait_until != "load":
                    args.append(f"wait_until={literal(step.wait_until)}")
                return [f"goto(page, {', '.join(args)})"]
            case s.Click():
                return [f"{self._locator(step.target)}.click()"]
            case s.Fill():
                return [f"{self._locator(step.target)}.fill({self._secret_value(step.value)})"]
            case s.Select():
                value = self._secret_value(step.value)
                return [f"{self._locator(step.target)}.select_option({value})"]
            case s.Check():
                return [f"{self._locator(step.target)}.check()"]
            case s.Press():
                return [f"{self._locator(step.target)}.press({literal(step.key)})"]
            case s.Submit():
                self.helpers.add("submit")
                return [f"submit(page, {self._locator(step.target)})"]
            case s.WaitFor():
                return [f'{self._locator(step.target)}.wait_for(state="visible")']
        return None

    def _check(self, step: s.Step) -> list[str]:
        """The code of a step that checks the page, or leaves the check to MATF."""
        match step:
            case s.ExpectVisible():
                self._expect()
                return [f"expect({self._locator(step.target)}).to_be_visible()"]
            case s.ExpectText():
                self._expect()
                target = self._locator(step.target)
                return [f"expect({target}).to_contain_text({literal(step.text)})"]
            case s.ExpectUrl():
                self._expect()
                return [f"expect(page).to_have_url({self._expected_url(step)})"]
            case s.ExpectTitle():
                self._expect()
                title = literal(step.title)
                if step.contains:
                    self.imports.add("re")
                    title = f"re.compile(re.escape({title}))"
                return [f"expect(page).to_have_title({title})"]
            case s.ExpectStatus():
                self.helpers.add("expect_status")
                args = [self._url(step.url)]
                if step.status != "2xx":
                    args.append(literal(step.status))
                if step.content_type is not None:
                    args.append(f"content_type={literal(step.content_type)}")
                if not step.follow_redirects:
                    args.append("follow=False")
                return [f"expect_status(page, {', '.join(args)})"]
            case (
                s.ExpectNoConsoleErrors()
                | s.ExpectNoPageErrors()
                | s.ExpectNoFailedRequests()
                | s.ExpectNoServerErrors()
            ):
                self.helpers.add("assert_none")
                name = _WATCHED[type(step)]
                since = f", since={name}_mark" if step.since_last_action else ""
                return [f'assert_none(page, {name}, "{_WHAT[name]}"{since})']
            case s.ExpectChange():
                self.helpers.add("expect_change")
                return ["expect_change(page, shown)"]
            case s.ExpectContent():
                return [
                    'assert page.locator("body").inner_text().strip(), '
                    'f"{page.url} shows no visible text"'
                ]
            case s.CheckAccessibility():
                self.helpers.add("check_accessibility")
                floor = "" if step.min_impact == "minor" else f", {literal(step.min_impact)}"
                return [f"check_accessibility(page{floor})"]
            case s.CheckPerformance():
                self.skip_reasons.append("check_performance")
                return ["# performance budgets: measured in MATF (skipped at the end of this test)"]
            case s.CheckVisual():
                self.skip_reasons.append(f"check_visual {step.name!r}")
                return [
                    comment(
                        f"# visual baseline {step.name!r}: compared in MATF"
                        " (skipped at the end of this test)"
                    )
                ]
        raise TypeError(f"no export for step {step!r}")  # pragma: no cover - union is closed

    def _expect(self) -> None:
        self.imports.add("expect")

    def _secret_value(self, text: str) -> str:
        found: set[str] = set()
        code = secret_string(text, found)
        if found:
            self.helpers.add("secret")
            self.secret_vars.update(found)
        return code

    def _url(self, url: str) -> str:
        """A URL step argument: a path on the site under test, or an absolute URL elsewhere."""
        absolute = urljoin(self.spec.url, url)
        if same_origin(absolute, self.base) and absolute.startswith(("http:", "https:")):
            parts = urlsplit(absolute)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            return literal(path + (f"#{parts.fragment}" if parts.fragment else ""))
        return literal(absolute)

    def _expected_url(self, step: s.ExpectUrl) -> str:
        if not step.contains:
            return self._url(step.url)
        self.imports.add("re")
        if step.url.startswith(self.base) and same_origin(step.url, self.base):
            self.needs_base_url = True
            rest = literal(step.url[len(self.base) :])
            return f're.compile(re.escape(base_url.rstrip("/") + {rest}))'
        return f"re.compile(re.escape({literal(step.url)}))"

    def _locator(self, target: s.Locator) -> str:
        exact = ", exact=True" if target.exact else ""
        if target.role is not None:
            if target.name is not None:
                found = (
                    f"page.get_by_role({literal(target.role)}, name={literal(target.name)}{exact})"
                )
            else:
                found = f"page.get_by_role({literal(target.role)})"
        elif target.label is not None:
            found = f"page.get_by_label({literal(target.label)}{exact})"
        elif target.text is not None:
            found = f"page.get_by_text({literal(target.text)}{exact})"
        elif target.test_id is not None:
            found = f"page.get_by_test_id({literal(target.test_id)})"
        elif target.placeholder is not None:
            found = f"page.get_by_placeholder({literal(target.placeholder)}{exact})"
        elif target.alt is not None:
            found = f"page.get_by_alt_text({literal(target.alt)}{exact})"
        else:
            assert target.css is not None  # the spec validator demands one strategy
            found = f"page.locator({literal(target.css)})"
        for frame in reversed(target.frames or ()):  # innermost last: page.frame_locator(a)...
            found = f"{found[:4]}.frame_locator({literal(frame)}){found[4:]}"
        # MATF acts on the first match (or the nth), never failing on several.
        return f"{found}.nth({int(target.nth)})" if target.nth is not None else f"{found}.first"

    def _api_request(self, step: s.ApiRequest) -> list[str]:
        self.helpers.add("api_request")
        found: set[str] = set()
        checks_body = step.json_schema is not None or bool(step.expect_json)
        head = "response = " if checks_body else ""
        call = f"api_request(page, {', '.join(self._api_args(step, found, None))})"
        if 4 + len(head) + len(call) > WIDTH:
            args = ["page", *self._api_args(step, found, 4)]
            call = "api_request(\n" + "".join(f"    {a},\n" for a in args) + ")"
        if found:
            self.helpers.add("secret")
            self.secret_vars.update(found)
        lines = [head + call]
        if not checks_body:
            return lines
        lines.append("document = response.json()")
        if step.json_schema is not None:
            self.helpers.add("assert_schema")
            schema = data(step.json_schema, 0, None, 4 + len("assert_schema(document, "))
            if "\n" in schema:  # a long schema gets a name, as a formatter would lay it out
                lines.append(f"schema = {schema}")
                schema = "schema"
            lines.append(f"assert_schema(document, {schema})")
        for expectation in step.expect_json:
            self.helpers.add("assert_json")
            pointer = literal(expectation.pointer)
            extra = ""
            if not expectation.exists:
                extra = ", exists=False"
            elif expectation.equals is not None:
                used = 4 + len(f"assert_json(document, {pointer}, equals=")
                expected = data(expectation.equals, 0, None, used)
                if "\n" in expected:
                    lines.append(f"expected = {expected}")
                    expected = "expected"
                extra = f", equals={expected}"
            lines.append(f"assert_json(document, {pointer}{extra})")
        return lines

    def _api_args(self, step: s.ApiRequest, found: set[str], indent: int | None) -> list[str]:
        """The arguments after ``page``; ``indent``: one per line at that indent, else flat."""

        def value(name: str, content: Any) -> str:
            if indent is None:
                return f"{name}={flat_data(content, found)}"
            return f"{name}={data(content, indent, found, 8 + len(name) + 1)}"

        args = [literal(step.method), self._url(step.url)]
        if step.headers:
            args.append(value("headers", step.headers))
        if step.body is not None:
            args.append(value("body", step.body))
        if step.expect_status != "2xx":
            expected = step.expect_status
            shown = literal(expected) if isinstance(expected, str) else repr(expected)
            args.append(f"status={shown}")
        if step.content_type is not None:
            args.append(f"content_type={literal(step.content_type)}")
        if step.max_time_ms is not None:
            args.append(f"max_time_ms={int(step.max_time_ms)}")
        return args
