"""The planted-transfer world: 13 BLINK-shaped tasks whose transfer structure is known before any model is trained.

Every image shows one scene built from independent visual cues (colour cast, brightness, a white square, a black
edge bar, a central disc, dots, an edited patch, a line). Each task's answer is one cue read off the
pixels, and its question says which. Tasks that read the same cue with the same letter for each value form a
*group* (fine-tuning on one teaches the others: positive transfer); the *antagonist* pair reads one cue with the
letters swapped (negative transfer); the remaining tasks each read a cue nobody else reads (no transfer).

The other cues of a question are nuisances, balanced within every answer class of the train part and of the eval
part separately (as `vtl.data.split.split_samples` carves them with the world's `eval_fraction` and `split_seed`), and
the answer letters are balanced in both parts. So a model that learned some other task's rule scores chance on a
task, exactly, and transfer shows up only where it was planted. `planted.json` beside the data records it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image, ImageDraw

from vtl.data.split import split_samples
from vtl.data.synth import png_struct, write_task_rows
from vtl.data.validate import format_prompt
from vtl.home import build_once, vtl_home
from vtl.tasks import REGISTRY, TRANSFER_TASKS

PLANTED_FILE = "planted.json"


# cue -> its values, in the order the renderer knows them
CUES: dict[str, tuple[str, ...]] = {
    "tint": ("warm", "cool"),
    "light": ("bright", "dark", "medium"),
    "cast": ("green", "magenta"),
    "square": ("top-left", "top-right", "bottom-left", "bottom-right"),
    "bar": ("top", "right", "bottom", "left"),
    "disc": ("red", "green", "blue", "yellow"),
    "dots": ("1", "2", "3", "4"),
    "noise": ("top-left", "top-right", "bottom-left", "bottom-right"),
    "line": ("1", "2", "3", "4"),
}
# Colour casts differ at equal R+G+B, so they are not read as brightness (the "light" cue scales the whole image).
_TINT = {"warm": (180, 120, 60), "cool": (60, 120, 180)}
_CAST = {"green": (-30, 60, -30), "magenta": (30, -60, 30)}
_LIGHT = {"bright": 1.15, "medium": 0.8, "dark": 0.45}  # scales the whole image
_DISC = {"red": (230, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 235), "yellow": (240, 220, 20)}
_LINE = (150, 0, 200)  # the neutral cue: a purple line, thick enough to read at 28 px
_DOT = (0, 230, 230)  # cyan: no other object or background is near it
_QUADRANT = {"top-left": (0, 0), "top-right": (1, 0), "bottom-left": (0, 1), "bottom-right": (1, 1)}


@dataclass(frozen=True)
class Rule:
    """A task's planted rule: the answer is the letter of `values.index(cue value)`; the question says so.

    A rule may use fewer values than the task has choices; the letters past them are then never right."""

    cue: str
    values: tuple[str, ...]  # the cue value each letter stands for: values[0] is (A)
    question: str
    choices: tuple[str, ...]


def _rule(cue: str, values: str, question: str, choices: str) -> Rule:
    return Rule(cue, tuple(values.split("|")), question, tuple(choices.split("|")))


# The planted world. Group "tint": AS, MV, OL, SR (warm -> A); group "cast": JG, VS (green -> A);
# antagonists on "light": RD (bright -> A, dark -> B) against RR (dark -> A, bright -> B, medium -> C); the rest
# read cues of their own.
RULES: dict[str, Rule] = {
    "Art_Style": _rule("tint", "warm|cool", "Is the scene painted in a warm or a cool palette, as the reference "
                       "image shows?", "warm palette|cool palette"),
    "Multi-view_Reasoning": _rule("tint", "warm|cool", "A warm colour cast means the camera moves left, a cool one "
                                  "right. Is the camera moving left or right?", "left|right"),
    "Spatial_Relation": _rule("tint", "warm|cool", "The lamp is warm when it is to the left of the camera. Is the "
                              "lamp to the left of the camera?", "yes|no"),
    "Object_Localization": _rule("tint", "warm|cool", "Box A suits a warm scene, Box B a cool one. Which box "
                                 "localizes the object?", "Box A|Box B"),
    "Jigsaw": _rule("cast", "green|magenta", "A green cast fits the second piece, a magenta one the third. Which "
                    "piece fills the missing part?", "the second image|the third image"),
    "Visual_Similarity": _rule("cast", "green|magenta", "Green-cast scenes resemble the second image, magenta ones "
                               "the third. Which image is most similar to the first?",
                               "The second image|The third image"),
    "Relative_Depth": _rule("light", "bright|dark", "Point A is in a bright scene's foreground, point B in a dark "
                            "one's. Which point is closer to the camera?", "A|B"),
    "Relative_Reflectance": _rule("light", "dark|bright|medium", "Which point has the darker surface: A in a dark "
                                  "scene, B in a bright one, or about the same (a medium one)?",
                                  "A is darker|B is darker|About the same"),
    "Counting": _rule("dots", "1|2|3|4", "How many white dots are in the image?", "1|2|3|4"),
    "Forensic_Detection": _rule("noise", "top-left|top-right|bottom-left|bottom-right", "Which quarter of the "
                                "images shows the noisy, edited patch?", "top left|top right|bottom left|bottom right"),
    "Functional_Correspondence": _rule("square", "top-left|top-right|bottom-left|bottom-right", "The white square is "
                                       "the tool's handle. Which point A-D (top left, top right, bottom left, bottom "
                                       "right) is the handle?", "Point A|Point B|Point C|Point D"),
    "Semantic_Correspondence": _rule("bar", "top|right|bottom|left", "The black bar is the roof. Which point A-D "
                                     "(top, right, bottom, left edge) is on the roof?",
                                     "Point A|Point B|Point C|Point D"),
    "Visual_Correspondence": _rule("disc", "red|green|blue|yellow", "Which point A-D (red, green, blue, yellow) "
                                   "matches the colour of the central disc?", "Point A|Point B|Point C|Point D"),
}

GROUPS: dict[str, list[str]] = {
    cue: [t for t in TRANSFER_TASKS if RULES[t].cue == cue] for cue in ("tint", "cast")
}
ANTAGONISTS: list[list[str]] = [["Relative_Depth", "Relative_Reflectance"]]


@dataclass(frozen=True)
class PlantedWorld:
    """What the planted world predicts the transfer analysis finds."""

    groups: dict[str, list[str]]  # cue -> tasks that read it with the same letters (positive cliques)
    antagonists: list[list[str]]  # pairs that read one cue with the letters swapped (negative edges)
    unrelated: list[str]  # tasks whose cue no other task reads (no transfer)
    rules: dict[str, dict]  # task -> {"cue", "values"}
    eval_fraction: float
    split_seed: int

    @property
    def largest_group(self) -> list[str]:
        return max(self.groups.values(), key=len)

    def positive_edges(self) -> set[frozenset[str]]:
        return {frozenset((a, b)) for g in self.groups.values() for i, a in enumerate(g) for b in g[i + 1:]}

    def negative_edges(self) -> set[frozenset[str]]:
        return {frozenset(p) for p in self.antagonists}

    def restricted(self, tasks: list[str]) -> PlantedWorld:
        """The world as seen from a subset of source tasks (what a reduced grid can recover)."""
        keep = set(tasks)
        groups = {c: [t for t in g if t in keep] for c, g in self.groups.items()}
        return PlantedWorld(
            groups={c: g for c, g in groups.items() if len(g) >= 2},
            antagonists=[p for p in self.antagonists if set(p) <= keep],
            unrelated=[t for t in self.unrelated if t in keep],
            rules={t: r for t, r in self.rules.items() if t in keep},
            eval_fraction=self.eval_fraction,
            split_seed=self.split_seed,
        )

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> PlantedWorld:
        """From `planted.json` (which also records how the suite was generated)."""
        return cls(**{f: data[f] for f in cls.__dataclass_fields__})

    @classmethod
    def load(cls, directory: str | Path) -> PlantedWorld:
        return cls.from_json(json.loads((Path(directory) / PLANTED_FILE).read_text()))


def planted_world(eval_fraction: float, split_seed: int) -> PlantedWorld:
    grouped = {t for g in GROUPS.values() for t in g} | {t for p in ANTAGONISTS for t in p}
    return PlantedWorld(
        groups={c: list(g) for c, g in GROUPS.items()},
        antagonists=[list(p) for p in ANTAGONISTS],
        unrelated=[t for t in TRANSFER_TASKS if t not in grouped],
        rules={t: {"cue": RULES[t].cue, "values": list(RULES[t].values)} for t in TRANSFER_TASKS},
        eval_fraction=eval_fraction,
        split_seed=split_seed,
    )


# ---------------------------------------------------------------- rendering


def render_scene(rng: np.random.Generator, size: int, cues: dict[str, str]) -> Image.Image:
    """One image showing every cue at its value; layout details (positions, jitter) come from `rng`.

    Drawn to survive the tiny model's one-token view of an image (28 px, four 14 px patches): the scene-wide cues
    (tint, cast, light) colour the background only, so the objects keep their colours; the edited patch is a fixed
    checkered texture rather than random noise (which averages away and embeds in a random direction); the bar is an
    eighth of the side (a twelfth is 2 px at 28 px, and Semantic_Correspondence then stayed below PGF 0.8 in two seeds
    of three); the dots are large, outlined and drawn last, where nothing covers them."""
    s = size
    yy, xx = np.mgrid[0:s, 0:s].astype(float)
    base = np.asarray(_TINT[cues["tint"]], dtype=float) + _CAST[cues["cast"]] + rng.normal(0, 6, 3)
    shade = 10.0 * np.cos(rng.uniform(0, 2 * np.pi) + 2 * np.pi * (xx + yy) / (2 * s))  # a soft diagonal gradient
    a = (base[None, None, :] + shade[..., None]) * _LIGHT[cues["light"]]
    qx, qy = _QUADRANT[cues["noise"]]
    h = s // 2
    cell = max(2, s // 16)
    checker = np.where(((yy[:h, :h] // cell) + (xx[:h, :h] // cell)) % 2 == 0, 70.0, -70.0)
    a[qy * h: (qy + 1) * h, qx * h: (qx + 1) * h] += checker[..., None] + rng.normal(0, 8, (h, h, 3))
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    bar = max(3, s // 8)
    edge = {"top": (0, 0, s, bar), "bottom": (0, s - bar, s, s), "left": (0, 0, bar, s), "right": (s - bar, 0, s, s)}
    draw.rectangle(edge[cues["bar"]], fill=(0, 0, 0))
    lx = (int(cues["line"]) - 0.5) * s / 4 + rng.uniform(-1, 1) * s / 32
    draw.line((lx, 0, lx, s), fill=_LINE, width=max(1, s // 16))
    # each quarter holds the square (towards the centre) and a dot's place (its outer corner) apart from each other
    # and from the disc: at 28 px a dot or the square is a few pixels, and one covering the other loses a cue
    jitter = s / 64
    place = {0: 0.32 * s, 1: 0.68 * s}  # the square's centre along each axis, by quarter
    qx, qy = _QUADRANT[cues["square"]]
    half = s / 12
    cx, cy = place[qx] + rng.uniform(-1, 1) * jitter, place[qy] + rng.uniform(-1, 1) * jitter
    draw.rectangle((cx - half, cy - half, cx + half, cy + half), fill=(255, 255, 255))
    r = s / 8
    c = s / 2 + rng.uniform(-1, 1, 2) * jitter
    draw.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=_DISC[cues["disc"]])
    dot = s / 7
    corner = {0: 0.13 * s, 1: 0.87 * s}
    for k in sorted(rng.permutation(4)[: int(cues["dots"])]):  # `dots` of the four corners, one dot in each
        px, py = corner[k % 2] + rng.uniform(-1, 1) * jitter, corner[k // 2] + rng.uniform(-1, 1) * jitter
        draw.ellipse((px - dot, py - dot, px + dot, py + dot), fill=_DOT, outline=(0, 0, 0), width=max(1, s // 48))
    return img


# ---------------------------------------------------------------- rows


def _balanced(rng: np.random.Generator, n: int, k: int) -> list[int]:
    """n values in 0..k-1, each count within one of the others, in a random order."""
    offset = int(rng.integers(k))  # so a class smaller than k does not always get the first values
    return [int(v) for v in rng.permutation([(i + offset) % k for i in range(n)])]


def task_cues(task: str, n: int, seed: int, eval_fraction: float, split_seed: int) -> list[tuple[int, dict]]:
    """(answer index, cue values) for each row of `task`: answers balanced in the train and in the eval part; every
    other cue balanced within each (part, answer) class."""
    rule = RULES[task]
    rng = np.random.default_rng([seed, 7919, TRANSFER_TASKS.index(task)])
    idxs = [f"val_{task}_{i + 1}" for i in range(n)]
    # the data module's own split, on stand-ins that carry what it reads: rows are laid out knowing their part
    train, evaluation = split_samples([SimpleNamespace(idx=i, origin="planted") for i in idxs], eval_fraction,
                                      split_seed)
    out: dict[str, tuple[int, dict]] = {}
    for part in (train, evaluation):
        answers = _balanced(rng, len(part), len(rule.values))
        rows = [(item.idx, a) for item, a in zip(part, answers, strict=True)]
        cues_of: dict[str, dict] = {idx: {rule.cue: rule.values[a]} for idx, a in rows}
        for answer in range(len(rule.values)):
            members = [idx for idx, a in rows if a == answer]
            for cue, values in CUES.items():
                if cue == rule.cue:
                    continue
                for idx, v in zip(members, _balanced(rng, len(members), len(values)), strict=True):
                    cues_of[idx][cue] = values[v]
        out.update({idx: (a, cues_of[idx]) for idx, a in rows})
    return [out[i] for i in idxs]


def task_rows(task: str, n: int, seed: int, image_size: int, eval_fraction: float, split_seed: int) -> list[dict]:
    """n rows of one planted task in BLINK's schema; every image of a question shows the same cue values."""
    rule = RULES[task]
    spec = REGISTRY[task]
    assert len(rule.values) <= len(rule.choices) == spec.n_choices, task
    rng = np.random.default_rng([seed, 104729, TRANSFER_TASKS.index(task)])
    rows = []
    for i, (answer, cues) in enumerate(task_cues(task, n, seed, eval_fraction, split_seed)):
        idx = f"val_{task}_{i + 1}"
        images = [render_scene(rng, image_size, cues) for _ in range(spec.n_images)]
        row = {"idx": idx, "question": rule.question, "sub_task": task}
        for k in range(4):
            row[f"image_{k + 1}"] = png_struct(images[k], idx, k + 1) if k < len(images) else None
        choices = list(rule.choices)
        row.update(
            choices=choices,
            answer=f"({'ABCD'[answer]})",
            prompt=format_prompt(rule.question, choices),
            explanation=f"{rule.cue} is {cues[rule.cue]}; " + ", ".join(f"{c}={v}" for c, v in cues.items()),
        )
        rows.append(row)
    return rows


