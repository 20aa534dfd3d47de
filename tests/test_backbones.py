"""The backbones really are pretrained and load without a network."""

from __future__ import annotations

import pytest
import torch
from helpers import photo

from memesent.backbones import BackboneError, load_image_encoder, load_text_encoder

# ImageNet classes 281-285: tabby, tiger cat, Persian, Siamese, Egyptian cat.
CAT_CLASSES = set(range(281, 286))


def test_image_backbone_sees_a_cat(image_encoder):
    x = image_encoder.preprocess(photo("chelsea"))[None]
    with torch.inference_mode():
        top5 = image_encoder.classify(x).topk(5).indices[0].tolist()
    assert CAT_CLASSES & set(top5), f"no cat class in top 5: {top5}"


def test_image_backbone_not_a_cat_for_a_coffee(image_encoder):
    x = image_encoder.preprocess(photo("coffee"))[None]
    with torch.inference_mode():
        top1 = image_encoder.classify(x).argmax().item()
    assert top1 not in CAT_CLASSES


def test_image_features_and_feature_map(image_encoder):
    x = image_encoder.preprocess(photo("astronaut", (300, 200)))[None]
    fmap = image_encoder.feature_map(x)
    assert fmap.shape == (1, 1280, 8, 8)  # 256 px in, a stride of 32
    assert torch.allclose(image_encoder(x), fmap.mean((2, 3)))
    assert image_encoder.encode([photo("coffee")]).shape == (1, image_encoder.dim)


def test_mirrored_features_are_the_mirrored_picture(image_encoder):
    from PIL import Image

    pics = [photo("astronaut", (300, 200)), photo("coffee", (90, 120))]
    mirrored = image_encoder.encode(pics, mirror=True)
    flipped = image_encoder.encode([p.transpose(Image.Transpose.FLIP_LEFT_RIGHT) for p in pics])
    assert torch.allclose(mirrored, flipped, atol=1e-3)
    assert not torch.allclose(mirrored, image_encoder.encode(pics), atol=1e-3)


def test_text_backbone_paraphrases_are_closer(text_encoder):
    a, b, c = text_encoder.encode(
        [
            "The cat is sleeping on the sofa.",
            "A kitten naps on the couch.",
            "Interest rates rose by half a point.",
        ]
    )
    assert (a @ b).item() > (a @ c).item() + 0.3
    assert (a @ b).item() > (b @ c).item() + 0.3


def test_text_backbone_handles_empty_and_long_captions(text_encoder):
    out = text_encoder.encode(["", "word " * 2000])
    assert out.shape == (2, 384) and torch.isfinite(out).all()


def test_writeup_pair_builds_without_download():
    bert = load_text_encoder("bert-base-uncased", pretrained=False)
    resnet = load_image_encoder("resnet18", pretrained=False)
    assert bert.model.config.num_hidden_layers == 12 and bert.dim == 768
    assert bert.encode(["hello"]).shape == (1, 768)
    x = resnet.preprocess(photo())[None]
    assert resnet.feature_map(x).shape == (1, 512, 7, 7)
    assert resnet.target_layer is resnet.net.layer4


def test_unknown_backbone_is_named():
    with pytest.raises(BackboneError, match="unknown image backbone 'vgg'"):
        load_image_encoder("vgg")


def test_cpu_rewrites_compute_the_same_function(image_encoder):
    """Folded batch norms and channels-last padding leave a backbone's outputs as they were."""
    import copy

    import timm
    from torchvision.models import resnet18

    from memesent.backbones import _lite0_state_dict, _resnet_features
    from memesent.optimize import optimize_for_cpu

    plain = timm.create_model("tf_efficientnet_lite0").eval()
    plain.load_state_dict(_lite0_state_dict(plain.state_dict()))
    x = image_encoder.preprocess(photo("astronaut"))[None]
    with torch.inference_mode():
        assert torch.allclose(image_encoder.classify(x), plain(x), atol=1e-4)
        assert torch.allclose(image_encoder(x), plain.forward_features(x).mean((2, 3)), atol=1e-4)

    torch.manual_seed(0)
    reference = resnet18().eval()
    for bn in (m for m in reference.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.data.normal_()
        bn.bias.data.normal_()
    fast = copy.deepcopy(reference)
    optimize_for_cpu(fast, 224)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    with torch.inference_mode():
        want = _resnet_features(reference, x)
        assert torch.allclose(_resnet_features(fast, x), want, atol=1e-4 * want.abs().max())


def test_a_new_backbone_is_one_entry_that_says_how_it_loads(monkeypatch):
    from torch import nn

    from memesent.backbones import IMAGE_SPECS, TEXT_SPECS, ImageEncoder, ImageSpec

    def toy(spec: ImageSpec, pretrained: bool) -> ImageEncoder:
        net = nn.Sequential(nn.Conv2d(3, spec.dim, 3, stride=4), nn.ReLU())
        return ImageEncoder(spec, net, net, net[0])

    monkeypatch.setitem(IMAGE_SPECS, "toy", ImageSpec("toy", 8, size=32, source_size=32, load=toy))
    encoder = load_image_encoder("toy")
    assert encoder.spec.name == "toy" and encoder.encode([photo("coffee")]).shape == (1, 8)
    assert "load" not in encoder.spec.to_dict()  # a checkpoint records what it computes only
    monkeypatch.setitem(IMAGE_SPECS, "convnext-tiny", ImageSpec("convnext-tiny", 768))
    with pytest.raises(BackboneError, match="'convnext-tiny' says nothing of how it loads") as no:
        load_image_encoder("convnext-tiny")
    assert "known: efficientnet-lite0, resnet18, toy" in str(no.value)
    with pytest.raises(BackboneError, match="unknown text backbone 'nope'; known: all-MiniLM"):
        load_text_encoder("nope")
    assert all(
        spec.load is not None
        for spec in [*TEXT_SPECS.values(), *IMAGE_SPECS.values()]
        if spec.name != "convnext-tiny"
    )
