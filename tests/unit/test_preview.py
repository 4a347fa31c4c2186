"""nib.storage.preview and preview_engine: Appwrite's preview parameters on real images made
with libvips, the icons, hostile inputs (bounded time and memory), the device cache and the
merging of identical concurrent renders."""

from __future__ import annotations

import resource
import struct
import threading
import time
import tracemalloc
import zlib

import pytest
import pyvips

from nib.http.routing import validate
from nib.storage.devices.local import LocalDevice
from nib.storage.preview import PREVIEW_LIMIT, QUERY_PARAMS, PreviewParams, render, response_headers
from nib.storage.preview_engine import PreviewEngine
from nib.tools.errors import AppwriteError

RED, GREEN, BLUE = [255, 0, 0], [0, 255, 0], [0, 0, 255]
ANY = "*/*"  # what the SDKs send


def solid(width: int, height: int, color: list[int]) -> pyvips.Image:
    return pyvips.Image.black(width, height).new_from_image(color).copy(interpretation="srgb")


def stripes(width: int, height: int, colors: list[list[int]], vertical: bool) -> pyvips.Image:
    """Equal bands of ``colors``: side by side, or stacked top to bottom when ``vertical``."""
    parts = [solid(width // 3, height, c) if not vertical else solid(width, height // 3, c) for c in colors]
    return pyvips.Image.arrayjoin(parts, across=1 if vertical else 3)


@pytest.fixture(scope="module")
def logo() -> bytes:
    """Like Appwrite's logo.png: 1200x1200 PNG with alpha (a transparent frame around red)."""
    inner = solid(1000, 1000, [*RED, 255])
    return inner.embed(100, 100, 1200, 1200, extend="background", background=[0, 0, 0, 0]).pngsave_buffer()


@pytest.fixture(scope="module")
def landscape() -> bytes:
    return stripes(1200, 400, [RED, GREEN, BLUE], vertical=False).jpegsave_buffer(Q=95)


@pytest.fixture(scope="module")
def portrait() -> bytes:
    return stripes(400, 1200, [RED, GREEN, BLUE], vertical=True).pngsave_buffer()


def run(source: bytes, mime_type: str = "image/png", accept: str = ANY, **params) -> tuple[pyvips.Image, str]:
    data, content_type = render(source, mime_type=mime_type, params=PreviewParams(**params), accept=accept)
    return pyvips.Image.new_from_buffer(data, ""), content_type


def loader(image: pyvips.Image) -> str:
    return image.get("vips-loader")


def near(pixel, expected, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected))


# -- Appwrite's test vectors ----------------------------------------------------------------------


@pytest.mark.parametrize("rotation", [45, -315])
def test_rounded_half_transparent_rotated_png_is_284_square(logo, rotation):
    image, content_type = run(
        logo, width=300, height=100, border_radius=50, opacity=0.5, output="png", rotation=rotation
    )
    assert (image.width, image.height, content_type, loader(image)) == (284, 284, "image/png", "pngload_buffer")
    assert image.bands == 4
    assert image(0, 0)[3] == 0  # outside the rotated box
    assert 120 <= image(142, 142)[3] <= 130  # opacity 0.5 at the centre
    assert near(image(142, 142)[:3], RED)


def test_bordered_jpeg_is_210_by_90(logo):
    image, content_type = run(logo, width=200, height=80, border_width=5, border_color="ff0000", output="jpg")
    assert (image.width, image.height, content_type, loader(image)) == (210, 90, "image/jpeg", "jpegload_buffer")
    assert near(image(2, 45), RED)


# -- geometry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "size"),
    [
        ({}, (1200, 400)),
        ({"width": 300}, (300, 100)),
        ({"height": 100}, (300, 100)),
        ({"width": 300, "height": 300}, (300, 300)),
        ({"width": 2400, "height": 100}, (2400, 100)),
    ],
)
def test_box_keeps_aspect_when_one_side_is_zero(landscape, params, size):
    image, _ = run(landscape, "image/jpeg", **params)
    assert (image.width, image.height) == size


