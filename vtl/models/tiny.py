"""The tiny offline Qwen2.5-VL: the real architecture at toy size, random weights, a locally trained tokenizer.

It lets the whole pipeline (loading, collation, fine-tuning, scoring, the transfer grid) run on a laptop CPU with no
network. The directory it writes is an ordinary checkpoint: `AutoProcessor` and `AutoModelForImageTextToText` load it.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import torch

from vtl.home import build_once, vtl_home
from vtl.models.training import rng_neutral

# Qwen2.5-VL's special tokens, in Qwen's order; the tiny vocabulary puts them first.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
VOCAB_SIZE = 2048
# The pixel budget saved with the processor: 64 px synthetic images become 56x56 -> 4x4 patches -> 4 image tokens.
TINY_MIN_PIXELS = 56 * 56
TINY_MAX_PIXELS = 112 * 112

# Qwen2-VL style chat template: images and videos become <|vision_start|><|image_pad|><|vision_end|> in place,
# a default system turn is added when the conversation has none.
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or 'image' in part or 'image_url' in part %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'video' or 'video' in part %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in part %}"
    "{{ part['text'] }}"
    "{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = """
the a an of to in on at by for with from and or not is are was be this that these those which what where who how
many much more less most least same different other each every one two three four five six seven eight nine ten
image images first second third fourth picture pictures point points marked mark red blue green yellow black white
gray orange purple pink brown color colour shape shapes circle square triangle star box boxes object objects left
right top bottom above below near nearer closer farther far depth camera view scene light dark darker lighter
surface reflectance shading patch patches missing piece jigsaw complete completes fits correspond corresponds
corresponding reference candidate candidates option options choice choices select following answer question style
painting art similar similarity real fake generated forensic detection count counting number object localization
spatial relation semantic functional visual multi reasoning relative correspondence transform rotated shifted
moved across between inside outside behind front under over there here it its they them can could would should
please choose letter only your you i we yes no true false describe difference differences task input output change
changed changes blur blurry haze rain noise noisy shadow reflection low enhancement inpainting colorization
harmonization deblurring dehazing deraining denoising demoireing style transfer clear sharp bright brighter
assistant user system helpful
""".split()


def _corpus() -> list[str]:
    """Training text: BLINK-style questions and options, letters, digits and common words, so they merge sensibly."""
    lines = [" ".join(_WORDS), "\n".join(_WORDS)]
    letters = "ABCDEFGH"
    for a, b in itertools.product(letters, repeat=2):
        lines.append(f"({a}) ({b}) {a} {b} {a}. {b}, ({a}) or ({b})")
    for n in range(0, 200):
        lines.append(f"There are {n} objects. The answer is {n % 10}. Point {n} at ({n}, {n * 7 % 100}).")
    for i, w in enumerate(_WORDS):
        w2 = _WORDS[(i * 7 + 3) % len(_WORDS)]
        lines.append(f"Which {w} is {w2}? Select from the following choices.\n(A) {w}\n(B) {w2}\n")
        lines.append(f"{w.capitalize()} {w2}. {w.upper()} {w2}: {w}, {w2}!")
    return lines * 3


QWEN_VISION_TOKENS = {
    "image_token": "<|image_pad|>",
    "video_token": "<|video_pad|>",
    "vision_start_token": "<|vision_start|>",
    "vision_end_token": "<|vision_end|>",
}


def build_tokenizer(extra_tokens: dict[str, str] | None = None):
    """A byte-level BPE with Qwen2's pre-tokenizer, trained on `_corpus()`, wrapped as a `Qwen2Tokenizer`.

    The vocabulary starts with Qwen's special tokens; `extra_tokens` (attribute name -> token, default Qwen's vision
    tokens) become named special tokens too, appended after them when they are not among them."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    tok = Tokenizer(BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    extra_tokens = QWEN_VISION_TOKENS if extra_tokens is None else extra_tokens
    specials = list(SPECIAL_TOKENS) + [t for t in extra_tokens.values() if t not in SPECIAL_TOKENS]
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_corpus(), trainer=trainer)
    vocab = tok.get_vocab()
    # merges as (left, right) pairs, read back from the serialized model (stable across `tokenizers` versions)
    raw_merges = json.loads(tok.to_str())["model"]["merges"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in raw_merges]
    tokenizer = Qwen2Tokenizer(
        vocab=vocab,
        merges=merges,
        unk_token=None,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=32768,
        extra_special_tokens=dict(extra_tokens),
    )
    tokenizer.add_tokens([AddedToken(t, special=True, normalized=False) for t in specials], special_tokens=True)
    return tokenizer


