"""Multiple-choice scoring of BLINK-format questions (plain PyTorch, no Lightning).

`likelihood` (default): the log-likelihood of each option's answer turn "(X)" + end of turn (what fine-tuning
teaches) given the prompt. One prefill per question: the batch of prompts runs once with a KV cache (positions made as
the model family makes them), the cache is repeated once per option, and only the option tokens run again. Exact for
any tokenizer, including Qwen's, where "(A)" is "(A" + ")" so options share a suffix token whose probability still
depends on the letter before it.
`generate`: greedy decoding, then an answer-parsing rule (BLINK's by default, or lmms-eval's / VLMEvalKit's, see
vtl.models.parsing); unparseable outputs are wrong and counted. The question text follows a prompt preset
(vtl.models.harness) in both modes.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import torch

from vtl.data.sample import BlinkSample
from vtl.models.chat import ChatCollator, blink_example
from vtl.models.families import ChatMarkers, family_of
from vtl.models.harness import PromptPreset
from vtl.models.lengths import length_order, prompt_lengths
from vtl.models.numeric import NumberRule, score_number
from vtl.models.parsing import AnswerRule, parse_answer
from vtl.models.vision_cache import VisionFeatureCache


@dataclass
class Prediction:
    """One scored question. `option_logprobs` (likelihood mode) and `output_text` (generate mode) show why."""

    idx: str
    task: str
    pred_letter: str | None
    answer_letter: str | None
    correct: bool
    parsed: bool
    option_logprobs: dict[str, float] | None = None
    output_text: str | None = None
    generated_tokens: int | None = None  # generate mode: new tokens up to and including the end of turn
    score: float | None = None  # the question's score in [0, 1]: MRA for a numerical question, else float(correct)
    pred_value: float | None = None  # numerical questions: the parsed number

    def __post_init__(self):
        if self.score is None:
            self.score = float(self.correct)


def option_answer(letter: str) -> str:
    """The answer string a question's option is scored (and trained) as."""
    return f"({letter})"


