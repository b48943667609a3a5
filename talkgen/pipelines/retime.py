"""Re-timing the footage's own mouths to new speech, before the diffusion pass of a dub.

A dub's diffusion pass follows its source condition closely: a mouth that moves in the footage keeps moving where
the new speech is silent, and the dubbed opening correlates with the new speech about as well as the footage's own
did. So the source is re-timed first, from pixels the footage already holds (as Video Rewrite re-ordered recorded
mouths):

1. the jaw opening the new speech asks for at each frame is read from the speech by the model's mouth head
   (:class:`~talkgen.models.mouth_head.SpeechMouthHead`);
2. the footage's mouth opening at each frame is read from pixels (:func:`mouth_opening_from_patches`);
3. the speech's openings are mapped onto the footage's by rank, and each frame takes the mouth of the footage frame
   whose opening is nearest to its target, preferring nearby frames (:func:`choose_frames`); every frame silent in
   the new speech takes the one most closed mouth of the footage (:func:`closed_frame`, read with its box shifted a
   little each way: :func:`jittered_openings`), so a silent face stays still and shut;
4. that mouth region is moved onto the frame's own mouth position, feathered (:func:`retime_mouths`).

A generated take (:func:`retime_generated`) keeps the mouths that persist through it among a locator's candidates
and sit on a face (:func:`mouth_tracks`) and re-times them the same way, except in step 3: its mouths are
blurred and open over a narrower range than the speech asks for, so each voiced frame asks for an opening in
proportion to its jaw over a range ``WIDEN`` times the take's own (:func:`widened_targets`), takes the nearest
mouth and stretches its lips the rest of the way (:func:`_stretch_mouth`); a frame asking for less than the closed
mouth shows the closed mouth. Where the model has a mouth painter
(:class:`~talkgen.models.mouth_painter.MouthPainterNet`), the mouths of faces tall enough are painted afresh at the
jaw opening instead, about their boxes grown ``PAINT_GROW`` times, since a generated mouth is a faint smear that
re-timing can only move and stretch (:func:`_paint_mouths`).

The diffusion pass then dubs from the re-timed footage and blends its result into the untouched original, so the
pixels outside the edit region are the footage's as before.

Mouth opening from pixels (:func:`mouth_opening_from_patches`): the mouth box is resampled to a ``grid x grid``
patch; skin colour is the median of the patch's side strips at mouth height; pixels far from it (soft,
``threshold`` in RGB units) are mouth (lips, cavity, teeth, tongue); the opening is the soft height of the mouth run
through the central columns, as a fraction of the box height. It suits flat-shaded faces (the synthetic world and
similar cartoons).
"""

from __future__ import annotations

import numpy as np

from talkgen import SPEECH_RATE
from talkgen.pipelines.mouth import grow_boxes, silent_frames