def _text_config(vocab_size: int, **extra) -> dict:
    """Every tiny family's language model: 2 decoder blocks, 128 wide, 4 query and 2 key/value heads of 32.
    Ids 0 and 2 are <|endoftext|> (pad) and <|im_end|> (end of turn) in every tiny vocabulary."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
        "bos_token_id": 0,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "tie_word_embeddings": False,
        **extra,
    }


def tiny_config(vocab_size: int):
    """Qwen2.5-VL at toy size (~1.1 M params). head_dim 32, so mrope_section (Qwen's 16/24/24 split scaled down)
    sums to 16 = head_dim / 2; the vision merger outputs the text width."""
    from transformers import Qwen2_5_VLConfig

    hidden, head_dim = 128, 32
    mrope_section = [4, 6, 6]
    assert sum(mrope_section) == head_dim // 2
    return Qwen2_5_VLConfig(
        text_config=_text_config(
            vocab_size,
            rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": mrope_section},
        ),
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "out_hidden_size": hidden,
            "fullatt_block_indexes": [1],
        },
        image_token_id=SPECIAL_TOKENS.index("<|image_pad|>"),
        video_token_id=SPECIAL_TOKENS.index("<|video_pad|>"),
        vision_start_token_id=SPECIAL_TOKENS.index("<|vision_start|>"),
        vision_end_token_id=SPECIAL_TOKENS.index("<|vision_end|>"),
        tie_word_embeddings=False,
    )


def build_processor(tokenizer):
    from transformers import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen2_vl.video_processing_qwen2_vl import Qwen2VLVideoProcessor

    image_processor = Qwen2VLImageProcessor(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)
    video_processor = Qwen2VLVideoProcessor(min_pixels=TINY_MIN_PIXELS, max_pixels=TINY_MAX_PIXELS)
    return Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=video_processor,
        chat_template=CHAT_TEMPLATE,
    )


# ---- the other families at the same toy size: a Qwen2 language model of the same width behind each vision side ----

QWEN3_VL_CHAT_TEMPLATE = CHAT_TEMPLATE.replace(
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}",
    "",
)  # Qwen3-VL adds no default system turn

# InternVL (transformers' -hf layout): each image is one <IMG_CONTEXT> the processor expands to <img>…</img>.
INTERNVL_TOKENS = {
    "start_image_token": "<img>",
    "end_image_token": "</img>",
    "context_image_token": "<IMG_CONTEXT>",
    "video_token": "<video>",
}
INTERNVL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<IMG_CONTEXT>\n"
    "{% elif part['type'] == 'video' %}<video>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# LLaVA-OneVision (llava-hf layout): a space after the role, images first, then text, turns closed by <|im_end|>
# without a newline; only the generation prompt has the ChatML header `<|im_start|>assistant\n`.
LLAVA_ONEVISION_TOKENS = {"image_token": "<image>", "video_token": "<video>"}
LLAVA_ONEVISION_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }} "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'video' %}<video>{% endif %}{% endfor %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ '\\n' + part['text'] }}{% endif %}"
    "{% endfor %}"
    "{% endif %}"
    "<|im_end|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_TILE = 56  # InternVL / LLaVA-OneVision tile side: 4x4 patches of 14 px
LLAVA_ONEVISION_PINPOINTS = [[56, 56], [56, 112], [112, 56], [112, 112]]


def _vision_tower_config(model_type: str | None = None) -> dict:
    """A 2-layer, 64-wide ViT over one 56 px tile (SigLIP keys for LLaVA-OneVision, InternViT keys for InternVL)."""
    config = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2}
    if model_type == "siglip_vision_model":
        return {"model_type": model_type, "image_size": TINY_TILE, "patch_size": 14, **config}
    return {"image_size": [TINY_TILE, TINY_TILE], "patch_size": [14, 14], **config}


def _build_qwen2_5_vl(tokenizer, vocab_size: int):
    from transformers import Qwen2_5_VLForConditionalGeneration

    return Qwen2_5_VLForConditionalGeneration(tiny_config(vocab_size)), build_processor(tokenizer)


def _build_qwen3_vl(tokenizer, vocab_size: int):
    """Qwen3-VL at toy size: patch 16 (merged 2x2 to 32 px per token), one deepstack layer, interleaved mrope."""
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import Qwen2VLImageProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    ids = {name: tokenizer.convert_tokens_to_ids(tok) for name, tok in QWEN_VISION_TOKENS.items()}
    config = Qwen3VLConfig(
        text_config=_text_config(vocab_size, head_dim=32, rope_parameters={
            "rope_type": "default", "rope_theta": 1_000_000.0, "mrope_section": [6, 5, 5], "mrope_interleaved": True
        }),
        vision_config={
            "depth": 2,
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_heads": 2,
            "patch_size": 16,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "out_hidden_size": 128,
            "num_position_embeddings": 64,
            "deepstack_visual_indexes": [0],
        },
        image_token_id=ids["image_token"],
        video_token_id=ids["video_token"],
        vision_start_token_id=ids["vision_start_token"],
        vision_end_token_id=ids["vision_end_token"],
        tie_word_embeddings=False,
    )
    budget = {"min_pixels": 64 * 64, "max_pixels": 128 * 128}
    processor = Qwen3VLProcessor(
        image_processor=Qwen2VLImageProcessor(patch_size=16, merge_size=2, **budget),
        video_processor=Qwen3VLVideoProcessor(patch_size=16, merge_size=2, size={
            "shortest_edge": budget["min_pixels"], "longest_edge": budget["max_pixels"]
        }),
        tokenizer=tokenizer,
        chat_template=QWEN3_VL_CHAT_TEMPLATE,
    )
    return Qwen3VLForConditionalGeneration(config), processor


def _build_internvl(tokenizer, vocab_size: int):
    """InternVL3 at toy size: 56 px tiles (at most 2 plus a thumbnail), pixel shuffle 0.5 -> 4 tokens per tile."""
    from transformers import InternVLConfig, InternVLForConditionalGeneration, InternVLProcessor
    from transformers.models.got_ocr2.image_processing_got_ocr2 import GotOcr2ImageProcessor
    from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

    config = InternVLConfig(
        vision_config=_vision_tower_config(),
        text_config=_text_config(vocab_size, model_type="qwen2"),
        image_token_id=tokenizer.convert_tokens_to_ids(INTERNVL_TOKENS["context_image_token"]),
        image_seq_length=4,
        downsample_ratio=0.5,
        vision_feature_layer=-1,
        tie_word_embeddings=False,
    )
    tile = {"height": TINY_TILE, "width": TINY_TILE}
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(size=tile, crop_to_patches=True, min_patches=1, max_patches=2),
        tokenizer=tokenizer,
        video_processor=InternVLVideoProcessor(size=tile),
        image_seq_length=4,
        chat_template=INTERNVL_CHAT_TEMPLATE,
    )
    return InternVLForConditionalGeneration(config), processor


def _build_llava_onevision(tokenizer, vocab_size: int):
    """LLaVA-OneVision at toy size: a SigLIP tower over 56 px tiles, anyres grid up to 112x112, 16 tokens per tile."""
    from transformers import LlavaOnevisionConfig, LlavaOnevisionForConditionalGeneration, LlavaOnevisionProcessor
    from transformers.models.llava_onevision.image_processing_llava_onevision import LlavaOnevisionImageProcessor
    from transformers.models.llava_onevision.video_processing_llava_onevision import LlavaOnevisionVideoProcessor

    config = LlavaOnevisionConfig(
        vision_config=_vision_tower_config("siglip_vision_model"),
        text_config=_text_config(vocab_size, model_type="qwen2"),
        image_token_index=tokenizer.convert_tokens_to_ids(LLAVA_ONEVISION_TOKENS["image_token"]),
        video_token_index=tokenizer.convert_tokens_to_ids(LLAVA_ONEVISION_TOKENS["video_token"]),
        image_grid_pinpoints=LLAVA_ONEVISION_PINPOINTS,
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        tie_word_embeddings=False,
    )
    tile = {"height": TINY_TILE, "width": TINY_TILE}
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(size=tile, image_grid_pinpoints=LLAVA_ONEVISION_PINPOINTS),
        tokenizer=tokenizer,
        video_processor=LlavaOnevisionVideoProcessor(size=tile),
        num_image_tokens=(TINY_TILE // 14) ** 2,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_ONEVISION_CHAT_TEMPLATE,
    )
    return LlavaOnevisionForConditionalGeneration(config), processor


_BUILDERS = {
    "qwen2.5-vl": (None, _build_qwen2_5_vl),
    "qwen3-vl": (None, _build_qwen3_vl),
    "internvl": (INTERNVL_TOKENS, _build_internvl),
    "llava-onevision": (LLAVA_ONEVISION_TOKENS, _build_llava_onevision),
}


def write_tiny_model(out_dir, seed: int = 0, family: str = "qwen2.5-vl") -> Path:
    """Write a random-init checkpoint of `family` (model, tokenizer, processor, chat template) to `out_dir`."""
    from transformers import GenerationConfig

    from vtl.models.families import TINY_FAMILIES, UnsupportedFamilyError

    if family not in _BUILDERS:
        raise UnsupportedFamilyError(f"--family {family!r}: tiny models exist for {', '.join(TINY_FAMILIES)}")
    extra_tokens, build = _BUILDERS[family]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(extra_tokens)
    vocab_size = -(-len(tokenizer) // 64) * 64  # padded like real checkpoints; unused rows are never produced
    # Its own seeded RNG: building the model inside a fit (a fresh $VTL_HOME) leaves the fit's global RNG untouched.
    with rng_neutral(seed):
        model, processor = build(tokenizer, vocab_size)
    model.eval()
    end, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    model.generation_config = GenerationConfig(bos_token_id=pad, eos_token_id=[end, pad], pad_token_id=pad,
                                               do_sample=False)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def tiny_model_dir(family: str = "qwen2.5-vl") -> Path:
    """The embedded tiny model of `family` (`vtl://tiny-qwen2.5-vl` is the default), built once under $VTL_HOME."""
    return build_once(vtl_home() / f"tiny-{family}", lambda d: write_tiny_model(d, seed=0, family=family))


# The neutral warm-up of the demo's model: optimizer steps of full fine-tuning (language model) on the planted
# world's neutral task. Enough to learn the answer format and to read the neutral cue well above chance (about 0.7),
# which builds the path from an image token to the answer that every LoRA fit on a planted task then reuses; far
# more steps make the model so sure of the neutral letters that the fits start from a high loss.
NEUTRAL_STEPS = 300
NEUTRAL_LR = 1e-3
NEUTRAL_BATCH = 8
# Its processor sees an image as one token (28 px: 2x2 patches merged into one). The language model reads a token's
# content, not where the token sits (rotary positions shape attention, never values), so a cue's place in the image
# is readable only inside one token: with the default four tokens no LoRA fit learned "which quarter" in 40-160 steps.
NEUTRAL_PIXELS = 28 * 28


def write_neutral_tiny_model(out_dir, steps: int = NEUTRAL_STEPS, seed: int = 0) -> Path:
    """The tiny model briefly fine-tuned on the planted world's neutral task (vtl.data.planted.neutral_samples).

    The random tiny model's letter choice happens to follow some visual cues (e.g. the colour cast), so its zero-shot
    accuracy would sit above chance on some planted tasks and any fine-tuning would look like negative transfer
    there. After the warm-up it reads a cue no planted task reads and every task balances: zero-shot is chance on
    every task, and transfer shows only where it was planted.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a toy model: more threads only spin (and fight over a shared machine's cores)
    try:
        with rng_neutral(seed):  # built inside a fit (a fresh $VTL_HOME): the fit's global RNG stays untouched
            return _neutral_warm_up(Path(out_dir), steps, seed)
    finally:
        torch.set_num_threads(threads)


def _neutral_warm_up(out: Path, steps: int, seed: int) -> Path:
    import random

    from transformers import AutoModelForImageTextToText, AutoProcessor

    from vtl.data.planted import PLANTED_IMAGE_SIZE, neutral_samples
    from vtl.models.chat import ChatCollator, blink_example
    from vtl.models.families import FAMILIES
    from vtl.models.training import assistant_loss

    torch.manual_seed(seed)
    # The qwen2.5-vl checkpoint just written needs none of load_model's name resolution, pixel budget or family
    # sync (all no-ops here), and loading it directly keeps tiny below vtl.models.loading, which resolves vtl:// names.
    source = tiny_model_dir()
    processor = AutoProcessor.from_pretrained(source)
    FAMILIES["qwen2.5-vl"].set_pixel_budget(processor, NEUTRAL_PIXELS, NEUTRAL_PIXELS)
    model = AutoModelForImageTextToText.from_pretrained(source, dtype=torch.float32)
    for name, param in model.named_parameters():
        param.requires_grad_(".visual." not in f".{name}")
    model.train()
    samples = neutral_samples(steps * NEUTRAL_BATCH // 2, seed, PLANTED_IMAGE_SIZE)
    collator = ChatCollator(processor, train=True)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=NEUTRAL_LR)
    rng = random.Random(seed)
    for _ in range(steps):
        batch = dict(collator([blink_example(s) for s in rng.sample(samples, NEUTRAL_BATCH)]))
        loss = assistant_loss(model, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval().save_pretrained(out)
    processor.save_pretrained(out)
    return out


def neutral_tiny_model_dir() -> Path:
    """`vtl://tiny-qwen2.5-vl-neutral`: the tiny model after the neutral warm-up, built once under $VTL_HOME."""
    from vtl.data.planted import PLANTED_RENDER  # the warm-up's images are the planted renderer's

    name = f"tiny-qwen2.5-vl-neutral-{NEUTRAL_STEPS}-px{NEUTRAL_PIXELS}-r{PLANTED_RENDER}"
    return build_once(vtl_home() / name, write_neutral_tiny_model)
