"""Batched drawing of characters and backgrounds with anti-aliased signed-distance shapes.

A character is drawn into a :class:`~talkgen.synth.sdf.Canvas` for all ``T`` frames at once: every part is a
few tensor ops over ``(T, h, w)`` where ``(h, w)`` is the part's bounding box (union over frames). Per-frame
inputs (placement, blinks, gaze, mouth parameters) broadcast as ``(T, 1, 1)`` tensors. Head-local units: the head
has half-size ~1, ``v`` points down, the mouth centre sits at ``v = MOUTH_Y``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from talkgen.synth import sdf
from talkgen.synth.characters import COLORS, EXPRESSION_PARAMS, EYE_SHAPES, HEAD_SHAPES, Character
from talkgen.synth.sdf import Canvas, Frame2D

MOUTH_Y = 0.5
EYE_Y = -0.12
_CAVITY = (0.28, 0.06, 0.1)
_TEETH = (0.97, 0.97, 0.93)
_TONGUE = (0.88, 0.42, 0.48)
_DARK = (0.1, 0.08, 0.08)


@dataclass
class ActorPose:
    """Per-frame inputs of one character on screen for ``T`` frames (numpy arrays).

    Attributes:
        head: placement of head-local coordinates (includes sway, nods and tilt).
        body: placement of body coordinates (same units as the head, no tilt).
        eye_open: (T,) in [0, 1], 0 = closed (blink).
        gaze: (T,) in [-1, 1], horizontal iris offset (listeners glance at the speaker).
        brow_raise: (T,) extra brow lift in head units (emphasis while speaking).
        mouth: (T, 5) float mouth parameters (jaw, width, round, teeth, tongue) in [0, 1].
        expression: one of ``EXPRESSIONS``.
    """

    head: Frame2D
    body: Frame2D
    eye_open: np.ndarray
    gaze: np.ndarray
    brow_raise: np.ndarray
    mouth: np.ndarray
    expression: str = "neutral"


def head_box(character: Character) -> tuple[float, float, float, float]:
    """Local box of the face (head outline), for face boxes."""
    rx, ry, _ = HEAD_SHAPES[character.head_shape]
    return (-rx, -ry, rx, ry)


def mouth_box(character: Character) -> tuple[float, float, float, float]:
    """Local box containing every mouth shape the renderer can draw for this character (and its AA fringe)."""
    a = 0.25 * character.mouth_width * 1.4 + 0.03
    return (-a, MOUTH_Y - 0.4, a, MOUTH_Y + 0.38)


def background(kind: str, palette: tuple[str, str], height: int, width: int, device: torch.device) -> torch.Tensor:
    """Background image (3, H, W) in [0, 1]: ``flat``, ``gradient`` or ``room`` (wall, floor, window, picture)."""
    c0 = torch.tensor(COLORS[palette[0]], device=device).view(3, 1, 1)
    c1 = torch.tensor(COLORS[palette[1]], device=device).view(3, 1, 1)
    soft0 = 0.55 * c0 + 0.45 * c1
    if kind == "flat":
        return soft0.expand(3, height, width).clone()
    ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5).view(1, -1, 1) / height
    xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5).view(1, 1, -1) / width
    if kind == "gradient":
        return (soft0 * (1 - ys) + (0.3 * c0 + 0.7 * c1) * ys).expand(3, height, width).clone()
    if kind != "room":
        raise ValueError(f"unknown background kind {kind!r}; use flat, gradient or room")
    img = (0.6 * c1 + 0.4 * c0).expand(3, height, width).clone()
    floor = (ys > 0.72).float()
    img = img * (1 - floor) + (0.5 * c0 + 0.15) * floor
    window = ((xs - 0.2).abs() < 0.12) & ((ys - 0.3).abs() < 0.14)
    img = torch.where(window, torch.tensor((0.7, 0.85, 1.0), device=device).view(3, 1, 1), img)
    frame = ((xs - 0.8).abs() < 0.09) & ((ys - 0.28).abs() < 0.07)
    img = torch.where(frame, 0.7 * c0, img)
    return img.clamp(0, 1)


def _t(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float32), device=device).view(-1, 1, 1)


def draw_character(canvas: Canvas, ch: Character, pose: ActorPose) -> None:
    """Draw ``ch`` in every frame of ``canvas`` (back to front: body, hair, ears, head, face, mouth, hat)."""
    dev = canvas.device
    rx, ry, taper = HEAD_SHAPES[ch.head_shape]
    expr = EXPRESSION_PARAMS[pose.expression]
    hd, bd = pose.head, pose.body
    skin, shade, hair, shirt = ch.rgb("skin"), ch.rgb("shade"), ch.rgb("hair"), ch.rgb("shirt")
    acc = ch.rgb("accessory")

    # Body and clothes (body coordinates).
    if ch.clothes == "dress":
        canvas.draw(bd, (-1.4, 1.0, 1.4, 4.2), lambda u, v: sdf.ellipse(u, v, 0, 2.7, 1.3, 1.6), shirt)
    else:
        canvas.draw(bd, (-1.3, 1.0, 1.3, 4.0), lambda u, v: sdf.rounded_box(u, v, 0, 2.45, 1.15, 1.35, 0.55), shirt)
    if ch.clothes == "striped shirt":

        def stripes(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            band = ((v * 3.0) % 1.0 - 0.5).abs() / 3.0 - 0.06
            return sdf.intersect(sdf.rounded_box(u, v, 0, 2.45, 1.1, 1.3, 0.5), band)

        canvas.draw(bd, (-1.3, 1.1, 1.3, 4.0), stripes, COLORS["white"], opacity=0.6)
    elif ch.clothes == "jacket":
        canvas.draw(bd, (-0.4, 1.0, 0.4, 4.0), lambda u, v: sdf.rounded_box(u, v, 0, 2.5, 0.3, 1.4, 0.1), _TEETH)
    canvas.draw(bd, (-0.35, 0.6, 0.35, 1.4), lambda u, v: sdf.rounded_box(u, v, 0, 1.0, 0.27, 0.32, 0.1), shade)
    if ch.accessory == "bow tie":
        canvas.draw(
            bd,
            (-0.35, 1.05, 0.35, 1.45),
            lambda u, v: torch.minimum(
                sdf.ellipse(u, v, -0.15, 1.25, 0.15, 0.1), sdf.ellipse(u, v, 0.15, 1.25, 0.15, 0.1)
            ),
            acc,
        )

    # Hair behind the head.
    if ch.hair_style == "long":
        canvas.draw(
            hd,
            (-rx - 0.3, -ry - 0.3, rx + 0.3, 1.5),
            lambda u, v: sdf.rounded_box(u, v, 0, 0.3, rx + 0.18, 1.1, 0.5),
            hair,
        )
    elif ch.hair_style == "bob":
        canvas.draw(
            hd,
            (-rx - 0.3, -ry - 0.3, rx + 0.3, 0.9),
            lambda u, v: sdf.ellipse(u, v, 0, -0.05, rx + 0.18, ry + 0.1),
            hair,
        )

    # Ears and earrings.
    if ch.ears != "none":
        r = 0.18 if ch.ears == "round" else 0.27
        for side in (-1.0, 1.0):
            canvas.draw(
                hd,
                (side * rx - r - 0.05, -r - 0.05, side * rx + r + 0.05, r + 0.1),
                lambda u, v, s=side: sdf.circle(u, v, s * rx, 0.05, r),
                skin,
            )
            canvas.draw(
                hd,
                (side * rx - r, -r, side * rx + r, r + 0.1),
                lambda u, v, s=side: sdf.circle(u, v, s * (rx + 0.04), 0.05, 0.55 * r),
                shade,
            )
    if ch.accessory == "earrings":
        for side in (-1.0, 1.0):
            canvas.draw(
                hd,
                (side * rx - 0.12, 0.2, side * rx + 0.12, 0.45),
                lambda u, v, s=side: sdf.circle(u, v, s * rx * 0.97, 0.33, 0.07),
                acc,
            )

    # Head.
    if ch.head_shape == "square":
        head_sdf = lambda u, v: sdf.rounded_box(u, v, 0, 0, rx, ry, 0.45)  # noqa: E731
    elif taper:
        head_sdf = lambda u, v: sdf.ellipse(u, v, 0, 0, rx * (1 + taper * v), ry)  # noqa: E731
    else:
        head_sdf = lambda u, v: sdf.ellipse(u, v, 0, 0, rx, ry)  # noqa: E731
    canvas.draw(hd, (-rx * 1.2 - 0.05, -ry - 0.05, rx * 1.2 + 0.05, ry + 0.05), head_sdf, skin)

    # Hair in front.
    top = (-rx - 0.25, -ry - 0.45, rx + 0.25, 0.0)
    if ch.hair_style in ("short", "long", "bob"):
        canvas.draw(
            hd,
            top,
            lambda u, v: sdf.intersect(sdf.ellipse(u, v, 0, -0.04, rx + 0.07, ry + 0.09), v + 0.42 - 0.12 * u.abs()),
            hair,
        )
    elif ch.hair_style == "curly":
        canvas.draw(
            hd,
            top,
            lambda u, v: sdf.intersect(
                sdf.ellipse(u, v, 0, -0.1, rx + 0.14, ry + 0.16), v + 0.4 + 0.07 * torch.sin(16 * u)
            ),
            hair,
        )
    elif ch.hair_style == "spiky":

        def spikes(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
            zig = ((u * 2.5) - torch.round(u * 2.5)).abs() * 2  # 0 at spike tips, 1 between
            cap = sdf.intersect(sdf.ellipse(u, v, 0, -0.05, rx + 0.06, ry + 0.06), v + 0.45)
            spike = sdf.intersect((-ry - 0.38 + 0.4 * zig) - v, v + 0.45, u.abs() - rx * 0.85)
            return torch.minimum(cap, spike * 0.5)

        canvas.draw(hd, top, spikes, hair)

    # Eyes: white, iris, pupil, highlight; blinks squash the eye height.
    ew, eh = EYE_SHAPES[ch.eye_shape]
    eh_t = _t(np.clip(pose.eye_open, 0.0, 1.0) * eh * expr.eye_open + 0.004, dev)
    gaze_t = _t(pose.gaze * 0.45 * ew, dev)
    ir = 0.75 * min(ew, eh)
    for side in (-1.0, 1.0):
        cu = side * ch.eye_spacing
        box = (cu - ew - 0.05, EYE_Y - 1.4 * eh - 0.05, cu + ew + 0.05, EYE_Y + 1.4 * eh + 0.05)
        canvas.draw(hd, box, lambda u, v, c=cu: sdf.ellipse(u, v, c, EYE_Y, ew, eh_t), COLORS["white"])

        def iris(u: torch.Tensor, v: torch.Tensor, c: float = cu, r: float = ir) -> torch.Tensor:
            return sdf.intersect(sdf.circle(u - gaze_t, v, c, EYE_Y, r), sdf.ellipse(u, v, c, EYE_Y, ew, eh_t))

        canvas.draw(hd, box, iris, ch.rgb("eye"))
        canvas.draw(hd, box, lambda u, v, c=cu: iris(u, v, c, 0.5 * ir), _DARK)
        canvas.draw(hd, box, lambda u, v, c=cu: iris(u + 0.35 * ir, v + 0.35 * ir, c, 0.22 * ir), COLORS["white"])

    # Brows (expression tilt and height, per-frame emphasis lift).
    if ch.brows != "none":
        thick = 0.035 if ch.brows == "thin" else 0.06
        lift = _t(pose.brow_raise + expr.brow_raise, dev)
        by = EYE_Y - 1.3 * eh - 0.1
        for side in (-1.0, 1.0):
            cu = side * ch.eye_spacing
            inner = cu - side * 0.15
            outer = cu + side * 0.15
            dy = 0.15 * np.tan(expr.brow_tilt)
            a, b = (inner, by + dy), (outer, by - dy)
            box = (cu - 0.25, by - 0.3, cu + 0.25, by + 0.15)
            canvas.draw(
                hd,
                box,
                lambda u, v, a=a, b=b: sdf.segment(u, v + lift, a, b, thick),
                hair if ch.hair_style != "bald" else _DARK,
            )

    # Nose.
    nose = {
        "button": (0.0, 0.14, 0.09, 0.07),
        "long": (0.0, 0.08, 0.07, 0.18),
        "wide": (0.0, 0.15, 0.16, 0.07),
        "dot": (0.0, 0.13, 0.05, 0.05),
    }[ch.nose]
    canvas.draw(
        hd, (-0.2, -0.15, 0.2, 0.3), lambda u, v: sdf.ellipse(u, v, *nose), _DARK if ch.nose == "dot" else shade
    )

    draw_mouth(canvas, ch, hd, pose.mouth, expr.mouth_curve)

    # Glasses and hats in front of the face.
    if ch.accessory == "glasses":
        for side in (-1.0, 1.0):
            cu = side * ch.eye_spacing
            canvas.draw(
                hd,
                (cu - 0.3, EYE_Y - 0.3, cu + 0.3, EYE_Y + 0.3),
                lambda u, v, c=cu: sdf.circle(u, v, c, EYE_Y, 0.22).abs() - 0.025,
                _DARK,
            )
        s = ch.eye_spacing - 0.22
        canvas.draw(
            hd,
            (-s - 0.05, EYE_Y - 0.06, s + 0.05, EYE_Y + 0.06),
            lambda u, v: sdf.segment(u, v, (-s, EYE_Y), (s, EYE_Y), 0.02),
            _DARK,
        )
    hat = ch.rgb("hat")
    if ch.hat == "top hat":
        canvas.draw(
            hd,
            (-0.7, -ry - 1.1, 0.7, -ry + 0.15),
            lambda u, v: sdf.rounded_box(u, v, 0, -ry - 0.45, 0.58, 0.55, 0.06),
            hat,
        )
        canvas.draw(
            hd,
            (-1.05, -ry - 0.2, 1.05, -ry + 0.2),
            lambda u, v: sdf.rounded_box(u, v, 0, -ry + 0.05, 0.95, 0.07, 0.05),
            _DARK,
        )
    elif ch.hat == "beanie":
        canvas.draw(
            hd,
            (-rx - 0.15, -ry - 0.5, rx + 0.15, 0.0),
            lambda u, v: sdf.intersect(sdf.ellipse(u, v, 0, -ry * 0.5, rx + 0.08, ry * 0.8), v + ry * 0.45),
            hat,
        )
        canvas.draw(
            hd, (-0.2, -ry - 0.6, 0.2, -ry - 0.1), lambda u, v: sdf.circle(u, v, 0, -ry - 0.3, 0.14), COLORS["white"]
        )
    elif ch.hat == "cap":
        canvas.draw(
            hd,
            (-rx - 0.15, -ry - 0.5, rx + 0.15, 0.0),
            lambda u, v: sdf.intersect(sdf.ellipse(u, v, 0, -ry * 0.5, rx + 0.05, ry * 0.75), v + ry * 0.45),
            hat,
        )
        canvas.draw(
            hd, (-0.2, -ry * 0.65, 1.3, -ry * 0.2), lambda u, v: sdf.ellipse(u, v, 0.55, -ry * 0.45, 0.7, 0.1), hat
        )


def draw_mouth(canvas: Canvas, ch: Character, hd: Frame2D, mouth: np.ndarray, curve: float) -> None:
    """Draw the mouth from per-frame parameters ``mouth`` (T, 5) = (jaw, width, round, teeth, tongue).

    Lips (outer ellipse), the closed-lips seam, the dark cavity (jaw), upper teeth (over the lower lip when the jaw
    is nearly closed: f/v), lower teeth, and the tongue (raised into view by ``tongue``). ``curve`` bends the
    corners (positive = smile).
    """
    dev = canvas.device
    m = np.clip(np.asarray(mouth, dtype=np.float32), 0.0, 1.0)
    jaw, width, rnd, teeth, tongue = (_t(m[:, i], dev) for i in range(5))
    big_a = 0.25 * ch.mouth_width * (0.6 + 0.8 * width) * (1 - 0.4 * rnd)
    b_in = 0.004 + 0.2 * jaw
    thick = 0.035 + 0.045 * rnd
    big_b = b_in + thick
    a_in = big_a * (0.82 - 0.2 * rnd)
    cv = MOUTH_Y + 0.06 * jaw
    box = mouth_box(ch)

    def local(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return (v - cv) + curve * 0.8 * u * u

    lip_color = ch.rgb("lips")
    canvas.draw(hd, box, lambda u, v: sdf.ellipse(u, local(u, v), 0, 0, big_a, big_b), lip_color)
    canvas.draw(hd, box, lambda u, v: sdf.intersect(local(u, v).abs() - 0.012, u.abs() - big_a * 0.92), _CAVITY)

    def cavity(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return sdf.ellipse(u, local(u, v), 0, 0, a_in, b_in)

    canvas.draw(hd, box, cavity, _CAVITY)

    def upper_teeth(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        w = local(u, v)
        band = torch.maximum(-b_in - 0.02 - w, w - (-b_in + 0.09 * teeth - 0.01))
        return sdf.intersect(band, sdf.ellipse(u, w, 0, 0, a_in * 0.95, b_in + 0.02))

    canvas.draw(hd, box, upper_teeth, _TEETH)

    def lower_teeth(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        w = local(u, v)
        band = torch.maximum((b_in - 0.05 * teeth + 0.005) - w, w - b_in)
        return sdf.intersect(band, sdf.ellipse(u, w, 0, 0, a_in * 0.9, b_in))

    canvas.draw(hd, box, lower_teeth, _TEETH)

    def tongue_sdf(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        w = local(u, v)
        top = b_in + 0.02 - tongue * (1.4 * b_in + 0.04)
        return sdf.intersect(sdf.ellipse(u, w, 0, top + 0.08, a_in * 0.6, 0.08), sdf.ellipse(u, w, 0, 0, a_in, b_in))

    canvas.draw(hd, box, tongue_sdf, _TONGUE)
