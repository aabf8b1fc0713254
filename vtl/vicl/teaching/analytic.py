"""The offline analytic teacher: measure what changed from input to output, then write three implicit sentences.

It looks only at pixels (never at task ids): brightness, contrast, saturation, noise level, sharpness, edge density,
colour shift, flat white holes, periodic patterns, thin streaks, how local the change is, how many distinct colours
remain. The most telling cue of each example drives its phrases; wording is varied by a seed so a corpus of many
tuples is not one sentence repeated, and magnitudes are written in, so descriptions differ across tuples too.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ImageStats:
    brightness: float  # mean luma, 0..1
    contrast: float  # luma std
    saturation: float  # mean HSV saturation
    noise: float  # estimated Gaussian sigma, 0..1 scale
    sharpness: float  # variance of the Laplacian of luma
    edge_density: float  # fraction of Canny edge pixels
    colours: int  # distinct colours after 5-bit quantization
    white_fraction: float  # pixels that are pure white (>= 250 in every channel)
    warmth: float  # mean red minus mean blue, -1..1


@dataclass(frozen=True)
class Change:
    """Input -> output measurements of one example and the dominant cue found."""

    before: ImageStats
    after: ImageStats
    changed_fraction: float  # pixels whose colour moved by more than 8% of the range
    untouched_fraction: float  # pixels that moved by under 2%
    region_darkness: float  # in the changed region: mean luma before / after (< 1: the input was darker there)
    periodic_peak: float  # spectral peak of the removed residual relative to its mean spectrum
    streakiness: float  # vertical continuation of bright removed residual vs horizontal
    brightened_ratio: float  # pixels the input has brighter than the output / pixels it has darker (+1 each)
    holes_filled: float  # fraction of the frame that was pure white in the input and changed
    compactness: float  # share of changed pixels in the largest connected blob (1: one region, ~0: scattered)
    cue: str


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0


_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)


def noise_sigma(gray: np.ndarray) -> float:
    """Immerkaer's fast Gaussian-noise estimate (1996): mean |Laplacian-difference response| scaled to a sigma."""
    h, w = gray.shape
    response = np.abs(ndimage.convolve(gray, _IMMERKAER, mode="reflect"))[1:-1, 1:-1]
    return float(np.sqrt(np.pi / 2) * response.sum() / (6 * (w - 2) * (h - 2)))


def image_stats(image: np.ndarray) -> ImageStats:
    from skimage.feature import canny

    y = luma(image)
    rgb = image.astype(np.float32) / 255
    top, bottom = rgb.max(axis=-1), rgb.min(axis=-1)
    quantized = (image >> 3).reshape(-1, 3).astype(np.int32)
    return ImageStats(
        brightness=float(y.mean()),
        contrast=float(y.std()),
        saturation=float(np.where(top > 0, (top - bottom) / np.maximum(top, 1e-6), 0).mean()),  # HSV S
        noise=noise_sigma(y),
        sharpness=float(ndimage.laplace(y).var()),
        edge_density=float(canny(y, sigma=1.0).mean()),
        colours=int(len(np.unique(quantized[:, 0] * 1024 + quantized[:, 1] * 32 + quantized[:, 2]))),
        white_fraction=float((image >= 250).all(axis=-1).mean()),
        warmth=float((rgb[..., 0] - rgb[..., 2]).mean()),
    )


def _periodic_peak(residual: np.ndarray) -> float:
    """Strongest spectral peak of a residual above 1/8 cycle per pixel, relative to the mean spectrum there.

    Smooth residuals (shading, soft overlays) live below that band and are ignored; the peak/mean ratio of a tone
    grows with the side length, so it is scaled to a 128-pixel frame to keep one threshold across image sizes."""
    h, w = residual.shape
    spectrum = np.abs(np.fft.fft2(residual - residual.mean()))
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.fftfreq(w)[None, :]
    band = np.hypot(fy, fx) >= 0.125
    return float(spectrum[band].max() / (spectrum[band].mean() + 1e-8) * 128 / np.sqrt(h * w))


def _streakiness(bright: np.ndarray) -> float:
    if bright.mean() < 1e-4:
        return 0.0
    vertical = (bright[1:] & bright[:-1]).mean() / bright.mean()
    horizontal = (bright[:, 1:] & bright[:, :-1]).mean() / bright.mean()
    return float(vertical - horizontal)


def _compactness(changed: np.ndarray) -> float:
    if not changed.any():
        return 0.0
    closed = ndimage.binary_closing(changed, iterations=2)
    labels, n = ndimage.label(closed)
    sizes = np.bincount(labels.ravel())[1:]
    return float(sizes.max() / closed.sum()) if n else 0.0


