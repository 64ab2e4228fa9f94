"""Sequence-to-image: the source material's design, a per-frame conv encoder, nn.LSTM over time, upsampling decoder."""

from collections.abc import Sequence

import torch
from torch import nn

from blueprint.errors import UserError
from blueprint.nets.shapes import check_equal


def check_frames(shape: Sequence[int], expected: Sequence[int]) -> None:
    """Data (T_in, C, H, W) against a net's expected input: fail early, naming both shapes."""
    if len(shape) != 4:
        raise UserError(f"the data gives per-sample shape {tuple(shape)}; this net reads (T_in, C, H, W) sequences")
    check_equal("clips (T_in, C, H, W)", tuple(shape), tuple(expected), "input_shape")


def mix_in_truth(predicted: torch.Tensor, truth: torch.Tensor, ratio: float) -> torch.Tensor:
    """Scheduled sampling (Bengio et al. 2015): each sample's true frame replaces its prediction with prob `ratio`."""
    if ratio <= 0:
        return predicted
    use_truth = torch.rand(predicted.shape[0], device=predicted.device) < ratio
    return torch.where(use_truth.view(-1, *[1] * (predicted.dim() - 1)), truth.to(predicted.dtype), predicted)


class FrameClipNet(nn.Module):
    """A net that reads (B, T_in, C, H, W) clips of square frames: the shape the summary, graph and data checks use.

    Every frame net takes `input_shape` (T_in, C, H, W) and `out_features`, here the number of frames to predict
    (None: as many as it reads). The name is every net's: the CLI links both from the data (the frames from
    data.target_frames), and a link reaches only an argument that every net has. `output_frames` keeps the number.
    """

    input_frames: int
    in_channels: int
    frame_size: int
    output_frames: int
    out_features: int

    def read_clip_shape(self, input_shape: Sequence[int], output_frames: int | None) -> None:
        """Set input_shape, input_frames, in_channels, frame_size and output_frames, or fail on a bad shape."""
        if len(input_shape) != 4 or input_shape[2] != input_shape[3]:
            raise ValueError(f"input_shape must be (T_in, C, H, W) with square frames, got {tuple(input_shape)}")
        self.input_shape = tuple(int(n) for n in input_shape)  # the CLI links it from data.input_shape
        self.input_frames, self.in_channels, self.frame_size = self.input_shape[:3]
        self.output_frames = self.input_frames if output_frames is None else output_frames
        self.out_features = self.output_frames
        if self.input_frames < 1 or self.output_frames < 1:
            raise ValueError(f"input and output frames must be >= 1, got {self.input_frames}, {self.output_frames}")

    def check_input_shape(self, shape: Sequence[int]) -> None:
        check_frames(shape, self.input_shape)


class LSTMFrameGenerator(FrameClipNet):
    """Frames -> conv encoder -> vector per frame -> nn.LSTM (a proper (B, T, features) input) -> frames.

    Each future frame comes from the LSTM's top hidden state through Linear -> [Upsample -> BatchNorm -> Conv]
    blocks -> Sigmoid; it is then encoded and fed back as the next LSTM input.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        out_features: int | None = None,
        channels: Sequence[int] = (16, 32, 64),
        hidden_size: int = 256,
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        self.read_clip_shape(input_shape, out_features)
        in_channels, frame_size = self.in_channels, self.frame_size
        if not channels or frame_size % 2 ** len(channels):
            raise ValueError(f"frame_size {frame_size} must be divisible by 2**len(channels) = {2 ** len(channels)}")
        self.seed_shape = (channels[-1], frame_size // 2 ** len(channels), frame_size // 2 ** len(channels))
        widths = [in_channels, *channels]
        encoder: list[nn.Module] = []
        for a, b in zip(widths, widths[1:], strict=False):
            encoder += [nn.Conv2d(a, b, 3, stride=2, padding=1), nn.BatchNorm2d(b), nn.ReLU()]
        seed_size = channels[-1] * self.seed_shape[1] * self.seed_shape[2]
        self.encoder = nn.Sequential(*encoder, nn.Flatten(), nn.Linear(seed_size, hidden_size), nn.ReLU())
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers=num_layers, batch_first=True)
        decoder: list[nn.Module] = [nn.Linear(hidden_size, seed_size), nn.Unflatten(1, self.seed_shape)]
        backwards = widths[::-1]
        pairs = list(zip(backwards, backwards[1:], strict=False))
        for index, (a, b) in enumerate(pairs):
            last = index == len(pairs) - 1  # only the output block ends in Sigmoid (pixels in [0, 1])
            decoder += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.BatchNorm2d(a)]
            decoder += [nn.Conv2d(a, b, 3, padding=1), nn.Sigmoid() if last else nn.ReLU()]
        self.decoder = nn.Sequential(*decoder)
        last_conv = decoder[-2]
        assert isinstance(last_conv, nn.Conv2d) and last_conv.bias is not None
        nn.init.constant_(last_conv.bias, -3.0)  # start near-black (sigmoid(-3) = 0.05), like most of a frame

    def _encode(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, T, C, H, W) -> (B, T, hidden): the conv encoder runs on every frame at once."""
        return self.encoder(frames.flatten(0, 1)).unflatten(0, frames.shape[:2])

    feeds_back_frames = True  # forward takes `teacher` frames: the task's scheduled sampling can use it

    def forward(
        self, frames: torch.Tensor, teacher: torch.Tensor | None = None, teacher_ratio: float = 0.0
    ) -> torch.Tensor:
        """With `teacher` (the target frames), each sample's next step is fed the true frame with `teacher_ratio`."""
        hidden, state = self.lstm(self._encode(frames))
        top, outputs = hidden[:, -1], []
        for step in range(self.output_frames):
            frame = self.decoder(top)
            outputs.append(frame)
            if step + 1 < self.output_frames:
                fed = mix_in_truth(frame, teacher[:, step], teacher_ratio) if teacher is not None else frame
                hidden, state = self.lstm(self._encode(fed[:, None]), state)
                top = hidden[:, -1]
        return torch.stack(outputs, dim=1)
