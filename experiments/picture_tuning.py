"""Teaching the picture side memes: the top of the image backbone tuned on pictures with a side.

EfficientNet-Lite0's last `blocks` blocks and its head convolution learn, with a linear valence
layer over their pooled features, the side (positive or negative) of every training picture
whose label has one (`Source.sides`: MET-Meme's memes, Twitter I's 5/5-agreement photos). The
frozen part below them runs once: its output for every picture and for its mirrored copy is
cached on disk (`train.features.picture_rows`), so an epoch costs the tuned blocks only. The
valence layer starts as a linear probe of the frozen backbone (`valence_probe`); then blocks and
layer are tuned together (AdamW), each picture in one orientation drawn at random per epoch.
The epoch whose valence layer reads the calibrating source's validation pictures with the
highest AUROC, positive against negative (ties: the lowest log-loss), is kept (epoch 0: the
probe on the frozen blocks; never chosen on a test part), and the layer is thrown away. The
tuned blocks are cached by a digest of everything that shaped them (backbone, settings, seed,
every picture's bytes with its side).

    python -m experiments.picture_tuning --data metmeme=DIR --data twitter-images=DIR --json FILE

fits a linear valence layer (`valence_probe`, on the training pictures in both orientations) on
the frozen backbone's pooled features and one on the tuned backbone's, and reports their AUROC,
positive against negative, on the calibrating source's validation part (which chose the epoch)
and on its calibration part (which chose nothing here), with paired bootstrap 95 % intervals,
and how long caching and tuning took.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.pipeline import Pipeline
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits
from tqdm import tqdm

from memesent.backbones import CHUNK, DEFAULT_IMAGE, ImageEncoder, load_image_encoder
from train.config import DEFAULT_CACHE, data_specs
from train.data import DataError
from train.features import cached_or_trained, content_digest, file_sha1, picture_rows
from train.metrics import auroc, auroc_gain, with_interval
from train.picture_pipeline import valence_probe
from train.sources import SOURCES, Examples, load_source

log = logging.getLogger("train")
TUNING_VERSION = 1


@dataclass(frozen=True)
class PictureTuningSettings:
    """How the picture side is tuned (see the module): the backbone's last `blocks` blocks and
    its head convolution, `epochs` passes over the training pictures in batches of
    `batch_size`, AdamW at `lr` for the blocks and `head_lr` for the valence layer, which
    starts as a `valence_probe` regularised by `probe_c` (on the frozen features of MET-Meme's
    validation pictures, 0.001 reads their side about best and keeps its log-loss near
    chance's; the pipeline probe's 0.05 overfits: log-loss 1.23)."""

    blocks: int = 2
    epochs: int = 6
    batch_size: int = 32
    lr: float = 3e-5
    head_lr: float = 3e-4
    weight_decay: float = 0.01
    probe_c: float = 0.001

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class PictureSet:
    """The pictures of one source's part, each with its side (True: positive)."""

    source: str
    images: list[Path]
    positive: np.ndarray


def picture_sets(sets: list[Examples], part: str) -> list[PictureSet]:
    """The pictures of `part` of each source whose labels have a side (`Source.sides`)."""
    out = []
    for ex in sets:
        sides = SOURCES[ex.source].sides
        if sides is None:
            continue
        keep, positive = sides(ex)
        mine = np.isin(keep, ex.part(part)) & ex.has_image[keep]
        images = [p for p in (ex.images[i] for i in keep[mine]) if p is not None]
        if images:
            out.append(PictureSet(ex.source, images, positive[mine]))
    return out


@dataclass
class PictureTuningResult:
    """The tuned blocks' weights (named as in the backbone's network, batch norms folded), the
    validation log-loss and AUROC after every epoch, and how long the tuning took when it ran
    (kept with the cached weights)."""

    state: dict[str, torch.Tensor]
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0


def backbone_parts(encoder: ImageEncoder, blocks: int) -> tuple[nn.Sequential, nn.Sequential]:
    """`encoder`'s network cut below its last `blocks` blocks: the part below, and the top
    (those blocks, the head convolution and its activation), sharing the network's modules."""
    from timm.models.efficientnet import EfficientNet

    net = encoder.net
    if not isinstance(net, EfficientNet):
        raise ValueError(f"picture tuning cuts EfficientNet's blocks, not {encoder.spec.name}'s")
    flat = [block for stage in net.blocks.children() for block in stage.children()]
    if not 0 < blocks <= len(flat):
        raise ValueError(f"{encoder.spec.name} has {len(flat)} blocks to tune, not {blocks}")
    below = nn.Sequential(net.conv_stem, net.bn1, *flat[:-blocks])
    return below, nn.Sequential(*flat[-blocks:], net.conv_head, net.bn2)