SILENCE_DB = -55.0  # frames of the new speech quieter than this (RMS, dBFS) take the closed mouth; at -45 dB quiet
# vowels counted as silence too (a third of those frames had the jaw open) and sync fell 0.04 on held-out dubs
LOCALITY = 0.002  # opening units per frame of distance: among near-equal openings, take the nearest frame
REGION_GROW = 1.6  # the moved region: the mouth box scaled about its centre
FEATHER = 0.15  # share of the region's side over which the moved mouth fades into the frame
TRACK_CANDIDATES = 2  # a generated take's locator keeps this many candidates per frame beyond its mouths
TRACK_RADIUS = 0.5  # a candidate joins a track within this many median box heights of its last centre
TRACK_GAP = 12  # frames a track may go unseen and still be joined
TRACK_TOP_LIMIT = 100.0  # RGB distance: a track whose boxes' top rows differ this much from their sides is no mouth
# (a mouth sits in skin: its upper lip has its cheeks' colour; a collar's box has the neck above and the shirt beside
# it). Over bench seeds 0-3 the tracks on true mouths read 14-67, the collars a medium shot's locator took for mouths
# 157-187; with the check the two-shot with cuts read 0.880 over seeds 0-3 (0.807 without) and 0.834 over seeds 4-7,
# which chose nothing (0.723), the other cases unchanged
STEADY_CENTRE_HALF = 2  # a generated mouth box is centred on its slot's median centre within this many frames
STEADY_SIZE_HALF = 12  # and sized as its slot's median within this many
CLOSED_JITTER = 0.05  # the closed mouth is read with its box shifted this share of the box's size each way
WIDEN = 1.5  # a generated take's speech asks for openings over this many times the take's own p10-p90 range
TARGET_PERCENTILES = (10.0, 90.0)  # the range of openings and of voiced jaw values mapped onto each other
STRETCH_LIMITS = (0.6, 1.8)  # the most a chosen mouth is squeezed or stretched toward its target opening
LIPS_BAND = 0.3  # the band (+- this share of the box height about its centre) that a stretch scales; the rest of
# the moved region gives way so that it meets the frame unchanged at its edge
PAINT_GROW = 1.1  # a mouth painter paints about each located box grown this much about its centre. A generated
# head nods less than the world's (its located mouth box moves 0.1 px up and down, the world's 1.2 px), so the box
# the bench reads the mouth in sits a pixel or two off the located one: the bench's close-up at seed 0, painted at
# the located box exactly, read 0.772 there and 0.905 at the located box. Over bench seeds 0-3 (which chose it) at
# 1.0 / 1.1 / 1.15 / 1.2 the close-up read 0.823 / 0.932 / 0.939 / 0.929 (closed in silence 1.0, but 0.82 at 1.2),
# the monologue 0.880 / 0.920 / 0.920 / 0.919, the two-shot with cuts 0.679 / 0.807 / 0.800 / 0.793; over seeds 4-7
# at 1.0 / 1.1 the close-up 0.925 / 0.948, the monologue 0.913 / 0.923, the two-shot 0.624 / 0.723
PAINT_MIN_HEIGHT = 16.0  # pixels: a mouth painter paints faces whose median mouth box is at least this tall; the
# bench's close-ups (~31 px) read better painted, its three-shot's faces (~11 px) worse (0.48 against 0.85 over four
# seeds), and a face seen in close-up and in medium shots (~19 px) reads best painted in both or in neither


def _sample_patch(frame: np.ndarray, box: np.ndarray, grid: int) -> np.ndarray:
    """Bilinear ``grid x grid`` samples of ``frame`` (H, W, 3) inside ``box`` [x0, y0, x1, y1]; float32 (g, g, 3)."""
    from scipy.ndimage import map_coordinates

    x0, y0, x1, y1 = (float(v) for v in box)
    xs = np.linspace(x0, x1, grid, dtype=np.float32) - 0.5
    ys = np.linspace(y0, y1, grid, dtype=np.float32) - 0.5
    mx, my = np.meshgrid(xs, ys)
    image = frame.astype(np.float32)
    return np.stack(
        [map_coordinates(image[..., c], [my, mx], order=1, mode="nearest") for c in range(image.shape[-1])], axis=-1
    )


def box_patches(frames: np.ndarray, boxes: np.ndarray, grid: int = 24) -> np.ndarray:
    """Resample each frame's box to a fixed grid.

    Args:
        frames: uint8 (T, H, W, 3).
        boxes: float (T, 4) ``[x0, y0, x1, y1]`` pixels, NaN rows where absent.
        grid: output patch side.

    Returns:
        float32 (T, grid, grid, 3) in 0..255, NaN where the box is absent.
    """
    frames = np.asarray(frames)
    if len(frames) != len(boxes):
        raise ValueError(f"{len(frames)} frames but {len(boxes)} boxes")
    out = np.full((len(frames), grid, grid, 3), np.nan, dtype=np.float32)
    for t, box in enumerate(np.asarray(boxes, dtype=np.float32)):
        if np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1]:
            out[t] = _sample_patch(frames[t], box, grid)
    return out


def mouth_opening_from_patches(patches: np.ndarray, threshold: float = 30.0) -> np.ndarray:
    """Soft mouth height per patch (see the module docstring).

    Args:
        patches: float (T, g, g, 3) mouth-box patches in 0..255 (NaN patches give NaN).
        threshold: RGB distance from skin at which a pixel counts fully as mouth.

    Returns:
        float64 (T,) opening as a fraction of the box height.
    """
    t_len, g = patches.shape[0], patches.shape[1]
    skin = _side_skin(patches)
    dist = np.linalg.norm(patches - skin[:, None, None], axis=-1)
    soft = np.clip(dist / threshold, 0.0, 1.0)
    c0, c1 = g // 3, g - g // 3
    prof = soft[:, :, c0:c1].mean(axis=2)  # (T, g)
    lo, hi = int(0.2 * g), int(0.9 * g)
    out = np.full(t_len, np.nan)
    for t in range(t_len):
        r = prof[t]
        if not np.isfinite(r).all():
            continue
        on = np.concatenate([[False], r > 0.5, [False]])
        starts = np.flatnonzero(~on[:-1] & on[1:])
        ends = np.flatnonzero(on[:-1] & ~on[1:])
        best = 0.0
        for i, j in zip(starts, ends, strict=True):
            if j > lo and i < hi:  # a run reaching the middle band (not the nose above or the chin below)
                best = max(best, float(r[max(i - 1, 0) : min(j + 1, g)].sum()))
        out[t] = best / g
    return out


