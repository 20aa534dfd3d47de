"""The ablation's rows (`experiments.ablation`): which sources each row's head trains on."""

from __future__ import annotations

from pathlib import Path

from experiments.ablation import Variant, table, variants
from train.config import DataSpec, TrainConfig
from train.loop import HeadSettings

NAMES = ["sst5", "semeval", "metmeme", "twitter-images"]


def _config(**weights: float) -> TrainConfig:
    data = [DataSpec(n, [Path(n)]) for n in NAMES]
    return TrainConfig(data=data, out=Path("out"), weights=weights)


def test_rows_leave_out_what_the_recipe_trains_on_and_put_in_what_it_leaves_out():
    rows = {v.name: v for v in variants(_config(), NAMES, "metmeme")}
    recipe = ("sst5", "metmeme", "twitter-images")  # SemEval only tunes the text encoder
    assert rows["the recipe"] == Variant("the recipe", recipe)
    assert rows["with semeval in the head"].sources == tuple(NAMES)
    assert rows["without sst5"].sources == ("metmeme", "twitter-images")
    assert rows["without metmeme in the head (calibrated on it)"].sources == (
        "sst5",
        "twitter-images",
    )
    assert rows["frozen text encoder"] == Variant("frozen text encoder", recipe, encoder="frozen")
    assert rows["control: shuffled training labels"].shuffle
    assert "without semeval" not in rows and "with sst5 in the head" not in rows


def test_a_source_given_a_weight_is_left_out_rather_than_put_in():
    names = {v.name for v in variants(_config(semeval=2.0), NAMES, "metmeme")}
    assert "without semeval" in names and "with semeval in the head" not in names


def test_the_table_shows_each_rows_measures_with_intervals():
    rows = [
        {
            "row": "the recipe",
            "metmeme_val": {"auroc_valence": 0.72},
            "metmeme_test": {
                "auroc_valence": 0.7,
                "spearman_intensity": 0.35,
                "valence_ece": 0.04,
                "ci": {"auroc_valence": [0.65, 0.75]},
            },
            "sst5_val": {"accuracy_5": 0.44},
            "sst5_test": {"accuracy_5": 0.46},
        },
        {"row": "written before text sources' val", "sst5_test": {"accuracy_5": 0.45}},
    ]
    lines = table(rows).splitlines()
    assert "sst5 accuracy_5, val / test" in lines[0] and "semeval" not in lines[0]
    assert (
        lines[2] == "| the recipe | 0.720 | 0.700 [0.650, 0.750] | 0.350 | 0.040 | 0.440 / 0.460 |"
    )
    assert lines[3].endswith("| 0.450 |")


def test_each_design_choice_is_a_row_read_both_ways_and_by_the_words_alone():
    rows = {v.name: v for v in variants(_config(), NAMES, "metmeme")}
    recipe = ("sst5", "metmeme", "twitter-images")
    for name, setting in [
        ("interact fusion", ("fusion", "interact")),
        ("concat fusion", ("fusion", "concat")),
        ("words read by a words head", ("words_head", True)),
        ("3 members", ("members", 3)),
        ("emotion as an auxiliary target", ("aux", ("emotion",))),
        (
            "emotion, intensity, intention, offensiveness, metaphor as auxiliary targets",
            ("aux", ("emotion", "intensity", "intention", "offensiveness", "metaphor")),
        ),
    ]:
        for reading, row in (("both", name), ("text", f"{name}, words alone")):
            assert (rows[row].sources, rows[row].reading, rows[row].settings) == (
                recipe,
                reading,
                (setting,),
            )
    assert "gated fusion" not in rows  # the recipe's own: the recipe's row
    flipped = {
        v.name for v in variants(_config(), NAMES, "metmeme") if v.settings and v.reading == "both"
    }
    cfg = TrainConfig(
        data=_config().data,
        out=Path("out"),
        words_head=True,
        members=3,
        fusion="interact",
        head=HeadSettings(aux=("emotion",)),
    )
    others = {v.name for v in variants(cfg, NAMES, "metmeme") if v.settings and v.reading == "both"}
    assert others == {"gated fusion", "concat fusion", "words read by the fusion", "1 member"}
    assert flipped != others
