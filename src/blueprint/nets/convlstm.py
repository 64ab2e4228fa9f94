"""ConvLSTM encoder-forecaster (Shi et al. 2015): LSTM gates computed by convolutions, so state keeps its layout."""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from blueprint.nets.seq2img import FrameClipNet, mix_in_truth

State = tuple[torch.Tensor, torch.Tensor]


class ConvLSTMCell(nn.Module):
    """One ConvLSTM layer: input, forget, output gates and candidate from one conv over [input, hidden]."""

    def __init__(self, in_channels: int, hidden_channels: int, kernel_size: int) -> None:
        super().__init__()
        self.hidden_channels = hidden_channels
        self.gates = nn.Conv2d(
            in_channels + hidden_channels, 4 * hidden_channels, kernel_size, padding=kernel_size // 2
        )
        assert self.gates.bias is not None
        with torch.no_grad():  # forget-gate bias 1: remember by default, the usual LSTM trick for stable early training
            self.gates.bias[hidden_channels : 2 * hidden_channels].fill_(1.0)

    def forward(self, x: torch.Tensor, state: State | None) -> State:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.hidden_channels, *x.shape[-2:])
            state = (zeros, zeros)
        hidden, cell = state
        i, f, o, g = self.gates(torch.cat([x, hidden], dim=1)).chunk(4, dim=1)
        cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(cell), cell


class ConvLSTMForecaster(FrameClipNet):
    """An encoder stack reads the input frames; a forecaster stack, started from its states, rolls out the future.

    Each forecast step is fed the previous predicted frame. `patch` > 1 folds patch x patch pixel blocks into
    channels (space-to-depth), which makes 64x64 frames affordable on a CPU.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int | None = None,
        hidden_channels: Sequence[int] = (32, 32),
        kernel_size: int = 3,
        patch: int = 4,
    ) -> None:
        super().__init__()
        self.read_clip_shape(input_shape, out_features)
        in_channels, frame_size = self.in_channels, self.frame_size
        if not hidden_channels:
            raise ValueError("hidden_channels must name at least one layer, e.g. [32, 32]")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 (to keep the frame size), got {kernel_size}")
        if patch < 1 or frame_size % patch:
            raise ValueError(f"patch {patch} must be >= 1 and divide frame_size {frame_size}")
        self.patch = patch
        folded = in_channels * patch * patch
        widths = [folded, *hidden_channels]
        self.encoder = nn.ModuleList(ConvLSTMCell(a, b, kernel_size) for a, b in zip(widths, widths[1:], strict=False))
        self.forecaster = nn.ModuleList(
            ConvLSTMCell(a, b, kernel_size) for a, b in zip(widths, widths[1:], strict=False)
        )
        self.head = nn.Conv2d(sum(hidden_channels), folded, kernel_size=1)
        assert self.head.bias is not None
        nn.init.constant_(self.head.bias, -3.0)  # start near-black (sigmoid(-3) = 0.05), like most of a frame

    @staticmethod
    def _step(cells: nn.ModuleList, x: torch.Tensor, states: list[State | None]) -> list[State]:
        new_states = []
        for cell, state in zip(cells, states, strict=True):
            state = cell(x, state)
            new_states.append(state)
            x = state[0]
        return new_states

    feeds_back_frames = True  # forward takes `teacher` frames: the task's scheduled sampling can use it

    def _fold(self, frames: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(frames.flatten(0, 1), self.patch).unflatten(0, frames.shape[:2])

    def forward(
        self, frames: torch.Tensor, teacher: torch.Tensor | None = None, teacher_ratio: float = 0.0
    ) -> torch.Tensor:
        """With `teacher` (the target frames), each sample's next step is fed the true frame with `teacher_ratio`."""
        batch, steps = frames.shape[:2]
        folded = self._fold(frames)
        truth = self._fold(teacher) if teacher is not None else None
        states: list = [None] * len(self.encoder)
        for t in range(steps):
            states = self._step(self.encoder, folded[:, t], states)
        previous, outputs = folded[:, -1], []
        for t in range(self.output_frames):
            states = self._step(self.forecaster, previous, states)
            previous = torch.sigmoid(self.head(torch.cat([h for h, _ in states], dim=1)))
            outputs.append(previous)
            if truth is not None:
                previous = mix_in_truth(previous, truth[:, t], teacher_ratio)
        return F.pixel_shuffle(torch.stack(outputs, dim=1).flatten(0, 1), self.patch).unflatten(0, (batch, -1))
