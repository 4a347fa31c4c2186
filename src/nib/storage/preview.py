"""Image previews: Appwrite 1.5's parameters and order of operations on libvips.

``render`` turns a file's bytes into a preview image: crop to the requested box
(shrink-on-load through ``thumbnail``; EXIF orientation applied first), then opacity, background,
border, border radius and rotation, in Appwrite's order, then encode. Files that are not
previewable images, and images over the 20 MB preview limit, get an icon instead (icons.py).

Safety: only the JPEG, PNG, GIF, WebP and HEIF/AVIF loaders may decode a file (libvips'
"untrusted" loaders, SVG among them, are blocked outright); the header is read
first and an image over ``MAX_PIXELS`` is refused before any pixel is decoded; truncated or
corrupt data fails instead of rendering garbage; libvips streams the decode (memory bounded by
the output, not the input) and its operation cache is off. Undecodable input is 400
``storage_file_type_unsupported``; an image too large to process is 400
``storage_image_resolution_exceeded`` (Appwrite's newer error).
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from email.utils import formatdate
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..http.routing import Param, optional
from ..tools import validators as v
from ..tools.errors import AppwriteError
from . import icons

if TYPE_CHECKING:
    import pyvips

_vips: ModuleType | None = None
_vips_loading = threading.Lock()


def _pyvips() -> ModuleType:
    """pyvips, imported on the first preview: libvips and its loaders are ~10 MB a process that
    shows no preview never needs."""
    global _vips
    if _vips is None:
        with _vips_loading:
            if _vips is None:
                import pyvips

                # libvips is process-wide: refuse its "untrusted" loaders (ImageMagick, FITS,
                # Matlab…) and keep no decoded images between requests (previews are cached as
                # encoded files instead). The icons are drawn before any request can decode.
                pyvips.block_untrusted_set(True)
                pyvips.cache_set_max(0)
                icons.render_all(pyvips)
                _vips = pyvips
    return _vips


PREVIEW_LIMIT = 20_000_000  # bytes: larger images get the image icon (_APP_STORAGE_PREVIEW_LIMIT)
MAX_PIXELS = 0x3FFF * 0x3FFF  # ~268 megapixels, sharp's default input limit
ROTATE_MAX_PIXELS = 25_000_000  # rotation needs the whole image in memory: 4000x4000 plus border fits

CACHE_SECONDS = 30 * 24 * 3600  # Appwrite's Expires: now + 30 days

GRAVITIES = ("center", "top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")
OUTPUTS = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "png": "image/png",
    "webp": "image/webp",
    "avif": "image/avif",
}
# Previewable source types: Appwrite 1.5's (jpeg, png, gif) plus the ones newer versions added.
INPUT_TYPES = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/avif": "avif",
    "image/heic": "jpg",
    "image/heif": "jpg",
}
_LOADERS = frozenset({"jpegload", "pngload", "gifload", "webpload", "heifload"})
_FAIL_ON = "truncated"


# -- parameters ---------------------------------------------------------------------------------

_HEX = re.compile(r"\A(?:[A-Fa-f0-9]{6}|[A-Fa-f0-9]{3})\Z")
_PHP_NUMERIC = re.compile(r"\A\s*[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*\Z")


def hex_color(value: Any) -> str:
    """Appwrite's HexColor: ``RRGGBB`` or ``RGB`` without ``#``; returned as lower-case RRGGBB."""
    if not isinstance(value, str) or not _HEX.match(value):
        raise v.Invalid("Value must be a valid Hex color code")
    value = value.lower()
    return value if len(value) == 6 else "".join(ch * 2 for ch in value)


def hex_color_or_empty(value: Any) -> str:
    """A hex color, or ``""`` (the parameter's default, which Appwrite also accepts explicitly)."""
    return "" if value == "" else hex_color(value)


def float_range(minimum: float, maximum: float) -> v.Validator:
    """Appwrite's float Range: numbers and PHP-numeric strings within [minimum, maximum]."""
    description = f"Value must be a valid range between {minimum:,} and {maximum:,}"

    def validate(value: Any) -> float:
        if isinstance(value, str) and _PHP_NUMERIC.match(value):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, int | float) or not minimum <= value <= maximum:
            raise v.Invalid(description)
        return float(value)

    return validate