def _side_skin(patches: np.ndarray) -> np.ndarray:
    """(T, 3) skin colour of mouth-box patches (T, g, g, 3): the median of their side strips at mouth height."""
    t_len, g = patches.shape[0], patches.shape[1]
    r0, r1 = int(0.3 * g), max(int(0.8 * g), int(0.3 * g) + 1)
    side = np.concatenate([patches[:, r0:r1, :2], patches[:, r0:r1, -2:]], axis=2).reshape(t_len, -1, 3)
    return np.median(side, axis=1)


def read_openings(frames: np.ndarray, boxes: np.ndarray, grid: int = 24, threshold: float = 30.0) -> np.ndarray:
    """float64 (T,) mouth opening of one face per frame (fraction of its box height), NaN where it has no box."""
    return mouth_opening_from_patches(box_patches(frames, boxes, grid), threshold)


def target_openings(jaw: np.ndarray, source: np.ndarray) -> np.ndarray:
    """The opening each frame should show, in the footage's units: the speech's jaw track mapped onto the footage's
    openings by rank (frames silent in the new speech take :func:`closed_frame`'s mouth instead).

    Args:
        jaw: (T,) jaw opening read from the new speech. source: (T,) the footage's openings (NaN: no face).
    """
    known = np.sort(source[np.isfinite(source)])
    if not len(known):
        return np.full(len(jaw), np.nan)
    ranks = np.argsort(np.argsort(jaw, kind="stable"), kind="stable") / max(len(jaw) - 1, 1)
    return np.quantile(known, ranks)


def choose_frames(source: np.ndarray, target: np.ndarray, locality: float = LOCALITY) -> np.ndarray:
    """int (T,) the footage frame whose mouth each frame takes: the nearest opening to its target, ties (within
    ``locality`` per frame of distance) to the nearest frame; a frame with no target keeps its own (index = itself)."""
    length = len(target)
    index = np.arange(len(source))
    usable = np.isfinite(source)
    choice = np.arange(length)
    if not usable.any():
        return choice
    for t in np.flatnonzero(np.isfinite(target)):
        cost = np.abs(source[usable] - target[t]) + locality * np.abs(index[usable] - t)
        choice[t] = index[usable][np.argmin(cost)]
    return choice


def closed_frame(source: np.ndarray, jittered: np.ndarray | None = None) -> int | None:
    """The footage frame with the most closed mouth, None when no frame has one: the least ``jittered`` opening
    (:func:`jittered_openings`; ties to the least ``source`` opening), or the least ``source`` opening without it.

    Every silent frame takes this one mouth. Choosing each silent frame's nearest mouth to the closed level instead
    took slightly different, sometimes half-open mouths from frame to frame: over four seeds of a generated close-up
    the mouth read closed in 0.68 of its silent frames, with this frame 0.98."""
    first = source if jittered is None else jittered
    usable = np.flatnonzero(np.isfinite(source) & np.isfinite(first))
    if not len(usable):
        return None
    return int(usable[np.lexsort((source[usable], first[usable]))[0]])


def jittered_openings(frames: np.ndarray, boxes: np.ndarray, shift: float = CLOSED_JITTER) -> np.ndarray:
    """float64 (T,) the widest opening of one face read at its box and at the box moved ``shift`` of its width left
    and right and of its height up and down (NaN where it has no box).

    A located box sits a pixel or two off the mouth. A mouth that reads closed only where its box happens to sit (a
    lip line or the chin just outside it) reads open once it is pasted elsewhere; one that reads closed at every
    nearby box is shut. With the keyframe candidate of 2026-12-04 (whose faces sit further from the boxes), over six
    seeds of three generated cases the silent frames read closed 0.68 of the time with the mouth read at its box
    alone, 0.88 with this (shift 0.05; 0.08 and 0.11: 0.84, 0.83); the shipped folder's full bench over three seeds
    0.833 -> 0.850 (``benchmarks/README.md``)."""
    return np.max(jittered_reads(frames, boxes, shift), axis=0)