@pytest.mark.parametrize(
    ("gravity", "landscape_color", "portrait_color"),
    [
        ("center", GREEN, GREEN),
        ("left", RED, GREEN),
        ("right", BLUE, GREEN),
        ("top", GREEN, RED),
        ("bottom", GREEN, BLUE),
        ("top-left", RED, RED),
        ("top-right", BLUE, RED),
        ("bottom-left", RED, BLUE),
        ("bottom-right", BLUE, BLUE),
    ],
)
def test_gravity_crops_at_its_side(landscape, portrait, gravity, landscape_color, portrait_color):
    wide, _ = run(landscape, "image/jpeg", width=100, height=100, gravity=gravity)
    tall, _ = run(portrait, width=100, height=100, gravity=gravity)
    assert (wide.width, wide.height, tall.width, tall.height) == (100, 100, 100, 100)
    assert near(wide(50, 50), landscape_color)
    assert near(tall(50, 50), portrait_color)


def test_exif_orientation_is_applied_before_the_box():
    sideways = solid(400, 200, RED).copy()
    sideways.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = sideways.jpegsave_buffer()
    assert run(data, "image/jpeg")[0].width == 200
    image, _ = run(data, "image/jpeg", width=100)
    assert (image.width, image.height) == (100, 200)


def test_border_adds_its_width_on_every_side(landscape):
    image, _ = run(landscape, "image/jpeg", width=100, height=50, border_width=10)
    assert (image.width, image.height) == (120, 70)
    assert near(image(0, 0), [0, 0, 0])  # no borderColor: black
    assert near(image(60, 35), GREEN)


def test_border_follows_the_radius(landscape):
    image, _ = run(
        landscape,
        "image/jpeg",
        width=100,
        height=50,
        border_width=10,
        border_color="0000ff",
        border_radius=20,
        output="png",
    )
    assert (image.width, image.height, image.bands) == (120, 70, 4)
    assert image(0, 0)[3] == 0
    assert near(image(60, 2), [*BLUE, 255])
    assert near(image(60, 35), [*GREEN, 255])


@pytest.mark.parametrize(
    ("rotation", "size"), [(90, (50, 100)), (180, (100, 50)), (-90, (50, 100)), (360, (100, 50)), (30, (114, 96))]
)
def test_rotation_grows_the_canvas_to_the_rotated_box(landscape, rotation, size):
    image, _ = run(landscape, "image/jpeg", width=100, height=50, rotation=rotation, output="png")
    assert (image.width, image.height) == size


def test_opacity_scales_alpha(landscape):
    image, _ = run(landscape, "image/jpeg", width=60, height=60, opacity=0.25, output="png")
    assert image.bands == 4 and 63 <= image(30, 30)[3] <= 64


def test_background_fills_transparency(logo):
    image, _ = run(logo, width=120, height=120, background="00ff00")
    assert image.bands == 3
    assert near(image(2, 2), GREEN) and near(image(60, 60), RED)


def test_opacity_zero_on_a_background_shows_only_the_background(logo):
    image, _ = run(logo, width=120, height=120, opacity=0, background="0000ff", output="png")
    assert near(image(60, 60), BLUE)


# -- output formats -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sources(portrait) -> dict[str, bytes]:
    picture = pyvips.Image.new_from_buffer(portrait, "")
    return {
        "image/png": portrait,
        "image/jpeg": picture.jpegsave_buffer(),
        "image/gif": picture.gifsave_buffer(),
        "image/webp": picture.webpsave_buffer(),
    }


