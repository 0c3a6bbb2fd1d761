"""Picture kinds: logos, bars (and dark scenes without them), shot cuts (and pans, zooms, flashes
that are not cuts), fades to and from black, camera flashes, and slideshows (and what is not one:
moving footage, a static shot with a watermark, one photo held, slides filmed off a screen).

Frame arithmetic goes through the pure transforms of :mod:`factorline.samples.transforms`
(``levels`` for fades, flashes, darkening and colour matching; ``letterbox``/``pillarbox``/
``windowbox``/``blurred_bars`` for bars), so the truth follows from the drawn arguments.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from PIL import Image, ImageDraw

from factorline.samples import facts as known
from factorline.samples import transforms as tf
from factorline.synth import corpus
from factorline.synth.kinds_text import _face, _finish, _saturated, fitted
from factorline.synth.layers import Layer, Style, place, text_block, trimmed, warped
from factorline.synth.materials import CLIPS, Background, Materials
from factorline.synth.truth import Facts, Sample, Spec, plain

SINGLE_SHOT = ("bigbuckbunny", "carphone")  # clips without cuts of their own: clean negatives


def _logo_layer(rng: np.random.Generator, m: Materials, spec: Spec) -> tuple[Layer, str, str | None]:
    """(layer trimmed to its pixels, logo type, its letters or None)."""
    w, _ = spec.size
    kind = str(rng.choice(["badge", "round", "text", "mark"]))
    letters = corpus.pick(rng, corpus.LOGO_LETTERS)
    face = _face(rng, m, "en")
    colour, ink = _saturated(rng), (255, 255, 255)
    lw = max(24, int(w * rng.uniform(0.08, 0.18)))
    lh = max(16, int(lw * rng.uniform(0.45, 0.8))) if kind in ("badge", "text") else lw
    if kind == "badge":
        rgba = tf.make_logo((lw, lh), letters, fitted(m, "en", face, int(lh * 0.55), [letters], Style(), lw - 6),
                            color=colour, text_color=ink)
        return trimmed(Layer(rgba))[0], kind, letters
    if kind == "text":
        style = Style(fill=colour, stroke=max(1, lh // 16), outline=(255, 255, 255))
        layer = text_block([(letters, fitted(m, "en", face, lh, [letters], style, lw))], style, gap=0)
        return trimmed(layer)[0], kind, letters
    image = Image.new("RGBA", (lw, lh), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if kind == "round":
        draw.ellipse((0, 0, lw - 1, lh - 1), fill=colour + (255,))
        font = fitted(m, "en", face, int(lh * 0.4), [letters], Style(), int(lw * 0.7))
        draw.text((lw / 2, lh / 2), letters, font=font, fill=ink + (255,), anchor="mm")
        return trimmed(Layer(np.asarray(image)))[0], kind, letters
    second = _saturated(rng)  # a mark: a triangle over a ring, no letters
    draw.ellipse((0, 0, lw - 1, lh - 1), outline=colour + (255,), width=max(2, lw // 8))
    draw.polygon([(lw * 0.5, lh * 0.2), (lw * 0.8, lh * 0.75), (lw * 0.2, lh * 0.75)], fill=second + (255,))
    return trimmed(Layer(np.asarray(image)))[0], kind, None


def logo(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    w, h = spec.size
    layer, kind, letters = _logo_layer(rng, m, spec)
    lw, lh = layer.size
    opacity = 1.0 if rng.random() < 0.3 else float(rng.uniform(0.2, 0.9))
    margin = int(rng.integers(8, 33) * spec.scale)
    if rng.random() < 0.7:
        where = str(rng.choice(["top_left", "top_right", "bottom_left", "bottom_right"]))
        x = margin if where.endswith("left") else w - lw - margin
        y = margin if where.startswith("top") else h - lh - margin
    else:
        where, x, y = "anywhere", int(rng.integers(0, w - lw + 1)), int(rng.integers(0, h - lh + 1))
    bg = m.background(rng, spec.frames, moving=bool(rng.random() < 0.6))
    facts = Facts(spec, logo_box=[x, y, lw, lh])
    if letters:
        facts.text("logo", letters, [x, y, lw, lh], (0, spec.frames), "en")
    params = {"type": kind, "letters": letters, "opacity": opacity, "where": where, "box": [x, y, lw, lh]}
    return _finish(spec, bg, facts, [(layer, x, y, opacity, (0, spec.frames))], params)


# Bars: (name, content aspect w/h, which sides). 9:16 and 4:3 are pillarboxes in a 16:9 frame.
ASPECTS = {"2.35": (2.35, "letterbox"), "1.85": (1.85, "letterbox"), "4:3": (4 / 3, "pillarbox"),
           "9:16": (9 / 16, "pillarbox"), "4:3-window": (4 / 3, "windowbox")}


def _even(value: float) -> int:
    return max(2, int(round(value / 2.0)) * 2)


def bar_sizes(size: tuple[int, int], aspect: float, mode: str, shrink: float = 0.85) -> tuple[int, int]:
    """(top, left) bar px (each side; even, so chroma subsampling keeps the edge) for ``aspect``."""
    w, h = size
    if mode == "letterbox":
        return _even((h - w / aspect) / 2), 0
    if mode == "pillarbox":
        return 0, _even((w - h * aspect) / 2)
    content_h = h * shrink  # a windowbox: a smaller picture of ``aspect``, bars on all sides
    return _even((h - content_h) / 2), _even((w - content_h * aspect) / 2)


def bars(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    w, h = spec.size
    negative = bool(rng.random() < 0.25)
    light = str(rng.choice(["dark", "normal", "bright"], p=[0.35, 0.4, 0.25]))
    gain, lift = {"dark": (float(rng.uniform(0.2, 0.5)), 0.0), "normal": (1.0, 0.0),
                  "bright": (float(rng.uniform(1.05, 1.3)), float(rng.uniform(10, 40)))}[light]
    bg = m.background(rng, spec.frames)
    facts = Facts(spec)
    if negative:  # a dark scene, sometimes vignetted, and no bars
        gain = float(rng.uniform(0.08, 0.3))
        vignette = bool(rng.random() < 0.5)
        yy, xx = np.mgrid[-1:1:h * 1j, -1:1:w * 1j]
        mask = np.clip(1.15 - 0.6 * (xx**2 + yy**2), 0.15, 1.0).astype(np.float32)[..., None] if vignette else None

        def dark(i: int, frame: np.ndarray) -> np.ndarray:
            out = tf.levels(frame, gain)
            return np.rint(out * mask).astype(np.uint8) if mask is not None else out

        params = {"negative": True, "gain": gain, "vignette": vignette}
        return _finish(spec, bg, facts, [], params, base=dark)
    name = str(rng.choice(list(ASPECTS)))
    aspect, mode = ASPECTS[name]
    top, left = bar_sizes(spec.size, aspect, mode, shrink=float(rng.uniform(0.7, 0.9)))
    fill = str(rng.choice(["black", "blurred", "color"], p=[0.6, 0.2, 0.2]))
    rgb = (0, 0, 0)
    if fill == "black" and rng.random() < 0.3:
        rgb = (int(rng.integers(1, 13)),) * 3  # near-black bars, as some encoders leave them
    elif fill == "color":
        rgb = (255, 255, 255) if rng.random() < 0.3 else (128, 128, 128) if rng.random() < 0.3 else _saturated(rng)

    def boxed(i: int, frame: np.ndarray) -> np.ndarray:
        frame = tf.levels(frame, gain, lift) if light != "normal" else frame
        if fill == "blurred":
            return tf.blurred_bars(frame, spec.size, top=top, left=left)
        return tf.windowbox(frame, spec.size, top, left, color=rgb)

    facts.border = known.border(spec.size, top=top, bottom=top, left=left, right=left, fill=fill)
    if fill == "color":
        facts.border["fill_rgb"] = list(rgb)
    params = {"negative": False, "aspect": name, "mode": mode, "fill": fill, "rgb": rgb, "light": light, "gain": gain,
              "lift": lift, "top": top, "left": left}
    return _finish(spec, bg, facts, [], params, base=boxed)


def _shot_lengths(rng: np.random.Generator, n: int, cuts: int, shortest: int = 12) -> list[int]:
    """Lengths of ``cuts + 1`` shots summing to ``n``, each at least ``shortest`` frames."""
    cuts = max(0, min(cuts, n // shortest - 1))
    spare = n - shortest * (cuts + 1)
    weights = rng.dirichlet(np.ones(cuts + 1))
    lengths = [shortest + int(v) for v in np.floor(weights * spare)]
    lengths[-1] += n - sum(lengths)
    return lengths


def _zoom_crop(frame: np.ndarray, size: tuple[int, int], scale: float, cx: float, cy: float) -> np.ndarray:
    """The window of ``scale`` x the frame centred near (cx, cy) (shares), enlarged to ``size``."""
    w, h = size
    cw, ch = max(2, int(w * scale)), max(2, int(h * scale))
    x0 = int(np.clip(cx * w - cw / 2, 0, w - cw))
    y0 = int(np.clip(cy * h - ch / 2, 0, h - ch))
    return tf.resize(np.ascontiguousarray(frame[y0 : y0 + ch, x0 : x0 + cw]), size)


def _matched(source: np.ndarray, target: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-channel (gain, offset) moving ``source``'s mean and spread onto ``target``'s."""
    s, t = source.reshape(-1, 3).astype(np.float64), target.reshape(-1, 3).astype(np.float64)
    gain = t.std(axis=0) / np.maximum(s.std(axis=0), 1.0)
    return gain.tolist(), (t.mean(axis=0) - s.mean(axis=0) * gain).tolist()