# The route's query parameters, in Appwrite's order; the handler passes them to PreviewParams.from_query.
QUERY_PARAMS: tuple[Param, ...] = (
    optional("width", v.integer_range(0, 4000), default=0),
    optional("height", v.integer_range(0, 4000), default=0),
    optional("gravity", v.whitelist(GRAVITIES), default="center"),
    optional("quality", v.integer_range(0, 100), default=100),
    optional("borderWidth", v.integer_range(0, 100), default=0),
    optional("borderColor", hex_color_or_empty, default=""),
    optional("borderRadius", v.integer_range(0, 4000), default=0),
    optional("opacity", float_range(0, 1), default=1.0),
    optional("rotation", v.integer_range(-360, 360), default=0),
    optional("background", hex_color_or_empty, default=""),
    optional("output", v.whitelist(tuple(OUTPUTS)), default=""),
)


@dataclass(frozen=True)
class PreviewParams:
    """Validated preview parameters, normalised (rotation in 0..359, colors as ``rrggbb``)."""

    width: int = 0
    height: int = 0
    gravity: str = "center"
    quality: int = 100
    border_width: int = 0
    border_color: str = ""
    border_radius: int = 0
    opacity: float = 1.0
    rotation: int = 0
    background: str = ""
    output: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "rotation", (self.rotation + 360) % 360)

    @classmethod
    def from_query(cls, **values: Any) -> PreviewParams:
        """From the validated QUERY_PARAMS values, keyed by their Appwrite names."""
        return cls(
            width=values["width"],
            height=values["height"],
            gravity=values["gravity"],
            quality=values["quality"],
            border_width=values["borderWidth"],
            border_color=values["borderColor"],
            border_radius=values["borderRadius"],
            opacity=values["opacity"],
            rotation=values["rotation"],
            background=values["background"],
            output=values["output"],
        )

    def key(self) -> str:
        """A stable text naming this rendering (the output format is keyed separately)."""
        return (
            f"w{self.width}h{self.height}g{self.gravity}q{self.quality}b{self.border_width}{self.border_color}"
            f"r{self.border_radius}o{self.opacity:g}t{self.rotation}c{self.background}"
        )


@dataclass(frozen=True)
class Plan:
    """What a preview will be: the icon shown instead of the file (or None) and the output format."""

    icon: str | None
    output: str

    @property
    def content_type(self) -> str:
        return OUTPUTS[self.output]


def plan(*, mime_type: str, size: int, params: PreviewParams, accept: str) -> Plan:
    """Appwrite's choices: icon for non-images and images over PREVIEW_LIMIT; the output is the
    ``output`` param (``webp`` only if ``accept`` names ``image/webp``, else ``jpg``), or else the
    source's own format (``png`` for icons, ``jpg`` for formats nib does not write)."""
    icon = None
    if mime_type not in INPUT_TYPES:
        icon = icons.icon_for(mime_type)
    elif size > PREVIEW_LIMIT:
        icon = "image"
    output = params.output
    if output == "webp" and "image/webp" not in accept:
        output = "jpg"
    if not output:
        output = "png" if icon else INPUT_TYPES[mime_type]
    return Plan(icon, "jpg" if output == "jpeg" else output)


def response_headers(content_type: str, now: float | None = None) -> dict[str, str]:
    """Headers of a preview response: Appwrite's ``Expires`` (+30 days) and the matching
    ``Cache-Control`` (``private``: the file may be readable by its permissions only)."""
    expires = (time.time() if now is None else now) + CACHE_SECONDS
    return {
        "Content-Type": content_type,
        "Expires": formatdate(expires, usegmt=True),
        "Cache-Control": f"private, max-age={CACHE_SECONDS}",
    }


# -- rendering ----------------------------------------------------------------------------------


