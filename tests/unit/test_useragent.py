"""Unit tests for nib.tools.useragent (User-Agent -> Appwrite Session/Log device fields)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from nib.tools.useragent import DEVICE_FIELDS, parse_user_agent, warm_up

CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.77 Safari/537.36"
)
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/112.0.0.0 Mobile Safari/537.36"
)
PYTHON_SDK = "AppwritePythonSDK/22.2.0 (Linux; 6.1; x86_64)"
PYTHON_SDK_UNFORMATTED = "AppwritePythonSDK/5.0.3 (${os.uname().sysname}; ${os.uname().version}; ${os.uname().machine})"
GARBAGE = "asdf qwerty zzz"

ALL_EMPTY = {field: "" for field in DEVICE_FIELDS}


def _assert_shape(result: dict) -> None:
    assert isinstance(result, dict)
    assert list(result) == list(DEVICE_FIELDS)
    assert all(type(v) is str for v in result.values()), result


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()


def test_device_fields_order() -> None:
    assert DEVICE_FIELDS == (
        "osCode",
        "osName",
        "osVersion",
        "clientType",
        "clientCode",
        "clientName",
        "clientVersion",
        "clientEngine",
        "clientEngineVersion",
        "deviceName",
        "deviceBrand",
        "deviceModel",
    )


def test_chrome_on_windows_matches_appwrite() -> None:
    result = parse_user_agent(CHROME_WINDOWS)
    _assert_shape(result)
    assert result == {
        "osCode": "WIN",
        "osName": "Windows",
        "osVersion": "10",
        "clientType": "browser",
        "clientCode": "CH",
        "clientName": "Chrome",
        "clientVersion": "70.0",
        "clientEngine": "Blink",
        "clientEngineVersion": "70.0.3538.77",
        "deviceName": "desktop",
        "deviceBrand": "",
        "deviceModel": "",
    }


def test_firefox_on_linux() -> None:
    result = parse_user_agent(FIREFOX_LINUX)
    _assert_shape(result)
    assert result == {
        "osCode": "LIN",
        "osName": "GNU/Linux",
        "osVersion": "",
        "clientType": "browser",
        "clientCode": "FF",
        "clientName": "Firefox",
        "clientVersion": "121.0",
        # the port reports the raw spec {'default': 'Gecko'}; must be resolved to a string
        "clientEngine": "Gecko",
        "clientEngineVersion": "121.0",
        "deviceName": "desktop",
        "deviceBrand": "",
        "deviceModel": "",
    }


def test_iphone_safari() -> None:
    result = parse_user_agent(IPHONE_SAFARI)
    _assert_shape(result)
    assert result == {
        "osCode": "IOS",
        "osName": "iOS",
        "osVersion": "17.1",
        "clientType": "browser",
        "clientCode": "MF",
        "clientName": "Mobile Safari",
        "clientVersion": "17.1",
        "clientEngine": "WebKit",
        "clientEngineVersion": "605.1.15",
        "deviceName": "smartphone",
        "deviceBrand": "Apple",
        "deviceModel": "iPhone",
    }


def test_chrome_mobile_android() -> None:
    result = parse_user_agent(CHROME_ANDROID)
    _assert_shape(result)
    assert result == {
        "osCode": "AND",
        "osName": "Android",
        "osVersion": "13",
        "clientType": "browser",
        "clientCode": "CM",
        "clientName": "Chrome Mobile",
        "clientVersion": "112.0",
        "clientEngine": "Blink",
        "clientEngineVersion": "112.0.0.0",
        "deviceName": "smartphone",
        "deviceBrand": "Samsung",
        "deviceModel": "Galaxy S22",
    }


@pytest.mark.parametrize("ua", ["", None])
def test_empty_or_missing_user_agent(ua: str | None) -> None:
    result = parse_user_agent(ua)
    _assert_shape(result)
    assert result == ALL_EMPTY


@pytest.mark.parametrize("ua", [GARBAGE, "!!!@@@", "12345", "   ", "\x00\xff\u2603", "x" * 100_000])
def test_garbage_user_agent(ua: str) -> None:
    result = parse_user_agent(ua)
    _assert_shape(result)
    # Matomo detects nothing here; the port's generic name extractors must not leak through
    assert result == ALL_EMPTY


def test_appwrite_python_sdk_user_agent() -> None:
    result = parse_user_agent(PYTHON_SDK)
    _assert_shape(result)
    assert result == {
        **ALL_EMPTY,
        "osCode": "LIN",
        "osName": "GNU/Linux",
        "deviceName": "desktop",
    }


def test_appwrite_python_sdk_unformatted_user_agent() -> None:
    result = parse_user_agent(PYTHON_SDK_UNFORMATTED)
    _assert_shape(result)
    assert result == ALL_EMPTY


def test_library_client_has_no_code_or_engine() -> None:
    result = parse_user_agent("python-requests/2.31.0")
    _assert_shape(result)
    assert result["clientType"] == "library"
    assert result["clientName"] == "Python Requests"
    assert result["clientVersion"] == "2.31"
    assert result["clientCode"] == ""
    assert result["clientEngine"] == ""
    assert result["clientEngineVersion"] == ""


def test_bots_are_parsed_as_regular_clients_not_raised() -> None:
    # Appwrite skips bot detection; just make sure nothing breaks.
    result = parse_user_agent("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)")
    _assert_shape(result)


def test_cache_hit_returns_equal_data_quickly() -> None:
    ua = CHROME_WINDOWS + " nib-cache-test"
    first = parse_user_agent(ua)
    hits_before = parse_user_agent.cache_info().hits
    start = time.perf_counter()
    second = parse_user_agent(ua)
    elapsed = time.perf_counter() - start
    assert parse_user_agent.cache_info().hits == hits_before + 1
    assert second == first
    assert elapsed < 0.005


def test_returned_dict_is_a_copy() -> None:
    first = parse_user_agent(CHROME_WINDOWS)
    first["osName"] = "tampered"
    first.clear()
    again = parse_user_agent(CHROME_WINDOWS)
    assert again["osName"] == "Windows"
    assert len(again) == len(DEVICE_FIELDS)


def test_cache_is_bounded() -> None:
    assert parse_user_agent.cache_info().maxsize == 4096


def test_concurrent_parsing_is_consistent() -> None:
    parse_user_agent.cache_clear()
    agents = [CHROME_WINDOWS, FIREFOX_LINUX, IPHONE_SAFARI, CHROME_ANDROID, PYTHON_SDK] * 8
    # distinct suffixes force real (uncached) parses to run concurrently
    variants = [f"{ua} v{i}" for i, ua in enumerate(agents)]
    expected = {ua: None for ua in variants}
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(parse_user_agent, variants))
    parse_user_agent.cache_clear()
    for ua, result in zip(variants, results):
        expected[ua] = parse_user_agent(ua)
        assert result == expected[ua], ua
    base = parse_user_agent(CHROME_ANDROID + " v3")
    assert base["clientName"] == "Chrome Mobile"
    assert base["deviceBrand"] == "Samsung"


def test_warm_up_is_idempotent_and_does_not_touch_cache() -> None:
    info = parse_user_agent.cache_info()
    warm_up()
    warm_up()
    assert parse_user_agent.cache_info() == info
