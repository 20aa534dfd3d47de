"""Frozen-backbone features, computed once and cached on disk.

A cache file is named by a digest of the backbone's spec and of every input (caption text, image
file bytes), so a second run with other head settings, or on the same memes in another order of
experiments, reuses it, while any change to the backbone, preprocessing or data makes a new one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from memesent.backbones import ImageEncoder, TextEncoder
from memesent.images import load_image

# Bumped whenever the code computing features changes in a way that moves a float, so that cached
# features always match what the current code computes.
FEATURES_VERSION = 2


def _digest(spec: dict, keys: Sequence[str]) -> str:
    h = hashlib.sha256(json.dumps(spec, sort_keys=True).encode())
    for k in keys:
        h.update(k.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()[:20]


def _file_sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def _cached(
    paths: Sequence[Path],
    n: int,
    batch: int,
    compute: Callable[[int, int], Sequence[torch.Tensor]],
    desc: str,
    order: Sequence[int] | None = None,
) -> list[torch.Tensor]:
    """One feature tensor per file of `paths`: loaded when every file is there, else computed
    together, rows [a, b) batch by batch (`compute` gives one block per file), and saved.
    `order[j]` is the row that the j-th computed feature belongs to, when computing in another
    order than the input's."""
    if all(p.is_file() for p in paths):
        return [load_file(str(p))["features"] for p in paths]
    chunks: list[list[torch.Tensor]] = [[] for _ in paths]
    with tqdm(total=n, desc=desc, unit="meme") as bar:
        for start in range(0, n, batch):
            blocks = compute(start, min(start + batch, n))
            for kept, block in zip(chunks, blocks, strict=True):
                kept.append(block)
            bar.update(len(blocks[0]))
    out = []
    for path, parts in zip(paths, chunks, strict=True):
        features = torch.cat(parts).float()
        if order is not None:
            features = features[torch.argsort(torch.as_tensor(order))]
        features = features.contiguous()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"features": features}, str(tmp))
        tmp.replace(path)
        out.append(features)
    return out


def text_features(
    encoder: TextEncoder, captions: Sequence[str], cache_dir: Path, batch: int = 64
) -> torch.Tensor:
    """Pooled caption features, (len(captions), dim), from the cache when present."""
    spec = {"kind": "text", "version": FEATURES_VERSION, **encoder.spec.to_dict()}
    path = Path(cache_dir) / f"text-{encoder.spec.name}-{_digest(spec, captions)}.safetensors"
    # Captions of similar length share a batch, so little padding is computed.
    order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
    by_length = [captions[i] for i in order]
    (features,) = _cached(
        [path],
        len(captions),
        batch,
        lambda a, b: [encoder.encode(by_length[a:b])],
        "text features",
        order,
    )
    return features


def image_features(
    encoder: ImageEncoder,
    paths: Sequence[Path],
    cache_dir: Path,
    batch: int = 32,
    flip: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Pooled picture features, (len(paths), dim), from the cache when present; with `flip`,
    also those of each picture mirrored (training-time augmentation), else None. Each file is
    read, hashed and decoded once for both."""
    keys = [_file_sha1(Path(p)) for p in paths]

    def cache_file(mirrored: bool) -> Path:
        spec = {"kind": "image", "flip": mirrored, "version": FEATURES_VERSION}
        digest = _digest({**spec, **encoder.spec.to_dict()}, keys)
        return (
            Path(cache_dir)
            / f"image-{encoder.spec.name}{'-flip' if mirrored else ''}-{digest}.safetensors"
        )

    def compute(a: int, b: int) -> Sequence[torch.Tensor]:
        images = [load_image(p) for p in paths[a:b]]
        return encoder.encode_views(images) if flip else [encoder.encode(images)]

    files = [cache_file(False), cache_file(True)] if flip else [cache_file(False)]
    desc = "image features (and mirrored)" if flip else "image features"
    features = _cached(files, len(paths), batch, compute, desc)
    return features[0], features[1] if flip else None