@pytest.mark.parametrize(
    ("mime_type", "output", "accept", "content_type", "loaded_by"),
    [
        ("image/png", "", ANY, "image/png", "pngload_buffer"),
        ("image/jpeg", "", ANY, "image/jpeg", "jpegload_buffer"),
        ("image/gif", "", ANY, "image/gif", "gifload_buffer"),
        ("image/webp", "", ANY, "image/webp", "webpload_buffer"),
        ("image/png", "jpeg", ANY, "image/jpeg", "jpegload_buffer"),
        ("image/png", "gif", ANY, "image/gif", "gifload_buffer"),
        ("image/png", "webp", ANY, "image/jpeg", "jpegload_buffer"),  # no image/webp in Accept
        ("image/png", "webp", "image/avif,image/webp,*/*", "image/webp", "webpload_buffer"),
        ("image/jpeg", "avif", ANY, "image/avif", "heifload_buffer"),
    ],
)
def test_output_format(sources, mime_type, output, accept, content_type, loaded_by):
    image, sent = run(sources[mime_type], mime_type, accept, width=90, height=120, output=output)
    assert (sent, loader(image), image.width, image.height) == (content_type, loaded_by, 90, 120)


def test_quality_sets_jpeg_and_png_compression(portrait):
    def size(**params) -> int:
        return len(render(portrait, mime_type="image/png", params=PreviewParams(**params), accept=ANY)[0])

    assert size(output="jpg", quality=10) < size(output="jpg", quality=90)
    assert size(output="png", quality=0) < size(output="png", quality=100)  # 100 -> zlib level 0


# -- icons ----------------------------------------------------------------------------------------


def icon(mime_type: str, size: int = 1000, **params) -> tuple[bytes, str]:
    return render(b"%PDF-1.4 not an image", mime_type=mime_type, params=PreviewParams(**params), accept=ANY, size=size)


def test_non_images_get_an_icon_on_appwrite_grey():
    data, content_type = icon("application/pdf")
    image = pyvips.Image.new_from_buffer(data, "")
    assert (content_type, image.width, image.height, image.bands) == ("image/png", 512, 512, 3)
    assert near(image(0, 0), [0xEC, 0xEF, 0xF1], 0)
    assert icon("text/plain") == icon("application/pdf")  # one generic file icon
    assert icon("video/mp4") == icon("video/quicktime") != icon("application/pdf")


def test_images_over_the_preview_limit_get_the_image_icon(logo):
    data, content_type = render(
        logo, mime_type="image/png", params=PreviewParams(width=64, output="jpg"), accept=ANY, size=PREVIEW_LIMIT + 1
    )
    image = pyvips.Image.new_from_buffer(data, "")
    assert (content_type, image.width, image.height) == ("image/jpeg", 64, 64)
    assert icon("image/png", PREVIEW_LIMIT + 1) not in (icon("application/pdf"), icon("video/mp4"))


def test_icons_take_the_preview_params():
    image = pyvips.Image.new_from_buffer(icon("application/zip", width=100, height=50, background="000000")[0], "")
    assert (image.width, image.height) == (100, 50)
    assert near(image(0, 0), [0, 0, 0], 0)