def jittered_reads(frames: np.ndarray, boxes: np.ndarray, shift: float = CLOSED_JITTER) -> np.ndarray:
    """float64 (5, T) one face's openings read at its box and at the box moved ``shift`` of its width left and right
    and of its height up and down (the reads :func:`jittered_openings` and :func:`retime_footage` use)."""
    boxes = np.asarray(boxes, dtype=np.float32)
    size = np.concatenate([boxes[:, 2:] - boxes[:, :2]] * 2, axis=1)
    moves = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]
    return np.stack([read_openings(frames, boxes + shift * size * np.array([dx, dy, dx, dy])) for dx, dy in moves])


def _move_mouth(dst: np.ndarray, src: np.ndarray, box_dst: np.ndarray, box_src: np.ndarray) -> None:
    """Paste ``src``'s mouth region (around ``box_src``, scaled by ``REGION_GROW``) onto ``dst`` centred on
    ``box_dst``, feathered; in place."""
    height, width = dst.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box_src)
    w, h = (x1 - x0) * REGION_GROW, (y1 - y0) * REGION_GROW
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    dx = int(round((box_dst[0] + box_dst[2]) / 2 - cx))
    dy = int(round((box_dst[1] + box_dst[3]) / 2 - cy))
    ys = np.arange(int(np.floor(cy - h / 2)), int(np.ceil(cy + h / 2)))
    xs = np.arange(int(np.floor(cx - w / 2)), int(np.ceil(cx + w / 2)))
    ys = ys[(ys >= 0) & (ys < height) & (ys + dy >= 0) & (ys + dy < height)]
    xs = xs[(xs >= 0) & (xs < width) & (xs + dx >= 0) & (xs + dx < width)]
    if not len(ys) or not len(xs):
        return
    fy = np.clip((h / 2 - np.abs(ys + 0.5 - cy)) / max(h * FEATHER, 1.0), 0.0, 1.0)
    fx = np.clip((w / 2 - np.abs(xs + 0.5 - cx)) / max(w * FEATHER, 1.0), 0.0, 1.0)
    _blend(dst, ys + dy, xs + dx, src[np.ix_(ys, xs)].astype(np.float32), fy, fx)


def _blend(dst: np.ndarray, ys: np.ndarray, xs: np.ndarray, moved: np.ndarray, fy: np.ndarray, fx: np.ndarray) -> None:
    """In place: ``dst``'s rows ``ys`` x columns ``xs`` become ``moved`` (float32 (len ys, len xs, 3)) over what was
    there, weighted by the feather ``fy`` (rows) times ``fx`` (columns), rounded to uint8."""
    alpha = (fy[:, None] * fx[None, :])[..., None]
    under = dst[np.ix_(ys, xs)].astype(np.float32)
    dst[np.ix_(ys, xs)] = np.clip(alpha * moved + (1 - alpha) * under + 0.5, 0, 255).astype(np.uint8)