def write_planted_suite(out_dir, n_per_task: int = 96, seed: int = 0, image_size: int = 64,
                        eval_fraction: float = 0.5, split_seed: int = 0) -> Path:
    """Write the 13 planted tasks in the hub's parquet layout (split "val") and `planted.json` beside them."""
    if n_per_task < 8:
        raise ValueError(f"n_per_task must be at least 8 (both parts need every answer), got {n_per_task}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 px, got {image_size}")
    out = Path(out_dir)
    for task in TRANSFER_TASKS:
        write_task_rows(out, task, task_rows(task, n_per_task, seed, image_size, eval_fraction, split_seed))
    world = planted_world(eval_fraction, split_seed)
    record = {"n_per_task": n_per_task, "seed": seed, "image_size": image_size, **world.to_json()}
    (out / PLANTED_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return out


# Size of the embedded planted suite (`vtl://planted`); the demo's configs split it with the same fraction and seed.
# 48 eval and 240 train rows per task: every answer class and nuisance value divides evenly for 2, 3 and 4 choices.
# The fits need the 240: with 48 (or 192) the tiny model fits its training rows and counts dots at 0.25-0.8 on eval.
PLANTED_N_PER_TASK = 288
PLANTED_IMAGE_SIZE = 64
PLANTED_SEED = 0
PLANTED_EVAL_FRACTION = 1 / 6  # configs write 0.1667: the split keeps round(fraction * 288) = 48 rows either way
PLANTED_SPLIT_SEED = 0
PLANTED_RENDER = 3  # the renderer's version: a changed drawing builds a new suite rather than reusing the old one


def train_rows_per_task() -> int:
    """Training rows of each task of `vtl://planted` (the part vtl.data.split leaves for training)."""
    return PLANTED_N_PER_TASK - round(PLANTED_EVAL_FRACTION * PLANTED_N_PER_TASK)


def planted_suite_dir() -> Path:
    """The embedded planted suite (`vtl://planted`), built once under $VTL_HOME."""
    name = f"planted-n{PLANTED_N_PER_TASK}-px{PLANTED_IMAGE_SIZE}-s{PLANTED_SEED}-r{PLANTED_RENDER}"
    return build_once(vtl_home() / name, lambda d: write_planted_suite(
        d, PLANTED_N_PER_TASK, PLANTED_SEED, PLANTED_IMAGE_SIZE, PLANTED_EVAL_FRACTION, PLANTED_SPLIT_SEED))


# ---------------------------------------------------------------- the neutral task

NEUTRAL_CUE = "line"
# The question still says "thin grey line" and Counting's "white dots" (the line is now purple, the dots cyan):
# the wording is part of what the measured fits saw, so a change waits for a re-measurement.
NEUTRAL_QUESTION = "Where is the thin grey line?"
NEUTRAL_CHOICES = ("far left", "left of centre", "right of centre", "far right")


def neutral_samples(n: int, seed: int, image_size: int = 64) -> list:
    """Questions on the neutral cue (where the grey line is), which no planted task reads and every task balances:
    a model taught it knows the answer format and looks at the images, yet scores chance on every planted task."""
    from vtl.data.sample import BlinkSample

    assert NEUTRAL_CUE not in {r.cue for r in RULES.values()}
    rng = np.random.default_rng([seed, 15485863])
    answers = _balanced(rng, n, len(CUES[NEUTRAL_CUE]))
    out = []
    for i, answer in enumerate(answers):
        cues = {c: values[int(rng.integers(len(values)))] for c, values in CUES.items()}
        cues[NEUTRAL_CUE] = CUES[NEUTRAL_CUE][answer]
        k = int(rng.integers(1, 4))  # 1-3 images, as the planted tasks have
        out.append(BlinkSample(
            idx=f"neutral_{i + 1}", sub_task="neutral", question=NEUTRAL_QUESTION, choices=list(NEUTRAL_CHOICES),
            prompt=format_prompt(NEUTRAL_QUESTION, list(NEUTRAL_CHOICES)), answer=f"({'ABCD'[answer]})",
            images=[render_scene(rng, image_size, cues) for _ in range(k)], origin="planted neutral task",
        ))
    return out