def is_local(change: Change) -> bool:
    """The change is one compact region with much of the frame left untouched."""
    return change.untouched_fraction > 0.3 and 0.01 < change.changed_fraction < 0.65 and change.compactness > 0.5


def measure_change(inp: np.ndarray, out: np.ndarray) -> Change:
    """Measurements of the input -> output change and its dominant cue."""
    if inp.shape != out.shape:
        from vtl.vicl.lowlevel.images import resize

        out = resize(out, inp.shape[:2])
    before, after = image_stats(inp), image_stats(out)
    diff = out.astype(np.float32) / 255 - inp.astype(np.float32) / 255  # [h, w, 3]
    moved = np.abs(diff).max(axis=-1)
    changed = moved > 0.08
    changed_fraction, untouched = float(changed.mean()), float((moved < 0.02).mean())
    y_in, y_out = luma(inp), luma(out)
    region_darkness = float(y_in[changed].mean() / max(y_out[changed].mean(), 1e-3)) if changed.any() else 1.0
    removed = y_in - y_out  # what the output took away
    periodic = _periodic_peak(removed)
    streaks = _streakiness(removed > 0.1)
    ratio = float(((removed > 0.1).sum() + 1) / ((removed < -0.1).sum() + 1))
    white = (inp >= 250).all(axis=-1)
    holes = float((white & changed).mean())
    compact = _compactness(changed)
    change = Change(before, after, changed_fraction, untouched, region_darkness, periodic, streaks, ratio, holes,
                    compact, cue="")
    return Change(**{**change.__dict__, "cue": _dominant_cue(change)})


def _dominant_cue(c: Change) -> str:
    b, a = c.before, c.after
    local = is_local(c)
    if c.holes_filled > 0.01 and b.white_fraction > a.white_fraction + 0.01:
        return "holes"
    if b.saturation < 0.02 and a.saturation > 0.06:
        return "colour_added"
    if b.brightness < 0.22 and a.brightness - b.brightness > 0.15:
        return "exposure_lift"
    if a.colours < 80 and b.colours > 3 * a.colours:
        return "graphic_look"
    if c.streakiness > 0.3 and c.changed_fraction < 0.4 and c.brightened_ratio > 3:
        return "streaks"
    if b.brightness > a.brightness + 0.1 and a.saturation > 1.8 * b.saturation and a.sharpness > 2.5 * b.sharpness:
        return "veil"
    if a.sharpness > 3.0 * b.sharpness and abs(a.brightness - b.brightness) < 0.05:
        return "detail"
    if local and c.region_darkness < 0.8:
        return "local_relight"
    if local:
        return "local_retone"
    if c.periodic_peak > 120:
        return "periodic"
    if b.noise > 0.03 and b.noise > 2.0 * a.noise:
        return "grain"
    return "overlay"


# --- wording ------------------------------------------------------------------------------------------------------


def _level(value: float, cuts: tuple[float, float], words: tuple[str, str, str]) -> str:
    return words[0] if value < cuts[0] else words[1] if value < cuts[1] else words[2]


def _pct(value: float) -> str:
    return f"{round(100 * value)}%"


def _input_phrase(change: Change, rng: random.Random) -> str:
    s = change.before
    light = _level(s.brightness, (0.25, 0.6), ("very dim", "evenly lit", "bright"))
    contrast = _level(s.contrast, (0.12, 0.22),
                      ("flat, low-contrast", "moderately contrasted", "punchy, high-contrast"))
    colour = "no colour at all" if s.saturation < 0.02 else _level(
        s.saturation, (0.2, 0.45), ("muted colours", "natural colours", "saturated colours"))
    artefact = rng.choice(_ARTEFACTS[change.cue])
    return _article(f"{light}, {contrast} picture with {colour}, {artefact}")


def _article(phrase: str) -> str:
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


