"""Browser end-to-end tests: real headless Chromium, driven by Selenium, against the real portal
served by werkzeug on 127.0.0.1, on a temporary SQLite database and local object store.

Chromium and chromedriver are Debian's (`make test-deps` installs them); Selenium Manager is never
asked to download anything: both paths are given. A missing browser FAILS the tests with what to
install (never a silent skip: CI would otherwise pass without ever opening a page).

Screenshots of every page visited go to MARSAD_ARTIFACTS (default: artifacts/screenshots/, which
git ignores), named after the test step, for a person to look at.
"""
from __future__ import annotations

import os
import re
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

from services import accounts, db
from services.policy import default_policies
from services.storage import LocalStore

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("MARSAD_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MARSAD_CHROMEDRIVER", "/usr/bin/chromedriver")
WAIT_SECONDS = 30
WIDTH = 1280
CHROMIUM_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-default-apps", "--disable-extensions", f"--window-size={WIDTH},900",
)


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives real headless Chromium against a served portal "
                                       "(needs chromium and chromedriver: make test-deps)")


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("MARSAD_ARTIFACTS") or REPO_ROOT / "artifacts" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _executable(path: str) -> str | None:
    found = shutil.which(path)
    return found if found and os.access(found, os.X_OK) else None


@pytest.fixture(scope="session")
def webdriver_module():
    try:
        from selenium import webdriver
    except ImportError:
        pytest.fail("the browser tests need Selenium: .venv/bin/pip install selenium==4.51.0", pytrace=False)
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not _executable(p)]
    if missing:
        pytest.fail(f"the browser tests need Chromium and chromedriver; not found: {', '.join(missing)}. "
                    "Install them with `make test-deps` (bash .ci/install-test-deps.sh), or point "
                    "MARSAD_CHROMIUM / MARSAD_CHROMEDRIVER at them.", pytrace=False)
    return webdriver


class LivePortal:
    """The portal served on a free port of 127.0.0.1 from a thread, on its own database and store."""

    def __init__(self, folder: Path):
        from werkzeug.serving import make_server

        from portal import create_app

        self.folder = folder
        self.engine = db.make_engine(f"sqlite:///{folder / 'marsad.db'}")
        db.upgrade(self.engine)
        with db.session(self.engine) as s:
            accounts.seed_demo(s, default_policies())
        self.app = create_app({"ENGINE": self.engine, "STORE": LocalStore(folder / "objects"),
                               "SESSION_COOKIE_SECURE": False})
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="live-portal", daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.thread.join(10)
        self.engine.dispose()


@pytest.fixture
def live_portal(tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "ENV": "test", "VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{tmp_path / 'marsad.db'}",
            "STORAGE": "local", "STORAGE_DIR": str(tmp_path / "objects"), "COOKIE_SECURE": "0", "LOCAL_ACCOUNTS": "1",
        }.items():
            mp.setenv(f"MARSAD_{name}", value)
        portal = LivePortal(tmp_path)
        try:
            yield portal
        finally:
            portal.stop()


class Browser:
    """A thin layer over the WebDriver: pages by path, forms that wait for the next page, screenshots."""

    def __init__(self, driver, base_url: str, shots: Path, prefix: str):
        self.driver, self.base_url, self.shots, self.prefix = driver, base_url, shots, prefix
        self.taken: list[Path] = []

    # -- navigation
    def go(self, path: str):
        self.driver.get(self.base_url + path)
        return self

    def _waiting_for_next_page(self, act):
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        # A mark on the current document's window: the next page's window has none. (Waiting for the old
        # <html> element to go stale raced with Chromium: mid-navigation it may answer "node does not
        # belong to the document" instead of "stale".) Errors while the page changes are retried.
        mark = secrets.token_hex(8)
        self.driver.execute_script("window.marsadPageMark = arguments[0]", mark)
        act()
        wait = WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=(WebDriverException,))
        wait.until(lambda d: d.execute_script("return window.marsadPageMark || null") != mark)
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")

    def click(self, css: str):
        """Click a link or button that leads to another page, and wait for it."""
        element = self.find(css)
        self._waiting_for_next_page(element.click)

    def submit(self, form_css: str = "main form"):
        button = self.find(f"{form_css} button[type=submit]")
        self._waiting_for_next_page(button.click)

    def fill(self, css: str, value: str):
        element = self.find(css)
        element.clear()
        element.send_keys(value)

    def choose(self, css: str, value: str):
        from selenium.webdriver.support.ui import Select

        Select(self.find(css)).select_by_value(value)

    def find(self, css: str):
        return self.driver.find_element("css selector", css)

    def find_all(self, css: str):
        return self.driver.find_elements("css selector", css)

    def text(self, css: str = "main") -> str:
        """Text content, whitespace collapsed (the logical order, whatever the direction)."""
        return " ".join(self.find(css).get_attribute("textContent").split())

    @property
    def path(self) -> str:
        return self.driver.current_url.removeprefix(self.base_url)

    @property
    def html(self):
        element = self.find("html")
        return {"lang": element.get_attribute("lang"), "dir": element.get_attribute("dir")}

    # -- sessions
    def sign_in(self, username: str, password: str = accounts.DEMO_PASSWORD):
        self.go("/login")
        self.fill("#username", username)
        self.fill("#password", password)
        self.submit("main form")
        assert not self.path.startswith("/login"), f"{username} could not sign in"

    def sign_out(self):
        self.click("form[action='/logout'] button")

    def switch_language(self, code: str):
        self.click(f"nav.languages a[hreflang='{code}']")
        assert self.html["lang"] == code

    # -- evidence
    def shoot(self, name: str) -> Path:
        """A full-page screenshot: the window is stretched to the page's height first."""
        # Back to a normal window first: a page shorter than the window would report the window's height.
        self.driver.set_window_size(WIDTH, 900)
        height = self.driver.execute_script(
            "return Math.max(document.documentElement.scrollHeight, document.body.scrollHeight)")
        self.driver.set_window_size(WIDTH, min(max(int(height) + 140, 700), 8000))
        safe = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
        path = self.shots / f"{self.prefix}-{len(self.taken) + 1:02d}-{safe}.png"
        assert self.driver.save_screenshot(str(path)), f"screenshot {path} not written"
        self.taken.append(path)
        return path


@pytest.fixture(scope="session")
def chromium(webdriver_module):
    from selenium.webdriver.chrome.service import Service

    webdriver = webdriver_module
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="marsad-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"intl.accept_languages": "en"})
    # Both paths given: Selenium Manager is skipped and downloads nothing.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(chromium, live_portal, request):
    # Cookies follow the host, not the port: every test starts with none, whatever ran before.
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    prefix = request.node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    yield Browser(chromium, live_portal.url, artifacts_dir(), prefix)
    chromium.get("about:blank")
