"""Re-makes docs/serve_page.png: the service's page in headless Chromium with three photos colorized.

    python docs/serve_screenshot.py saved_models/demo_iizuka

Needs the [serve] extra, selenium, Debian's chromium + chromium-driver. Photos: scikit-image's bundled ones.
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.serve.conftest import RunningServer  # noqa: E402

from colorization_tf.serve import ServeConfig, create_app  # noqa: E402

OUT = Path(__file__).resolve().parent / "serve_page.png"
PHOTOS = {"chelsea.jpg": data.chelsea, "coffee.jpg": data.coffee, "astronaut.jpg": data.astronaut}


def main(model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp, RunningServer(create_app([model], ServeConfig())) as server:
        paths = []
        for name, load in PHOTOS.items():
            image = Image.fromarray(load())
            image.thumbnail((360, 360))
            image.save(Path(tmp) / name, quality=92)
            paths.append(str(Path(tmp) / name))
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-quic", "--window-size=1100,1300",
                     f"--user-data-dir={tmp}/profile"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        try:
            driver.get(server.url + "/")
            WebDriverWait(driver, 60).until(lambda d: "ready" in d.find_element(By.ID, "status").text)
            driver.find_element(By.ID, "files").send_keys("\n".join(paths))
            WebDriverWait(driver, 120).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result.done")) == len(paths))
            time.sleep(0.5)
            shot = Image.open(io.BytesIO(driver.get_screenshot_as_png())).convert("RGB")
        finally:
            driver.quit()
    shot.quantize(128, method=Image.Quantize.MEDIANCUT).save(OUT, optimize=True)
    print(f"{OUT}: {OUT.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main(sys.argv[1])
