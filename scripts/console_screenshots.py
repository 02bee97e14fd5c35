"""The README's console screenshots, taken from a real run: `remediator demo --keep` in this
process (its local AWS, remediator, worker and console), the console opened in the
distribution's headless Chromium through its chromedriver, each page written as a PNG.

    .venv/bin/python scripts/console_screenshots.py     # writes docs/img/console-*.png

Needs the dev extra (selenium, the console) and `apt-get install chromium chromium-driver`.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from remediator.stack.demo import FLAKY, JOB, run_demo  # noqa: E402

__all__ = ["SHOTS", "main"]

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# file name -> the console's path, and the width of the window it is taken in
SHOTS = {
    "console-grid.png": (f"jobs/{JOB}", 1200),
    "console-batch.png": (f"jobs/{JOB}/batches/{FLAKY}", 1200),
}


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # never a browser or driver fetched at run time
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--hide-scrollbars", "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _shoot(url: str, out_dir: Path) -> None:
    driver = _browser()
    try:
        for name, (path, width) in SHOTS.items():
            driver.set_window_size(width, 800)
            driver.get(url + path)
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(width, min(int(height) + 20, 2400))
            driver.get(url + path)
            target = out_dir / name
            driver.save_screenshot(str(target))
            print(f"wrote {target.relative_to(ROOT)}", file=sys.stderr)
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    told = io.StringIO()

    def shoot() -> None:
        lines = [line for line in told.getvalue().splitlines() if line.startswith("The console:")]
        if not lines or "http" not in lines[0]:
            raise SystemExit("the demo served no console: install the console extra")
        _shoot(lines[0].split()[-1], args.out)

    result = run_demo(told, keep=True, wait_forever=shoot)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
