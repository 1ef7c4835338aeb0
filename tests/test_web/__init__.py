"""Tests of the usage page (web/): plain HTTP, and a real headless Chromium driven by Playwright."""
