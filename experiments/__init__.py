"""Experiments: what the ablations measure and the shipped model does not use, kept out of the
installed library and of training's recipe (not installed; from a checkout).

- `experiments.ablation`: `python -m experiments.ablation`, the recipe's variants, each a row;
- `experiments.picture_tuning`: `python -m experiments.picture_tuning`, the image backbone's top
  tuned on pictures with a side, frozen against tuned;
- `experiments.interact`: the interaction fusion, registered in `memesent.fusion.FUSIONS` when
  this package is imported.
"""

from . import interact  # noqa: F401 (registers the interaction fusion)