_ARTEFACTS: dict[str, list[str]] = {
    "holes": ["with solid white patches and strokes punched through the content",
              "where flat white blocks and lines hide parts of the scene"],
    "colour_added": ["rendered purely in tones of grey", "showing only light and dark tones"],
    "exposure_lift": ["so dark that most detail sinks into black", "barely readable in its murky darkness"],
    "graphic_look": ["looking like an ordinary photograph or render", "with smooth, natural shading"],
    "streaks": ["crossed by thin bright slanted lines", "overlaid with many short bright diagonal slashes"],
    "periodic": ["covered by wavy rainbow-tinted bands", "with a fine rippling band pattern over the content"],
    "local_relight": ["with one area sunk into a darker, slightly bluish patch",
                      "where a soft-edged region is markedly darker than the rest"],
    "local_retone": ["where one region's tint and brightness do not match its surroundings",
                     "with a patch whose colours look pasted in from another picture"],
    "grain": ["speckled with coloured grain in every area", "with a sandy, speckled texture over everything"],
    "detail": ["whose edges are soft and smeared", "lacking crisp edges and fine texture"],
    "veil": ["seen through a milky, washed-out veil that grows with distance",
             "washed out by a pale whitish cast"],
    "overlay": ["with a faint, blotchy translucent layer superimposed on it",
                "carrying soft ghostly shapes laid over the real content"],
}


# Which global measures a cue already speaks about; the side remark picks the largest change among the others.
_COVERED: dict[str, set[str]] = {
    "colour_added": {"saturation"}, "exposure_lift": {"brightness"}, "veil": {"brightness", "saturation", "contrast"},
    "graphic_look": {"edges"}, "detail": {"edges"}, "periodic": {"contrast"},
}


def _side_remark(change: Change) -> str:
    """The largest secondary shift (brightness, contrast, saturation, tint, edge density), or "" if all are small."""
    b, a = change.before, change.after
    shifts = {
        "brightness": (a.brightness - b.brightness) / 0.1,
        "contrast": (a.contrast - b.contrast) / 0.04,
        "saturation": (a.saturation - b.saturation) / 0.08,
        "tint": (a.warmth - b.warmth) / 0.05,
        "edges": (a.edge_density - b.edge_density) / max(0.03, 0.5 * b.edge_density),
    }
    candidates = {k: v for k, v in shifts.items() if k not in _COVERED.get(change.cue, set()) and abs(v) >= 1}
    if not candidates:
        return ""
    name = max(candidates, key=lambda k: abs(candidates[k]))
    up = candidates[name] > 0
    if name == "brightness":
        return f"mean brightness {'rises' if up else 'falls'} from {b.brightness:.2f} to {a.brightness:.2f}"
    if name == "contrast":
        return f"tonal spread {'widens' if up else 'narrows'} from {b.contrast:.2f} to {a.contrast:.2f}"
    if name == "saturation":
        return f"colours get {'richer' if up else 'paler'} (saturation {b.saturation:.2f} to {a.saturation:.2f})"
    if name == "tint":
        return f"the overall tint turns {'warmer' if up else 'cooler'}"
    return f"edge density goes from {_pct(b.edge_density)} to {_pct(a.edge_density)}"


def _change_phrase(change: Change, rng: random.Random) -> str:
    main = _main_change_phrase(change, rng)
    remark = _side_remark(change)
    return f"{main}, and {remark}" if remark else main


def _main_change_phrase(change: Change, rng: random.Random) -> str:
    b, a = change.before, change.after
    cue = change.cue
    if cue == "holes":
        return rng.choice(["the white gaps covering {p} of the frame are filled with content that continues the "
                           "surroundings", "about {p} of the frame that was blank white is completed seamlessly"]
                          ).format(p=_pct(change.holes_filled))
    if cue == "colour_added":
        return rng.choice(["plausible colours appear (saturation rises from {s0} to {s1})",
                           "the grey tones gain natural hues, average saturation going from {s0} to {s1}"]
                          ).format(s0=f"{b.saturation:.2f}", s1=f"{a.saturation:.2f}")
    if cue == "exposure_lift":
        ratio = a.brightness / max(b.brightness, 1e-3)
        return rng.choice(["overall brightness rises about {r:.1f}-fold while the grain stays low",
                           "the exposure is lifted roughly {r:.1f} times, revealing the hidden detail"]
                          ).format(r=ratio)
    if cue == "graphic_look":
        return rng.choice(["colours collapse from {c0} to {c1} distinct tones and dark outlines trace the contours",
                           "shading is flattened into a few bold tones ({c1} instead of {c0}) with inked edges"]
                          ).format(c0=b.colours, c1=a.colours)
    if cue == "streaks":
        return rng.choice(["the thin bright lines vanish and the scene underneath stays intact",
                           "the bright slashes covering about {p} of the frame are cleared away"]
                          ).format(p=_pct(change.changed_fraction))
    if cue == "periodic":
        return rng.choice(["the rippling bands are cleared, leaving smooth, evenly coloured surfaces",
                           "the band pattern disappears and contrast settles (from {c0:.2f} to {c1:.2f})"]
                          ).format(c0=b.contrast, c1=a.contrast)
    if cue == "local_relight":
        return rng.choice(["the darker patch covering {p} of the frame is brightened to match its surroundings",
                           "only the dim region ({p} of the frame) is relit, the rest is left untouched"]
                          ).format(p=_pct(change.changed_fraction))
    if cue == "local_retone":
        return rng.choice(["one region covering {p} of the frame is re-toned so its colour agrees with the scene",
                           "the mismatched patch ({p} of the frame) shifts its tint to blend with the rest"]
                          ).format(p=_pct(change.changed_fraction))
    if cue == "grain":
        return rng.choice(["the speckle disappears (estimated grain drops from {n0:.3f} to {n1:.3f})",
                           "the grainy texture is smoothed out while edges stay in place ({n0:.3f} to {n1:.3f})"]
                          ).format(n0=b.noise, n1=a.noise)
    if cue == "detail":
        return rng.choice(["edges become crisp again, with about {r:.1f} times more fine detail",
                           "soft contours sharpen and texture returns (detail measure up {r:.1f}-fold)"]
                          ).format(r=a.sharpness / max(b.sharpness, 1e-6))
    if cue == "veil":
        return rng.choice(["the pale cast lifts and saturation grows {r:.1f}-fold as colours deepen",
                           "the washed-out look clears, darkening the frame and restoring depth and saturation"]
                          ).format(r=a.saturation / max(b.saturation, 1e-6))
    return rng.choice(["the superimposed translucent layer fades, leaving only the real scene",
                       "the ghostly shapes are peeled away and the underlying content shows cleanly"])