def cuts(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    n = spec.frames
    facts = Facts(spec)
    if rng.random() < 0.4:
        return _not_cuts(rng, m, spec, facts)
    mode = str(rng.choice(["different", "same_source", "jump", "matched"], p=[0.35, 0.2, 0.2, 0.25]))
    lengths = _shot_lengths(rng, n, int(rng.integers(1, 4)))
    first = m.background(rng, n, moving=True)
    shots: list[tuple[Background, tuple]] = []
    for k, length in enumerate(lengths):
        if mode == "different" or (mode == "matched" and k > 0):
            bg = m.background(rng, n, clips=SINGLE_SHOT if mode == "matched" else tuple(CLIPS))
        elif mode == "jump" and k > 0:
            stack = first.stack
            start = int((first.start + sum(lengths[:k]) + rng.integers(20, max(21, len(stack) // 2))) % len(stack))
            bg = Background(stack, start, first.cuts, {**first.params, "start": start})
        else:
            bg = first
        look = ()
        if mode == "same_source":
            look = ("crop", float(rng.uniform(0.55, 0.75)), float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.3, 0.7)))
        elif mode == "matched" and k > 0:
            look = ("match", *_matched(bg.frame(0), first.frame(0)))
        shots.append((bg, look))
    starts = np.cumsum([0] + lengths[:-1]).tolist()
    for (bg, _), start, length in zip(shots, starts, lengths):
        facts.cuts += [start + i for i in bg.cuts_in(length, offset=start if bg is first else 0)]
    facts.cuts += starts[1:]

    def frames() -> Iterator[np.ndarray]:
        for (bg, look), start, length in zip(shots, starts, lengths):
            for i in range(length):
                frame = bg.frame(start + i if bg is first else i)
                if look and look[0] == "crop":
                    frame = _zoom_crop(frame, spec.size, *look[1:])
                elif look:
                    frame = tf.levels(frame, look[1], look[2])
                yield frame

    params = {"cut": True, "mode": mode, "shots": [{"background": bg.params, "frames": length, "look": look}
                                                   for (bg, look), length in zip(shots, lengths)]}
    return Sample(frames(), plain(params), facts.record())


def _flash_spans(rng: np.random.Generator, n: int, count: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    for _ in range(count * 4):
        first = int(rng.integers(3, max(4, n - 4)))
        span = (first, min(n, first + int(rng.integers(1, 4))))
        if all(abs(first - a) >= 10 for a, _ in spans):
            spans.append(span)
        if len(spans) == count:
            break
    return sorted(spans)


def _flashed(frame: np.ndarray, i: int, spans: list[tuple[int, int]], strength: float) -> np.ndarray:
    for a, b in spans:
        if a <= i < b:
            k = strength * (0.6 ** (i - a))  # the flash decays over its frames
            return tf.levels(frame, 1.0 - k, 255.0 * k)
    return frame


def _not_cuts(rng: np.random.Generator, m: Materials, spec: Spec, facts: Facts) -> Sample:
    """Camera motion and flashes in one shot: what a cut detector must not call a cut."""
    n, (w, h) = spec.frames, spec.size
    motion = str(rng.choice(["pan", "zoom", "flash"]))
    strength = float(rng.uniform(0.5, 0.95))
    spans = _flash_spans(rng, n, int(rng.integers(1, 3))) if motion == "flash" or rng.random() < 0.3 else []
    facts.flashes = spans
    if motion == "pan":
        ref_bg = m.background(rng, n, moving=False)
        canvas = m.photo(ref_bg.params["source"])
        horizontal = bool(rng.random() < 0.6)
        travel = (canvas.shape[1] - w) if horizontal else (canvas.shape[0] - h)
        path = np.linspace(0, travel, n).round().astype(int)
        path = path[::-1] if rng.random() < 0.5 else path
        offset = int(rng.integers(0, (canvas.shape[0] - h if horizontal else canvas.shape[1] - w) + 1))

        def frame_at(i: int) -> np.ndarray:
            x, y = (path[i], offset) if horizontal else (offset, path[i])
            return m.crop(canvas, int(x), int(y))

        params = {"source": ref_bg.params["source"], "horizontal": horizontal, "travel": int(travel)}
    else:
        bg = m.background(rng, n, clips=SINGLE_SHOT)
        end_scale = float(rng.uniform(0.6, 0.85)) if motion == "zoom" else 1.0
        centre = (float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65)))
        scales = np.linspace(1.0, end_scale, n)

        def frame_at(i: int) -> np.ndarray:
            frame = bg.frame(i)
            return _zoom_crop(frame, spec.size, float(scales[i]), *centre) if motion == "zoom" else frame

        params = {"background": bg.params, "end_scale": end_scale, "centre": centre}
    frames = (_flashed(frame_at(i), i, spans, strength) for i in range(n))
    return Sample(frames, plain({"cut": False, "motion": motion, "flash_strength": strength, **params}), facts.record())


def fades(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    n = spec.frames
    shape = str(rng.choice(["in", "out", "dip"]))
    ramp = int(rng.integers(6, max(7, min(21, n // 4))))
    hold = int(rng.integers(4, max(5, min(26, n // 4))))
    gains = np.ones(n)
    facts = Facts(spec)
    down = 1.0 - np.arange(1, ramp + 1) / (ramp + 1)  # ramp frames, never 0 (the black hold is exact)
    if shape == "in":
        gains[:hold], gains[hold : hold + ramp] = 0.0, down[::-1]
        facts.black, facts.fades = [(0, hold)], [{"type": "in", "first": hold, "end": hold + ramp}]
    elif shape == "out":
        gains[n - hold - ramp : n - hold], gains[n - hold :] = down, 0.0
        facts.black, facts.fades = [(n - hold, n)], [{"type": "out", "first": n - hold - ramp, "end": n - hold}]
    else:
        a = int(rng.integers(ramp + 2, max(ramp + 3, n - hold - 2 * ramp - 2)))
        gains[a : a + ramp], gains[a + ramp : a + ramp + hold] = down, 0.0
        gains[a + ramp + hold : a + 2 * ramp + hold] = down[::-1]
        facts.black = [(a + ramp, a + ramp + hold)]
        facts.fades = [{"type": "out", "first": a, "end": a + ramp},
                       {"type": "in", "first": a + ramp + hold, "end": a + 2 * ramp + hold}]
    bg = m.background(rng, n, clips=SINGLE_SHOT)
    params = {"shape": shape, "ramp_frames": ramp, "hold_frames": hold}
    return _finish(spec, bg, facts, [], params,
                   base=lambda i, frame: frame if gains[i] == 1.0 else tf.levels(frame, float(gains[i])))


def flashes(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    strength = float(rng.uniform(0.5, 0.95))
    spans = _flash_spans(rng, spec.frames, int(rng.integers(1, 4)))
    bg = m.background(rng, spec.frames, clips=SINGLE_SHOT)
    facts = Facts(spec, flashes=spans)
    return _finish(spec, bg, facts, [], {"strength": strength, "count": len(spans)},
                   base=lambda i, frame: _flashed(frame, i, spans, strength))


VIDEO_KINDS = {"logo": logo, "bars": bars, "cuts": cuts, "fades": fades, "flashes": flashes}


# --------------------------------------------------------------------------- slideshows

SLIDE_S = (1.5, 6.0)  # how long each slide is shown (s), before the lengths are fitted to the clip
MAX_SLIDES = 8
SLIDE_COLOURS = ((250, 250, 248), (24, 32, 56), (18, 18, 18), (232, 240, 250), (40, 70, 60), (250, 244, 228))


def _text_slide(rng: np.random.Generator, m: Materials, spec: Spec) -> tuple[np.ndarray, list[tuple[str, list[int]]], dict]:
    """A presentation slide: a plain or two-tone backdrop, a title and 2-4 bullet rows (the
    engine's fonts, fitted to the frame). Returns (frame, [(text, inked box)], params)."""
    w, h = spec.size
    language = corpus.language(rng, (0.6, 0.2, 0.2))
    face = _face(rng, m, language)
    paper = SLIDE_COLOURS[int(rng.integers(len(SLIDE_COLOURS)))]
    dark = sum(paper) < 380
    ink = (245, 245, 245) if dark else (30, 30, 40)
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = paper
    band = bool(rng.random() < 0.5)
    if band:  # a title band in a saturated colour
        frame[: int(h * 0.24)] = _saturated(rng)
    title = corpus.pick(rng, corpus.TITLES[language])
    rows = [("• " if language != "zh" else "· ") + corpus.sentence(rng, language) for _ in range(int(rng.integers(2, 5)))]
    title_style = Style(fill=(255, 255, 255) if band or dark else ink)
    row_style = Style(fill=ink)
    title_layer = text_block([(title, fitted(m, language, face, spec.px(rng, 28, 40), [title], title_style, w - 32))],
                             title_style, gap=0)
    row_font = fitted(m, language, face, spec.px(rng, 15, 22), rows, row_style, w - 40)
    rows_layer = text_block([(r, row_font) for r in rows], row_style, gap=max(3, int(8 * spec.scale)), align="left")
    tx, ty = (w - title_layer.size[0]) // 2, max(0, int(h * 0.12) - title_layer.size[1] // 2)
    rx, ry = int(w * 0.06), min(h - rows_layer.size[1], int(h * 0.32))
    frame = place(place(frame, title_layer, tx, ty), rows_layer, max(0, rx), max(0, ry))
    texts = [(title, title_layer.placed(tx, ty)[0])] + list(zip(rows, rows_layer.placed(max(0, rx), max(0, ry))))
    texts = [(t, b) for t, b in texts if b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= w and b[1] + b[3] <= h and b[2] > 0 and b[3] > 0]
    return frame, texts, {"type": "text", "language": language, "font": m.font_name(language, face), "paper": paper,
                          "band": band, "rows": len(rows)}


def _photo_slide(rng: np.random.Generator, m: Materials, spec: Spec) -> tuple[np.ndarray, list, dict]:
    bg = m.background(rng, 1, moving=False)
    return np.ascontiguousarray(bg.frame(0)), [], {"type": "photo", **bg.params}


def _slides(rng: np.random.Generator, m: Materials, spec: Spec, count: int, text_share: float) -> list[tuple]:
    """``count`` slides (photos or text slides), no two neighbours from the same photo."""
    out: list[tuple] = []
    while len(out) < count:
        slide = _text_slide(rng, m, spec) if rng.random() < text_share else _photo_slide(rng, m, spec)
        if out and slide[2].get("source") is not None and slide[2].get("source") == out[-1][2].get("source"):
            continue
        out.append(slide)
    return out


def _slide_lengths(rng: np.random.Generator, n: int, fps: float) -> list[int]:
    """Frames per slide: 2-8 slides of about 1.5-6 s filling ``n`` frames (at least 2 slides:
    a clip too short for two 1.5-s slides splits in halves)."""
    short, long = SLIDE_S[0] * fps, SLIDE_S[1] * fps
    low = max(2, int(np.ceil(n / long)))
    high = max(low, min(MAX_SLIDES, int(n // short)))
    count = min(int(rng.integers(low, high + 1)), max(2, n))
    return _shot_lengths(rng, n, count - 1, shortest=max(1, min(int(short), n // count)))


def _mark(rng: np.random.Generator, m: Materials, spec: Spec, facts: Facts) -> tuple[Layer, int, int, float, dict]:
    """A corner logo or text watermark over the whole clip (recorded in ``facts``)."""
    w, h = spec.size
    where = str(rng.choice(["top_left", "top_right", "bottom_left", "bottom_right"]))
    margin = int(rng.integers(8, 25) * spec.scale)
    if rng.random() < 0.5:
        layer, kind, letters = _logo_layer(rng, m, spec)
        text, cls = letters, "logo"
    else:
        text, kind, cls = corpus.pick(rng, corpus.WATERMARKS), "watermark", "watermark"
        style = Style(fill=(255, 255, 255), stroke=1, outline=(0, 0, 0))
        layer = trimmed(text_block([(text, fitted(m, "en", _face(rng, m, "en"), spec.px(rng, 13, 22), [text], style,
                                                  int(w * 0.45)))], style, gap=0))[0]
    lw, lh = layer.size
    x = margin if where.endswith("left") else w - lw - margin
    y = margin if where.startswith("top") else h - lh - margin
    opacity = float(rng.uniform(0.4, 1.0))
    if cls == "logo":
        facts.logo_box = [x, y, lw, lh]
    if text:  # a logo's letters are recorded with the logo's box, as the logo kind does
        facts.text(cls, text, layer.placed(x, y)[0] if cls == "watermark" else [x, y, lw, lh], (0, spec.frames), "en")
    return layer, x, y, opacity, {"mark": kind, "text": text, "where": where, "opacity": opacity, "box": [x, y, lw, lh]}


def _show(rng: np.random.Generator, m: Materials, spec: Spec, facts: Facts, *, count_range=None, text_share=0.35,
          motion: bool = True, record_texts: bool = True):
    """A slideshow's frames (a function of the frame index) and its params: slides of
    :func:`_slide_lengths`, hard cuts or 0.3-1 s crossfades, sometimes 0.2-0.8 s of black
    between slides, sometimes a slow Ken Burns zoom on photos (``motion``)."""
    n, fps = spec.frames, spec.fps
    if count_range is None:
        lengths = _slide_lengths(rng, n, fps)
    else:
        lengths = _shot_lengths(rng, n, int(rng.integers(*count_range)) - 1, shortest=max(1, min(int(SLIDE_S[0] * fps), n // 3)))
    slides = _slides(rng, m, spec, len(lengths), text_share)
    transition = str(rng.choice(["cut", "crossfade"], p=[0.6, 0.4]))
    fade = int(rng.uniform(0.3, 1.0) * fps) if transition == "crossfade" else 0
    black = int(rng.uniform(0.2, 0.8) * fps) if transition == "cut" and rng.random() < 0.3 else 0
    burns = motion and bool(rng.random() < 0.3)
    starts = np.cumsum([0] + lengths[:-1]).tolist()
    zooms = []
    for (frame, texts, params), start, length in zip(slides, starts, lengths):
        zoom = burns and params["type"] == "photo" and bool(rng.random() < 0.6)
        end_scale = float(rng.uniform(0.8, 0.92)) if zoom else 1.0
        centre = (float(rng.uniform(0.35, 0.65)), float(rng.uniform(0.35, 0.65)))
        zooms.append((end_scale, centre))
        params.update({"frames": length, "zoom": end_scale})
    gap = [min(black, length // 3) if k else 0 for k, length in enumerate(lengths)]
    for k, (start, length) in enumerate(zip(starts, lengths)):
        if k and gap[k]:
            facts.black.append((start, start + gap[k]))
        if k and not fade:
            facts.cuts.append(start + gap[k] if gap[k] else start)
        shown = (start + gap[k], start + length)
        if record_texts:
            for text, box in slides[k][1]:
                facts.text("title_card", text, box, shown, slides[k][2]["language"])

    def slide_frame(k: int, local: int) -> np.ndarray:
        frame = slides[k][0]
        end_scale, centre = zooms[k]
        if end_scale < 1.0:
            scale = 1.0 - (1.0 - end_scale) * local / max(1, lengths[k] - 1)
            frame = _zoom_crop(frame, spec.size, scale, *centre)
        return frame

    def frame_at(i: int) -> np.ndarray:
        k = int(np.searchsorted(starts, i, side="right") - 1)
        local = i - starts[k]
        if local < gap[k]:
            return np.zeros_like(slides[k][0])
        frame = slide_frame(k, local)
        if fade and k + 1 < len(lengths) and local >= lengths[k] - fade:
            a = (local - (lengths[k] - fade) + 1) / (fade + 1)
            frame = np.rint((1 - a) * frame.astype(np.float32) + a * slide_frame(k + 1, 0).astype(np.float32)).astype(np.uint8)
        return frame

    params = {"transition": transition, "crossfade_frames": fade, "black_frames": black, "ken_burns": burns,
              "slides": [s[2] for s in slides]}
    return frame_at, params


def _screen_quad(rng: np.random.Generator, spec: Spec) -> np.ndarray:
    """A screen seen by a camera: 45-80 % of the frame wide, corners pushed by up to 6 %."""
    w, h = spec.size
    sw = w * rng.uniform(0.45, 0.8)
    sh = sw * h / w
    cx, cy = w * rng.uniform(0.35, 0.65), h * rng.uniform(0.4, 0.6)
    quad = np.array([[-sw, -sh], [sw, -sh], [sw, sh], [-sw, sh]], np.float64) / 2 + [cx, cy]
    quad += rng.uniform(-0.06, 0.06, (4, 2)) * [w, h]
    return np.clip(quad, 1, [w - 2, h - 2])


def _alive(rng: np.random.Generator, n: int):
    """A static real shot's life: sensor noise (sigma 1.5-4) and light changing slowly (+-10 %
    over the clip). Returns (base(i, frame), params)."""
    noise, drift = float(rng.uniform(1.5, 4.0)), float(rng.uniform(0.9, 1.1))
    noise_rng = np.random.Generator(np.random.PCG64(int(rng.integers(2**31))))

    def alive(i: int, frame: np.ndarray) -> np.ndarray:
        gain = 1.0 + (drift - 1.0) * i / max(1, n - 1)
        out = frame.astype(np.float32) * gain + noise_rng.normal(0.0, noise, frame.shape).astype(np.float32)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    return alive, {"noise": noise, "drift": drift}


def _montage(rng: np.random.Generator, m: Materials, spec: Spec, facts: Facts) -> Sample:
    """An edit of 2-5 shots, locked-off static real shots (photos with noise and light drift;
    sometimes a full-screen slide, as a filmed talk cuts to its slides) and moving footage, at
    least one of each, joined by hard cuts: still spans of several pictures, but film, not a
    slideshow."""
    n = spec.frames
    lengths = _shot_lengths(rng, n, int(rng.integers(1, 5)), shortest=max(1, min(int(SLIDE_S[0] * spec.fps), n // 2)))
    moving = [bool(rng.random() < 0.5) for _ in lengths]
    if len(lengths) > 1 and len(set(moving)) == 1:
        moving[int(rng.integers(len(moving)))] = not moving[0]
    starts = np.cumsum([0] + lengths[:-1]).tolist()
    shots = []
    for k, (start, length, move) in enumerate(zip(starts, lengths, moving)):
        bg = m.background(rng, length, moving=move)
        if not move and rng.random() < 0.4:  # a full-screen slide cut into a filmed talk
            frame, texts, look = _text_slide(rng, m, spec)
            bg = Background(frame[None], 0, (), {"source": "slide", **look})
            for text, box in texts:
                facts.text("title_card", text, box, (start, start + length), look["language"])
        life = None if move else _alive(rng, length)[0]
        shots.append((bg, life))
        facts.cuts += [start + i for i in bg.cuts_in(length)] + ([start] if k else [])

    def frames() -> Iterator[np.ndarray]:
        for (bg, life), length in zip(shots, lengths):
            for i in range(length):
                yield bg.frame(i) if life is None else life(i, bg.frame(i))

    params = {"slideshow": False, "mode": "montage",
              "shots": [{"background": bg.params, "frames": length, "moving": move}
                        for (bg, _), length, move in zip(shots, lengths, moving)]}
    return Sample(frames(), plain(params), facts.record())


def slideshow(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    """Slide decks and photo slideshows (``slideshow.is_slideshow`` true), and what is not one.

    Positives (about half): 2-8 slides (real photos and text slides: a title and bullet rows)
    of about 1.5-6 s each, hard cuts or 0.3-1 s crossfades, sometimes black between slides,
    sometimes a slow Ken Burns zoom on photos (motion: harder for a detector of static spans)
    and sometimes a corner logo or watermark. Negatives: real moving footage; a static real shot
    (a photo with sensor noise and a slow change of light) with a logo or watermark; one photo
    held for the whole clip (a still video, not a slideshow); a montage of static real shots
    (or full-screen slides, as in a filmed talk) and moving footage joined by cuts; and a slideshow filmed off a screen (warped into a quad
    of moving footage, with camera shake).
    """
    n, (w, h) = spec.frames, spec.size
    facts = Facts(spec)
    if rng.random() < 0.5:
        facts.slideshow = True
        frame_at, params = _show(rng, m, spec, facts)
        overlays = []
        if rng.random() < 0.3:
            layer, x, y, opacity, mark = _mark(rng, m, spec, facts)
            overlays, params = [(layer, x, y, opacity, (0, n))], {**params, **mark}
        bg = Background(np.zeros((1, h, w, 3), np.uint8), 0, (), {"source": "slides"})
        return _finish(spec, bg, facts, overlays, {"slideshow": True, **params}, base=lambda i, _: frame_at(i))
    facts.slideshow = False
    mode = str(rng.choice(["moving", "static_mark", "still", "montage", "screen"], p=[0.15, 0.15, 0.15, 0.3, 0.25]))
    if mode == "moving":
        bg = m.background(rng, n, moving=True)
        return _finish(spec, bg, facts, [], {"slideshow": False, "mode": mode})
    if mode in ("static_mark", "still"):
        bg = m.background(rng, n, moving=False)
        overlays, params = [], {}
        if mode == "static_mark":
            layer, x, y, opacity, params = _mark(rng, m, spec, facts)
            overlays = [(layer, x, y, opacity, (0, n))]
        alive, look = _alive(rng, n) if mode == "static_mark" else (lambda i, frame: frame, {})
        return _finish(spec, bg, facts, overlays, {"slideshow": False, "mode": mode, **look, **params}, base=alive)
    if mode == "montage":
        return _montage(rng, m, spec, facts)
    # A slideshow filmed off a screen: the slides warped into a quad over moving footage, camera shake.
    inner = Spec(spec.size, n, spec.fps)
    frame_at, params = _show(rng, m, inner, Facts(inner), count_range=(1, 4), motion=False, record_texts=False)
    quad = _screen_quad(rng, spec)
    bg = m.background(rng, n, moving=True)
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    shake = float(rng.uniform(1.0, 4.0)) * spec.scale
    walk = np.cumsum(rng.normal(0.0, shake / 2, (n, 2)), axis=0)
    walk = np.clip(walk - walk.mean(axis=0), -3 * shake, 3 * shake)
    margin = 3 * shake + 2
    scale = 1.0 - 2 * margin / min(w, h)
    screen_rgba = np.full((h, w, 4), 255, np.uint8)

    def filmed(i: int, frame: np.ndarray) -> np.ndarray:
        screen_rgba[..., :3] = tf.levels(frame_at(i), 0.85, 12.0)  # a screen's glow: lifted blacks
        layer = warped(Layer(screen_rgba), quad - [x0, y0], (int(x1 - x0), int(y1 - y0)))
        out = place(frame, layer, int(x0), int(y0))
        cx = 0.5 + walk[i, 0] / w
        cy = 0.5 + walk[i, 1] / h
        return _zoom_crop(out, spec.size, scale, cx, cy)

    return _finish(spec, bg, facts, [], {"slideshow": False, "mode": mode, "quad": quad.round(1).tolist(),
                                         "shake_px": shake, "screen": params}, base=filmed)


VIDEO_KINDS["slideshow"] = slideshow