def render(
    source: bytes,
    *,
    mime_type: str,
    params: PreviewParams,
    accept: str,
    size: int | None = None,
    max_pixels: int = MAX_PIXELS,
) -> tuple[bytes, str]:
    """The preview of a file: (image bytes, Content-Type). ``size`` is the file's size in bytes
    (``len(source)`` when None). CPU-bound: call from a worker thread (PreviewEngine)."""
    vips = _pyvips()
    if size is None:
        size = len(source)
    chosen = plan(mime_type=mime_type, size=size, params=params, accept=accept)
    background = params.background
    if chosen.icon is not None:
        source, background = icons.icon_png(chosen.icon), background or "eceff1"
    try:
        image = _crop(source, params, max_pixels=max_pixels)
        image = _effects(image, params, background)
        return _encode(image, chosen.output, params.quality, background), chosen.content_type
    except vips.Error:
        raise AppwriteError("storage_file_type_unsupported") from None


def _open(source, max_pixels: int) -> pyvips.Image:
    """The source's header (no pixels decoded), checked: allowed loader and pixel count."""
    header = _pyvips().Image.new_from_buffer(source, "", access="sequential", fail_on=_FAIL_ON)
    loader = header.get("vips-loader").removesuffix("_buffer").removesuffix("_source")
    if loader not in _LOADERS:
        raise AppwriteError("storage_file_type_unsupported")
    if header.width * header.height > max_pixels:
        raise AppwriteError("storage_image_resolution_exceeded")
    return header


def _crop(source, p: PreviewParams, *, max_pixels: int) -> pyvips.Image:
    """Resize and crop to the requested box (Utopia Image::crop), decoding at reduced size when
    the format allows (JPEG, WebP, HEIF, SVG shrink on load)."""
    header = _open(source, max_pixels)
    w, h = header.width, header.height
    if header.get_typeof("orientation") and header.get("orientation") in (5, 6, 7, 8):
        w, h = h, w  # the box applies to the upright image
    width, height = p.width, p.height
    if not width and not height:
        width, height = w, h
    elif not width:
        width = max(1, int(height * (w / h)))
    elif not height:
        height = max(1, int(width / (w / h)))
    crop = "centre"
    if p.gravity != "center":
        # Scaled to cover the box, only one axis overflows: crop it at the gravity's side.
        horizontal, vertical = _SIDES[p.gravity]
        crop = horizontal if w * height > h * width else vertical
    # thumbnail_buffer's own fail_on does not reach the loader: pass it as a load option.
    options = {"height": height, "size": "both", "crop": crop, "option_string": f"fail_on={_FAIL_ON}"}
    return _pyvips().Image.thumbnail_buffer(source, width, **options)


# gravity -> libvips crop when the overflow is horizontal, when it is vertical
_SIDES = {
    "top-left": ("low", "low"),
    "top": ("centre", "low"),
    "top-right": ("high", "low"),
    "left": ("low", "centre"),
    "right": ("high", "centre"),
    "bottom-left": ("low", "high"),
    "bottom": ("centre", "high"),
    "bottom-right": ("high", "high"),
}


def _rgb(color: str) -> list[int]:
    return [int(color[i : i + 2], 16) for i in (0, 2, 4)]


def _with_alpha(image: pyvips.Image) -> pyvips.Image:
    return image if image.hasalpha() else image.bandjoin(255)


def _alpha_times(image: pyvips.Image, factor) -> pyvips.Image:
    """``image`` with its alpha multiplied by ``factor`` (a number or a 0..255 mask image)."""
    image = _with_alpha(image)
    colour, alpha = image.extract_band(0, n=image.bands - 1), image[image.bands - 1]
    alpha = alpha * factor / 255 if isinstance(factor, _pyvips().Image) else alpha * factor
    return colour.bandjoin(alpha.cast("uchar"))


def _effects(image: pyvips.Image, p: PreviewParams, background: str) -> pyvips.Image:
    """Opacity, background, border, radius, rotation: Appwrite's order (storage.php)."""
    if image.interpretation != "srgb":
        image = image.colourspace("srgb")
    if image.format != "uchar":
        image = image.cast("uchar")
    if p.opacity < 1:
        image = _alpha_times(image, p.opacity)
    if background and image.hasalpha():
        image = image.flatten(background=_rgb(background)).cast("uchar")
    border = p.border_width
    border_rgb = _rgb(p.border_color or "000000")
    if p.border_radius:
        if border:
            # The border follows the rounded outline: a rounded frame with the picture rounded
            # by what is left of the radius inside it.
            inner = _with_alpha(_rounded(image, max(p.border_radius - border, 0)))
            frame = _pyvips().Image.black(image.width + 2 * border, image.height + 2 * border)
            frame = frame.new_from_image([*border_rgb, 255]).copy(interpretation="srgb")
            image = _rounded(frame, p.border_radius).composite2(inner, "over", x=border, y=border).cast("uchar")
        else:
            image = _rounded(image, p.border_radius)
    elif border:
        fill = [*border_rgb, 255] if image.hasalpha() else border_rgb
        image = image.embed(
            border, border, image.width + 2 * border, image.height + 2 * border, extend="background", background=fill
        )
    if p.rotation:
        image = _rotated(image, p.rotation)
    return image