def score_multiple_choice(
    model,
    processor,
    samples: list[BlinkSample],
    *,
    mode: Literal["likelihood", "generate"] = "likelihood",
    batch_size: int = 8,
    max_new_tokens: int = 16,
    progress: bool = False,
    prompt_preset: PromptPreset = "vtl",
    answer_rule: AnswerRule = "blink",
    order: Literal["given", "length"] = "given",
    vision_cache: VisionFeatureCache | None = None,
) -> list[Prediction]:
    """Score every sample; the model's train/eval mode is restored afterwards and no gradient is recorded.

    `prompt_preset` chooses the question text (both modes); `answer_rule` reads generated answers (generate mode).
    `order="length"` batches the samples longest prompt first (less padding); predictions come back in the given
    order either way. `vision_cache` (likelihood mode) reuses the vision features of images seen before.
    """
    if mode not in ("likelihood", "generate"):
        raise ValueError(f"mode={mode!r}: use 'likelihood' or 'generate'")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size}: must be >= 1")
    for sample in samples:
        if not sample.choices:
            raise ValueError(f"sample {sample.idx!r} ({sample.origin or 'unknown source'}): field 'choices' is empty")
    collator = ChatCollator(processor, train=False, padding_side="left")
    if mode == "likelihood":
        _check_answer_boundary(processor.tokenizer, collator.markers, {letter for s in samples for letter in s.letters})
    score_batch = _likelihood_batch if mode == "likelihood" else _generate_batch
    positions = list(range(len(samples)))
    if order == "length" and len(samples) > batch_size:  # within one batch the order changes nothing
        positions = length_order(prompt_lengths(processor, samples, prompt_preset))
    batches = [[samples[i] for i in positions[j : j + batch_size]] for j in range(0, len(samples), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc=f"scoring ({mode})", unit="batch")
    cache = vision_cache if mode == "likelihood" else None  # generate() runs its own prefill
    if cache is not None:
        cache.check(model)
    scored: list[Prediction] = []
    with _eval_mode(model), torch.no_grad():
        for batch in batches:
            scored.extend(score_batch(model, processor, collator, batch, max_new_tokens=max_new_tokens,
                                      preset=prompt_preset, rule=answer_rule, cache=cache))
    predictions: list[Prediction | None] = [None] * len(samples)
    for position, prediction in zip(positions, scored, strict=True):
        predictions[position] = prediction
    return predictions


@contextmanager
def _eval_mode(model) -> Iterator[None]:
    """Eval mode for the block. A model already in eval mode (the validation loop's) is left alone: `train()`
    walks every module, and transformers' kernel hub re-kernelizes on it, which costs more than a small batch."""
    if not model.training:
        yield
        return
    model.eval()
    try:
        yield
    finally:
        model.train()


def _device(model) -> torch.device:
    device = getattr(model, "device", None)
    return device if isinstance(device, torch.device) else next(model.parameters()).device


def _cache_kwarg(model) -> str:
    """transformers >= 5.2x calls the KV cache argument `cache`; earlier versions `past_key_values`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _prompt_inputs(
    model, collator: ChatCollator, samples: Sequence[BlinkSample], preset: PromptPreset,
    cache: VisionFeatureCache | None = None,
) -> dict[str, torch.Tensor]:
    key = cache.batch_key(samples, preset) if cache is not None else None
    batch = cache.recall(model, key) if cache is not None else None
    if batch is None:
        batch = collator([blink_example(s, preset) for s in samples])
        if cache is not None:  # pixel_values -> mm_encoder_outputs, the model's own way in for precomputed features
            batch = cache.encoder_inputs(model, batch, key)
    device = _device(model)
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _check_answer_boundary(tokenizer, markers: ChatMarkers, letters) -> None:
    """Scoring option tokens after the prompt's tokens is exact only if no token spans the prompt/answer boundary."""
    header = tokenizer.encode(markers.assistant_header, add_special_tokens=False)
    for letter in sorted(letters):
        answer = option_answer(letter) + markers.end_of_turn
        joint = tokenizer.encode(markers.assistant_header + answer, add_special_tokens=False)
        if joint != header + tokenizer.encode(answer, add_special_tokens=False):
            raise ValueError(
                f"this tokenizer merges the answer {answer!r} with the assistant header; likelihood scoring would not "
                f"match the trained sequence. Use mode='generate' for this model."
            )


@dataclass
class LikelihoodInputs:
    """One batch ready for the forward passes of likelihood scoring: the collated prompts (on the model's device,
    images as cached features where a cache is given) and each question's option tokens, padded to k options."""

    prompt: dict[str, torch.Tensor]
    tokens: torch.Tensor  # [b * k, length] option answer tokens
    token_mask: torch.Tensor  # [b * k, length] True on real tokens
    options_per_question: list[int]  # how many of the k rows of each question are real options


def likelihood_inputs(
    model, processor, collator: ChatCollator, samples: Sequence[BlinkSample], preset: PromptPreset = "vtl",
    cache: VisionFeatureCache | None = None,
) -> LikelihoodInputs:
    """Everything of a batch that is not a forward pass: collation, image features from the cache, option tokens."""
    tokenizer = processor.tokenizer
    prompt = _prompt_inputs(model, collator, samples, preset, cache)
    option_ids = [
        [tokenizer.encode(option_answer(letter) + collator.markers.end_of_turn, add_special_tokens=False)
         for letter in s.letters]
        for s in samples
    ]
    k = max(len(opts) for opts in option_ids)
    flat = [opts[min(j, len(opts) - 1)] for opts in option_ids for j in range(k)]  # [b * k] token lists
    length = max(len(ids) for ids in flat)
    device = _device(model)
    filler = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else flat[0][-1]  # masked out below
    tokens = torch.full((len(flat), length), filler, dtype=torch.long)
    token_mask = torch.zeros((len(flat), length), dtype=torch.bool)
    for row, ids in enumerate(flat):
        tokens[row, : len(ids)] = torch.tensor(ids)
        token_mask[row, : len(ids)] = True
    return LikelihoodInputs(prompt, tokens.to(device), token_mask.to(device), [len(o) for o in option_ids])


def likelihood_forward(model, batch: LikelihoodInputs) -> torch.Tensor:
    """The forward passes of likelihood scoring and nothing else: [b, k] summed log-probabilities of each option."""
    inputs, tokens, token_mask = batch.prompt, batch.tokens, batch.token_mask
    b = len(batch.options_per_question)
    k = tokens.shape[0] // b
    length = tokens.shape[1]
    family = family_of(model)
    positions = family.prompt_positions(model, inputs)
    prefill = model(**inputs, position_ids=positions, use_cache=True, logits_to_keep=1)
    first_logprobs = prefill.logits[:, -1].float().log_softmax(-1)  # [b, vocab]
    cache = prefill.cache if hasattr(prefill, "cache") else prefill.past_key_values

    # log p(t_1 | prompt) from the prefill; log p(t_i | prompt, t_<i) from one cached pass over t_1..t_{n-1}.
    totals = first_logprobs.gather(1, tokens[:, 0].view(b, k)).view(-1)  # [b * k]
    if length > 1:
        cache.batch_repeat_interleave(k)
        cont = tokens[:, :-1]
        cont_mask = token_mask[:, :-1]
        attention = torch.cat([inputs["attention_mask"].repeat_interleave(k, dim=0), cont_mask.long()], dim=1)
        cont_pos = family.continue_positions(positions, length - 1, repeat=k)
        out = model(
            input_ids=cont, attention_mask=attention, position_ids=cont_pos, use_cache=True,
            **{_cache_kwarg(model): cache},
        )
        logprobs = out.logits.float().log_softmax(-1)  # [b * k, length - 1, vocab]
        step = logprobs.gather(2, tokens[:, 1:, None]).squeeze(2)  # [b * k, length - 1]
        totals = totals + (step * token_mask[:, 1:]).sum(dim=1)
    return totals.view(b, k)


def _likelihood_batch(
    model, processor, collator, samples, *, max_new_tokens: int, preset, rule, cache=None
) -> list[Prediction]:
    batch = likelihood_inputs(model, processor, collator, samples, preset, cache)
    totals = likelihood_forward(model, batch).cpu()
    predictions = []
    for i, sample in enumerate(samples):
        n = batch.options_per_question[i]
        scores = {letter: float(totals[i, j]) for j, letter in enumerate(sample.letters[:n])}
        pred = max(scores, key=scores.get)
        predictions.append(_prediction(sample, pred, option_logprobs=scores))
    return predictions


def _generate_batch(
    model, processor, collator, samples, *, max_new_tokens: int, preset, rule, cache=None
) -> list[Prediction]:
    texts, lengths = _generate_texts(model, processor, collator, samples, max_new_tokens=max_new_tokens,
                                     preset=preset)
    return [
        _prediction(sample, parse_answer(text, sample.letters, rule, choices=sample.choices), output_text=text,
                    generated_tokens=n)
        for sample, text, n in zip(samples, texts, lengths, strict=True)
    ]


def _generate_texts(
    model, processor, collator, samples, *, max_new_tokens: int, preset: PromptPreset = "vtl"
) -> tuple[list[str], list[int]]:
    """Greedy answers to the prompts, and how many new tokens each took (up to and including its end of turn)."""
    tokenizer = processor.tokenizer
    inputs = _prompt_inputs(model, collator, samples, preset)
    end_of_turn = collator.markers.end_of_turn_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else end_of_turn
    end_ids = sorted({end_of_turn, pad_id})
    output = model.generate(
        **inputs, max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=end_ids, pad_token_id=pad_id
    )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]  # [b, n_new]
    texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    is_end = torch.isin(new_tokens, torch.tensor(end_ids, device=new_tokens.device))
    # a row stops at its first end token; rows that never end ran the full max_new_tokens
    lengths = torch.where(is_end.any(dim=1), is_end.int().argmax(dim=1) + 1, new_tokens.shape[1]).tolist()
    return texts, lengths


