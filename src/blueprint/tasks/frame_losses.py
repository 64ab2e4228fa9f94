"""Frame losses from the video-prediction literature, as `model.loss` options beside nn.MSELoss."""

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.image import structural_similarity_index_measure


class L1L2Loss(nn.Module):
    """MSE + `l1_weight` x L1 (PredRNN, E3D-LSTM): L1 keeps pushing small errors that MSE squares away, so less blur."""

    def __init__(self, l1_weight: float = 1.0) -> None:
        super().__init__()
        self.l1_weight = l1_weight

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(predictions, targets) + self.l1_weight * F.l1_loss(predictions, targets)


class SSIMLoss(nn.Module):
    """MSE + `ssim_weight` x (1 - SSIM) on frames (B, T, C, H, W): rewards sharp digit strokes MSE averages out."""

    def __init__(self, ssim_weight: float = 0.1) -> None:
        super().__init__()
        self.ssim_weight = ssim_weight

    def forward(self, predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        ssim = structural_similarity_index_measure(predictions.flatten(0, 1), targets.flatten(0, 1), data_range=1.0)
        assert isinstance(ssim, torch.Tensor)  # a plain mean without return_full_image
        return F.mse_loss(predictions, targets) + self.ssim_weight * (1 - ssim)