def _stretch_mouth(dst: np.ndarray, src: np.ndarray, box_dst: np.ndarray, box_src: np.ndarray, stretch: float) -> None:
    """As :func:`_move_mouth`, with the lips scaled ``stretch`` times vertically: the band of ``LIPS_BAND`` box
    heights about the source box's centre lands ``stretch`` times as tall about the target box's centre, the rest of
    the region is squeezed or stretched between the band and the region's edge, where it meets the frame unchanged
    (bilinear samples); in place."""
    from scipy.ndimage import map_coordinates

    height, width = dst.shape[:2]
    x0, y0, x1, y1 = (float(v) for v in box_src)
    w, h = (x1 - x0) * REGION_GROW, (y1 - y0) * REGION_GROW
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    tx, ty = (box_dst[0] + box_dst[2]) / 2, (box_dst[1] + box_dst[3]) / 2
    half = h / 2
    band = LIPS_BAND * (y1 - y0)
    lips = min(band * stretch, 0.95 * half)  # the band's half height where it lands
    ys = np.arange(int(np.floor(ty - half)), int(np.ceil(ty + half)))
    xs = np.arange(int(np.floor(tx - w / 2)), int(np.ceil(tx + w / 2)))
    ys, xs = ys[(ys >= 0) & (ys < height)], xs[(xs >= 0) & (xs < width)]
    if not len(ys) or not len(xs):
        return
    up = ys + 0.5 - ty
    far = np.minimum(np.abs(up), half)
    back = np.where(far <= lips, far * band / lips, band + (far - lips) * (half - band) / max(half - lips, 1e-6))
    fy = np.clip((half - np.abs(up)) / max(h * FEATHER, 1.0), 0.0, 1.0)
    fx = np.clip((w / 2 - np.abs(xs + 0.5 - tx)) / max(w * FEATHER, 1.0), 0.0, 1.0)
    my, mx = np.meshgrid(cy + np.sign(up) * back - 0.5, cx + xs + 0.5 - tx - 0.5, indexing="ij")
    image = src.astype(np.float32)
    moved = np.stack([map_coordinates(image[..., c], [my, mx], order=1, mode="nearest") for c in range(3)], axis=-1)
    _blend(dst, ys, xs, moved, fy, fx)


def widened_targets(jaw: np.ndarray, opening: np.ndarray, voiced: np.ndarray, widen: float = WIDEN) -> np.ndarray:
    """float64 (T,) the opening each frame should show, a straight line of its jaw: the voiced frames' p10-p90 jaw
    range (``TARGET_PERCENTILES``) lands on ``widen`` times the footage's p10-p90 range of ``opening``, about its
    middle (NaN everywhere when no opening was read)."""
    known = opening[np.isfinite(opening)]
    if not len(known):
        return np.full(len(jaw), np.nan)
    lo, hi = np.percentile(known, TARGET_PERCENTILES)
    j_lo, j_hi = np.percentile(jaw[voiced] if voiced.any() else jaw, TARGET_PERCENTILES)
    return (lo + hi) / 2 + widen * (hi - lo) * ((jaw - j_lo) / max(j_hi - j_lo, 1e-6) - 0.5)


def _move_mouths(out: np.ndarray, source: np.ndarray, boxes: np.ndarray, choice: np.ndarray) -> None:
    """In place: frame t of ``out`` takes ``source[choice[t]]``'s mouth (see :func:`retime_mouths`)."""
    for t, k in enumerate(np.asarray(choice)):
        if k != t and np.isfinite(boxes[t]).all() and np.isfinite(boxes[k]).all():
            _move_mouth(out[t], source[k], boxes[t], boxes[k])


def retime_mouths(frames: np.ndarray, source: np.ndarray, boxes: np.ndarray, choice: np.ndarray) -> np.ndarray:
    """``frames`` (uint8 (T, H, W, 3)) with frame t's mouth taken from ``source[choice[t]]`` (moved from that
    frame's box to frame t's); frames keeping their own mouth or without a box are unchanged. Returns a copy."""
    out = np.array(frames, copy=True)
    _move_mouths(out, source, boxes, choice)
    return out


