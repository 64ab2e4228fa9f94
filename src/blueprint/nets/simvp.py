"""SimVP (Gao et al., CVPR 2022) with the gSTA translator of SimVP v2: all future frames at once, no recurrence.

A per-frame conv encoder shrinks each frame 4x; the translator sees the whole clip with time stacked in channels
(B, T*C, H/4, W/4) and mixes it with gated large-kernel attention; a mirrored decoder, with a skip from the first
encoder layer, turns each frame's translated features back into pixels. Layer names follow OpenSTL's reference.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from blueprint.nets.seq2img import FrameClipNet


class ConvSC(nn.Module):
    """3x3 conv (stride 2 to go down, 4x channels + PixelShuffle to go up) -> GroupNorm(2) -> SiLU."""

    def __init__(self, in_channels: int, out_channels: int, down: bool = False, up: bool = False) -> None:
        super().__init__()
        if up:
            conv: nn.Module = nn.Sequential(nn.Conv2d(in_channels, out_channels * 4, 3, padding=1), nn.PixelShuffle(2))
        else:
            conv = nn.Conv2d(in_channels, out_channels, 3, stride=2 if down else 1, padding=1)
        self.block = nn.Sequential(conv, nn.GroupNorm(2, out_channels), nn.SiLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def samplings(layers: int) -> list[bool]:
    """Which encoder layers halve the frame: every second one, [False, True, False, True] for 4 layers."""
    return [index % 2 == 1 for index in range(layers)]


class Encoder(nn.Module):
    """(N, C, H, W) -> latent (N, hid, H/4, W/4) and the first layer's full-size features for the decoder's skip."""

    def __init__(self, in_channels: int, hidden: int, layers: int) -> None:
        super().__init__()
        widths = [in_channels] + [hidden] * layers
        self.layers = nn.ModuleList(
            ConvSC(a, b, down=down) for a, b, down in zip(widths, widths[1:], samplings(layers), strict=False)
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = latent = self.layers[0](x)
        for layer in self.layers[1:]:
            latent = layer(latent)
        return latent, skip


class Decoder(nn.Module):
    """Mirror of the encoder: upsampling ConvSC layers, the skip added before the last one, a 1x1 conv to pixels."""

    def __init__(self, hidden: int, out_channels: int, layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(ConvSC(hidden, hidden, up=up) for up in reversed(samplings(layers)))
        self.readout = nn.Conv2d(hidden, out_channels, 1)

    def forward(self, latent: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            latent = layer(latent)
        return self.readout(self.layers[-1](latent + skip))


class GatedAttention(nn.Module):
    """Large-kernel attention of gSTA: depthwise 5x5 -> depthwise 7x7 dilated 3 -> 1x1 into value and sigmoid gate."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv_spatial = nn.Conv2d(dim, dim, 7, padding=9, groups=dim, dilation=3)  # a 21x21 receptive field
        self.conv1 = nn.Conv2d(dim, 2 * dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.conv1(self.conv_spatial(self.conv0(x))).chunk(2, dim=1)
        return torch.sigmoid(gate) * value


class SpatialAttention(nn.Module):
    """1x1 -> GELU -> gated attention -> 1x1, with a shortcut around it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj_1, self.activation = nn.Conv2d(dim, dim, 1), nn.GELU()
        self.spatial_gating_unit = GatedAttention(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))


class MixMlp(nn.Module):
    """1x1 expand -> depthwise 3x3 -> GELU -> 1x1 back: an MLP that also sees its neighbours."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.dwconv = nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden)
        self.activation = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation(self.dwconv(self.fc1(x))))


class GASubBlock(nn.Module):
    """gSTA block: x + scale * attention(BN(x)), then x + scale * MLP(BN(x)); layer scale starts at 0.01."""

    def __init__(self, dim: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1, self.attn = nn.BatchNorm2d(dim), SpatialAttention(dim)
        self.norm2, self.mlp = nn.BatchNorm2d(dim), MixMlp(dim, int(dim * mlp_ratio))
        self.layer_scale_1 = nn.Parameter(torch.full((dim, 1, 1), 1e-2))
        self.layer_scale_2 = nn.Parameter(torch.full((dim, 1, 1), 1e-2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.layer_scale_1 * self.attn(self.norm1(x))
        return x + self.layer_scale_2 * self.mlp(self.norm2(x))


class MetaBlock(nn.Module):
    """A gSTA block on `in_channels`, then a 1x1 conv where the width changes (into and out of the translator)."""

    def __init__(self, in_channels: int, out_channels: int, mlp_ratio: float) -> None:
        super().__init__()
        self.block = GASubBlock(in_channels, mlp_ratio)
        self.reduction = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.block(x))


class SimVP(FrameClipNet):
    """(B, T, C, H, W) frames in [0, 1] -> the next T frames, all at once, through a sigmoid.

    `hidden_spatial` (OpenSTL's hid_S) is the encoder width per frame, `hidden_temporal` (hid_T) the translator's
    width over the whole clip; `spatial_layers` (N_S, even: each pair halves the frame) and `temporal_layers` (N_T).
    `patch` > 1 folds patch x patch pixel blocks into channels first (space-to-depth), a CPU saving; OpenSTL uses 1.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int | None = None,
        hidden_spatial: int = 64,
        hidden_temporal: int = 512,
        spatial_layers: int = 4,
        temporal_layers: int = 8,
        mlp_ratio: float = 8.0,
        patch: int = 1,
    ) -> None:
        super().__init__()
        self.read_clip_shape(input_shape, out_features)
        in_channels, frame_size, input_frames = self.in_channels, self.frame_size, self.input_frames
        if self.output_frames != input_frames:
            raise ValueError(
                f"SimVP predicts as many frames as it reads: out_features {out_features} must equal the "
                f"{input_frames} input frames"
            )
        if patch < 1 or spatial_layers < 2 or spatial_layers % 2 or frame_size % (patch * 2 ** (spatial_layers // 2)):
            raise ValueError(
                f"spatial_layers must be even and >= 2, and patch * 2**(spatial_layers/2) must divide frame_size "
                f"{frame_size}; got spatial_layers {spatial_layers}, patch {patch}"
            )
        if temporal_layers < 2:
            raise ValueError(f"temporal_layers must be >= 2 (into and out of the translator), got {temporal_layers}")
        if hidden_spatial % 2:
            raise ValueError(f"hidden_spatial must be even (GroupNorm with 2 groups), got {hidden_spatial}")
        self.patch = patch
        folded = in_channels * patch * patch
        self.encoder = Encoder(folded, hidden_spatial, spatial_layers)
        clip = input_frames * hidden_spatial
        widths = [clip] + [hidden_temporal] * (temporal_layers - 1) + [clip]
        self.translator = nn.Sequential(*(MetaBlock(a, b, mlp_ratio) for a, b in zip(widths, widths[1:], strict=False)))
        self.decoder = Decoder(hidden_spatial, folded, spatial_layers)
        assert self.decoder.readout.bias is not None
        nn.init.constant_(self.decoder.readout.bias, -3.0)  # start near-black (sigmoid(-3) = 0.05)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, steps = frames.shape[:2]
        latent, skip = self.encoder(F.pixel_unshuffle(frames.flatten(0, 1), self.patch))
        clip = self.translator(latent.unflatten(0, (batch, steps)).flatten(1, 2))  # time stacked in channels
        translated = clip.unflatten(1, (steps, -1)).flatten(0, 1)
        pixels = F.pixel_shuffle(self.decoder(translated, skip), self.patch)
        return torch.sigmoid(pixels).unflatten(0, (batch, steps))