def score_numerical(
    model, processor, samples: list, *, batch_size: int = 8, max_new_tokens: int = 16,
    number_rule: NumberRule = "lmms-eval", progress: bool = False,
) -> list[Prediction]:
    """Numerical questions (VSI-Bench counting, distances, sizes): greedy answer, number parsing, MRA per question."""
    collator = ChatCollator(processor, train=False, padding_side="left")
    batches = [samples[i : i + batch_size] for i in range(0, len(samples), batch_size)]
    if progress:
        from tqdm.auto import tqdm

        batches = tqdm(batches, desc="scoring (numerical)", unit="batch")
    predictions = []
    with _eval_mode(model), torch.no_grad():
        for batch in batches:
            texts, lengths = _generate_texts(model, processor, collator, batch, max_new_tokens=max_new_tokens)
            for sample, text, n in zip(batch, texts, lengths, strict=True):
                value, mra = score_number(text, float(sample.answer), number_rule)
                predictions.append(Prediction(
                    idx=sample.idx, task=sample.task, pred_letter=None, answer_letter=None, correct=mra == 1.0,
                    parsed=value is not None, output_text=text, generated_tokens=n, score=mra, pred_value=value,
                ))
    return predictions


def _prediction(sample: BlinkSample, pred: str | None, **extra) -> Prediction:
    answer = sample.answer_letter
    return Prediction(
        idx=sample.idx,
        task=sample.sub_task,
        pred_letter=pred,
        answer_letter=answer,
        correct=pred is not None and pred == answer,
        parsed=pred is not None and pred in sample.letters,  # "T" (lmms-eval), "Z" (vlmevalkit): read, not an option
        **extra,
    )


def accuracy_summary(predictions: Sequence[Prediction]) -> dict:
    """Per-task accuracy with counts, the macro mean over tasks (BLINK's overall) and the micro mean over questions.

    {"per_task": {task: {"accuracy", "n", "n_correct", "n_unparsed"}}, "macro_accuracy", "micro_accuracy",
    "n", "n_correct", "n_unparsed"}; tasks appear in first-seen order.
    """
    if not predictions:
        raise ValueError("accuracy_summary got no predictions")
    per_task: dict[str, dict] = {}
    for p in predictions:
        if p.answer_letter is None:
            raise ValueError(f"sample {p.idx!r} has a hidden answer; accuracy needs rows with answers (a val split)")
        counts = per_task.setdefault(p.task, {"accuracy": 0.0, "n": 0, "n_correct": 0, "n_unparsed": 0})
        counts["n"] += 1
        counts["n_correct"] += int(p.correct)
        counts["n_unparsed"] += int(not p.parsed)
    for counts in per_task.values():
        counts["accuracy"] = counts["n_correct"] / counts["n"]
    n = sum(c["n"] for c in per_task.values())
    n_correct = sum(c["n_correct"] for c in per_task.values())
    return {
        "per_task": per_task,
        "macro_accuracy": sum(c["accuracy"] for c in per_task.values()) / len(per_task),
        "micro_accuracy": n_correct / n,
        "n": n,
        "n_correct": n_correct,
        "n_unparsed": sum(c["n_unparsed"] for c in per_task.values()),
    }
