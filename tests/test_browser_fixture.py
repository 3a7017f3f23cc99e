"""Without a browser the page tests skip and say how to install one; in CI they fail instead."""
import pytest

from tests.browser import _missing


def test_missing_browser_skips_with_advice(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium"):
        _missing("no chromium on PATH")


def test_missing_browser_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="browser test cannot run in CI"):
        _missing("no chromium on PATH")
