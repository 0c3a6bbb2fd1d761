"""Text kinds: subtitles, title cards, lower thirds, scene text and watermarks over real footage.

Each recipe draws its parameters from the sample's generator, renders its text once into
layers (:mod:`factorline.synth.layers`) whose inked boxes are known, and returns lazy frames
(the layer blended on the frames of its time span) with the truth collected in :class:`Facts`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from PIL import Image, ImageDraw

from factorline.samples import transforms as tf
from factorline.synth import corpus
from factorline.synth.layers import Layer, Style, draw_line, place, softened, text_block, text_size, trimmed, warped
from factorline.synth.materials import Background, Materials
from factorline.synth.truth import Facts, Sample, Spec, plain, union_box

Overlay = tuple[Layer, int, int, float, tuple[int, int]]  # layer, x, y, opacity, (first, end) frames


def compose(spec: Spec, background: Background, overlays: Sequence[Overlay], base=None) -> Iterator[np.ndarray]:
    """Frames of the background (through ``base(i, frame)`` if given) with each overlay on its span."""
    for i in range(spec.frames):
        frame = background.frame(i)
        if base is not None:
            frame = base(i, frame)
        for layer, x, y, opacity, (a, b) in overlays:
            if a <= i < b:
                frame = place(frame, layer, x, y, opacity)
        yield frame


def span(rng: np.random.Generator, spec: Spec, *, min_share: float = 0.4) -> tuple[int, int]:
    """(first, end) frames a text is shown: starts in the first quarter, lasts >= ``min_share``."""
    if spec.still:
        return 0, 1
    n = spec.frames
    first = int(rng.integers(0, max(1, n // 4)))
    end = int(rng.integers(min(n, first + max(1, int(n * min_share))), n + 1))
    return first, max(end, first + 1)


def fitted(m: Materials, language: str, face: int, px: int, texts: Sequence[str], style: Style, max_w: int):
    """The font of ``px`` or smaller so that every text fits in ``max_w`` px."""
    font = m.font(language, face, px)
    widest = max(text_size(t, font, style)[0] for t in texts)
    if widest > max_w:
        font = m.font(language, face, max(8, int(px * max_w / widest)))
    return font


def _face(rng: np.random.Generator, m: Materials, language: str) -> int:
    return int(rng.integers(m.font_count(language)))


def _finish(spec: Spec, bg: Background, facts: Facts, overlays: Sequence[Overlay], params: dict, base=None) -> Sample:
    facts.cuts += bg.cuts_in(spec.frames)
    params = {"background": bg.params, **params}
    return Sample(compose(spec, bg, overlays, base), plain(params), facts.record())


def subtitles(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    w, h = spec.size
    bilingual = bool(rng.random() < 0.2)
    languages = [corpus.language(rng)]
    if bilingual:
        languages = [str(rng.choice(["zh", "ru"])), "en"]
    elif rng.random() < 0.25:
        languages = languages * 2  # two lines of one language
    px = spec.px(rng, 18, 32)
    look = str(rng.choice(["outline", "shadow", "box"], p=[0.55, 0.2, 0.25]))
    fill = [(255, 255, 255), (255, 230, 60), (235, 235, 235)][int(rng.choice(3, p=[0.7, 0.2, 0.1]))]
    style = Style(fill=fill, stroke=int(rng.integers(1, 4)) if look == "outline" else 0,
                  shadow=2 if look == "shadow" else 0, box=(0, 0, 0) if look == "box" else None,
                  box_alpha=int(rng.integers(140, 230)), pad=max(2, px // 5) if look == "box" else 0)
    faces = {lang: _face(rng, m, lang) for lang in languages}
    top = bool(rng.random() < 0.1)
    margin = int(h * rng.uniform(0.05, 0.1) if top else h * rng.uniform(0.04, 0.12))
    cues = 1 if spec.still else int(rng.integers(1, 1 + max(1, min(3, spec.frames // 40))))
    bg = m.background(rng, spec.frames)
    facts = Facts(spec, subtitle_language="+".join(dict.fromkeys(languages)))
    overlays: list[Overlay] = []
    slot = spec.frames // cues
    from factorline.operators.text import join_text  # the subtitles operator's own way to join rows

    for c in range(cues):
        texts = [corpus.sentence(rng, lang) for lang in languages]
        fonts = [fitted(m, lang, faces[lang], px, [t], style, w - 24) for lang, t in zip(languages, texts)]
        layer = text_block(list(zip(texts, fonts)), style, gap=max(2, px // 4))
        x = (w - layer.size[0]) // 2
        y = margin if top else h - margin - layer.size[1]
        if spec.still:
            cue = (0, 1)
        else:
            first = c * slot + int(rng.integers(0, max(1, slot // 6)))
            cue = (first, max(first + 1, (c + 1) * slot - int(rng.integers(2, max(3, slot // 6)))))
        boxes = layer.placed(x, y)
        joined = ""
        for text, lang, box in zip(texts, languages, boxes):
            facts.text("subtitle", text, box, cue, lang)
            joined = join_text(joined, text)
        facts.subtitle(joined, union_box(boxes), cue)
        overlays.append((layer, x, y, 1.0, cue))
    params = {"languages": languages, "fonts": [m.font_name(lang, faces[lang]) for lang in languages], "px": px,
              "look": look, "style": style.to_dict(), "position": "top" if top else "bottom", "margin": margin,
              "cues": cues}
    return _finish(spec, bg, facts, overlays, params)


def title_card(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    w, h = spec.size
    language = corpus.language(rng)
    face = _face(rng, m, language)
    backdrop = str(rng.choice(["dark", "blurred", "footage"], p=[0.45, 0.35, 0.2]))
    bg = m.background(rng, spec.frames, moving=backdrop == "footage" or None)
    if backdrop == "dark":
        top = np.asarray(rng.integers(0, 40, 3), np.float32)
        ramp = np.linspace(0.4, 1.0, h, dtype=np.float32)[:, None, None]
        still = np.broadcast_to(np.rint(top * ramp).astype(np.uint8), (h, w, 3))
        bg = Background(np.ascontiguousarray(still)[None], 0, (), {"source": "dark", "rgb": top.astype(int).tolist()})
    elif backdrop == "blurred":
        sharp = bg.frame(0)
        bg = Background(tf.blurred(sharp, spec.size, sigma=float(rng.uniform(8, 24)), dim=float(rng.uniform(0.35, 0.7)))[None],
                        0, (), {**bg.params, "blurred": True})
    texts = [corpus.pick(rng, corpus.TITLES[language])]
    if rng.random() < 0.4:
        texts.append(corpus.sentence(rng, language))
    px = spec.px(rng, 36, 64)
    style = Style(fill=[(255, 255, 255), (250, 220, 150), (200, 230, 255)][int(rng.integers(3))],
                  stroke=int(rng.integers(0, 3)), shadow=int(rng.choice([0, 3])))
    fonts = [fitted(m, language, face, px, texts[:1], style, w - 32)]
    if len(texts) > 1:
        fonts.append(fitted(m, language, face, max(12, px // 2), texts[1:], style, w - 32))
    layer = text_block(list(zip(texts, fonts)), style, gap=max(4, px // 3))
    x = (w - layer.size[0]) // 2
    y = int(np.clip(h * rng.uniform(0.35, 0.6) - layer.size[1] / 2, 0, h - layer.size[1]))
    shown = span(rng, spec, min_share=0.5)
    facts = Facts(spec)
    for text, box in zip(texts, layer.placed(x, y)):
        facts.text("title_card", text, box, shown, language)
    params = {"language": language, "font": m.font_name(language, face), "px": px, "backdrop": backdrop,
              "style": style.to_dict(), "lines": len(texts)}
    return _finish(spec, bg, facts, [(layer, x, y, 1.0, shown)], params)


def _saturated(rng: np.random.Generator) -> tuple[int, int, int]:
    hue = float(rng.uniform(0, 1))
    rgb = Image.new("HSV", (1, 1), (int(hue * 255), int(rng.integers(150, 256)), int(rng.integers(120, 230)))).convert("RGB")
    return tuple(int(v) for v in rgb.getpixel((0, 0)))  # type: ignore[return-value]


def lower_third(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    w, h = spec.size
    language = corpus.language(rng)
    face = _face(rng, m, language)
    name, role = corpus.pick(rng, corpus.NAMES[language]), corpus.pick(rng, corpus.ROLES[language])
    name_style = Style(fill=(255, 255, 255))
    role_style = Style(fill=(230, 230, 230) if rng.random() < 0.5 else (20, 20, 20))
    name_font = fitted(m, language, face, spec.px(rng, 20, 30), [name], name_style, int(w * 0.6))
    role_font = fitted(m, language, face, spec.px(rng, 13, 19), [role], role_style, int(w * 0.6))
    pad = max(4, int(8 * spec.scale))
    (nw, nh), (rw, rh) = text_size(name, name_font, name_style), text_size(role, role_font, role_style)
    band, band2 = _saturated(rng), (245, 245, 245) if role_style.fill == (20, 20, 20) else (30, 30, 30)
    accent = int(rng.integers(0, 2)) * max(3, pad // 2)
    width = max(nw, rw) + 2 * pad + accent
    height = nh + rh + 4 * pad
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    alpha = int(rng.integers(200, 256))
    draw.rectangle((0, 0, nw + 2 * pad + accent - 1, nh + 2 * pad - 1), fill=band + (alpha,))
    draw.rectangle((0, nh + 2 * pad, rw + 2 * pad + accent - 1, height - 1), fill=band2 + (alpha,))
    if accent:
        draw.rectangle((0, 0, accent - 1, height - 1), fill=(255, 255, 255, 255))
    boxes = [draw_line(draw, (accent + pad, pad), name, name_font, name_style),
             draw_line(draw, (accent + pad, nh + 3 * pad), role, role_font, role_style)]
    layer = Layer(np.asarray(image), boxes)
    x = int(w * rng.uniform(0.03, 0.08))
    y = int(min(h - height - 2, h * rng.uniform(0.68, 0.82)))
    shown = span(rng, spec, min_share=0.4)
    bg = m.background(rng, spec.frames, moving=bool(rng.random() < 0.8))
    facts = Facts(spec)
    for text, box in zip((name, role), layer.placed(x, y)):
        facts.text("lower_third", text, box, shown, language)
    params = {"language": language, "font": m.font_name(language, face), "band": band, "band_alpha": alpha,
              "accent": accent, "box": [x, y, width, height]}
    return _finish(spec, bg, facts, [(layer, x, y, 1.0, shown)], params)


BOARDS = {"paper": (236, 230, 214), "screen": (22, 32, 64), "green_sign": (24, 110, 64), "blue_sign": (30, 62, 160),
          "wood": (118, 82, 44), "white_sign": (245, 245, 240)}


def scene_text(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    w, h = spec.size
    language = corpus.language(rng)
    face = _face(rng, m, language)
    board_name = str(rng.choice(list(BOARDS)))
    board = BOARDS[board_name]
    low_contrast = bool(rng.random() < 0.35)
    light = sum(board) > 380
    if low_contrast:
        delta = int(rng.integers(35, 70)) * (-1 if light else 1)
        ink = tuple(int(np.clip(c + delta, 0, 255)) for c in board)
    else:
        ink = (20, 20, 20) if light else (250, 250, 250)
    texts = [corpus.pick(rng, corpus.SIGNS[language])]
    if rng.random() < 0.3:
        texts.append(corpus.pick(rng, corpus.SIGNS[language]))
    style = Style(fill=ink, box=board, box_alpha=255, pad=max(6, int(14 * spec.scale)))  # type: ignore[arg-type]
    font = fitted(m, language, face, spec.px(rng, 22, 40), texts, style, int(w * 0.45))
    layer = text_block([(t, font) for t in texts], style, gap=style.pad)
    # The quad: centred mid-frame, 20-45 % of the frame wide, each corner pushed by up to 15 %.
    lw, lh = layer.size
    target_w = w * rng.uniform(0.2, 0.45)
    k = target_w / lw
    cx, cy = w * rng.uniform(0.3, 0.7), h * rng.uniform(0.3, 0.62)
    angle = np.deg2rad(rng.uniform(-15, 15))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = np.array([[-lw, -lh], [lw, -lh], [lw, lh], [-lw, lh]], np.float64) / 2 * k
    jitter = rng.uniform(-0.15, 0.15, (4, 2)) * [target_w, lh * k]
    quad = (corners + jitter) @ rot.T + [cx, cy]
    quad = np.clip(quad, 2, [w - 3, h - 3])
    x0, y0 = np.floor(quad.min(axis=0)).astype(int) - 2  # warp into the quad's box only: cheap
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int) + 2
    sign = warped(layer, quad - [x0, y0], (int(x1 - x0), int(y1 - y0)))
    blur = float(rng.choice([0.0, 0.0, 0.6, 1.2]))
    sign, ox, oy = trimmed(softened(sign, blur))
    ox, oy = ox + int(x0), oy + int(y0)
    opacity = float(rng.uniform(0.75, 1.0)) if low_contrast else 1.0
    bg = m.background(rng, spec.frames)
    shown = (0, spec.frames)
    facts = Facts(spec)
    for text, box in zip(texts, sign.placed(ox, oy)):
        facts.text("scene_text", text, box, shown, language)
    params = {"language": language, "font": m.font_name(language, face), "board": board_name, "ink": ink,
              "low_contrast": low_contrast, "quad": quad.round(1).tolist(), "blur": blur, "opacity": opacity}
    return _finish(spec, bg, facts, [(sign, ox, oy, opacity, shown)], params)


def watermark(rng: np.random.Generator, m: Materials, spec: Spec) -> Sample:
    from factorline.synth.layers import rotated

    w, h = spec.size
    text = corpus.pick(rng, corpus.WATERMARKS)
    face = _face(rng, m, "en")
    centre = bool(rng.random() < 0.3)
    style = Style(fill=[(255, 255, 255), (200, 200, 200), (10, 10, 10)][int(rng.integers(3))], stroke=int(rng.integers(0, 2)),
                  outline=(0, 0, 0) if rng.random() < 0.5 else (255, 255, 255))
    px = spec.px(rng, 30, 60) if centre else spec.px(rng, 13, 26)
    font = fitted(m, "en", face, px, [text], style, int(w * (0.8 if centre else 0.45)))
    layer = text_block([(text, font)], style, gap=0)
    degrees = float(rng.uniform(-35, 35)) if centre and rng.random() < 0.5 else 0.0
    if degrees:
        layer = rotated(layer, degrees)
    layer, _, _ = trimmed(layer)
    lw, lh = layer.size
    margin = int(rng.integers(6, 25) * spec.scale)
    if centre:
        x, y, where = (w - lw) // 2, (h - lh) // 2, "centre"
    else:
        where = str(rng.choice(["top_left", "top_right", "bottom_left", "bottom_right"]))
        x = margin if where.endswith("left") else w - lw - margin
        y = margin if where.startswith("top") else h - lh - margin
    opacity = float(rng.uniform(0.2, 0.6))
    bg = m.background(rng, spec.frames)
    shown = (0, spec.frames)
    facts = Facts(spec)
    facts.text("watermark", text, layer.placed(x, y)[0], shown, "en")
    params = {"text": text, "font": m.font_name("en", face), "px": px, "where": where, "degrees": degrees,
              "opacity": opacity, "style": style.to_dict()}
    return _finish(spec, bg, facts, [(layer, x, y, opacity, shown)], params)


TEXT_KINDS = {"subtitles": subtitles, "title_card": title_card, "lower_third": lower_third,
              "scene_text": scene_text, "watermark": watermark}
