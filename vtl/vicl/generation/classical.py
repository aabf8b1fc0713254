"""The offline classical generator: a library of scikit-image restoration/enhancement operators.

Each operator restores one kind of low-level degradation, has one parameter swept to make K candidates, and a
one-sentence description of what it does to an image. The generator reads a VICL prompt like a model would:
- fixed instruction alone: it applies the operator that best maps A_in to A_out (task A's operator: the cross-task
  failure that plain VICL suffers from when B needs something else);
- instruction + implicit description: it applies the operator whose description is closest to the text in
  all-MiniLM-L6-v2 sentence-embedding space.
Candidates are the operator at K parameter values spread over its range (best-by-PSNR is picked downstream).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage
from skimage import color, restoration

from vtl.vicl.generation.base import Candidate, Failure, Generator, check_query
from vtl.vicl.generation.prompts import split_prompt
from vtl.vicl.lowlevel.metrics import as_rgb_uint8, psnr

# An operator body: (image float HxWx3 in [0, 1], parameter, reference image float HxWx3) -> image float.
OperatorFn = Callable[[np.ndarray, float, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Operator:
    name: str
    description: str  # one sentence, in the words an implicit task description would use
    low: float  # parameter range swept for the K candidates
    high: float
    fn: OperatorFn

    def params(self, k: int) -> list[float]:
        """k parameter values spread evenly over [low, high]; a single candidate uses the middle value."""
        if k == 1:
            return [(self.low + self.high) / 2]
        return [float(v) for v in np.linspace(self.low, self.high, k)]

    def apply(self, image: np.ndarray, param: float, reference: np.ndarray) -> np.ndarray:
        """uint8 HxWx3 in and out; `reference` is the example's output (A_out) for exemplar-based operators."""
        out = self.fn(_to_float(image), float(param), _to_float(reference))
        return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def _to_float(image: np.ndarray) -> np.ndarray:
    return as_rgb_uint8(image).astype(np.float64) / 255.0