def retime_footage(
    frames: np.ndarray,
    boxes: np.ndarray,
    jaw: np.ndarray,
    speech: list[np.ndarray],
    fps: float,
    widen: float | None = None,
    painter=None,
) -> np.ndarray:
    """Steps 2-4 of the module docstring for every face: ``frames`` (uint8 (T, H, W, 3)) with face k's mouth (boxes
    ``(T, K, 4)``) re-timed to its jaw track ``jaw[k]`` (T,) read from ``speech[k]`` (16 kHz, fitted to the
    frames). Each face chooses among the footage's own frames; returns a copy.

    ``widen`` (generated takes, :func:`retime_generated`): instead of mapping the jaw onto the footage's openings by
    rank, each voiced frame asks for :func:`widened_targets`'s opening, takes the mouth read nearest to it (read as
    the mean of :func:`jittered_reads`, which a blurred mouth's box position sways less) and stretches it the rest
    of the way (:func:`_stretch_mouth`, within ``STRETCH_LIMITS``), so mouths open wider than any of the take's own
    and the openings follow the jaw in proportion rather than in rank.

    ``painter`` (a :class:`~talkgen.models.mouth_painter.MouthPainterNet`, generated takes): a face whose median box
    is at least ``PAINT_MIN_HEIGHT`` pixels tall has its mouths painted instead (:func:`_paint_mouths`)."""
    out = np.array(frames, copy=True)
    for k in range(boxes.shape[1]):
        silent = np.asarray(silent_frames(speech[k], len(frames), fps, SPEECH_RATE, threshold_db=SILENCE_DB), bool)
        if painter is not None and _paintable(boxes[:, k]):
            out = _paint_mouths(out, boxes[:, k], jaw[k], silent, painter)
            continue
        reads = jittered_reads(frames, boxes[:, k])
        opening = reads[0]
        closed = closed_frame(opening, reads.max(axis=0))
        if widen is None:
            choice = choose_frames(opening, target_openings(jaw[k], opening))
            if closed is not None:
                choice[silent] = closed
            _move_mouths(out, frames, boxes[:, k], choice)
            continue
        steady = reads.mean(axis=0)
        want = widened_targets(jaw[k], steady, ~silent, widen)
        known = steady[np.isfinite(steady)]
        choice = choose_frames(steady, np.clip(want, known.min(), known.max()) if len(known) else want)
        if closed is not None:  # a frame asking for less than the closed mouth shows the closed mouth
            silent |= want <= steady[closed]
            choice[silent] = closed
        for t, source in enumerate(choice):
            if not (np.isfinite(boxes[t, k]).all() and np.isfinite(boxes[source, k]).all()):
                continue
            if silent[t] or not steady[source] > 1e-3:
                if source != t:
                    _move_mouth(out[t], frames[source], boxes[t, k], boxes[source, k])
                continue
            stretch = float(np.clip(want[t] / steady[source], *STRETCH_LIMITS))
            _stretch_mouth(out[t], frames[source], boxes[t, k], boxes[source, k], stretch)
    return out


def _paint_mouths(frames: np.ndarray, boxes: np.ndarray, jaw: np.ndarray, silent: np.ndarray, painter) -> np.ndarray:
    """``frames`` (uint8 (T, H, W, 3)) with one face's mouths (``boxes`` (T, 4)) painted by ``painter``: each voiced
    frame's at its ``jaw`` (T,) opening, each ``silent`` (T,) frame's shut; then every silent frame takes the one
    painted shut mouth that reads most closed at its box and the boxes moved about it (:func:`closed_frame` over
    the silent frames), as re-timing shuts silent mouths on one frame. Painted one by one, shut mouths read closed
    or a lip's thickness open from frame to frame (over four seeds of the bench's generated close-up 0.886 of its
    silent frames read closed, with one shut mouth 1.000). Returns a copy."""
    boxes = grow_boxes(boxes, PAINT_GROW)
    out = painter.paint(frames, boxes, np.where(silent, 0.0, jaw))
    reads = jittered_reads(out, boxes)
    shut = closed_frame(np.where(silent, reads[0], np.nan), np.where(silent, reads.max(axis=0), np.nan))
    if shut is not None:
        _move_mouths(out, out, boxes, np.where(silent, shut, np.arange(len(out))))  # frame ``shut`` itself is kept
    return out


def _paintable(boxes: np.ndarray) -> bool:
    """Whether one face's boxes (T, 4) are tall enough for the mouth painter (``PAINT_MIN_HEIGHT``)."""
    found = np.isfinite(boxes).all(axis=1)
    return bool(found.any()) and float(np.median(boxes[found, 3] - boxes[found, 1])) >= PAINT_MIN_HEIGHT


