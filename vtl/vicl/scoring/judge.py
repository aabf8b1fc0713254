"""VIEScore with a VLM judge: semantic consistency (SC) and perceptual quality (PQ), each two sub-scores on 0-10.

SC = min of its sub-scores (edit success, no over-editing), PQ = min of its (naturalness, no artifacts),
O = sqrt(SC * PQ) as in VIEScore, and O_mean = (SC + PQ) / 2 as the T2T-VICL authors' code computes it.
A judge answer must be JSON with a two-number "score" list in [0, 10]; a malformed answer is asked again up to
`max_attempts` times, then the item is a counted failure (never a silent zero).

This module is the `paper` variant; `vtl.vicl.scoring.viescore` adds the `authors-code` variant (one four-image call)
and the averaging rules. Every VieScore records its `variant` and `score`, the number that variant reports.

Backends: Gemini (google-genai) and a local Qwen2.5-VL through transformers (the tiny offline model runs the same
code path; its random weights produce malformed answers, which the run reports as judge failures).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vtl.vicl.clients.openai_chat import ChatFailure, OpenAIChat, OpenAIUnavailable

if TYPE_CHECKING:
    from vtl.models.loading import QuantizationOptions

log = logging.getLogger("vtl.vicl")

# What task B asks for, in the words the judge sees (the judge may know the task; the generator may not).
TASK_EDITS: dict[str, str] = {
    "deblurring": "remove the blur so the image becomes sharp",
    "dehazing": "remove the haze or fog so the scene becomes clear",
    "demoireing": "remove the moire interference pattern",
    "denoising": "remove the noise",
    "deraining": "remove the rain streaks",
    "reflection_removal": "remove the reflection superimposed on the scene",
    "shadow_removal": "remove the shadows so the lighting is even",
    "colorization": "colorize the grayscale image with natural colors",
    "harmonization": "harmonize the colors of the pasted region with the rest of the scene",
    "inpainting": "fill in the missing masked regions plausibly",
    "low_light_enhancement": "brighten the dark low-light image so details are visible",
    "style_transfer": "restyle the image in the artistic style of the example",
}

SC_PROMPT = (
    "You are a strict evaluator of image editing. The first image is the input. The second image is the result of "
    "applying this edit to it: \"{edit}\".\n"
    "Give two scores from 0 to 10. First: how well the result carries out the edit (0: not at all, 10: perfectly). "
    "Second: how well the result keeps everything the edit should not change (0: a different picture, "
    "10: content and layout fully preserved).\n"
    "Answer with JSON only, exactly in this form: {{\"score\": [first, second], \"reasoning\": \"one sentence\"}}"
)
PQ_PROMPT = (
    "You are a strict evaluator of image quality. Look at the image.\n"
    "Give two scores from 0 to 10. First: how natural and realistic it looks (0: clearly unnatural, 10: fully "
    "natural). Second: how free it is of artifacts such as distortion, noise, blur, blotches or colour bleeding "
    "(0: heavy artifacts, 10: none).\n"
    "Answer with JSON only, exactly in this form: {\"score\": [first, second], \"reasoning\": \"one sentence\"}"
)


class MalformedAnswer(ValueError):
    pass


def parse_scores(answer: str, n: int = 2) -> list[float]:
    """The `n` sub-scores from a judge answer: JSON {"score": [...]} (code fences and surrounding prose allowed).

    Raises MalformedAnswer saying what is wrong: no JSON, no "score" list, wrong length, non-numbers, out of range.
    """
    text = answer.strip()
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, flags=re.S)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise MalformedAnswer(f"no JSON object in the answer: {answer[:120]!r}")
    try:
        obj = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        match = re.search(r'"score"\s*:\s*\[([^\]]*)\]', text)
        if not match:
            raise MalformedAnswer(f"answer is not valid JSON: {answer[:120]!r}") from None
        obj = {"score": [s.strip().strip("'\"") for s in match.group(1).split(",") if s.strip()]}
    scores = obj.get("score") if isinstance(obj, dict) else None
    if not isinstance(scores, list):
        raise MalformedAnswer(f'answer has no "score" list: {answer[:120]!r}')
    if len(scores) != n:
        raise MalformedAnswer(f'"score" has {len(scores)} values, expected {n}: {scores!r}')
    out = []
    for s in scores:
        try:
            value = float(s)
        except (TypeError, ValueError):
            raise MalformedAnswer(f'"score" value {s!r} is not a number') from None
        if isinstance(s, bool) or not math.isfinite(value) or not 0 <= value <= 10:
            raise MalformedAnswer(f'"score" value {s!r} is outside 0..10')
        out.append(value)
    return out


def aggregate(sc_scores: Sequence[float], pq_scores: Sequence[float]) -> dict[str, float]:
    """VIEScore from the sub-scores: SC = min, PQ = min, O = sqrt(SC*PQ), O_mean = (SC+PQ)/2."""
    sc, pq = float(min(sc_scores)), float(min(pq_scores))
    return {"SC": sc, "PQ": pq, "O": math.sqrt(sc * pq), "O_mean": (sc + pq) / 2}


@dataclass
class VieScore:
    ok: bool
    SC: float | None = None
    PQ: float | None = None
    O: float | None = None  # noqa: E741 - the paper's name
    O_mean: float | None = None
    sc_scores: list[float] | None = None
    pq_scores: list[float] | None = None
    attempts: int = 0  # judge calls made in all (both prompts, retries included)
    error: str | None = None  # why the item failed, e.g. the last malformed answer
    judge: str = ""
    variant: str = "paper"
    score: float | None = None  # the variant's reported number: O for paper, (SC+PQ)/2 (0 on failure) for authors-code
    prompt_version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JudgeBackend:
    """Base of the VIEScore judge backends: name them in YAML by `class_path` (a subclass) and `init_args`."""

    name: str = "judge"
    concurrent: bool = False

    def ask(self, prompt: str, images: Sequence[np.ndarray], attempt: int) -> str:
        """The judge's raw text answer; `attempt` counts retries (a local model samples on retries)."""
        raise NotImplementedError


