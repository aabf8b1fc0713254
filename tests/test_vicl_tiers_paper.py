"""The paper's both-generators tier rule on its own published per-pair numbers (T2T-VICL, arXiv 2511.16107).

Rows: fixed prompt -> with implicit description, (PSNR, SSIM, VIEScore), for Gemini 2.5 Flash Image and
Seedream 4.0, as the authors report them (their revised paper's tables, in their repository).
"""

from __future__ import annotations

import pytest

from vtl.vicl.lowlevel.tasks import SECOND_TIER, TOP_TIER, pair_label
from vtl.vicl.scoring.report import combine_runs, combined_tier, tier

#            pair: (PSNR base, ours, SSIM base, ours, VIEScore base, ours)
GEMINI = {
    "Deblur→Dehaze": (11.47, 12.35, .473, .511, 6.40, 7.61),
    "Deblur→Derain": (19.21, 19.31, .516, .527, 7.04, 7.85),
    "Deblur→Demoire": (14.45, 14.60, .606, .605, 5.70, 6.25),
    "Demoire→Dehaze": (11.20, 12.40, .478, .533, 5.31, 7.55),
    "Harmon→LightEnh": (10.89, 12.81, .379, .518, 8.15, 8.65),
    "Inpaint→LightEnh": (10.88, 13.22, .377, .540, 7.35, 8.96),
    "Inpaint→Style": (9.70, 13.02, .340, .428, 1.77, 4.84),
    "Style→LightEnh": (12.22, 14.33, .485, .571, 7.85, 8.74),
    "Denoise→LightEnh": (10.23, 12.42, .365, .506, 7.27, 8.18),
    "LightEnh→Derain": (18.28, 19.12, .472, .522, 4.99, 7.93),
    "LightEnh→Shadow": (16.99, 18.29, .344, .329, 5.99, 8.04),
    "Reflection→Dehaze": (11.69, 12.37, .490, .514, 5.97, 7.82),
    "Dehaze→Derain": (19.09, 19.01, .518, .505, 6.39, 7.13),
    "Derain→Demoire": (15.29, 15.00, .583, .580, 5.83, 7.24),
    "Color→Style": (13.35, 13.03, .465, .434, 5.10, 7.37),
    "Harmon→Style": (13.32, 13.14, .465, .458, 4.79, 5.66),
    "Inpaint→Color": (21.31, 20.75, .843, .742, 5.23, 7.39),
    "LightEnh→Color": (22.72, 21.04, .860, .753, 5.05, 6.86),
    "Shadow→Reflection": (21.79, 21.44, .761, .739, 6.24, 6.34),
    "Derain→Style": (13.31, 13.10, .430, .447, 4.67, 5.66),
    "Shadow→Derain": (19.49, 18.98, .555, .538, 7.54, 8.20),
}
SEEDREAM = {
    "Deblur→Dehaze": (10.50, 11.08, .345, .372, 8.22, 8.48),
    "Deblur→Derain": (14.68, 13.62, .371, .377, 6.27, 7.35),
    "Deblur→Demoire": (10.99, 11.45, .435, .477, 6.56, 7.36),
    "Demoire→Dehaze": (11.15, 11.24, .397, .392, 8.27, 8.58),
    "Harmon→LightEnh": (9.85, 10.05, .353, .365, 8.60, 8.67),
    "Inpaint→LightEnh": (9.35, 9.65, .340, .349, 8.50, 8.53),
    "Inpaint→Style": (9.75, 11.05, .367, .310, 4.84, 6.60),
    "Style→LightEnh": (10.35, 10.61, .391, .406, 8.73, 8.79),
    "Denoise→LightEnh": (8.84, 9.09, .314, .358, 8.15, 8.67),
    "LightEnh→Derain": (11.89, 13.16, .387, .394, 6.46, 7.86),
    "LightEnh→Shadow": (9.01, 11.46, .309, .329, 7.87, 8.54),
    "Reflection→Dehaze": (11.16, 10.67, .358, .376, 8.27, 8.39),
    "Dehaze→Derain": (14.47, 14.49, .385, .386, 6.41, 6.76),
    "Derain→Demoire": (11.84, 10.95, .451, .418, 7.38, 7.40),
    "Color→Style": (9.91, 9.54, .333, .314, 7.99, 8.09),
    "Harmon→Style": (10.20, 9.63, .354, .331, 7.32, 7.62),
    "Inpaint→Color": (13.53, 12.08, .447, .397, 5.86, 6.96),
    "LightEnh→Color": (11.01, 12.09, .436, .422, 4.59, 7.28),
    "Shadow→Reflection": (14.96, 13.10, .532, .459, 7.13, 7.17),
    "Derain→Style": (11.02, 9.76, .375, .318, 6.66, 7.33),
    "Shadow→Derain": (17.37, 15.25, .487, .431, 7.51, 7.68),
}


def _summary(table):
    """The per-pair part of a `summarize` output, built from published means."""
    pairs = {}
    for pair, (pb, po, sb, so, vb, vo) in table.items():
        base, ours = {"psnr": pb, "ssim": sb, "viescore": vb}, {"psnr": po, "ssim": so, "viescore": vo}
        delta = {m: ours[m] - base[m] for m in base}
        pairs[pair] = {"baseline": base, "ours": ours, "delta": delta, "tier": tier(delta), "paper_tier": "-"}
    tiers = {t: sum(p["tier"] == t for p in pairs.values()) for t in ("top", "second", "none")}
    return {"pairs": pairs, "tiers": tiers}


def test_both_generators_rule_gives_the_papers_tiers():
    combined = combine_runs({"gemini": _summary(GEMINI), "seedream": _summary(SEEDREAM)}, "both-generators")
    assert combined["tiers"] == {"top": 12, "second": 9, "none": 0}
    top = {p for p, row in combined["pairs"].items() if row["tier"] == "top"}
    second = {p for p, row in combined["pairs"].items() if row["tier"] == "second"}
    assert top == {pair_label(*p) for p in TOP_TIER}
    assert second == {pair_label(*p) for p in SECOND_TIER}


def test_single_run_rule_differs_on_the_same_numbers():
    combined = combine_runs({"gemini": _summary(GEMINI), "seedream": _summary(SEEDREAM)}, "single-run")
    # Seedream alone puts Dehaze→Derain (3 of 3 up) in the top tier; the paper's rule does not.
    assert combined["pairs"]["Dehaze→Derain"]["tier"] == {"gemini": "second", "seedream": "top"}
    # Gemini alone: Derain→Style (SSIM and VIEScore up) is top tier too.
    assert combined["pairs"]["Derain→Style"]["tier"]["gemini"] == "top"
    assert combined["tiers"]["gemini"] == {"top": 13, "second": 8, "none": 0}


@pytest.mark.parametrize(("deltas", "expected"), [
    ({"g": {"psnr": 1, "ssim": 1, "viescore": -1}, "s": {"psnr": -1, "ssim": 1, "viescore": 1}}, "top"),
    ({"g": {"psnr": 1, "ssim": 1, "viescore": 1}, "s": {"psnr": 1, "ssim": -1, "viescore": -1}}, "none"),
    ({"g": {"psnr": 1, "ssim": 1, "viescore": 1}, "s": {"psnr": -1, "ssim": -1, "viescore": 1}}, "second"),
    ({"g": {"psnr": 0, "ssim": 0, "viescore": 1}, "s": {"psnr": 0, "ssim": 0, "viescore": 1}}, "none"),
    ({"g": {"psnr": 1, "ssim": 1, "viescore": None}}, "top"),
])
def test_combined_tier_cases(deltas, expected):
    assert combined_tier(deltas) == expected