def block_inputs(
    encoder: ImageEncoder, blocks: int, paths: list[Path], cache: Path, flip: bool = False
) -> torch.Tensor:
    """What the frozen part below the last `blocks` blocks makes of each picture (mirrored if
    `flip`), (n, channels, height, width), from the cache when present."""
    below, _ = backbone_parts(encoder, blocks)

    @torch.inference_mode()
    def compute(pictures: list[Image.Image], mirror: bool) -> torch.Tensor:
        return torch.cat([below(part) for part in encoder.pixels(pictures, mirror).split(CHUNK)])

    return picture_rows(encoder, paths, cache, f"below-top-{blocks}", compute, flip=flip)


def _pool(top: nn.Module, maps: torch.Tensor) -> torch.Tensor:
    return top(maps.contiguous(memory_format=torch.channels_last)).mean(dim=(2, 3))


@torch.inference_mode()
def pooled(top: nn.Module, maps: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The pooled features `top` makes of cached block inputs (what `ImageEncoder` returns)."""
    return torch.cat([_pool(top, part) for part in maps.split(batch)])


def probe_layer(probe: Pipeline) -> nn.Linear:
    """A fitted `valence_probe` as one linear layer (its standardisation folded in)."""
    scaler, logistic = probe.steps[0][1], probe.steps[-1][1]
    weight = logistic.coef_[0] / scaler.scale_
    layer = nn.Linear(len(weight), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight).float()[None])
        layer.bias.fill_(float(logistic.intercept_[0] - weight @ scaler.mean_))
    return layer


def tuned_encoder(encoder: ImageEncoder, state: dict[str, torch.Tensor]) -> ImageEncoder:
    """A copy of `encoder` with the tuned blocks' weights in place (how a model would load
    them); `encoder` itself is left as it was."""
    tuned = copy.deepcopy(encoder)
    unexpected = tuned.net.load_state_dict(state, strict=False).unexpected_keys
    if unexpected:
        raise ValueError(f"tuned weights {unexpected[:3]} do not fit {encoder.spec.name}")
    return tuned


def _digest(
    encoder: ImageEncoder, train: list[PictureSet], val: PictureSet, settings, seed: int
) -> str:
    spec = {
        "version": TUNING_VERSION,
        "spec": encoder.spec.to_dict(),
        "settings": settings.to_dict(),
        "seed": seed,
    }
    keys = [
        f"{s.source} {file_sha1(Path(path))} {bool(side)}"
        for s in [*train, val]
        for path, side in zip(s.images, s.positive, strict=True)
    ]
    return content_digest(spec, keys)


def tune(
    encoder: ImageEncoder,
    train: list[PictureSet],
    val: PictureSet,
    settings: PictureTuningSettings,
    seed: int,
    cache: Path,
) -> PictureTuningResult:
    """The top of `encoder` tuned on `train`, its epoch chosen on `val` (see the module), from
    the cache in `cache` when this exact run was done before. `encoder` itself is left as it
    was."""
    path = Path(cache) / f"top-{encoder.spec.name}-{_digest(encoder, train, val, settings, seed)}"

    def maps(sets: list[PictureSet], flip: bool = False) -> torch.Tensor:
        return torch.cat(
            [block_inputs(encoder, settings.blocks, s.images, cache, flip) for s in sets]
        )

    def tuned() -> tuple[dict[str, torch.Tensor], dict]:
        positive = np.concatenate([s.positive for s in train])
        r = _train(
            encoder,
            (maps(train), maps(train, True), positive),
            (maps([val]), val.positive),
            settings,
            seed,
        )
        return r.state, {"history": r.history, "best_epoch": r.best_epoch, "seconds": r.seconds}

    state, info = cached_or_trained(path, "picture tuning", tuned)
    return PictureTuningResult(state, info["history"], info["best_epoch"], info["seconds"])


def _train(
    base: ImageEncoder,
    train: tuple[torch.Tensor, torch.Tensor, np.ndarray],
    val: tuple[torch.Tensor, np.ndarray],
    settings: PictureTuningSettings,
    seed: int,
) -> PictureTuningResult:
    start = time.perf_counter()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    plain, mirrored, positive = train
    encoder = copy.deepcopy(base)
    _, top = backbone_parts(encoder, settings.blocks)
    frozen = torch.cat([pooled(top, plain), pooled(top, mirrored)]).numpy()
    layer = probe_layer(
        valence_probe(settings.probe_c).fit(frozen, np.concatenate([positive, positive]))
    )
    for p in top.parameters():
        p.requires_grad_(True)
    opt = torch.optim.AdamW(
        [
            {"params": list(top.parameters()), "lr": settings.lr},
            {"params": list(layer.parameters()), "lr": settings.head_lr},
        ],
        weight_decay=settings.weight_decay,
    )
    y = torch.from_numpy(positive.astype(np.float32))

    @torch.no_grad()
    def validate() -> dict:
        logits = layer(pooled(top, val[0])).squeeze(1)
        loss = binary_cross_entropy_with_logits(logits, torch.from_numpy(val[1].astype(np.float32)))
        return {"val_log_loss": float(loss), "val_auroc": auroc(val[1], logits.numpy())}

    def state() -> dict[str, torch.Tensor]:
        return {n: p.detach().clone() for n, p in encoder.net.named_parameters() if p.requires_grad}

    result = PictureTuningResult(state=state(), history=[{"epoch": 0, **validate()}])
    best = _rank(result.history[0])
    steps = -(-len(y) // settings.batch_size)
    with tqdm(
        total=settings.epochs * steps, desc="tuning the picture side", unit="batch", disable=None
    ) as bar:
        for epoch in range(1, settings.epochs + 1):
            flips = torch.from_numpy(rng.random(len(y)) < 0.5)[:, None, None, None]
            order = torch.from_numpy(rng.permutation(len(y)))
            losses = []
            for idx in order.split(settings.batch_size):
                x = torch.where(flips[idx], mirrored[idx], plain[idx])
                loss = binary_cross_entropy_with_logits(layer(_pool(top, x)).squeeze(1), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
                bar.update()
            score = validate()
            result.history.append({"epoch": epoch, "train_loss": float(np.mean(losses)), **score})
            log.info("picture tuning epoch %d: validation AUROC %.4f", epoch, score["val_auroc"])
            if _rank(score) > best:
                best, result.best_epoch, result.state = _rank(score), epoch, state()
    result.seconds = time.perf_counter() - start
    return result


def _rank(score: dict) -> tuple[float, float]:
    """How an epoch ranks: by validation AUROC, ties (a toy set read perfectly) by log-loss."""
    return score["val_auroc"] or 0.0, -score["val_log_loss"]


def reading_gains(
    encoder: ImageEncoder,
    state: dict[str, torch.Tensor],
    settings: PictureTuningSettings,
    train: list[PictureSet],
    held: dict[str, PictureSet],
    cache: Path,
) -> dict:
    """A linear valence layer (`valence_probe`, fitted on `train` in both orientations) on the
    frozen backbone's pooled features against one on the tuned backbone's: on each of `held`,
    their AUROC, positive against negative, with paired bootstrap intervals (`auroc_gain`:
    `before` frozen, `after` tuned), and their log-loss."""
    scores: dict[str, dict[str, np.ndarray]] = {name: {} for name in held}
    positive = np.concatenate([s.positive for _ in range(2) for s in train])
    for kind, net in (("frozen", encoder), ("tuned", tuned_encoder(encoder, state))):
        _, top = backbone_parts(net, settings.blocks)
        features = torch.cat(
            [
                pooled(top, block_inputs(encoder, settings.blocks, s.images, cache, flip))
                for flip in (False, True)
                for s in train
            ]
        )
        probe = valence_probe(settings.probe_c).fit(features.numpy(), positive)
        for name, s in held.items():
            scores[name][kind] = probe.predict_proba(
                pooled(top, block_inputs(encoder, settings.blocks, s.images, cache)).numpy()
            )[:, 1]
    out = {}
    for name, s in held.items():
        p, y = scores[name], s.positive
        out[name] = auroc_gain(y, p["frozen"], p["tuned"]) | {
            "log_loss": {k: _log_loss(y, v) for k, v in p.items()}
        }
    return out


def _log_loss(positive: np.ndarray, share: np.ndarray) -> float:
    share = np.clip(share, 1e-15, 1 - 1e-15)
    return float(-np.where(positive, np.log(share), np.log1p(-share)).mean())


def table(result: dict) -> str:
    """The command's result as Markdown: each held-out part's AUROC, positive against negative,
    of a linear valence layer on the frozen and on the tuned backbone, then what was tuned and
    how long it took."""
    lines = [
        f"| {result['chosen_on']} pictures | pictures | frozen backbone | tuned backbone | gain |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for part, what in (("val", "validation (chose the epoch)"), ("calib", "calibration")):
        r = result["readings"][part]
        cells = [with_interval(r, key, sign=key == "gain") for key in ("before", "after", "gain")]
        lines.append(f"| {what} | {r['n']} | {' | '.join(cells)} |")
    s, seconds = result["settings"], result["seconds"]
    lines += [
        "",
        f"Tuned: the last {s['blocks']} blocks and the head convolution "
        f"({result['tuned_parameters']:,} weights), on {sum(result['train'].values()):,} "
        f"training pictures ({', '.join(f'{k} {v:,}' for k, v in result['train'].items())}) "
        f"and their mirrored copies; epoch {result['best_epoch']} of {s['epochs']} kept. "
        f"Caching the frozen blocks' outputs took {seconds['caching'] / 60:.1f} min and the "
        f"tuning {seconds['tuning'] / 60:.1f} min on {result['machine']}.",
    ]
    return "\n".join(lines)


def measure(
    encoder: ImageEncoder, sets: list[Examples], settings: PictureTuningSettings, cache: Path
) -> dict:
    """The command's measurement (see the module) on `sets`, read and split as `python -m train`
    splits them; the validation and calibration parts are the calibrating source's."""
    able = [
        ex
        for ex in sets
        if SOURCES[ex.source].calibration_priority is not None and picture_sets([ex], "val")
    ]
    if not able:
        raise DataError("no data set that calibrates has validation pictures with a side")
    chosen = max(able, key=lambda ex: SOURCES[ex.source].calibration_priority or 0)
    train = picture_sets(sets, "train")
    held = {part: picture_sets([chosen], part)[0] for part in ("val", "calib")}
    start = time.perf_counter()
    for flip in (False, True):
        for pictures in train:
            block_inputs(encoder, settings.blocks, pictures.images, cache, flip)
    for pictures in held.values():
        block_inputs(encoder, settings.blocks, pictures.images, cache)
    caching = time.perf_counter() - start
    result = tune(encoder, train, held["val"], settings, 0, cache)
    start = time.perf_counter()
    readings = reading_gains(encoder, result.state, settings, train, held, cache)
    weights = sum(v.numel() for v in result.state.values())
    return {
        "chosen_on": chosen.source,
        "train": {pictures.source: len(pictures.images) for pictures in train},
        "settings": settings.to_dict(),
        "tuned_parameters": weights,
        "tuned_megabytes_fp16": round(weights * 2 / 1e6, 2),
        "best_epoch": result.best_epoch,
        "history": result.history,
        "readings": readings,
        "seconds": {
            "caching": round(caching, 1),
            "tuning": round(result.seconds, 1),
            "readings": round(time.perf_counter() - start, 1),
        },
        "machine": f"{os.cpu_count()} CPU cores ({torch.get_num_threads()} torch threads)",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.picture_tuning",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d = PictureTuningSettings()
    parser.add_argument("--data", action="append", required=True, metavar="SOURCE=DIR")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--blocks", type=int, default=d.blocks, help="default %(default)s")
    parser.add_argument("--epochs", type=int, default=d.epochs, help="default %(default)s")
    parser.add_argument("--json", type=Path, default=None)
    a = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    settings = PictureTuningSettings(blocks=a.blocks, epochs=a.epochs)
    try:
        sets = [load_source(spec.source, spec.roots[0]) for spec in data_specs(a.data)]
        result = measure(load_image_encoder(DEFAULT_IMAGE), sets, settings, a.cache)
    except (DataError, ValueError) as err:
        print(f"python -m experiments.picture_tuning: {err}", file=sys.stderr)
        return 2
    print(table(result))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