@dataclass
class VieScorer:
    """Scores one edited image against its source with a judge backend, retrying malformed answers (`paper`)."""

    backend: JudgeBackend
    max_attempts: int = 3
    sc_prompt: str = SC_PROMPT
    pq_prompt: str = PQ_PROMPT
    variant = "paper"

    @property
    def prompt_version(self) -> str:
        from vtl.vicl.teaching.prompt_source import prompt_sha

        if (self.sc_prompt, self.pq_prompt) == (SC_PROMPT, PQ_PROMPT):
            return "viescore-paper-v1"
        return f"viescore-paper-v1+{prompt_sha(self.sc_prompt + self.pq_prompt)[:8]}"

    def score_tuple(self, task_a: str, task_b: str, images: Sequence[np.ndarray], output: np.ndarray) -> VieScore:
        """VIEScore of `output` for task B of a tuple; `images` = [A_in, A_out, B_in] (this variant uses B_in)."""
        result = self.score(TASK_EDITS[task_b], images[2], output)
        result.prompt_version = self.prompt_version
        return result

    def _ask_scores(self, prompt: str, images: Sequence[np.ndarray]) -> tuple[list[float] | None, int, str | None]:
        last = None
        for attempt in range(self.max_attempts):
            answer = self.backend.ask(prompt, images, attempt)
            try:
                return parse_scores(answer), attempt + 1, None
            except MalformedAnswer as exc:
                last = str(exc)
                log.debug("judge %s: malformed answer (attempt %d): %s", self.backend.name, attempt + 1, exc)
        return None, self.max_attempts, last

    def score(self, edit: str, source: np.ndarray, result: np.ndarray) -> VieScore:
        try:
            sc, n_sc, err = self._ask_scores(self.sc_prompt.replace("{edit}", edit).replace("{{", "{")
                                             .replace("}}", "}"), [source, result])
            if sc is None:
                return VieScore(ok=False, attempts=n_sc, error=f"SC: {err}", judge=self.backend.name)
            pq, n_pq, err = self._ask_scores(self.pq_prompt, [result])
        except Exception as exc:  # noqa: BLE001 - API errors that outlived their retries are counted failures
            from vtl.vicl.clients.gemini import is_retryable

            if not is_retryable(exc):
                raise
            return VieScore(ok=False, error=f"judge API error: {type(exc).__name__}: {exc}"[:300],
                            judge=self.backend.name)
        if pq is None:
            return VieScore(ok=False, attempts=n_sc + n_pq, error=f"PQ: {err}", judge=self.backend.name)
        values = aggregate(sc, pq)
        return VieScore(ok=True, sc_scores=sc, pq_scores=pq, attempts=n_sc + n_pq, judge=self.backend.name,
                        score=values["O"], **values)


