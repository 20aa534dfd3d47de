"""Frozen-backbone features, computed once and cached on disk.

A cache file is named by a digest of the backbone's spec and of every input (caption text, image
file bytes), so a second run with other head settings, or on the same memes in another order of
experiments, reuses it, while any change to the backbone, preprocessing or data makes a new one.
Besides pooled features, `picture_rows` caches whatever a frozen part of the image backbone makes
of each picture (the picture tuning's input to the blocks it tunes), and `keep_weights` keeps a
tuning's weights with its record, which `cached_weights` reads back.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from memesent.atomic import keep_bytes, replacing
from memesent.backbones import ImageEncoder, TextEncoder
from memesent.images import load_image

# Bumped whenever the code computing features changes in a way that moves a float, so that cached
# features always match what the current code computes.
FEATURES_VERSION = 2
log = logging.getLogger("train")


def content_digest(spec: dict, keys: Sequence[str]) -> str:
    """20 hex digits of a digest of `spec` (JSON) and `keys`, in order: a cache file's name."""
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for k in keys:
        h.update(k.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:20]


def file_sha1(path: Path) -> str:
    """The SHA-1 of a file's bytes, in hex."""
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _cached(
    path: Path,
    n: int,
    batch: int,
    compute: Callable[[int, int], torch.Tensor],
    desc: str,
    order: Sequence[int] | None = None,
) -> torch.Tensor:
    """Load `path`, or compute rows [a, b) batch by batch and save them; `order[j]` is the row
    that the j-th computed feature belongs to, when computing in another order than the input's.

    A cache file that cannot be read, or holds the wrong number of rows (a damaged disk, a run
    killed while writing), is computed again and replaced. Files are written under a temporary
    name of their own and renamed, so two runs filling the same cache never collide.
    """
    if path.is_file():
        try:
            features = load_file(str(path))["features"]
            if len(features) == n:
                return features
            log.warning("%s holds %d rows, not %d: computing it again", path, len(features), n)
        except (SafetensorError, OSError, KeyError) as err:
            log.warning("%s cannot be read (%s): computing it again", path, err)
    chunks = []
    with tqdm(total=n, desc=desc, unit="meme", disable=None) as bar:
        for start in range(0, n, batch):
            chunks.append(compute(start, min(start + batch, n)))
            bar.update(len(chunks[-1]))
    features = torch.cat(chunks).float()
    if order is not None:
        features = features[torch.argsort(torch.as_tensor(order))]
    features = features.contiguous()
    with replacing(path) as temporary:
        save_file({"features": features}, str(temporary))
    return features


def text_features(
    encoder: TextEncoder, captions: Sequence[str], cache_dir: Path, batch: int = 64
) -> torch.Tensor:
    """Pooled caption features, (len(captions), dim), from the cache when present."""
    spec = {"kind": "text", "version": FEATURES_VERSION, **encoder.spec.to_dict()}
    digest = content_digest(spec, captions)
    path = Path(cache_dir) / f"text-{encoder.spec.name}-{digest}.safetensors"
    # Captions of similar length share a batch, so little padding is computed.
    order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
    by_length = [captions[i] for i in order]
    return _cached(
        path,
        len(captions),
        batch,
        lambda a, b: encoder.encode(by_length[a:b]),
        "text features",
        order,
    )


def picture_rows(
    encoder: ImageEncoder,
    paths: Sequence[Path],
    cache_dir: Path,
    kind: str,
    compute: Callable[[list[Image.Image], bool], torch.Tensor],
    batch: int = 32,
    flip: bool = False,
) -> torch.Tensor:
    """What `compute(pictures, flip)` makes of each picture (one row per path), cached under a
    digest of `kind`, the backbone's spec and the pictures' bytes; `flip`: of the mirrored
    pictures (the mirrored copies serve as training-time augmentation)."""
    spec = {"kind": kind, "flip": flip, "version": FEATURES_VERSION, **encoder.spec.to_dict()}
    keys = [file_sha1(Path(p)) for p in paths]
    digest = content_digest(spec, keys)
    name = f"{kind}-{encoder.spec.name}{'-flip' if flip else ''}-{digest}.safetensors"

    def rows(a: int, b: int) -> torch.Tensor:
        return compute([load_image(p) for p in paths[a:b]], flip)

    desc = f"{kind} features{' (mirrored)' if flip else ''}"
    return _cached(Path(cache_dir) / name, len(paths), batch, rows, desc)


def image_features(
    encoder: ImageEncoder,
    paths: Sequence[Path],
    cache_dir: Path,
    batch: int = 32,
    flip: bool = False,
) -> torch.Tensor:
    """Pooled picture features, (len(paths), dim); `flip` mirrors each picture first."""
    return picture_rows(
        encoder,
        paths,
        cache_dir,
        "image",
        lambda pictures, mirror: encoder.encode(pictures, mirror=mirror),
        batch,
        flip,
    )


def cached_weights(path: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    """Tuned weights kept at `path` (`.safetensors`) with what was recorded of their tuning
    (`.json`), or None when either is missing."""
    weights, record = Path(path).with_suffix(".safetensors"), Path(path).with_suffix(".json")
    if not (weights.is_file() and record.is_file()):
        return None
    return load_file(str(weights)), json.loads(record.read_text())


def keep_weights(path: Path, state: dict[str, torch.Tensor], record: dict) -> None:
    """Keep tuned weights at `path` with the record of their tuning (`cached_weights` reads
    them back), each file written whole, the record last: a run stopped midway leaves nothing
    that reads as done."""
    weights = Path(path).with_suffix(".safetensors")
    with replacing(weights) as temporary:
        save_file(state, str(temporary))
    keep_bytes(weights.with_suffix(".json"), json.dumps(record).encode())


Trained = tuple[dict[str, torch.Tensor], dict]


def cached_or_trained(path: Path, what: str, train: Callable[[], Trained]) -> Trained:
    """Tuned weights and the record of their tuning: from `path` when this exact run was done
    before (a digest of everything that shapes it names the path), else `train()`'s, kept there
    for the next run."""
    cached = cached_weights(path)
    if cached is not None:
        log.info("%s: from the cache (%s)", what, Path(path).name)
        return cached
    state, record = train()
    keep_weights(path, state, record)
    return state, record