def _per_channel(fn: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray:
    return np.stack([fn(image[:, :, c]) for c in range(image.shape[2])], axis=2)


def _luminance(image: np.ndarray) -> np.ndarray:
    return image @ np.array([0.299, 0.587, 0.114])


def _lab2rgb(lab: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():  # out-of-gamut colours are clipped; that is the intended behaviour here
        warnings.simplefilter("ignore", UserWarning)
        return color.lab2rgb(lab)


# --- operator bodies --------------------------------------------------------------------------------------------


def _deconvolve(image, sigma, _ref):
    """Richardson-Lucy deconvolution with a Gaussian point-spread function of width `sigma`."""
    radius = max(1, int(np.ceil(3 * sigma)))
    ax = np.arange(-radius, radius + 1)
    psf = np.exp(-(ax[:, None] ** 2 + ax[None, :] ** 2) / (2 * sigma**2))
    psf /= psf.sum()
    # richardson_lucy convolves with zero padding: without a reflected margin the dark border rings inwards and the
    # result is worse than the blurred input on small images
    pad = 2 * radius

    def deconvolve(ch):
        padded = np.pad(ch, pad, mode="reflect")
        return restoration.richardson_lucy(padded, psf, num_iter=12, clip=True)[pad:-pad, pad:-pad]

    return _per_channel(deconvolve, image)


def _dehaze(image, omega, _ref):
    """Dark-channel-prior dehazing: estimate airlight and transmission, then invert the haze model."""
    patch = max(3, min(image.shape[:2]) // 16 | 1)
    dark = ndimage.minimum_filter(image.min(axis=2), size=patch)
    brightest = dark.ravel() >= np.quantile(dark, 0.999)
    airlight = np.maximum(image.reshape(-1, 3)[brightest].mean(axis=0), 1e-3)
    dark_norm = ndimage.minimum_filter((image / airlight).min(axis=2), size=patch)
    transmission = np.clip(1.0 - omega * dark_norm, 0.15, 1.0)
    transmission = ndimage.gaussian_filter(transmission, sigma=patch / 2)
    return (image - airlight) / transmission[:, :, None] + airlight


def _lowpass(image, sigma, _ref):
    """Gaussian low-pass filtering, which suppresses fine periodic interference patterns."""
    return _per_channel(lambda ch: ndimage.gaussian_filter(ch, sigma=sigma), image)


def _denoise(image, weight, _ref):
    """Total-variation denoising."""
    return restoration.denoise_tv_chambolle(image, weight=weight, channel_axis=-1)


def _derain(image, width, _ref):
    """Directional rain removal: a grey opening with a horizontal line removes thin bright near-vertical streaks."""
    size = (1, max(2, int(round(width))))
    return _per_channel(lambda ch: ndimage.grey_opening(ch, size=size), image)


def _unblend_reflection(image, alpha, _ref):
    """Treat the image as (1 - a)·scene + a·(smooth reflection layer) and subtract the smooth layer."""
    sigma = max(image.shape[:2]) / 10
    layer = _per_channel(lambda ch: ndimage.gaussian_filter(ch, sigma=sigma), image)
    return (image - alpha * layer) / (1.0 - alpha)


def _flatten_illumination(image, strength, _ref):
    """Illumination correction: divide by a smooth estimate of the lighting, keeping the mean brightness."""
    lum = _luminance(image)
    smooth = ndimage.gaussian_filter(lum, sigma=max(image.shape[:2]) / 8) + 1e-3
    gain = (lum.mean() + 1e-3) / smooth
    return image * (gain**strength)[:, :, None]


def _colorize(image, gain, ref):
    """Exemplar colourisation: give each pixel the mean chroma the reference shows at the same lightness."""
    lab = color.rgb2lab(image)
    ref_lab = color.rgb2lab(ref)
    bins = np.linspace(0, 100, 17)
    ref_bin = np.clip(np.digitize(ref_lab[:, :, 0], bins) - 1, 0, 15)
    chroma = np.zeros((16, 2))
    overall = ref_lab[:, :, 1:].reshape(-1, 2).mean(axis=0)
    for b in range(16):
        sel = ref_bin == b
        chroma[b] = ref_lab[:, :, 1:][sel].mean(axis=0) if sel.any() else overall
    img_bin = np.clip(np.digitize(lab[:, :, 0], bins) - 1, 0, 15)
    lab[:, :, 1:] = lab[:, :, 1:] + gain * chroma[img_bin]
    return _lab2rgb(lab)


def _gray_world(image, strength, _ref):
    """Colour harmonisation by grey-world balance: every channel scaled to the common mean."""
    means = image.reshape(-1, 3).mean(axis=0) + 1e-3
    balanced = image * (means.mean() / means)
    return (1 - strength) * image + strength * balanced


def _inpaint(image, grow, _ref):
    """Biharmonic inpainting of pure white or pure black regions (holes), grown by `grow` pixels."""
    mask = (image.min(axis=2) > 0.985) | (image.max(axis=2) < 0.015)
    labels, n = ndimage.label(mask)
    if n:
        sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
        mask = np.isin(labels, 1 + np.flatnonzero(sizes >= 4))  # single saturated pixels are not holes
    if int(round(grow)) > 0:
        mask = ndimage.binary_dilation(mask, iterations=int(round(grow)))
    if not mask.any() or mask.all():
        return image
    return restoration.inpaint_biharmonic(image, mask, channel_axis=-1)


def _gamma(image, gamma, _ref):
    """Low-light enhancement: gamma brightening followed by a percentile contrast stretch."""
    out = image**gamma
    lo, hi = np.percentile(out, [1, 99])
    return (out - lo) / max(hi - lo, 1e-3)


def _color_transfer(image, blend, ref):
    """Statistics-based colour transfer: match the Lab mean and spread of the reference (the example's output)."""
    lab = color.rgb2lab(image)
    ref_lab = color.rgb2lab(ref)
    mu, sd = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0) + 1e-3
    rmu, rsd = ref_lab.reshape(-1, 3).mean(0), ref_lab.reshape(-1, 3).std(0) + 1e-3
    moved = (lab - mu) / sd * rsd + rmu
    return _lab2rgb((1 - blend) * lab + blend * moved)


def _cartoon(image, levels, _ref):
    """Cartoon stylisation: median smoothing, colours quantised to a few levels, dark ink on strong edges."""
    from skimage.filters import sobel

    smooth = _per_channel(lambda ch: ndimage.median_filter(ch, size=5), image)
    n = max(2, int(round(levels)))
    flat = np.round(smooth * (n - 1)) / (n - 1)
    edges = sobel(_luminance(smooth))
    flat[edges > np.quantile(edges, 0.86)] *= 0.15
    return flat


OPERATORS: tuple[Operator, ...] = (
    Operator("deconvolution", "Sharpens a blurry, soft, smeared picture so that edges and fine detail become crisp "
             "again.", 0.6, 2.2, _deconvolve),
    Operator("dark_channel_dehaze", "Removes a milky, washed-out haze or fog veil, restoring the contrast and colour "
             "saturation that fade with distance.", 0.5, 0.95, _dehaze),
    Operator("lowpass_demoire", "Smooths away fine periodic interference: wavy moire stripes, rainbow colour bands "
             "and regular textured patterns over the picture.", 0.5, 2.0, _lowpass),
    Operator("tv_denoise", "Removes grainy random noise and speckles while keeping edges and content intact.",
             0.02, 0.2, _denoise),
    Operator("directional_derain", "Erases the thin bright streaks, slashes and lines of rain that cross the picture "
             "in one direction, leaving the scene underneath intact.", 2.0, 7.0, _derain),
    Operator("reflection_unblend", "Separates and removes a faint, translucent, ghostly layer of reflected shapes "
             "superimposed on the scene.", 0.1, 0.5, _unblend_reflection),
    Operator("illumination_correction", "Evens out uneven lighting, brightening darker shadowed patches to match "
             "their surroundings.", 0.3, 1.0, _flatten_illumination),
    Operator("exemplar_colorize", "Brings natural colours to a grayscale picture that has no colour at all, rendered "
             "in tones of grey.", 0.5, 1.5, _colorize),
    Operator("gray_world_harmonize", "Harmonizes a pasted region whose colours are out of tune with the rest of the "
             "scene, removing its colour tint.", 0.3, 1.0, _gray_world),
    Operator("biharmonic_inpaint", "Fills missing holes and blank masked patches with plausible content continued "
             "from the surroundings.", 0.0, 2.0, _inpaint),
    Operator("gamma_enhance", "Brightens a very dim, dark, underexposed low-light picture so that detail hidden in "
             "darkness becomes visible.", 0.35, 0.9, _gamma),
    Operator("color_transfer", "Recolours the whole picture so that its palette and tonal statistics match the "
             "example's output.", 0.3, 1.0, _color_transfer),
    Operator("cartoon_stylize", "Re-renders a natural photo in a flat, graphic cartoon manner with a few distinct "
             "tones and dark outlines along contours.", 3.0, 6.0, _cartoon),
)
OPERATORS_BY_NAME: dict[str, Operator] = {op.name: op for op in OPERATORS}


def _embed(texts: list[str], model_path: str | None) -> np.ndarray:
    """Unit-norm all-MiniLM-L6-v2 embeddings [n, 384], through the diversity filter's shared loader."""
    from vtl.vicl.teaching.diversity import embed_texts

    return embed_texts(texts, model_path=model_path)


@lru_cache(maxsize=4)
def _operator_embeddings(model_path: str | None) -> np.ndarray:
    return _embed([op.description for op in OPERATORS], model_path)


CONTRAST = re.compile(r"\s*;\s*|,?\s+(?:while|whereas|but|rather than)\s+")


def target_clauses(text: str) -> list[str]:
    """The parts of a description that speak about the target task.

    A description compares the example and the target in that order ("in A ..., whereas in B ..."), so in each
    sentence that contrasts the two, the part after the first contrast marker is about the target. Matching those
    parts keeps the example's words from pulling the choice back to the example's operator. Text without any
    contrast is used whole, sentence by sentence.
    """
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s]
    after = [parts[1] for s in sentences if len(parts := CONTRAST.split(s, maxsplit=1)) == 2 and parts[1].strip()]
    return after or sentences or [text]


def rank_operators_by_text(text: str, model_path: str | None = None) -> list[tuple[str, float]]:
    """Operators with their best cosine similarity to any target clause of the text, most similar first."""
    sims = (_operator_embeddings(model_path) @ _embed(target_clauses(text), model_path).T).max(axis=1)  # [n_ops]
    order = np.argsort(-sims, kind="stable")
    return [(OPERATORS[i].name, float(sims[i])) for i in order]


def rank_operators_by_example(a_in: np.ndarray, a_out: np.ndarray, n_params: int = 3) -> list[tuple[str, float]]:
    """Operators ranked by how well they map A_in to A_out (best PSNR over `n_params` parameter values)."""
    scores = []
    for op in OPERATORS:
        best = max(psnr(op.apply(a_in, p, a_out), a_out) for p in op.params(n_params))
        scores.append((op.name, best))
    return sorted(scores, key=lambda item: -item[1])


class ClassicalGenerator(Generator):
    """Offline VICL generator over `OPERATORS` (see the module docstring for how it reads a prompt).

    With a description, the operator that explains the example (A_in -> A_out) is left out when
    `exclude_example_operator` is set: a T2T-VICL description states how the two tasks differ, so the example's
    operator is by construction not the one asked for; the images say which operator that is, the text says which
    other one to use.

    Args:
        embedding_model: sentence-transformers model that embeds a description's clauses and each operator's
            wording; None: the all-MiniLM-L6-v2 the diversity filter uses.
        example_params: parameter settings tried per operator when ranking operators by the example pair.
        exclude_example_operator: with a description, leave out the operator that explains the example.
    """

    concurrent = False
    name = "classical"

    def __init__(self, embedding_model: str | None = None, example_params: int = 3,
                 exclude_example_operator: bool = True):
        self.embedding_model = embedding_model
        self.example_params = example_params
        self.exclude_example_operator = exclude_example_operator
        self.model = "classical-operators"
        self.settings = {"embedding_model": embedding_model, "example_params": example_params,
                         "exclude_example_operator": exclude_example_operator}

    def choose(self, instruction_text: str, images: Sequence[np.ndarray]) -> tuple[Operator, dict]:
        """The operator for this prompt, and why it was chosen."""
        _, description = split_prompt(instruction_text)
        by_example = rank_operators_by_example(images[0], images[1], self.example_params)
        example_op = by_example[0][0]
        if description is None:
            return OPERATORS_BY_NAME[example_op], {"chosen_by": "example", "example_psnr": round(by_example[0][1], 3)}
        ranking = rank_operators_by_text(description, self.embedding_model)
        if self.exclude_example_operator:
            ranking = [item for item in ranking if item[0] != example_op]
        name, sim = ranking[0]
        return OPERATORS_BY_NAME[name], {"chosen_by": "description", "similarity": round(sim, 4),
                                         "example_operator": example_op}

    def generate(self, instruction_text: str, images: Sequence[np.ndarray], k: int) -> list[Candidate | Failure]:
        check_query(images, k)
        a_in, a_out, b_in = (as_rgb_uint8(im) for im in images)
        op, why = self.choose(instruction_text, [a_in, a_out, b_in])
        return [
            Candidate(op.apply(b_in, p, a_out), {"operator": op.name, "param": round(p, 4), **why})
            for p in op.params(k)
        ]
