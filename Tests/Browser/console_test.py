#!/usr/bin/env python3
"""The web console in a real browser: headless Chromium (Debian's chromium and chromium-driver)
driven by Selenium, against three real spsync daemons on loopback.

A charity's coordinator signs in through a one-time link and sets a service's free places; a link
worker at the PCN hub addresses a referral to that service, chosen from the services listed for the
person's need with their free places; the coordinator records the referral as received and accepts
it, taking a place. Each change must reach the other node through the daemons. The console must
refuse a form sent without the session cookie, or with a CSRF token that is not the session's, and
change nothing.

Run by scripts/test.sh after the Swift tests:  python3 Tests/Browser/console_test.py
  SPSYNC=path/to/spsync   the binary (default .build/debug/spsync)
  SCREENSHOTS=DIR         also save the pages as PNG there (docs/console, for the README)
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPSYNC = os.environ.get("SPSYNC", os.path.join(ROOT, ".build", "debug", "spsync"))
SHOTS = os.environ.get("SCREENSHOTS")
failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what, flush=True)
    if not condition:
        failures.append(what)


_handed_out = set()


def free_port():
    """A free loopback port not handed out before in this run (a port just released may come back)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def spsync(home, *args, ok=True):
    r = subprocess.run([SPSYNC, *args, "--home", home], capture_output=True, text=True, timeout=120)
    if ok and r.returncode != 0:
        raise RuntimeError(f"spsync {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout.strip()


def spsync_json(home, *args):
    return json.loads(spsync(home, *args, "--json"))


def wait_until(what, condition, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    check(False, f"within {seconds} s: {what}")
    return False


class Network:
    """A practice, its PCN hub and a charity, as in the README's three daemons by hand."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="spsync-browser-")
        self.homes = {n: os.path.join(self.dir, n) for n in ("practice", "hub", "charity")}
        self.ports = {n: free_port() for n in ("hub", "charity")}
        self.http = {n: free_port() for n in ("hub", "charity")}
        self.daemons = []
        p, h, c = self.homes["practice"], self.homes["hub"], self.homes["charity"]
        spsync(p, "init", "--org", "A81001", "--name", "Riverside Surgery", "--pcn", "U12345")
        spsync(h, "init", "--org", "U12345", "--name", "Riverside PCN",
               "--listen", f"127.0.0.1:{self.ports['hub']}", "--http", f"127.0.0.1:{self.http['hub']}")
        spsync(c, "init", "--org", "GB-CHC-1234567", "--name", "Leeds Walking Friends",
               "--listen", f"127.0.0.1:{self.ports['charity']}", "--http", f"127.0.0.1:{self.http['charity']}")
        fp = {n: spsync_json(self.homes[n], "id")["fingerprint"] for n in self.homes}

        def peer(a, b, bid, port, schedule):
            args = ["peer", "add", bid, "--fingerprint", fp[b], "--schedule", schedule]
            spsync(self.homes[a], *args, "--address", f"127.0.0.1:{port or 1}")

        peer("practice", "hub", "U12345", self.ports["hub"], "manual")
        peer("hub", "practice", "A81001", None, "manual")
        peer("hub", "charity", "GB-CHC-1234567", self.ports["charity"], "live")
        peer("charity", "hub", "U12345", self.ports["hub"], "manual")

    def start(self, name):
        home = self.homes[name]
        log = open(os.path.join(home, "daemon.log"), "w")
        d = subprocess.Popen([SPSYNC, "daemon", "--home", home, "--log-level", "warning"],
                             stdout=subprocess.DEVNULL, stderr=log)
        self.daemons.append(d)
        wait_until(f"{name}'s daemon answers",
                   lambda: '"running" : true' in spsync(home, "status", "--json", ok=False))

    def stop(self):
        for d in self.daemons:
            d.terminate()
        for d in self.daemons:
            d.wait(timeout=30)
        shutil.rmtree(self.dir, ignore_errors=True)


def browser():
    options = Options()
    options.add_argument("--headless=new")
    options.add_argument("--no-sandbox")
    options.add_argument("--disable-dev-shm-usage")
    options.add_argument("--window-size=1100,900")
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def shot(driver, name, width=None):
    if not SHOTS:
        return
    os.makedirs(SHOTS, exist_ok=True)
    if width:
        driver.set_window_size(width, 900)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(width or 1100, min(max(height + 40, 600), 2400))
    driver.save_screenshot(os.path.join(SHOTS, name + ".png"))
    driver.set_window_size(1100, 900)


def notice(driver, expected=None):
    """The page's notice; with `expected`, once it contains that (the click's page may still load)."""
    deadline = time.time() + 10
    while True:
        try:
            found = driver.find_elements(By.CSS_SELECTOR, "p.notice")
            text = found[0].text if found else ""
        except WebDriverException:  # the old page went while it was read
            text = ""
        if expected is None or expected in text or time.time() > deadline:
            return text
        time.sleep(0.1)


def page_says(driver, text, seconds=10):
    """Whether the page shows `text` within `seconds` (a click's page may still be loading)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if text in driver.page_source:
                return True
        except WebDriverException:
            pass
        time.sleep(0.1)
    return False


def sign_in(driver, home):
    link = spsync(home, "web", "login")
    driver.delete_all_cookies()
    driver.get(link)
    return link


def main():
    net = Network()
    driver = None
    try:
        c, h, p = net.homes["charity"], net.homes["hub"], net.homes["practice"]
        spsync(c, "service", "add", "--name", "Walk and Talk", "--category", "befriending",
               "--maximum", "10", "--available", "4", "--area", "LS1,LS2",
               "--description", "A gentle walk and a cup of tea, Tuesdays")
        spsync(p, "referral", "create", "--need", "loneliness", "--name", "Pat", "--phone", "07700900123",
               "--consent", "explicit", "--urgency", "soon")
        net.start("hub")
        net.start("charity")
        spsync(p, "sync")
        wait_until("the hub holds the referral and the service",
                   lambda: len(spsync_json(h, "referral", "list")) == 1 and len(spsync_json(h, "service", "list")) == 1)
        driver = browser()

        # The coordinator signs in and sets free places.
        link = sign_in(driver, c)
        check(driver.current_url.endswith("/services"), "the charity lands on its services")
        cookie = driver.get_cookie("spsync_console")
        check(cookie is not None and cookie.get("httpOnly") and cookie.get("sameSite") == "Strict",
              f"the session cookie is HttpOnly and SameSite=Strict: {cookie}")
        check("token" not in driver.current_url, "the sign-in token does not stay in the address bar")
        shot(driver, "charity-services")
        shot(driver, "charity-services-phone", width=390)
        field = driver.find_element(By.CSS_SELECTOR, "input[name=available]")
        field.clear()
        field.send_keys("3")
        driver.find_element(By.CSS_SELECTOR, "button[value=set]").click()
        text = notice(driver, "3 of 10 places free")
        check("3 of 10 places free" in text, f"the page confirms 3 free places: {text!r}")
        wait_until("the hub sees 3 free places",
                   lambda: spsync_json(h, "service", "list")[0]["capacity"]["available"] == 3)

        # A link that was used does not sign in again.
        driver.delete_all_cookies()
        driver.get(link)
        check(page_says(driver, "does not work"), "a used sign-in link is refused")

        # The link worker addresses the referral to a service listed for the person's need.
        sign_in(driver, h)
        check(driver.current_url.endswith("/referrals"), "the hub lands on its referrals")
        shot(driver, "hub-referrals")
        driver.find_element(By.LINK_TEXT, "Pat").click()
        service = Select(driver.find_element(By.ID, "service"))
        labels = [o.text for o in service.options]
        check(any("Walk and Talk" in l and "3 of 10 free" in l for l in labels),
              f"the services for loneliness show their free places: {labels}")
        service.select_by_visible_text(next(l for l in labels if "Walk and Talk" in l))
        Select(driver.find_element(By.ID, "urgency")).select_by_value("urgent")
        shot(driver, "hub-referral")
        driver.find_element(By.XPATH, "//button[text()='Address']").click()
        text = notice(driver, "Addressed to Walk and Talk")
        check("Addressed to Walk and Talk" in text, f"the page confirms the addressing: {text!r}")
        wait_until("the charity receives the referral", lambda: len(spsync_json(c, "referral", "list")) == 1)

        # The coordinator receives and accepts it, taking a place.
        sign_in(driver, c)
        driver.get(f"http://127.0.0.1:{net.http['charity']}/referrals")
        driver.find_element(By.LINK_TEXT, "Pat").click()
        for status in ("received", "accepted"):
            Select(driver.find_element(By.ID, "status")).select_by_value(status)
            if status == "accepted":
                driver.find_element(By.NAME, "takePlace").click()
            driver.find_element(By.XPATH, "//button[text()='Record']").click()
            text = notice(driver, f"Recorded: {status}")
            check(f"Recorded: {status}" in text, f"the page confirms {status}: {text!r}")
        shot(driver, "charity-referral")
        wait_until("the hub sees the acceptance and the place taken",
                   lambda: spsync_json(h, "referral", "list")[0]["status"] == "accepted"
                   and spsync_json(h, "service", "list")[0]["capacity"]["available"] == 2)
        spsync(p, "sync")
        check(spsync_json(p, "referral", "list")[0]["status"] == "accepted", "the practice sees the acceptance")

        # Refusals: a form whose CSRF token is not the session's, and one sent without the cookie.
        driver.get(f"http://127.0.0.1:{net.http['charity']}/services")
        driver.execute_script(
            "document.querySelectorAll('form[action$=\"/capacity\"] input[name=csrf]')"
            ".forEach(function (e) { e.value = 'not-the-token'; })")
        field = driver.find_element(By.CSS_SELECTOR, "input[name=available]")
        field.clear()
        field.send_keys("9")
        driver.find_element(By.CSS_SELECTOR, "button[value=set]").click()
        check(page_says(driver, "nothing was changed"), "a form with another CSRF token is refused")
        driver.get(f"http://127.0.0.1:{net.http['charity']}/services")
        driver.delete_all_cookies()
        field = driver.find_element(By.CSS_SELECTOR, "input[name=available]")
        field.clear()
        field.send_keys("9")
        driver.find_element(By.CSS_SELECTOR, "button[value=set]").click()
        check(page_says(driver, "Ask whoever runs this node for a sign-in link"),
              "a form without the session cookie is refused")
        shown = spsync_json(c, "service", "show", "Walk and Talk")
        check(shown["capacity"]["available"] == 2, f"the refused forms changed nothing: {shown['capacity']}")
    finally:
        if driver:
            driver.quit()
        net.stop()
    if failures:
        print(f"{len(failures)} browser check(s) failed", file=sys.stderr)
        sys.exit(1)
    print("browser tests passed")


if __name__ == "__main__":
    main()
