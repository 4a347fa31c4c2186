"""User-Agent parsing into Appwrite's Session/Log device fields.

Appwrite 1.5 runs Matomo's DeviceDetector (``Appwrite\\Detector\\Detector``, bot
detection skipped) and copies ``os.short_name/name/version``,
``client.type/short_name/name/version/engine/engine_version``, and
``getDeviceName()/getBrandName()/getModel()`` into the 12 fields below, using
``""`` for anything missing.  We use the Python port (``device_detector`` on
PyPI), which detects a superset of what Matomo does and differs in a few
places, so the port's output is normalised back to Matomo semantics here:

* Only Matomo's client parsers run (feed reader, mobile app, media player,
  PIM, browser, library, in Matomo's order).  The port's extra heuristics
  (dictionary UAs, VPN/antivirus/desktop-app lists, generic ``name/version``
  and app-id extractors) would invent clients such as type ``generic`` that
  Appwrite never reports.
* Client and OS versions are truncated to ``major.minor`` (Matomo's default
  ``VERSION_TRUNCATION_MINOR``: ``Chrome/70.0.3538.77`` -> ``70.0``); the engine
  version is not truncated (Matomo's ``Engine\\Version`` doesn't either).
* The port sometimes leaves the browser engine as its raw YAML spec
  (``{'default': 'Gecko'}``) and fills ``engine_version`` with the browser
  version; the engine is resolved and its version extracted the Matomo way.

Results are cached per UA string; the detector is instantiated per parse
(instances carry per-UA state) so concurrent worker threads never share one.
The detector and its rule set (~50 MB, ~2 s to load) are loaded on the first parse, not at
start: many processes (API-key servers, CLI commands) never parse a User-Agent.
"""

from __future__ import annotations

import functools
import gc
import logging
import re
import threading
from typing import Any

__all__ = ["DEVICE_FIELDS", "parse_user_agent", "warm_up"]

log = logging.getLogger(__name__)

DEVICE_FIELDS: tuple[str, ...] = (
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

# Longer UAs are cut before parsing/caching: bounds regex work and cache memory
# for hostile headers; real UAs are far shorter (Matomo's maxUserAgentSize idea).
MAX_USER_AGENT_LENGTH = 2048

_EMPTY: tuple[str, ...] = ("",) * len(DEVICE_FIELDS)


_detector_class: Any = None
_loading = threading.Lock()


def _detector() -> Any:
    """The detector class (device_detector imported and its rule set loaded on the first call)."""
    global _detector_class
    if _detector_class is None:
        with _loading:
            if _detector_class is None:
                _detector_class = _load()
    return _detector_class


def _load() -> Any:
    from device_detector import DeviceDetector
    from device_detector.parser import PIM, Browser, FeedReader, Library, MediaPlayer, MobileApp

    class MatomoDetector(DeviceDetector):  # type: ignore[misc]  # device_detector ships no types
        """DeviceDetector restricted to the client parsers Matomo has."""

        __slots__ = ()

        CLIENT_PARSERS = (FeedReader, MobileApp, MediaPlayer, PIM, Browser, Library)

        def extract_app_id(self) -> None:  # port-only heuristic (bundle ids as clients)
            return None

    # The parsers read their YAML on first use: read it all now, with a few typical agents.
    for ua in _WARM_UP_AGENTS:
        try:
            MatomoDetector(ua, skip_bot_detection=True, check_cache=False).parse()
        except Exception:
            log.debug("user agent warm-up failed", exc_info=True)
    # The tables live as long as the process: frozen, the collector's full passes never walk them.
    gc.collect()
    gc.freeze()
    return MatomoDetector


def _truncate_version(version: str) -> str:
    """Matomo VERSION_TRUNCATION_MINOR: keep at most ``major.minor``."""
    version = version.replace("_", ".").strip(" .")
    return ".".join(version.split(".")[:2]) if version else ""


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)) or (0,)


def _version_ge(a: str, b: str) -> bool:
    ka, kb = _version_key(a), _version_key(b)
    width = max(len(ka), len(kb))
    return ka + (0,) * (width - len(ka)) >= kb + (0,) * (width - len(kb))


