"""What the browser tests share: Debian's Chromium under Playwright, axe-core injected into each
page checked (0 serious or critical violations), and the 1280×800 screenshots of the key pages."""

import shutil
from pathlib import Path

from playwright.async_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
SCREENSHOTS = Path(__file__).parent / "screenshots"  # written by the tests; the README links the folder
VIEWPORT = {"width": 1280, "height": 800}


def chromium_present() -> bool:
    return Path(CHROMIUM).exists()


async def check_accessibility(page: Page, what: str) -> None:
    """axe-core on the page as it is now: no serious or critical violation of WCAG 2.x A/AA rules."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.add_script_tag(path=str(AXE))
    result = await page.evaluate(
        """async () => await axe.run(document, {
            runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']},
            resultTypes: ['violations'],
        })"""
    )
    serious = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
    found = [f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}" for v in serious]
    assert found == [], f"{what}: accessibility violations\n" + "\n".join(found)


async def screenshot(page: Page, name: str, at: str | None = None) -> None:
    """The page from its top (whatever was clicked last), or from the heading `at`."""
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.evaluate("window.scrollTo(0, 0)")
    if at:
        await page.get_by_role("heading", name=at).evaluate("e => e.scrollIntoView({block: 'center'})")
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


async def checked(page: Page, name: str, at: str | None = None) -> None:
    """A key page: checked for accessibility, then photographed."""
    await check_accessibility(page, name)
    await screenshot(page, name, at)


async def fits_a_tablet(page: Page) -> None:
    """At a tablet's width (768 px, a facility's shop floor) the page needs no sideways scrolling;
    wide tables scroll inside their own frame."""
    size = page.viewport_size
    await page.set_viewport_size({"width": 768, "height": 1024})
    wider = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter(e => !e.closest('figure') && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
            .slice(0, 3).map(e => e.tagName + '.' + e.className + ' ' + (e.id || '') + ' ' + e.getBoundingClientRect().right)"""
    )
    sideways = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    await page.set_viewport_size(size or VIEWPORT)
    assert (wider, sideways) == ([], 0), f"{page.url}: {sideways}px wider than a tablet: {wider}"
