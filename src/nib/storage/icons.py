"""The images a preview shows for files it cannot picture (Appwrite's storage "logos").

Appwrite 1.5 has three: a video icon for video types, an image icon for pictures over the
preview size limit, and a generic file icon for everything else. nib draws its own as small SVG
documents, rendered once to PNG when preview.py first loads libvips (transparent background: the
preview's ``background`` — ``eceff1`` by default for icons — shows through). Rendering happens
then, once, before any user file is decoded, because the SVG loader stays blocked for everything
else (preview.py): user files never reach librsvg.
"""

from __future__ import annotations

from types import ModuleType

# Appwrite's video list (app/config/storage/logos.php), plus any other video/* type.
_VIDEO_TYPES = frozenset(
    {
        "video/mp4",
        "video/x-flv",
        "application/x-mpegURL",
        "video/MP2T",
        "video/3gpp",
        "video/quicktime",
        "video/x-msvideo",
        "video/x-ms-wmv",
    }
)

SIZE = 512  # pixels on each side when the preview asks for neither width nor height
_INK = "#90a4ae"
_PAPER = "#cfd8dc"

_SHAPES = {
    "file": (
        f'<path d="M16 4h24l12 12v44H16z" fill="{_INK}"/>'
        f'<path d="M40 4v12h12z" fill="{_PAPER}"/>'
        f'<path d="M22 30h24M22 38h24M22 46h16" stroke="{_PAPER}" stroke-width="3"/>'
    ),
    "video": (
        f'<rect x="6" y="14" width="52" height="36" rx="5" fill="{_INK}"/><path d="M27 23v18l15-9z" fill="{_PAPER}"/>'
    ),
    "image": (
        f'<rect x="6" y="12" width="52" height="40" rx="4" fill="{_INK}"/>'
        f'<path d="M10 48l14-18 10 12 7-8 13 14z" fill="{_PAPER}"/>'
        f'<circle cx="44" cy="22" r="5" fill="{_PAPER}"/>'
    ),
}


def icon_for(mime_type: str) -> str:
    """The icon of a file that is not a previewable image: ``video`` or ``file``."""
    return "video" if mime_type in _VIDEO_TYPES or mime_type.startswith("video/") else "file"


_PNG: dict[str, bytes] = {}


def render_all(pyvips: ModuleType) -> None:
    """Draw the icons (preview.py calls this once, as it loads libvips, before any preview)."""
    pyvips.operation_block_set("VipsForeignLoadSvg", False)
    for name, shapes in _SHAPES.items():
        svg = (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 64 64">{shapes}</svg>'
        )
        _PNG[name] = pyvips.Image.svgload_buffer(svg.encode()).pngsave_buffer()
    pyvips.operation_block_set("VipsForeignLoadSvg", True)


def icon_png(name: str) -> bytes:
    """Icon ``name`` (``file``, ``video`` or ``image``): a SIZE-pixel square PNG with alpha."""
    return _PNG[name]
