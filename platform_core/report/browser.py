"""Open a report in headless Chromium (Playwright driving the system's ``chromium``).

For the report's tests and the docs' screenshots: :func:`open_report` loads the page from
``file://`` in a fresh browser with networking features off, records every console
message, page error and failed request, and hands back the page.  Needs the ``playwright``
package (``dev`` extra) and a Chromium executable (Debian: ``apt-get install chromium``);
Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BrowserProblems", "chromium_path", "open_report", "select_drilldown", "CHROMIUM_ARGS"]

#: Headless, sandbox-free (containers run as root), and nothing that phones home.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync")


@dataclass
class BrowserProblems:
    """What went wrong while the page loaded and ran.

    Attributes:
        console_errors: console messages of type ``error`` or ``warning``.
        page_errors: uncaught JavaScript exceptions.
        failed_requests: URLs of requests that failed.
    """

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        """Anything at all went wrong."""
        return bool(self.console_errors or self.page_errors or self.failed_requests)


def chromium_path() -> str:
    """The Chromium executable: ``$ECHELON_CHROMIUM``, else ``chromium`` on ``PATH``.

    Raises:
        FileNotFoundError: no Chromium (the message says how to install it).
    """
    given = os.environ.get("ECHELON_CHROMIUM")
    found = given or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        raise FileNotFoundError("no chromium executable: install it (Debian: apt-get install chromium) "
                                "or set ECHELON_CHROMIUM to its path")
    return found


@contextmanager
def open_report(html: str | os.PathLike[str], width: int = 1280, height: int = 900) -> Iterator[tuple[Any, BrowserProblems]]:
    """The report at ``html`` loaded in headless Chromium: yields ``(page, problems)``.

    ``page`` is a Playwright ``Page`` (its API: screenshots, ``fill``, ``select_option``,
    ``inner_text``); ``problems`` fills in as the page runs.
    """
    from playwright.sync_api import sync_playwright

    problems = BrowserProblems()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: problems.console_errors.append(f"{m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.page_errors.append(str(e)))
            page.on("requestfailed", lambda r: problems.failed_requests.append(r.url))
            page.goto(Path(html).resolve().as_uri(), wait_until="load")
            yield page, problems
        finally:
            browser.close()


def select_drilldown(page: Any, sku: str, location: str) -> None:
    """Search the drill-down for ``sku location`` and choose that row."""
    page.fill("#dd-search", f"{sku} {location}")
    label = f"{sku} @ {location}"
    page.select_option("#dd-select", label=label)
    page.wait_for_function(
        "label => document.querySelector('#dd-detail h3') && "
        "document.querySelector('#dd-detail h3').textContent === label", arg=label)
