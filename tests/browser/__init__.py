"""Browser tests of the merchant portal (headless Chromium through Playwright)."""