def _resolve_engine(spec: Any, browser_version: str, user_agent: str) -> str:
    """Matomo Browser::buildEngine: default, overridden by the highest version rule met."""
    if isinstance(spec, str):
        engine = spec
    elif isinstance(spec, dict):
        engine = str(spec.get("default") or "")
        versions = spec.get("versions") or {}
        for min_version, name in sorted(versions.items(), key=lambda kv: _version_key(str(kv[0]))):
            if _version_ge(browser_version, str(min_version)):
                engine = str(name or "")
    else:
        engine = ""
    if not engine:
        # Matomo falls back to the generic engine regexes (browser_engine.yml).
        from device_detector.parser.client.browser import Engine

        engine = str(Engine(user_agent, None).parse().ua_data.get("name") or "")
    return engine


def _engine_version(engine: str, user_agent: str) -> str:
    """Matomo Engine\\Version::parse (not truncated)."""
    if not engine:
        return ""
    if engine in ("Gecko", "Clecko"):
        m = re.search(r" (?:rv[: ]([0-9.]+)).*(?:g|cl)ecko/[0-9]{8,10}", user_agent, re.I)
        if m:
            return m.group(1)
    token = {
        "Blink": r"Chr[o0]me|Chromium|Cronet",
        "Arachne": r"Arachne/5\.",
        "LibWeb": r"LibWeb\+LibJs",
    }.get(engine, re.escape(engine))
    m = re.search(rf"(?:{token})\s*/?\s*(\d+\.\d[.\d]*|\d{{1,7}}(?=\D|$))", user_agent, re.I)
    return m.group(1) if m else ""


def _detect(user_agent: str) -> tuple[str, ...]:
    if not user_agent:
        # Empty/missing UA: Matomo's parse() returns early, so Appwrite stores "" everywhere.
        return _EMPTY

    # check_cache=False: a fresh instance (the port's own cache shares and re-inits instances).
    dd = _detector()(user_agent, skip_bot_detection=True, check_cache=False).parse()
    details = dd.all_details

    os_data = details.get("os") or {}
    os_name = str(os_data.get("name") or "")
    if os_name:
        os_code = str(os_data.get("short_name") or "")
        os_version = _truncate_version(str(os_data.get("version") or ""))
    else:
        os_code = os_version = ""

    client = details.get("client") or {}
    client_name = str(client.get("name") or "") if dd.client is not None else ""
    if client_name:
        client_type = str(client.get("type") or "")
        client_code = str(client.get("short_name") or "")
        raw_version = str(client.get("version") or "")
        client_version = _truncate_version(raw_version)
        if client_type == "browser":
            engine = _resolve_engine(client.get("engine"), raw_version, user_agent)
            engine_version = _engine_version(engine, user_agent)
        else:
            engine = engine_version = ""
    else:
        client_type = client_code = client_version = engine = engine_version = ""

    return (
        os_code,
        os_name,
        os_version,
        client_type,
        client_code,
        client_name,
        client_version,
        engine,
        engine_version,
        str(dd.device_type() or ""),
        str(dd.device_brand() or ""),
        str(dd.device_model() or ""),
    )


@functools.lru_cache(maxsize=4096)
def _parse_cached(user_agent: str) -> tuple[str, ...]:
    try:
        return _detect(user_agent)
    except Exception:  # never let a weird UA break a request
        log.debug("user agent parsing failed for %r", user_agent, exc_info=True)
        return _EMPTY


def parse_user_agent(user_agent: str | None) -> dict[str, str]:
    """Return Appwrite's 12 device fields for ``user_agent`` (always all keys, ``""`` if unknown).

    The returned dict is a fresh copy; cache statistics are available via
    ``parse_user_agent.cache_info()`` / ``parse_user_agent.cache_clear()``.
    """
    if user_agent is None:
        ua = ""
    elif isinstance(user_agent, str):
        ua = user_agent
    elif isinstance(user_agent, (bytes, bytearray)):
        ua = bytes(user_agent).decode("latin-1")
    else:
        ua = str(user_agent)
    if len(ua) > MAX_USER_AGENT_LENGTH:
        ua = ua[:MAX_USER_AGENT_LENGTH]
    return dict(zip(DEVICE_FIELDS, _parse_cached(ua)))


parse_user_agent.cache_info = _parse_cached.cache_info  # type: ignore[attr-defined]
parse_user_agent.cache_clear = _parse_cached.cache_clear  # type: ignore[attr-defined]


_WARM_UP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/112.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
    "AppwritePythonSDK/5.0.0 (Linux; 6.1; x86_64)",
)


def warm_up() -> None:
    """Load the detector's YAML/regex data now (~2 s cold) instead of on the first parse.

    Idempotent; leaves the result cache and its statistics untouched. Never raises.
    """
    try:
        _detector()
    except Exception:
        log.debug("user agent warm-up failed", exc_info=True)
