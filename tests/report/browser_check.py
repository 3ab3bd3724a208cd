#!/usr/bin/env python3
"""Checks an attnbench HTML report in headless Chromium; exits 1 naming each failed check.

    browser_check.py REPORT.html RESULTS.csv [--screenshot FILE.png]
"""

import argparse
import csv
import io
import pathlib
import sys

import matplotlib.image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def column_values(driver, index):
    return [row.find_elements(By.TAG_NAME, "td")[index].text
            for row in driver.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")]


def ordered(values, ascending):
    """Non-empty values first, as numbers, in order; empty cells after them."""
    filled = [float(v) for v in values if v != ""]
    if any(v == "" for v in values[:len(filled)]):
        return False
    pairs = zip(filled, filled[1:])
    return all(a <= b for a, b in pairs) if ascending else all(a >= b for a, b in pairs)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("csv")
    parser.add_argument("--screenshot")
    args = parser.parse_args()
    with open(args.csv, newline="") as f:
        csv_rows = list(csv.DictReader(f))

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    failures = []
    try:
        driver.get(pathlib.Path(args.report).resolve().as_uri())
        errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        if errors:
            failures.append(f"console errors: {errors}")
        fetched = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        if fetched:
            failures.append(f"the page fetched {fetched}")

        rows = driver.find_elements(By.CSS_SELECTOR, "#results-table tbody tr")
        if len(rows) != len(csv_rows):
            failures.append(f"results table has {len(rows)} rows, the CSV {len(csv_rows)}")

        headings = [h.text.strip() for h in
                    driver.find_elements(By.CSS_SELECTOR, "#results-table thead th")]
        index = headings.index("time_ms")
        heading = driver.find_elements(By.CSS_SELECTOR, "#results-table thead th")[index]
        before = column_values(driver, index)
        heading.click()
        ascending = column_values(driver, index)
        if not ordered(ascending, True):
            failures.append(f"time_ms not ascending after one click: {ascending}")
        if sorted(before) != sorted(ascending):
            failures.append("sorting changed the set of time_ms values")
        heading.click()
        descending = column_values(driver, index)
        if not ordered(descending, False):
            failures.append(f"time_ms not descending after a second click: {descending}")
        if len([v for v in ascending if v]) < 2:
            failures.append("fewer than two timed rows: the sort check proves nothing")

        skipped = sum(1 for r in csv_rows if r["status"] != "ok")
        problems = driver.find_elements(By.CSS_SELECTOR, "#problems-table tbody tr")
        if len(problems) != skipped:
            failures.append(f"{len(problems)} skipped/error rows shown, the CSV has {skipped}")

        figures = driver.find_elements(By.CSS_SELECTOR, "#figures ~ figure img")
        widths = [driver.execute_script("return arguments[0].naturalWidth", img) for img in figures]
        if not figures or any(w == 0 for w in widths):
            failures.append(f"figures missing or not decoded: natural widths {widths}")
        if not driver.find_elements(By.CSS_SELECTOR, "#advice-table tbody tr"):
            failures.append("the advice table is empty")

        png = driver.get_screenshot_as_png()
        if args.screenshot:
            pathlib.Path(args.screenshot).write_bytes(png)
        pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
        colours = len({tuple(p) for p in pixels.reshape(-1, pixels.shape[-1])[::97]})
        if float(pixels.std()) < 0.02 or colours < 8:
            failures.append(f"the screenshot looks blank (std {pixels.std():.4f}, {colours} colours)")
    finally:
        driver.quit()

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if failures:
        return 1
    print(f"report ok in Chromium: {len(csv_rows)} rows, {len(figures)} figures, sorted by time_ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
