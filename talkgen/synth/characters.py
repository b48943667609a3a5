"""Character identities of the synthetic world: a seed -> attributes, colours, a plain-words description, a voice.

Attributes are drawn independently from one ``numpy.random.Generator`` seeded with the identity seed, so the same
seed always gives the same character. Colour and shape names are a small plain-words vocabulary that a text
encoder can learn ("a round-faced character with green skin, spiky red hair and a blue shirt").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Plain-words colour vocabulary: name -> RGB in [0, 1].
COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.2, 0.2),
    "orange": (0.95, 0.55, 0.15),
    "yellow": (0.95, 0.85, 0.25),
    "green": (0.3, 0.7, 0.3),
    "teal": (0.15, 0.6, 0.6),
    "blue": (0.25, 0.4, 0.85),
    "purple": (0.55, 0.3, 0.75),
    "pink": (0.95, 0.55, 0.7),
    "brown": (0.5, 0.32, 0.18),
    "black": (0.12, 0.12, 0.14),
    "white": (0.95, 0.95, 0.95),
    "grey": (0.55, 0.55, 0.58),
}
SKIN_TONES: dict[str, tuple[float, float, float]] = {
    "pale": (0.98, 0.87, 0.78),
    "tan": (0.87, 0.68, 0.5),
    "brown": (0.6, 0.4, 0.26),
    "dark": (0.38, 0.25, 0.17),
    "green": (0.55, 0.8, 0.5),
    "blue": (0.55, 0.7, 0.95),
    "purple": (0.72, 0.6, 0.88),
    "yellow": (0.98, 0.88, 0.45),
}
HEAD_SHAPES: dict[str, tuple[float, float, float]] = {  # name -> (half width, half height, taper)
    "round": (0.95, 0.95, 0.0),
    "oval": (0.82, 1.05, 0.0),
    "wide": (1.05, 0.88, 0.0),
    "pear": (0.88, 0.98, 0.18),
    "square": (0.92, 0.95, 0.0),
}
EYE_SHAPES: dict[str, tuple[float, float]] = {"round": (0.15, 0.15), "wide": (0.2, 0.12), "narrow": (0.17, 0.07)}
EYE_COLORS = ("brown", "blue", "green", "grey", "black", "purple")
BROWS = ("thin", "thick", "none")
NOSES = ("button", "long", "wide", "dot")
EARS = ("round", "big", "none")
HAIR_STYLES = ("bald", "short", "spiky", "long", "bob", "curly")
HATS = ("none", "none", "top hat", "beanie", "cap")
CLOTHES = ("shirt", "striped shirt", "jacket", "dress")
ACCESSORIES = ("none", "glasses", "bow tie", "earrings")
BACKGROUND_PALETTES: tuple[tuple[str, str], ...] = (
    ("blue", "white"),
    ("green", "yellow"),
    ("grey", "white"),
    ("purple", "pink"),
    ("orange", "yellow"),
    ("teal", "white"),
)
VOICES = ("en-us", "en", "en-gb-scotland", "en-gb-x-rp", "en-029")
VARIANTS = ("m1", "m2", "m3", "m4", "m7", "f1", "f2", "f3", "f4", "klatt", "Annie", "edward", "belinda", "john")
EXPRESSIONS = ("neutral", "happy", "sad", "angry", "surprised")


@dataclass(frozen=True)
class Expression:
    """How an expression moves the face (local head units): brows, eyes and mouth corners."""

    name: str
    brow_raise: float  # upward shift of the brows
    brow_tilt: float  # radians; positive lowers the inner ends (angry)
    eye_open: float  # scale of the eye height
    mouth_curve: float  # positive lifts the mouth corners (smile)


EXPRESSION_PARAMS: dict[str, Expression] = {
    "neutral": Expression("neutral", 0.0, 0.0, 1.0, 0.0),
    "happy": Expression("happy", 0.03, -0.1, 0.85, 0.9),
    "sad": Expression("sad", 0.02, -0.35, 0.8, -0.7),
    "angry": Expression("angry", -0.05, 0.4, 0.75, -0.35),
    "surprised": Expression("surprised", 0.1, -0.05, 1.3, 0.0),
}


@dataclass(frozen=True)
class Character:
    """One identity: its attribute names (plain words) and everything the renderer and the voice need."""

    seed: int
    head_shape: str
    skin: str
    eye_shape: str
    eye_color: str
    brows: str
    nose: str
    ears: str
    hair_style: str
    hair_color: str
    hat: str
    hat_color: str
    clothes: str
    shirt_color: str
    accessory: str
    accessory_color: str
    mouth_width: float  # multiplier of the base mouth width
    eye_spacing: float  # half distance between the eyes, head units
    voice: dict[str, object] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """Plain-words description used in captions."""
        if self.hair_style == "bald":
            hair = "no hair"
        elif self.hair_style == "bob":
            hair = f"{self.hair_color} hair in a bob"
        else:
            hair = f"{self.hair_style} {self.hair_color} hair"
        parts = [
            f"{_a(self.head_shape)} {self.head_shape}-faced character with {self.skin} skin",
            f"{self.eye_color} eyes",
            hair,
        ]
        clothes = f"{_a(self.shirt_color)} {self.shirt_color} {self.clothes}"
        text = ", ".join(parts[:2]) + f", {parts[2]} and {clothes}"
        extras = []
        if self.hat != "none":
            extras.append(f"{_a(self.hat_color)} {self.hat_color} {self.hat}")
        if self.accessory != "none":
            extras.append(
                self.accessory if self.accessory.endswith("s") else f"a {self.accessory_color} {self.accessory}"
            )
        if extras:
            text += ", wearing " + " and ".join(extras)
        return text

    def rgb(self, part: str) -> tuple[float, float, float]:
        """Colour of a part: skin, hair, hat, shirt, eye, accessory, lips, shade."""
        if part == "skin":
            return SKIN_TONES[self.skin]
        if part == "shade":
            return tuple(0.78 * c for c in SKIN_TONES[self.skin])  # type: ignore[return-value]
        if part == "lips":
            r, g, b = SKIN_TONES[self.skin]
            return (0.55 * r + 0.35, 0.45 * g, 0.5 * b + 0.05)
        name = {
            "hair": self.hair_color,
            "hat": self.hat_color,
            "shirt": self.shirt_color,
            "eye": self.eye_color,
            "accessory": self.accessory_color,
        }[part]
        return COLORS[name]


def _a(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return str(options[int(rng.integers(len(options)))])


def make_character(seed: int) -> Character:
    """A deterministic identity for ``seed`` (any int >= 0); different seeds give different attribute draws."""
    if seed < 0:
        raise ValueError(f"character seed must be >= 0, got {seed}")
    rng = np.random.default_rng([int(seed), 0xC4A5])
    colors = list(COLORS)
    hair_color = _pick(rng, ["black", "brown", "yellow", "red", "orange", "white", "grey", "blue", "pink", "purple"])
    shirt_color = _pick(rng, colors)
    variant = _pick(rng, VARIANTS)
    voice = {
        "voice": _pick(rng, VOICES),
        "variant": variant,
        "rate": int(rng.integers(145, 196)),
        "pitch": int(rng.integers(25, 76)),
    }
    return Character(
        seed=int(seed),
        head_shape=_pick(rng, tuple(HEAD_SHAPES)),
        skin=_pick(rng, tuple(SKIN_TONES)),
        eye_shape=_pick(rng, tuple(EYE_SHAPES)),
        eye_color=_pick(rng, EYE_COLORS),
        brows=_pick(rng, BROWS),
        nose=_pick(rng, NOSES),
        ears=_pick(rng, EARS),
        hair_style=_pick(rng, HAIR_STYLES),
        hair_color=hair_color,
        hat=_pick(rng, HATS),
        hat_color=_pick(rng, colors),
        clothes=_pick(rng, CLOTHES),
        shirt_color=shirt_color,
        accessory=_pick(rng, ACCESSORIES),
        accessory_color=_pick(rng, colors),
        mouth_width=float(rng.uniform(0.85, 1.15)),
        eye_spacing=float(rng.uniform(0.33, 0.42)),
        voice=voice,
    )