def speaker_slots(boxes: np.ndarray, streams: int) -> tuple[np.ndarray, list[int | None]]:
    """Which speech drives which found mouth, for a generated take with ``streams`` speech streams.

    Args:
        boxes: float (T, D, 4) mouths found in each frame, left to right (NaN rows after the last found).
        streams: speech streams of the take, one per visible character, left to right.

    Returns:
        ``(slots, speech)``: float32 (T, K, 4) slot boxes (NaN where the slot is empty) and each slot's stream index
        (None: the streams' mix). One stream: every mouth says it (slot k: the k-th mouth from the left). Several:
        in frames showing as many mouths as streams, mouth k says stream k; in frames showing one mouth (a cut to
        a single face) it says the mix, in a slot of its own; frames with another count keep their mouths.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    found = np.isfinite(boxes).all(axis=-1).sum(axis=1)
    if streams == 1:
        return boxes, [0] * boxes.shape[1]
    slots = np.full((len(boxes), streams + 1, 4), np.nan, dtype=np.float32)
    width = min(boxes.shape[1], streams)
    every = found == streams
    slots[every, :width] = boxes[every, :width]
    alone = found == 1
    slots[alone, streams] = boxes[alone, 0]
    return slots, [*range(streams), None]


def mouth_tracks(
    boxes: np.ndarray,
    scores: np.ndarray,
    keep: int,
    radius: float = TRACK_RADIUS,
    gap: int = TRACK_GAP,
    frames: np.ndarray | None = None,
) -> np.ndarray:
    """The ``keep`` mouths of a take that persist, from more candidates per frame than it has mouths.

    A locator's best-scoring box of a frame is sometimes an eye, glasses or a collar, for a stretch of frames where the
    mouth is faint, while the mouth is still found with a lower score. Candidates are linked frame to frame into tracks
    (a candidate joins the nearest track seen within ``gap`` frames whose last centre lies within ``radius`` times
    the take's median box height); the ``keep`` tracks with the highest summed score over the take are the mouths, and
    each frame keeps its candidates on them. With the take's ``frames``, tracks that sit on no face are passed over
    first (:func:`_top_off_sides` above ``TRACK_TOP_LIMIT``: a collar a medium shot's locator scored above the mouth
    got a mouth painted on the neck), unless no track is left.

    Args:
        boxes: float (T, D, 4) candidate boxes ``[x0, y0, x1, y1]``, NaN rows where fewer were found.
        scores: float (T, D) their scores (NaN likewise). keep: mouths to keep (the take's speech streams).
        frames: uint8 (T, H, W, 3) the take, or None (no face check).

    Returns:
        float32 (T, keep, 4): each frame's kept boxes, left to right, NaN rows after the last (as the locator gives).
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    found = np.isfinite(boxes).all(axis=-1) & np.isfinite(scores)
    centre = (boxes[..., :2] + boxes[..., 2:]) / 2
    reach = radius * float(np.median((boxes[..., 3] - boxes[..., 1])[found])) if found.any() else 0.0
    tracks: list[dict] = []  # last: centre, seen: last frame, members: {frame: candidate}, score: summed
    for t in range(len(boxes)):
        cands = np.flatnonzero(found[t])
        live = [k for k, track in enumerate(tracks) if t - track["seen"] <= gap]
        pairs = sorted((float(np.linalg.norm(centre[t, n] - tracks[k]["last"])), k, n) for k in live for n in cands)
        joined: set[int] = set()
        taken: set[int] = set()
        for dist, k, n in pairs:
            if dist <= reach and k not in joined and n not in taken:
                joined.add(k)
                taken.add(n)
                tracks[k].update(last=centre[t, n], seen=t)
                tracks[k]["members"][t] = n
                tracks[k]["score"] += float(scores[t, n])
        tracks += [
            {"last": centre[t, n], "seen": t, "members": {t: n}, "score": float(scores[t, n])}
            for n in cands
            if n not in taken
        ]
    if frames is not None:
        on_face = [t for t in tracks if _top_off_sides(frames, boxes, t["members"]) <= TRACK_TOP_LIMIT]
        tracks = on_face or tracks
    best = sorted(tracks, key=lambda track: -track["score"])[:keep]
    out = np.full((len(boxes), keep, 4), np.nan, dtype=np.float32)
    for t in range(len(boxes)):
        kept = sorted(
            (boxes[t, track["members"][t]] for track in best if t in track["members"]), key=lambda b: b[0] + b[2]
        )
        if kept:
            out[t, : len(kept)] = kept
    return out


def _top_off_sides(frames: np.ndarray, boxes: np.ndarray, members: dict[int, int], grid: int = 24) -> float:
    """Median over a track's frames of the RGB distance between its box's top rows (the upper lip's place) and its
    sides at mouth height (the cheeks, :func:`_side_skin`, where the opening reader takes the skin); ``members`` maps
    frame -> candidate index into ``boxes`` (T, D, 4)."""
    rows = sorted(members)
    patches = box_patches(frames[rows], boxes[rows, [members[t] for t in rows]], grid)
    top = patches[:, :3, grid // 3 : grid - grid // 3].reshape(len(rows), -1, 3)
    return float(np.median(np.linalg.norm(np.median(top, axis=1) - _side_skin(patches), axis=-1)))


def steady_boxes(
    boxes: np.ndarray,
    half: int = 12,
    jump: float = 0.5,
    scale: float = 1.6,
    centre_half: int = STEADY_CENTRE_HALF,
    size_half: int = STEADY_SIZE_HALF,
) -> np.ndarray:
    """``boxes`` (T, K, 4) with each slot's outliers dropped and the rest steadied.

    Dropped (NaN): a box whose centre lies more than ``jump`` times the slot's median height from the slot's median
    centre over the ``2 * half + 1`` frames around it, or whose height is more than ``scale`` times off that median
    (a locator hit on an eye or a collar for a frame): moving such a box would paste the wrong region into the frame
    or take another frame's mouth from it. Steadied: each kept box is centred on the median centre of the slot's kept
    boxes within ``centre_half`` frames and sized as their median within ``size_half`` frames (windows symmetric
    about the frame, so a steady drift passes unchanged). A locator's box size jitters from frame to frame; the
    opening each frame's mouth is read at is a share of its box's height, so a jittering box mismeasures the mouths
    the re-timing chooses between, and moves the pasted region with it."""
    boxes = np.array(boxes, dtype=np.float32, copy=True)
    length = len(boxes)
    for k in range(boxes.shape[1]):
        box = boxes[:, k]
        ok = np.isfinite(box).all(axis=1)
        centre = (box[:, :2] + box[:, 2:]) / 2
        size = box[:, 2:] - box[:, :2]
        height = size[:, 1]
        bad = np.zeros(length, dtype=bool)
        for t in np.flatnonzero(ok):
            near = np.flatnonzero(ok[max(0, t - half) : t + half + 1]) + max(0, t - half)
            h = float(np.median(height[near]))
            far = np.linalg.norm(centre[t] - np.median(centre[near], axis=0)) > jump * h
            bad[t] = far or not (h / scale <= height[t] <= h * scale)
        kept = ok & ~bad
        steady = np.full_like(box, np.nan)
        for t in np.flatnonzero(kept):
            c = _symmetric_median(centre, kept, t, centre_half)
            wh = _symmetric_median(size, kept, t, size_half)
            steady[t] = np.concatenate([c - wh / 2, c + wh / 2])
        boxes[:, k] = steady
    return boxes


def _symmetric_median(values: np.ndarray, kept: np.ndarray, t: int, half: int) -> np.ndarray:
    """Median of ``values`` (T, D) over the ``kept`` frames within ``half`` frames of ``t``, the window shrunk to
    stay symmetric at the take's ends."""
    half = min(half, t, len(values) - 1 - t)
    window = np.flatnonzero(kept[t - half : t + half + 1]) + t - half
    return np.median(values[window], axis=0)


def retime_generated(
    frames: np.ndarray,
    boxes: np.ndarray,
    jaw: np.ndarray,
    speech: list[np.ndarray],
    fps: float,
    scores: np.ndarray | None = None,
    widen: float | None = WIDEN,
    painter=None,
) -> np.ndarray:
    """A generated take (uint8 (T, H, W, 3)) with the mouths found in it (``boxes`` (T, D, 4), left to right)
    re-timed to its speech: the jaw tracks ``jaw`` (S, T) the mouth head read from the S streams ``speech`` (16 kHz).
    With the candidates' ``scores`` (T, D), ``boxes`` are a locator's candidates and the S persistent mouths are
    kept (:func:`mouth_tracks`). Slots as :func:`speaker_slots` assigns them; a mouth that says the mix follows the
    widest-open jaw of the streams and is silent where all are. ``widen``: see :func:`retime_footage` (None: the
    rank mapping dubs use). ``painter``: see :func:`retime_footage`. Returns a copy."""
    if scores is not None:
        boxes = mouth_tracks(boxes, scores, len(speech), frames=frames)
    slots, which = speaker_slots(boxes, len(speech))
    slots = steady_boxes(slots)
    mix = np.sum([np.asarray(w, dtype=np.float32) for w in speech], axis=0)
    jaws = np.stack([jaw.max(axis=0) if k is None else jaw[k] for k in which]) if which else jaw[:0]
    waves = [mix if k is None else speech[k] for k in which]
    return retime_footage(frames, slots, jaws, waves, fps, widen=widen, painter=painter)