def _rounded(image: pyvips.Image, radius: int) -> pyvips.Image:
    """Corners outside a rounded rectangle of ``radius`` made transparent (antialiased). The mask
    is arithmetic on pixel coordinates, so it streams like the rest of the pipeline."""
    w, h = image.width, image.height
    radius = min(radius, w / 2, h / 2)
    if radius <= 0:
        return image
    xy = _pyvips().Image.xyz(w, h) + 0.5  # pixel centres
    x, y = xy[0], xy[1]
    # How far a pixel reaches into a corner square, along each axis (0 outside the squares).
    dx = (x < radius).ifthenelse(radius - x, (x > w - radius).ifthenelse(x - (w - radius), 0))
    dy = (y < radius).ifthenelse(radius - y, (y > h - radius).ifthenelse(y - (h - radius), 0))
    distance = ((dx > 0) & (dy > 0)).ifthenelse((dx * dx + dy * dy) ** 0.5, 0)
    coverage = radius + 0.5 - distance
    coverage = (coverage > 1).ifthenelse(1, (coverage < 0).ifthenelse(0, coverage))
    return _alpha_times(image, coverage * 255)


def _rotated(image: pyvips.Image, degrees: int) -> pyvips.Image:
    """Clockwise rotation on a canvas grown to the rotated box, transparent around; the box is
    ImageMagick 7's (RotateImage → DistortImage best fit), so sizes match Appwrite's."""
    if image.width * image.height > ROTATE_MAX_PIXELS:
        raise AppwriteError("storage_image_resolution_exceeded")
    image = image.copy_memory()  # rotation reads the source out of order
    if degrees % 90 == 0:
        return image.rot(f"d{degrees}")
    w, h = image.width, image.height
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    half_w, half_h = (abs(w * cos) + abs(h * sin)) / 2, (abs(w * sin) + abs(h * cos)) / 2
    x0, y0 = math.floor(w / 2 - half_w - 0.5), math.floor(h / 2 - half_h - 0.5)
    out_w, out_h = math.ceil(w / 2 + half_w - x0 + 0.5), math.ceil(h / 2 + half_h - y0 + 0.5)
    image = _with_alpha(image).premultiply()
    image = image.affine(
        [cos, -sin, sin, cos],
        oarea=[0, 0, out_w, out_h],
        idx=-w / 2,
        idy=-h / 2,
        odx=w / 2 - x0,
        ody=h / 2 - y0,
        interpolate=_pyvips().Interpolate.new("bilinear"),
        extend="background",
        background=[0] * image.bands,
        premultiplied=True,
    )
    return image.unpremultiply().cast("uchar")


def _encode(image: pyvips.Image, output: str, quality: int, background: str) -> bytes:
    """Encode without metadata. jpg/webp/avif take ``quality``; png maps it to zlib level
    ``9 - round(quality * 9 / 100)`` (Utopia Image); jpg has no alpha: flattened on ``background``,
    white when none is given."""
    if output == "jpg":
        return image.jpegsave_buffer(Q=max(quality, 1), keep="none", background=_rgb(background or "ffffff"))
    if output == "png":
        return image.pngsave_buffer(compression=9 - math.floor(quality * 9 / 100 + 0.5), keep="none")
    if output == "gif":
        return image.gifsave_buffer(keep="none")
    if output == "webp":
        return image.webpsave_buffer(Q=quality, keep="none")
    # avif: AV1 in HEIF; a low effort keeps encoding time near the other formats'
    return image.heifsave_buffer(Q=max(quality, 1), compression="av1", effort=2, keep="none")
