"""Picture kinds: logos, bars (and dark scenes without them), shot cuts (and pans, zooms, flashes
that are not cuts), fades to and from black, and camera flashes.

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
from factorline.synth.layers import Layer, Style, text_block, trimmed
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
