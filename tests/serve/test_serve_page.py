"""The page in headless Chromium (Debian's chromium + chromium-driver via selenium): upload, result, screenshot.

Skipped, with the reason, where Chromium, its driver or selenium is missing (`.ci/run` installs them).
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest
from PIL import Image

from tests.serve.conftest import encode, photo

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver")
RESULT_TIMEOUT_S = 30


def _browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"browser test not run: no Chromium at {CHROMIUM} (apt-get install chromium chromium-driver)")
    if not os.access(CHROMEDRIVER, os.X_OK):
        pytest.skip(f"browser test not run: no chromedriver at {CHROMEDRIVER} (apt-get install chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-quic", "--disable-dev-shm-usage",
        "--window-size=1280,900", f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def test_upload_a_photo_and_get_it_colorized_in_the_browser(server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    source = photo(60, 90, seed=11)
    upload = tmp_path / "holiday.png"
    upload.write_bytes(encode(source))
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo at all")
    driver = _browser(tmp_path)
    try:
        driver.get(server.url + "/")
        wait = WebDriverWait(driver, RESULT_TIMEOUT_S)
        model = Select(driver.find_element(By.ID, "model"))
        wait.until(lambda d: len(model.options) == 2 and "ready" in d.find_element(By.ID, "status").text)
        assert [o.get_attribute("value") for o in model.options] == ["tiny", "tiny_copy"]
        assert driver.find_element(By.CSS_SELECTOR, "label[for=files]").text  # the file input is labelled
        model.select_by_value("tiny_copy")
        driver.find_element(By.ID, "files").send_keys(f"{upload}\n{broken}")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".result.done")) == 1 and d.find_elements(By.CSS_SELECTOR, ".result.failed"))
        done = driver.find_element(By.CSS_SELECTOR, ".result.done")
        assert done.find_element(By.CLASS_NAME, "name").text == "holiday.png"
        colorized = done.find_element(By.CLASS_NAME, "colorized")
        assert (colorized.get_property("naturalWidth"), colorized.get_property("naturalHeight")) == (90, 60)
        # The colorized image's pixels, read back from a canvas in the page: the input's size, not gray.
        pixels = driver.execute_script(
            "const img = arguments[0]; const c = document.createElement('canvas');"
            "c.width = img.naturalWidth; c.height = img.naturalHeight; const x = c.getContext('2d');"
            "x.drawImage(img, 0, 0); return Array.from(x.getImageData(0, 0, c.width, c.height).data);",
            colorized,
        )
        rgba = np.asarray(pixels, np.int32).reshape(60, 90, 4)
        chroma = np.abs(rgba[..., 0] - rgba[..., 1]) + np.abs(rgba[..., 1] - rgba[..., 2])
        assert chroma.mean() > 2, chroma.mean()
        gray = done.find_element(By.CLASS_NAME, "gray")
        assert (gray.get_property("width"), gray.get_property("height")) == (90, 60)
        download = done.find_element(By.CLASS_NAME, "download")
        assert download.get_attribute("download") == "holiday-colorized.png" and download.is_displayed()
        failed = driver.find_element(By.CSS_SELECTOR, ".result.failed")
        assert failed.find_element(By.CLASS_NAME, "name").text == "broken.jpg"
        error = failed.find_element(By.CLASS_NAME, "error")
        assert error.is_displayed() and "broken.jpg" in error.text and "undecodable" in error.text
        assert error.get_attribute("role") == "alert"
        shot = tmp_path / "page.png"
        driver.save_screenshot(str(shot))
        assert Image.open(io.BytesIO(shot.read_bytes())).size[0] > 0
        logs = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and "400" not in entry["message"]]
        assert not logs, logs  # no script errors, nothing blocked by the page's CSP
    finally:
        driver.quit()