# -- hostile input --------------------------------------------------------------------------------


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def grey_png(width: int, height: int, rows: int) -> bytes:
    """A PNG declaring ``width`` x ``height`` whose data holds ``rows`` rows of zeros."""
    pack = zlib.compressobj(1)
    row_block = b"\0" * (width + 1) * min(rows, 500)
    body = [pack.compress(row_block) for _ in range(rows // 500)]
    body.append(pack.compress(b"\0" * (width + 1) * (rows % 500)) + pack.flush())
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", b"".join(body)) + png_chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """A complete 17000x17000 PNG: 289 MB of pixels in about 1 MB."""
    return grey_png(17000, 17000, 17000)


def assert_refused(source: bytes, error_type: str, **engine) -> None:
    """Refused with ``error_type`` within 3 s, without the process growing by 64 MB (nor Python's
    heap by 8 MB: the source is never copied)."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(AppwriteError) as refused:
        PreviewEngine(**engine).render(source, mime_type="image/png", params=PreviewParams(width=100), accept=ANY)
    elapsed = time.monotonic() - started
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert (refused.value.type, refused.value.code) == (error_type, 400)
    assert elapsed < 3 and python_peak < 8 << 20 and grown_kib < 64 * 1024


def test_absurd_declared_dimensions_are_refused_from_the_header():
    assert_refused(grey_png(60000, 60000, 10), "storage_image_resolution_exceeded")


def test_decompression_bomb_is_refused(bomb):
    assert len(bomb) < 2 << 20
    assert_refused(bomb, "storage_image_resolution_exceeded")


def test_pixel_limit_is_configurable():
    assert_refused(grey_png(2000, 2000, 2000), "storage_image_resolution_exceeded", max_pixels=1_000_000)


def test_truncated_jpeg_is_unsupported(landscape):
    assert_refused(landscape[: len(landscape) // 2], "storage_file_type_unsupported")


def test_truncated_png_is_unsupported():
    assert_refused(grey_png(1000, 1000, 10), "storage_file_type_unsupported")


def test_random_bytes_are_unsupported():
    assert_refused(bytes(range(256)) * 40, "storage_file_type_unsupported")


def test_only_image_loaders_may_decode():
    svg = b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'
    assert_refused(svg, "storage_file_type_unsupported")


def test_large_jpeg_shrinks_on_load_in_bounded_memory():
    photo = stripes(6000, 4500, [RED, GREEN, BLUE], vertical=False).jpegsave_buffer()  # 27 MP, 81 MB decoded
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    image, _ = run(photo, "image/jpeg", width=400)
    assert (image.width, image.height) == (400, 300)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 40 * 1024


# -- engine: cache and merging --------------------------------------------------------------------

FILE_DIR = "project/bucket/file"


def cached(
    engine: PreviewEngine, device: LocalDevice, source: bytes, loads: list, signature: str = "sig", **params
) -> tuple[bytes, str]:
    def load() -> bytes:
        loads.append(1)
        time.sleep(0.2)  # keep concurrent callers waiting on the first
        return source

    return engine.cached_render(
        device,
        FILE_DIR,
        signature,
        load,
        mime_type="image/png",
        size=len(source),
        params=PreviewParams(**params),
        accept=ANY,
    )


def test_second_render_comes_from_the_device(tmp_path, portrait):
    device, engine, loads = LocalDevice(tmp_path), PreviewEngine(), []
    first = cached(engine, device, portrait, loads, width=50)
    assert cached(engine, device, portrait, loads, width=50) == first
    assert (engine.rendered, len(loads)) == (1, 1)
    assert len(list((tmp_path / FILE_DIR / "previews").iterdir())) == 1
    assert first[1] == "image/png" and pyvips.Image.new_from_buffer(first[0], "").width == 50


def test_cache_key_covers_params_output_and_signature(tmp_path, portrait):
    device, engine, loads = LocalDevice(tmp_path), PreviewEngine(), []
    cached(engine, device, portrait, loads, width=50)
    cached(engine, device, portrait, loads, width=50, rotation=-360)  # same as rotation 0
    cached(engine, device, portrait, loads, width=50, output="jpg")
    cached(engine, device, portrait, loads, width=50, output="jpeg")  # same as jpg
    cached(engine, device, portrait, loads, width=60)
    cached(engine, device, portrait, loads, signature="other", width=50)
    assert engine.rendered == 4


def test_deleting_the_file_prefix_drops_its_previews(tmp_path, portrait):
    device, engine, loads = LocalDevice(tmp_path), PreviewEngine(), []
    cached(engine, device, portrait, loads, width=50)
    device.delete_prefix(FILE_DIR + "/")
    cached(engine, device, portrait, loads, width=50)
    assert engine.rendered == 2


def test_icons_are_cached_without_loading_the_file(tmp_path):
    device, engine, loads = LocalDevice(tmp_path), PreviewEngine(), []
    for _ in range(2):
        data, content_type = engine.cached_render(
            device,
            FILE_DIR,
            "sig",
            lambda: loads.append(1),
            mime_type="video/mp4",
            size=10 << 30,
            params=PreviewParams(),
            accept=ANY,
        )
    assert (content_type, loads, engine.rendered) == ("image/png", [], 1)


def test_identical_concurrent_previews_render_once(tmp_path, portrait):
    device, engine, loads = LocalDevice(tmp_path), PreviewEngine(), []
    start, results = threading.Barrier(8), []

    def ask() -> None:
        start.wait()
        results.append(cached(engine, device, portrait, loads, width=40))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (engine.rendered, len(loads), len(results)) == (1, 1, 8)
    assert all(result == results[0] for result in results)


def test_merged_callers_share_the_error(tmp_path):
    device, engine, loads, errors = LocalDevice(tmp_path), PreviewEngine(), [], []
    start = threading.Barrier(4)

    def ask() -> None:
        start.wait()
        try:
            cached(engine, device, b"not an image at all", loads)
        except AppwriteError as error:
            errors.append(error.type)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (errors, len(loads), engine.rendered) == (["storage_file_type_unsupported"] * 4, 1, 1)
    assert not (tmp_path / FILE_DIR / "previews").exists()


# -- parameters -----------------------------------------------------------------------------------


def params_of(raw: dict) -> PreviewParams:
    return PreviewParams.from_query(**validate(QUERY_PARAMS, raw))


def test_defaults_and_normalisation():
    assert params_of({}) == PreviewParams()
    normalised = params_of(
        {
            "width": "300",
            "gravity": "Top-Left",
            "borderColor": "F0a",
            "opacity": "0.5",
            "rotation": "-315",
            "output": "PNG",
            "background": "",
            "quality": 0,
        }
    )
    assert normalised == PreviewParams(
        width=300, gravity="top-left", border_color="ff00aa", opacity=0.5, rotation=45, output="png", quality=0
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"width": "4001"}, "Invalid `width` param: Value must be a valid range between 0 and 4,000"),
        ({"height": "-1"}, "Invalid `height` param: Value must be a valid range between 0 and 4,000"),
        (
            {"gravity": "middle"},
            "Invalid `gravity` param: Value must be one of (center, top-left, top, top-right, "
            "left, right, bottom-left, bottom, bottom-right)",
        ),
        ({"quality": "101"}, "Invalid `quality` param: Value must be a valid range between 0 and 100"),
        ({"borderWidth": "1.5"}, "Invalid `borderWidth` param: Value must be a valid range between 0 and 100"),
        ({"borderColor": "#ffffff"}, "Invalid `borderColor` param: Value must be a valid Hex color code"),
        ({"borderRadius": "4001"}, "Invalid `borderRadius` param: Value must be a valid range between 0 and 4,000"),
        ({"opacity": "1.01"}, "Invalid `opacity` param: Value must be a valid range between 0 and 1"),
        ({"opacity": "nan"}, "Invalid `opacity` param: Value must be a valid range between 0 and 1"),
        ({"rotation": "361"}, "Invalid `rotation` param: Value must be a valid range between -360 and 360"),
        ({"background": "ggg"}, "Invalid `background` param: Value must be a valid Hex color code"),
        ({"output": "bmp"}, "Invalid `output` param: Value must be one of (jpg, jpeg, gif, png, webp, avif)"),
    ],
)
def test_invalid_params(raw, message):
    with pytest.raises(AppwriteError) as refused:
        validate(QUERY_PARAMS, raw)
    assert (refused.value.type, refused.value.message) == ("general_argument_invalid", message)


def test_response_headers_cache_for_30_days():
    assert response_headers("image/png", now=1_800_000_000) == {
        "Content-Type": "image/png",
        "Expires": "Sun, 14 Feb 2027 08:00:00 GMT",
        "Cache-Control": "private, max-age=2592000",
    }