class GeminiJudge(JudgeBackend):
    """A Gemini text model as the judge (e.g. "gemini-2.5-flash"); retries 429/5xx/timeouts (`GeminiClient`)."""

    concurrent = True

    def __init__(self, model: str = "gemini-2.5-flash", *, api_key_env: str = "GEMINI_API_KEY",
                 base_url: str | None = None, timeout_s: float = 60, max_attempts: int = 5, base_delay: float = 1.0,
                 max_delay: float = 30.0, temperature: float = 0.0, retry_temperature: float | None = 0.7,
                 max_output_tokens: int | None = None):
        """
        Args:
            model: the Gemini text model.
            api_key_env: environment variable holding the API key.
            base_url: another endpoint than Google's (a proxy, or a local stand-in in tests); None: Google's.
            timeout_s: seconds per request.
            max_attempts: calls per request in all, retries on 429/5xx and timeouts included.
            base_delay: first backoff delay in seconds; doubles per retry.
            max_delay: longest backoff delay in seconds.
            temperature: sampling temperature of the first answer.
            retry_temperature: sampling temperature after a malformed answer; None: the same as `temperature`.
            max_output_tokens: answer length bound; None: the model's default.
        """
        from vtl.vicl.clients.gemini import GeminiClient, RetryPolicy

        self.model = model
        self.temperature = temperature
        self.retry_temperature = temperature if retry_temperature is None else retry_temperature
        self.max_output_tokens = max_output_tokens
        self.name = f"gemini:{model}"
        self.gemini = GeminiClient(model, api_key_env=api_key_env, base_url=base_url, timeout_s=timeout_s,
                                   retry=RetryPolicy(max_attempts, base_delay, max_delay))

    def ask(self, prompt: str, images: Sequence[np.ndarray], attempt: int) -> str:
        from google.genai import types

        from vtl.vicl.clients.gemini import image_part, response_text

        contents = [*(image_part(im) for im in images), types.Part.from_text(text=prompt)]
        config = types.GenerateContentConfig(
            temperature=self.temperature if attempt == 0 else self.retry_temperature,
            max_output_tokens=self.max_output_tokens,
        )
        return response_text(self.gemini.generate(contents, config, describe=f"judge {self.name}"))


class QwenJudge(JudgeBackend):
    """A local Qwen2.5-VL judge via transformers: greedy first, sampling on retries. Not thread-safe: one at a time."""

    concurrent = False

    def __init__(self, model: str = "vtl://tiny-qwen2.5-vl", *, max_new_tokens: int = 96,
                 quantization: QuantizationOptions | None = None, min_pixels: int | None = None,
                 max_pixels: int | None = None, seed: int = 0, temperature: float = 0.0,
                 retry_temperature: float = 0.8):
        """
        Args:
            model: checkpoint: a hub id, a local path or a vtl:// tiny model.
            max_new_tokens: answer length bound.
            quantization: 4-bit weights through bitsandbytes; null keeps full precision.
            min_pixels: the processor's lower bound on image pixels; null: the checkpoint's.
            max_pixels: the processor's upper bound on image pixels; null: the checkpoint's.
            seed: seed of the sampling generator.
            temperature: 0 answers greedily; above 0 it samples (top-p 0.95).
            retry_temperature: sampling temperature after a malformed answer.
        """
        import torch

        from vtl.models.chat import ChatCollator
        from vtl.models.loading import load_model

        self.model, self.processor = load_model(model, quantization=quantization, min_pixels=min_pixels,
                                                max_pixels=max_pixels)
        self.model.eval()
        self.collator = ChatCollator(self.processor, train=False, padding_side="left")
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.retry_temperature = retry_temperature
        self.generator = torch.Generator().manual_seed(seed)
        self.name = f"qwen:{model}"

    def ask(self, prompt: str, images: Sequence[np.ndarray], attempt: int) -> str:
        import torch
        from PIL import Image

        from vtl.models.chat import ChatExample

        batch = self.collator([ChatExample(images=[Image.fromarray(im) for im in images], prompt=prompt)])
        device = next(self.model.parameters()).device
        batch = {k: v.to(device) if hasattr(v, "to") else v for k, v in batch.items() if k != "labels"}
        temperature = self.temperature if attempt == 0 else self.retry_temperature
        sampling = {"do_sample": True, "temperature": temperature, "top_p": 0.95} if temperature > 0 else {
            "do_sample": False}
        if temperature > 0:  # generate samples from the global RNG: seed it per retry so reruns give the same answers
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator)))
        with torch.inference_mode():
            out = self.model.generate(**batch, max_new_tokens=self.max_new_tokens, **sampling)
        new_tokens = out[0, batch["input_ids"].shape[1]:]  # [generated]
        return self.processor.tokenizer.decode(new_tokens, skip_special_tokens=True)


class OpenAIJudge(OpenAIChat, JudgeBackend):
    """A VIEScore judge (e.g. Qwen2.5-VL-72B-Instruct or gpt-4o): greedy first, `retry_temperature` when a malformed
    answer is asked again (as the Gemini judge). A refusal or an empty reply comes back as text the score parser
    rejects (so it is counted and explained); an error that outlived the retries raises OpenAIUnavailable, which
    VIEScore counts as a judge failure. Takes OpenAIChat's arguments."""

    concurrent = True
    retry_temperature = 0.7

    def ask(self, prompt: str, images: Sequence[np.ndarray], attempt: int) -> str:
        answer = self.complete(prompt, images, **({"temperature": self.retry_temperature} if attempt else {}))
        if isinstance(answer, ChatFailure):
            if answer.kind == "error":
                raise OpenAIUnavailable(f"judge {self.name}: {answer.detail}")
            return f"[{answer}]"
        return answer