_GOALS: dict[str, list[str]] = {
    "holes": ["completing missing content", "filling blank areas so they blend in"],
    "colour_added": ["bringing colour to a tonal picture", "inventing plausible hues"],
    "exposure_lift": ["lifting a dark picture into normal exposure", "recovering visibility from darkness"],
    "graphic_look": ["re-rendering a natural picture in a flat, graphic manner", "changing the look, not repairing it"],
    "streaks": ["clearing thin bright obstructions", "removing sparse line-shaped occluders"],
    "periodic": ["cleaning a regular interference pattern", "suppressing a repeating band texture"],
    "local_relight": ["evening out a locally darkened area", "fixing light in one region only"],
    "local_retone": ["making one region consistent with its surroundings", "matching a pasted region's colours"],
    "grain": ["suppressing random per-pixel grain", "cleaning a speckled texture"],
    "detail": ["recovering crisp detail", "restoring edge sharpness"],
    "veil": ["restoring contrast beneath a pale veil", "removing a distance-dependent whitish cast"],
    "overlay": ["separating away a superimposed layer", "isolating the true scene from an overlay"],
}


LOCAL_CUES = frozenset({"holes", "local_relight", "local_retone"})


def _scope(change: Change) -> str:
    return "a local region" if change.cue in LOCAL_CUES else "the whole frame"


def describe_change_pair(a: Change, b: Change, *, seed: int = 0) -> str:
    """Three sentences: the inputs, what changed in A and in B, how the objectives differ."""
    rng = random.Random(seed)
    first = rng.choice(["The first input is {a}, while the second input is {b}.",
                        "Example A starts from {a}; example B starts from {b}."]
                       ).format(a=_input_phrase(a, rng), b=_input_phrase(b, rng))
    second = rng.choice(["From input to output in A, {a}; in B, {b}.",
                         "In the first example {a}, whereas in the second {b}."]
                        ).format(a=_change_phrase(a, rng), b=_change_phrase(b, rng))
    goal_a, goal_b = rng.choice(_GOALS[a.cue]), rng.choice(_GOALS[b.cue])
    scope_a, scope_b = _scope(a), _scope(b)
    if a.cue == b.cue:
        third = (f"Both objectives are about {goal_a}, but the second acts on {scope_b} of a "
                 f"{'darker' if b.before.brightness < a.before.brightness else 'brighter'} picture.")
    else:
        scope = (f", acting on {scope_a} rather than {scope_b}" if scope_a != scope_b else "")
        third = rng.choice(["The first objective is {ga}{s}, while the second is {gb}.",
                            "So A aims at {ga}{s}, whereas B aims at {gb}."]
                           ).format(ga=goal_a, gb=goal_b, s=scope)
    return " ".join(_capitalize(s) for s in (first, second, third))


def _capitalize(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:]


def describe_tuple_images(a_in, a_out, b_in, b_out, *, seed: int = 0) -> str:
    return describe_change_pair(measure_change(a_in, a_out), measure_change(b_in, b_out), seed=seed)
